-- The admission state machine of bulk/scheduler/_admission.py (and the hand-over and standby
-- decisions of _handoff.py), for Redis. Same fields, same steps;
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
       buckets = {}, throttled = {}, permits = {}, standbys = {}, clients = {}, waiters = {}}
  for i = 1, cfg.token_count do
    s.buckets[i] = {cap = cfg.capacity, rate = cfg.restore_rate, level = cfg.level, at = 0,
                    out = 0, learned = false}
    s.throttled[i] = 0
  end
end
s.standbys = s.standbys or {}  -- (a state written before standbys existed)
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
  for _, held in ipairs({s.permits, s.standbys}) do  -- a standby is paid for like a permit
    for pid, p in pairs(held) do
      if dead[p.c] then
        finish(s.buckets[p.t + 1], p.cost, 0)
        held[pid] = nil
        s.expired = s.expired + 1
      end
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

-- Pay for waiter `wid` (the live head) and admit it: onto a free slot, or (`on` ~= nil) as a standby
-- riding on permit `on` of the same client. Python's State.admit.
local function pay(wid, on)
  local w = s.waiters[wid]
  local cost, priority, pin = w.cost, w.p, w.t or -1
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
  if on == nil then
    s.permits[pid] = {c = w.c, t = best - 1, cost = cost, f = s.fence, p = priority}
  else
    s.standbys[pid] = {c = w.c, t = best - 1, cost = cost, f = s.fence, p = priority, s = w.s, on = on}
  end
  changed = true
  return {'granted', pid, tostring(best - 1), tostring(s.fence)}
end

local function count_permits()
  local n = 0
  for _ in pairs(s.permits) do n = n + 1 end
  return n
end

-- One admission attempt for waiter `wid` (already queued): the reply of Python's State.acquire.
local function admit(wid)
  local line = live_line()
  local first_exp = INF
  for _, p in pairs(s.permits) do first_exp = math.min(first_exp, s.clients[p.c].exp) end
  if line[1] ~= wid then
    -- wait for a message naming us the head; only the next in line watches the head's liveness
    local retry = INF
    if line[2] == wid then
      retry = math.max(0, s.clients[s.waiters[line[1]].c].seen + cfg.waiter_ttl - now)
    end
    return {'wait', fmt(retry), 'queued'}
  elseif count_permits() >= cfg.max_in_flight then
    return {'wait', fmt(math.max(0, first_exp - now)), 'in_flight'}
  end
  return pay(wid, nil)
end

