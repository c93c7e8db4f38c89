-- Named queries of the PostgreSQL journal, loaded once by bulk.journal.sqlfiles.
-- Values are always bound; %(offset)s is the test-only time offset given to bulk_now().

-- name: version_table
CREATE TABLE IF NOT EXISTS bulk_schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: version_table_exists
SELECT to_regclass('bulk_schema_version') IS NOT NULL;

-- name: current_version
SELECT coalesce(max(version), 0) FROM bulk_schema_version;

-- name: insert_version
INSERT INTO bulk_schema_version (version) VALUES (%(version)s);

-- name: migration_lock
SELECT pg_advisory_xact_lock(hashtext('bulk-journal-migrate'));

-- name: insert_run
INSERT INTO bulk_runs (run_key, input_name, input_hash, options, created_at, updated_at)
VALUES (%(run_key)s, %(input_name)s, %(input_hash)s, %(options)s, bulk_now(%(offset)s), bulk_now(%(offset)s))
ON CONFLICT (run_key) DO NOTHING
RETURNING run_id;

-- name: run_by_key
SELECT run_id, input_hash FROM bulk_runs WHERE run_key = %(run_key)s;

-- name: runs
SELECT r.run_id, r.run_key, r.input_name, r.input_hash, r.options, r.status, r.error,
       r.created_at, r.updated_at,
       o.applied, o.unchanged, o.rejected, u.pending, u.active, u.done, u.failed
FROM bulk_runs r
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status = 'applied') AS applied,
           count(*) FILTER (WHERE status = 'unchanged') AS unchanged,
           count(*) FILTER (WHERE status = 'rejected') AS rejected
    FROM bulk_outcomes WHERE run_id = r.run_id) o
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
           count(*) FILTER (WHERE state IN ('claimed', 'submitted')) AS active,
           count(*) FILTER (WHERE state = 'done') AS done,
           count(*) FILTER (WHERE state = 'failed') AS failed
    FROM bulk_units WHERE run_id = r.run_id) u
WHERE %(run_id)s::bigint IS NULL OR r.run_id = %(run_id)s
ORDER BY r.run_id DESC
LIMIT %(limit)s;

-- name: lock_run
SELECT status FROM bulk_runs WHERE run_id = %(run_id)s FOR UPDATE;

-- name: update_run_status
UPDATE bulk_runs SET status = %(status)s, error = %(error)s, updated_at = bulk_now(%(offset)s)
WHERE run_id = %(run_id)s;

-- name: insert_unit
INSERT INTO bulk_units (run_id, kind, client_identifier, payload_path, payload, line_count,
                        created_at, updated_at)
VALUES (%(run_id)s, %(kind)s, %(client_identifier)s, %(payload_path)s, %(payload)s, %(line_count)s,
        bulk_now(%(offset)s), bulk_now(%(offset)s))
ON CONFLICT (client_identifier) DO NOTHING;

-- name: units_by_identifiers
SELECT unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
       remote_id, lease_owner, lease_expires_at, fence, error
FROM bulk_units WHERE client_identifier = ANY(%(identifiers)s) ORDER BY unit_id;

-- name: unit
SELECT unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
       remote_id, lease_owner, lease_expires_at, fence, error
FROM bulk_units WHERE unit_id = %(unit_id)s;

-- name: units_of_run
SELECT unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
       remote_id, lease_owner, lease_expires_at, fence, error
FROM bulk_units
WHERE run_id = %(run_id)s AND (%(state)s::text IS NULL OR state = %(state)s)
ORDER BY unit_id;

-- name: claim
-- Pending units, or held ones whose lease ran out (a dead or hung worker). SKIP LOCKED lets many
-- workers claim at once without blocking on, or double-taking, the same rows.
WITH picked AS (
    SELECT u.unit_id
    FROM bulk_units u JOIN bulk_runs r ON r.run_id = u.run_id
    WHERE u.state IN ('pending', 'claimed', 'submitted')
      AND u.kind = ANY(%(kinds)s)
      AND (%(run_id)s::bigint IS NULL OR u.run_id = %(run_id)s)
      AND r.status IN ('planning', 'running')
      AND (u.state = 'pending' OR u.lease_expires_at <= bulk_now(%(offset)s))
    ORDER BY u.unit_id
    LIMIT %(limit)s
    FOR UPDATE OF u SKIP LOCKED
)
UPDATE bulk_units u
SET state = CASE WHEN u.state = 'pending' THEN 'claimed' ELSE u.state END,
    attempt = u.attempt + 1,
    fence = u.fence + 1,
    lease_owner = %(worker_id)s,
    lease_expires_at = bulk_now(%(offset)s) + %(lease_s)s * interval '1 second',
    updated_at = bulk_now(%(offset)s)
FROM picked WHERE u.unit_id = picked.unit_id
RETURNING u.unit_id, u.run_id, u.kind, u.client_identifier, u.payload_path, u.payload, u.line_count,
          u.state, u.attempt, u.remote_id, u.lease_owner, u.lease_expires_at, u.fence, u.error;

-- name: notify_work
-- Units may be claimable (added, released, failed for a retry, their run made claimable): idle
-- workers LISTEN on this channel (bulk/journal/wakeups.py). Delivered when the transaction commits;
-- repeats within one transaction are delivered once.
SELECT pg_notify('bulk_work', '');

-- name: listen_work
LISTEN bulk_work;

-- name: heartbeat
UPDATE bulk_units
SET lease_expires_at = bulk_now(%(offset)s) + %(lease_s)s * interval '1 second',
    updated_at = bulk_now(%(offset)s)
