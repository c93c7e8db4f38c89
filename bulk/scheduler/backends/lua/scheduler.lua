-- The admission state machine of bulk/scheduler/admission.py, for Redis. Same fields, same steps;
-- the shared backend tests hold the two together. One key holds the whole state of one shop (a few
-- kB), so every operation is one atomic read-modify-write; time is the Redis server's TIME, so
-- worker clocks do not matter. Times are stored relative to `epoch` to keep cjson's 14 digits.
--
-- KEYS[1] state key; ARGV[3] wake-channel prefix (the head's client id is appended)
-- ARGV[1] op (acquire | cancel | heartbeat | release | stats), ARGV[2] config JSON, ARGV[4..] args
-- (acquire: client, waiter, cost, priority, pinned token or -1)
-- Replies are arrays of strings (Redis truncates Lua numbers to integers).

local state_key, wake_prefix = KEYS[1], ARGV[3]
local op = ARGV[1]
local cfg = cjson.decode(ARGV[2])
local t = redis.call('TIME')
local wall = tonumber(t[1]) + tonumber(t[2]) / 1000000
local INF = math.huge

local raw = redis.call('GET', state_key)
local s
if raw then
  s = cjson.decode(raw)
else
  s = {epoch = math.floor(wall), seq = 0, fence = 0, admitted = 0, expired = 0,
       buckets = {}, throttled = {}, permits = {}, clients = {}, waiters = {}}
  for i = 1, cfg.token_count do
    s.buckets[i] = {cap = cfg.capacity, rate = cfg.restore_rate, level = cfg.level, at = 0,
                    out = 0, learned = false}
    s.throttled[i] = 0
  end
end
local now = wall - s.epoch
local mnow = now * cfg.time_scale
local changed = false

local function level_at(b)
  local elapsed = mnow - b.at
  if elapsed < 0 then elapsed = 0 end
  return math.min(b.cap - b.out, b.level + b.rate * elapsed)
end

local function advance(b)
  if mnow > b.at then b.level = level_at(b); b.at = mnow end
end

local function wait_for(b, cost, floor)
  local need = cost + floor
  if need > b.cap - b.out then return INF end
  local have = level_at(b)
  if have >= need then return 0 end
  if b.rate <= 0 then return INF end
  return (need - have) / b.rate
end

local function finish(b, requested, refund)
  advance(b)
  b.out = math.max(0, b.out - requested)
  b.level = math.min(b.cap - b.out, b.level + refund)
end

local function floor_for(priority, cap)
  if priority <= 0 then return 0 end
  return math.min(cfg.urgent_reserve, cap / 2)
end

local function purge()
  local dead = {}
  local any = false
  for cid, c in pairs(s.clients) do
    if c.exp <= now then dead[cid] = true; any = true end
  end
  if not any then return end
  for pid, p in pairs(s.permits) do
    if dead[p.c] then
      finish(s.buckets[p.t + 1], p.cost, 0)
      s.permits[pid] = nil
      s.expired = s.expired + 1
    end
  end
  for wid, w in pairs(s.waiters) do
    if dead[w.c] then s.waiters[wid] = nil end
  end
  for cid, _ in pairs(dead) do s.clients[cid] = nil end
  changed = true
end

local function touch(cid)
  s.clients[cid] = {exp = now + cfg.lease, seen = now}
end

-- live waiters in service order (priority, then arrival): the first two ids
local function live_line()
  local first, second = nil, nil
  local function before(a, b)
    local x, y = s.waiters[a], s.waiters[b]
    return x.p < y.p or (x.p == y.p and x.s < y.s)
  end
  for id, w in pairs(s.waiters) do
    local c = s.clients[w.c]
    if c ~= nil and now - c.seen < cfg.waiter_ttl then
      if first == nil or before(id, first) then
        first, second = id, first
      elseif second == nil or before(id, second) then
        second = id
      end
    end
  end
  return {first, second}
end

local function fmt(x)
  if x == INF then return 'inf' end
  return string.format('%.6f', x)
end

-- One admission attempt for waiter `wid` (already queued): the reply of Python's State.acquire.
local function admit(wid)
  local w = s.waiters[wid]
  local cost, priority, pin = w.cost, w.p, w.t or -1
  local line = live_line()
  local in_flight, first_exp = 0, INF
  for _, p in pairs(s.permits) do
    in_flight = in_flight + 1
    first_exp = math.min(first_exp, s.clients[p.c].exp)
  end
  if line[1] ~= wid then
    -- wait for a message naming us the head; only the next in line watches the head's liveness
    local retry = INF
    if line[2] == wid then
      retry = math.max(0, s.clients[s.waiters[line[1]].c].seen + cfg.waiter_ttl - now)
    end
    return {'wait', fmt(retry), 'queued'}
  elseif in_flight >= cfg.max_in_flight then
    return {'wait', fmt(math.max(0, first_exp - now)), 'in_flight'}
  end
  local best, bw, bl = 0, INF, -INF
  local payable = false  -- some eligible bucket is big enough, once refilled
  for i, b in ipairs(s.buckets) do
    if pin < 0 or i - 1 == pin then
      if cost + floor_for(priority, b.cap) <= b.cap then payable = true end
      local wt = wait_for(b, cost, floor_for(priority, b.cap))
      local l = math.floor(level_at(b) * 1000 + 0.5) / 1000  -- ties to the milli-point, as in Python
      if best == 0 or wt < bw or (wt == bw and l > bl) then best, bw, bl = i, wt, l end
    end
  end
  if bw == INF and not payable then
    -- no bucket can ever pay it: refuse rather than block everyone queued behind it
    s.waiters[wid] = nil
    changed = true
    return {'wait', 'inf', 'over_capacity'}
  elseif bw > 0 then
    return {'wait', fmt(bw / cfg.time_scale), 'points'}
  end
  local b = s.buckets[best]
  advance(b)
  b.level = b.level - cost
  b.out = b.out + cost
  s.fence = s.fence + 1
  s.admitted = s.admitted + 1
  s.waiters[wid] = nil
  local pid = 'p:' .. wid
  s.permits[pid] = {c = w.c, t = best - 1, cost = cost, f = s.fence, p = priority}
  changed = true
  return {'granted', pid, tostring(best - 1), tostring(s.fence)}
end

-- The permit already handed to waiter `wid` of client `cid` (bulk/scheduler/handoff.py), or nil.
local function held_by(cid, wid)
  local p = s.permits['p:' .. wid]
  if p ~= nil and p.c == cid then return p end
  return nil
end

local reply
purge()

if op == 'acquire' then
  local cid, wid, cost, priority = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
  local pin = tonumber(ARGV[8] or '-1')  -- a pinned token (bulk operations belong to one app), or -1
  touch(cid)
  local handed = held_by(cid, wid)
  if handed ~= nil then
    reply = {'granted', 'p:' .. wid, tostring(handed.t), tostring(handed.f)}
  else
    if s.waiters[wid] == nil then
      s.seq = s.seq + 1
      s.waiters[wid] = {c = cid, p = priority, s = s.seq, cost = cost, t = pin}
    end
    reply = admit(wid)
  end
elseif op == 'cancel' then
  touch(ARGV[4])
  if s.waiters[ARGV[5]] ~= nil then s.waiters[ARGV[5]] = nil; changed = true end
  local handed = held_by(ARGV[4], ARGV[5])
  if handed ~= nil then  -- handed to a waiter that gave up before it learnt of it: give it back
    finish(s.buckets[handed.t + 1], handed.cost, handed.cost)
    s.permits['p:' .. ARGV[5]] = nil
  end
  changed = true
  reply = {'ok'}
elseif op == 'heartbeat' or op == 'stats' then
  reply = {'', fmt(now)}
  if op == 'heartbeat' then
    touch(ARGV[4])
    for _, wid in ipairs(cjson.decode(ARGV[5])) do
      local w = s.waiters[wid]
      if w ~= nil and w.c == ARGV[4] then s.waiters[wid] = nil; changed = true end
    end
    for pid, p in pairs(s.permits) do
      if p.c == ARGV[4] then reply[#reply + 1] = pid end
    end
  end
elseif op == 'release' then
  local cid, pid, token, throttled = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[8] == '1'
  local report = nil
  if ARGV[7] ~= '' then report = cjson.decode(ARGV[7]) end
  touch(cid)
  local p = s.permits[pid]
  if p ~= nil then
    local refund
    if report == nil or throttled then
      refund = p.cost
    elseif report.actual == nil or report.actual == cjson.null then
      refund = 0
    else
      refund = math.max(0, p.cost - report.actual)
    end
    finish(s.buckets[p.t + 1], p.cost, refund)
    s.permits[pid] = nil
  end
  if throttled then s.throttled[token + 1] = s.throttled[token + 1] + 1 end
  if report ~= nil and type(report.status) == 'table' then
    local b = s.buckets[token + 1]
    local st = report.status
    advance(b)
    b.cap = st.maximum
    b.rate = st.restore_rate
    b.level = math.min(st.maximum - b.out, st.available - b.out)
    b.learned = true
  end
  changed = true
  if p ~= nil then reply = {'released'} else reply = {'lost'} end
else
  return redis.error_reply('unknown op ' .. tostring(op))
end

-- Hand freed permits straight to the head of the line (bulk/scheduler/handoff.py): admit the live
-- head while it can be admitted, without touching its client (a hand-over is no sign of life).
local handed = {}
while op ~= 'stats' do  -- (stats only reads, like Python's snapshot)
  local n = 0
  for _ in pairs(s.permits) do n = n + 1 end
  if n >= cfg.max_in_flight then break end
  local head = live_line()[1]
  if head == nil then break end
  local cid = s.waiters[head].c
  local r = admit(head)
  if r[1] == 'granted' then
    handed[#handed + 1] = {cid, head .. '\t' .. r[2] .. '\t' .. r[3] .. '\t' .. r[4]}
  elseif s.waiters[head] ~= nil then
    break  -- the head waits (points, or a permit): nobody may pass it
  end
end

redis.call('SET', state_key, cjson.encode(s))
if reply[1] == '' then reply[1] = cjson.encode(s) end
-- tell each handed head's process its grant: "waiter<TAB>permit<TAB>token<TAB>fence"; a release also
-- returns the grants of its own client's waiters (delivered at once, without the pub/sub hop)
for _, h in ipairs(handed) do
  redis.call('PUBLISH', wake_prefix .. h[1], h[2])
  if op == 'release' and h[1] == ARGV[4] then reply[#reply + 1] = h[2] end
end
if changed then
  -- wake only the process whose waiter is now first in line (no thundering herd)
  local head = live_line()[1]
  if head ~= nil then redis.call('PUBLISH', wake_prefix .. s.waiters[head].c, head) end
end
return reply