-- The standby `sid` takes a slot of its own (its carrier's, or a free one): Python's State.promote.
local function promote(sid)
  local x = s.standbys[sid]
  s.standbys[sid] = nil
  s.permits[sid] = {c = x.c, t = x.t, cost = x.cost, f = x.f, p = x.p}
  changed = true
  return {'granted', sid, tostring(x.t), tostring(x.f)}
end

-- The live standby first in line (priority, arrival), or nil (_handoff._first_standby).
local function first_standby()
  local best = nil
  for sid, x in pairs(s.standbys) do
    local c = s.clients[x.c]
    if c ~= nil and now - c.seen < cfg.waiter_ttl then
      local y = best and s.standbys[best]
      if best == nil or x.p < y.p or (x.p == y.p and x.s < y.s) then best = sid end
    end
  end
  return best
end

-- The oldest permit of client `cid` that carries no standby, or nil (_handoff._free_carrier).
local function free_carrier(cid)
  local carrying = {}
  for _, x in pairs(s.standbys) do
    if x.on ~= nil then carrying[x.on] = true end
  end
  local best, bf = nil, INF
  for pid, p in pairs(s.permits) do
    if p.c == cid and not carrying[pid] and p.f < bf then best, bf = pid, p.f end
  end
  return best
end

-- The permit already handed to waiter `wid` of client `cid` (bulk/scheduler/handoff.py), or nil.
local function held_by(cid, wid)
  local p = s.permits['p:' .. wid]
  if p ~= nil and p.c == cid then return p end
  return nil
end

local reply
local handed = {}  -- {client, message} for each grant the store made on its own: published below
purge()

if op == 'acquire' then
  local cid, wid, cost, priority = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
  local pin = tonumber(ARGV[8] or '-1')  -- a pinned token (bulk operations belong to one app), or -1
  touch(cid)
  local held = held_by(cid, wid)
  local standby = s.standbys['p:' .. wid]
  if held ~= nil then
    reply = {'granted', 'p:' .. wid, tostring(held.t), tostring(held.f)}
  elseif standby ~= nil and standby.c == cid then
    reply = {'wait', 'inf', 'standby'}  -- its own process starts it: never grant it twice
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
  local held = held_by(ARGV[4], ARGV[5])
  if held ~= nil then  -- handed to a waiter that gave up before it learnt of it: give it back
    finish(s.buckets[held.t + 1], held.cost, held.cost)
    s.permits['p:' .. ARGV[5]] = nil
  end
  local standby = s.standbys['p:' .. ARGV[5]]
  if standby ~= nil and standby.c == ARGV[4] then  -- admitted ahead of time, never started
    finish(s.buckets[standby.t + 1], standby.cost, standby.cost)
    s.standbys['p:' .. ARGV[5]] = nil
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
    for sid, x in pairs(s.standbys) do
      if x.c == ARGV[4] then reply[#reply + 1] = sid end
    end
  end
elseif op == 'release' then
  local cid, pid, token, throttled = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[8] == '1'
  local report = nil
  if ARGV[7] ~= '' then report = cjson.decode(ARGV[7]) end
  touch(cid)
  local p = s.permits[pid]
  local carrier = p ~= nil
  if p == nil then p = s.standbys[pid]; s.standbys[pid] = nil end  -- ended before its carrier's release
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
  if carrier then
    -- the standby the client started when this request ended takes its slot (ARGV[9]); any other
    -- riding on it was not started and never will be on it: detached, it waits for a free slot
    local started = ARGV[9] or ''
    local go = s.standbys[started]
    if started ~= '' and go ~= nil and go.c == cid and (go.on == nil or go.on == pid) then
      local r = promote(started)
      handed[#handed + 1] = {cid, string.sub(started, 3) .. '\t' .. r[2] .. '\t' .. r[3] .. '\t' .. r[4]}
    end
    for _, x in pairs(s.standbys) do
      if x.on == pid then x.on = nil end
    end
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

-- Hand free slots and standby places down the line (bulk/scheduler/_handoff.py): a free slot goes to
-- the first of the live line and the live standbys by (priority, arrival); while every slot is taken,
-- the head is admitted as a standby onto its own client's oldest permit that carries nobody. Without
-- touching any client (a hand-over is no sign of life); a head that cannot be admitted stops it all.
while op ~= 'stats' do  -- (stats only reads, like Python's snapshot)
  local head = live_line()[1]
  local free = count_permits() < cfg.max_in_flight
  local sid = nil
  if free then sid = first_standby() end
  local w = head and s.waiters[head]
  if sid ~= nil and (w == nil or s.standbys[sid].p < w.p or (s.standbys[sid].p == w.p and s.standbys[sid].s < w.s)) then
    local cid = s.standbys[sid].c
    local r = promote(sid)
    handed[#handed + 1] = {cid, string.sub(sid, 3) .. '\t' .. r[2] .. '\t' .. r[3] .. '\t' .. r[4]}
  else
    if head == nil then break end
    local cid = w.c
    local on = nil
    local revoked = 0
    if not free then
      on = free_carrier(cid)
      if on == nil then
        -- revoke the lower-lane standbys still riding (_handoff._revoke_below), in permit id order
        local ids = {}
        for sid, x in pairs(s.standbys) do
          if x.on ~= nil and x.p > w.p then ids[#ids + 1] = sid end
        end
        table.sort(ids)
        for _, sid in ipairs(ids) do
          local x = s.standbys[sid]
          handed[#handed + 1] = {x.c, string.sub(sid, 3) .. '\t' .. sid .. '\t' .. tostring(x.t) .. '\t' ..
                                 tostring(x.f) .. '\t' .. x.on .. '\t-'}
          x.on = nil
          changed = true
        end
        revoked = #ids
      end
    end
    if on == nil and not free then
      if revoked == 0 then break end  -- every slot taken, no permit of the head's client to ride on
    else
      local r = pay(head, on)
      if r[1] == 'granted' then
        local msg = head .. '\t' .. r[2] .. '\t' .. r[3] .. '\t' .. r[4]
        if on ~= nil then msg = msg .. '\t' .. on end
        handed[#handed + 1] = {cid, msg}
      elseif s.waiters[head] ~= nil then
        break  -- the head waits for points: nobody may pass it
      end
    end
  end
end

if op == 'acquire' and reply[1] == 'wait' then
  local x = s.standbys['p:' .. ARGV[5]]
  if x ~= nil and x.c == ARGV[4] then reply = {'wait', 'inf', 'standby'} end  -- admitted just now
end
redis.call('SET', state_key, cjson.encode(s))
if reply[1] == '' then reply[1] = cjson.encode(s) end
-- tell each handed head's process its grant: "waiter<TAB>permit<TAB>token<TAB>fence", a standby's
-- with "<TAB>carrier"; an acquire, cancel or release also returns the grants of its own client's
-- waiters (delivered at once, without the pub/sub hop)
local own = op == 'acquire' or op == 'cancel' or op == 'release'
for _, h in ipairs(handed) do
  redis.call('PUBLISH', wake_prefix .. h[1], h[2])
  if own and h[1] == ARGV[4] then reply[#reply + 1] = h[2] end
end
if changed then
  -- wake only the process whose waiter is now first in line (no thundering herd)
  local head = live_line()[1]
  if head ~= nil then redis.call('PUBLISH', wake_prefix .. s.waiters[head].c, head) end
end
return reply