WHERE unit_id = %(unit_id)s AND fence = %(fence)s AND lease_owner = %(worker_id)s
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: mark_submitted
UPDATE bulk_units
SET state = 'submitted', remote_id = %(remote_id)s, updated_at = bulk_now(%(offset)s)
WHERE unit_id = %(unit_id)s AND fence = %(fence)s AND lease_owner = %(worker_id)s
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: finish
-- complete / fail: the lease ends; a retried unit starts over (its bulk operation is forgotten).
UPDATE bulk_units
SET state = %(state)s, error = %(error)s,
    remote_id = CASE WHEN %(state)s = 'pending' THEN NULL ELSE remote_id END,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = bulk_now(%(offset)s)
WHERE unit_id = %(unit_id)s AND fence = %(fence)s AND lease_owner = %(worker_id)s
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: release
-- A submitted unit stays submitted with an already expired lease: the next claimer adopts it.
UPDATE bulk_units
SET state = CASE WHEN state = 'submitted' THEN 'submitted' ELSE 'pending' END,
    lease_expires_at = CASE WHEN state = 'submitted' THEN bulk_now(%(offset)s) ELSE NULL END,
    lease_owner = NULL, updated_at = bulk_now(%(offset)s)
WHERE unit_id = %(unit_id)s AND fence = %(fence)s AND lease_owner = %(worker_id)s
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: release_run_leases
-- The run's previous process is gone (its run lock is ours now): its units are claimable at once.
UPDATE bulk_units
SET state = CASE WHEN state = 'submitted' THEN 'submitted' ELSE 'pending' END,
    lease_expires_at = CASE WHEN state = 'submitted' THEN bulk_now(%(offset)s) ELSE NULL END,
    lease_owner = NULL, updated_at = bulk_now(%(offset)s)
WHERE run_id = %(run_id)s AND lease_owner = %(worker_id)s AND state IN ('claimed', 'submitted')
RETURNING unit_id;

-- name: outcomes_staging
CREATE TEMP TABLE IF NOT EXISTS bulk_outcomes_in (
    source_file text, line integer, status text, reason text, object_id text, unit_id bigint
) ON COMMIT DELETE ROWS;

-- name: outcomes_copy
COPY bulk_outcomes_in (source_file, line, status, reason, object_id, unit_id) FROM STDIN;

-- name: outcomes_insert
INSERT INTO bulk_outcomes (run_id, source_file, line, status, reason, object_id, unit_id, recorded_at)
SELECT %(run_id)s, source_file, line, status, reason, object_id, unit_id, bulk_now(%(offset)s)
FROM bulk_outcomes_in
ON CONFLICT (run_id, source_file, line) DO NOTHING;

-- name: outcomes_conflict
-- After the insert every staged row has a stored twin; a different status there is a conflict
-- (with an earlier batch or within this one).
SELECT i.source_file, i.line, o.status, i.status
FROM bulk_outcomes_in i
JOIN bulk_outcomes o ON o.run_id = %(run_id)s AND o.source_file = i.source_file AND o.line = i.line
WHERE o.status <> i.status
LIMIT 1;

-- name: outcomes
SELECT source_file, line, status, reason, object_id, unit_id
FROM bulk_outcomes
WHERE run_id = %(run_id)s AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY source_file, line
LIMIT %(limit)s;

-- name: applied_staging
CREATE TEMP TABLE IF NOT EXISTS bulk_applied_in (object_id text, field text, value text) ON COMMIT DELETE ROWS;

-- name: applied_copy
COPY bulk_applied_in (object_id, field, value) FROM STDIN;

-- name: applied_insert
-- The caller sends each (object, field) once; a later value of the same run replaces the earlier one
-- and takes a new seq, so "latest" stays the order of application.
INSERT INTO bulk_applied (run_id, object_id, field, value, applied_at)
SELECT %(run_id)s, object_id, field, value, bulk_now(%(offset)s) FROM bulk_applied_in
ON CONFLICT (run_id, object_id, field)
DO UPDATE SET value = EXCLUDED.value, seq = EXCLUDED.seq, applied_at = EXCLUDED.applied_at;

-- name: applied_by_run
SELECT object_id, field, value FROM bulk_applied
WHERE run_id = %(run_id)s AND object_id = ANY(%(object_ids)s);

-- name: applied_latest
SELECT DISTINCT ON (object_id, field) object_id, field, value FROM bulk_applied
WHERE object_id = ANY(%(object_ids)s)
ORDER BY object_id, field, seq DESC;

-- name: touch_worker
INSERT INTO bulk_workers (worker_id, host, pid, started_at, last_seen_at)
VALUES (%(worker_id)s, %(host)s, %(pid)s, bulk_now(%(offset)s), bulk_now(%(offset)s))
ON CONFLICT (worker_id)
DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, last_seen_at = EXCLUDED.last_seen_at;

-- name: workers
SELECT worker_id, host, pid, started_at, last_seen_at FROM bulk_workers
WHERE last_seen_at >= bulk_now(%(offset)s) - %(within_s)s * interval '1 second'
ORDER BY last_seen_at DESC, worker_id;

-- name: run_lock_take
-- A session lock: PostgreSQL frees it when the holding connection ends (a killed process included).
SELECT pg_try_advisory_lock(%(space)s, %(run_id)s);

-- name: run_lock_holders
-- Every run held now in this journal, and by whom: its connection's application_name says
-- (bulk.journal._pg_run_locks). Advisory locks are per database, but pg_locks shows every database's:
-- another journal's run 1 is not ours.
SELECT l.objid::bigint, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = %(space)s;

-- name: run_lock_give
SELECT pg_advisory_unlock(%(space)s, %(run_id)s);
