-- Named queries of the embedded SQLite journal, loaded once by bulk.journal.sqlfiles.
-- Values are always bound; :now comes from the journal's injected clock.

-- name: version_table
CREATE TABLE IF NOT EXISTS bulk_schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at REAL NOT NULL
);

-- name: current_version
SELECT coalesce(max(version), 0) FROM bulk_schema_version;

-- name: insert_version
INSERT INTO bulk_schema_version (version, applied_at) VALUES (:version, :now);

-- name: insert_run
INSERT INTO bulk_runs (run_key, input_name, input_hash, options, created_at, updated_at)
VALUES (:run_key, :input_name, :input_hash, :options, :now, :now)
ON CONFLICT (run_key) DO NOTHING;

-- name: run_by_key
SELECT run_id, input_hash FROM bulk_runs WHERE run_key = :run_key;

-- name: runs
SELECT r.run_id, r.run_key, r.input_name, r.input_hash, r.options, r.status, r.error,
       r.created_at, r.updated_at,
       r.outcomes_applied, r.outcomes_unchanged, r.outcomes_rejected,  -- kept by outcomes_counted
       (SELECT count(*) FROM bulk_units u WHERE u.run_id = r.run_id AND u.state = 'pending'),
       (SELECT count(*) FROM bulk_units u WHERE u.run_id = r.run_id AND u.state IN ('claimed', 'submitted')),
       (SELECT count(*) FROM bulk_units u WHERE u.run_id = r.run_id AND u.state = 'done'),
       (SELECT count(*) FROM bulk_units u WHERE u.run_id = r.run_id AND u.state = 'failed')
FROM bulk_runs r
WHERE :run_id IS NULL OR r.run_id = :run_id
ORDER BY r.run_id DESC
LIMIT :limit;

-- name: run_status
SELECT status FROM bulk_runs WHERE run_id = :run_id;

-- name: update_run_status
UPDATE bulk_runs SET status = :status, error = :error, updated_at = :now WHERE run_id = :run_id;

-- name: insert_unit
INSERT INTO bulk_units (run_id, kind, client_identifier, payload_path, payload, line_count,
                        created_at, updated_at)
VALUES (:run_id, :kind, :client_identifier, :payload_path, :payload, :line_count, :now, :now)
ON CONFLICT (client_identifier) DO NOTHING;

-- name: unit_by_identifier
SELECT unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
       remote_id, lease_owner, lease_expires_at, fence, error
FROM bulk_units WHERE client_identifier = :client_identifier;

-- name: unit
SELECT unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
       remote_id, lease_owner, lease_expires_at, fence, error
FROM bulk_units WHERE unit_id = :unit_id;

-- name: units_of_run
SELECT unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
       remote_id, lease_owner, lease_expires_at, fence, error
FROM bulk_units
WHERE run_id = :run_id AND (:state IS NULL OR state = :state)
ORDER BY unit_id;

-- name: claim
-- Runs inside BEGIN IMMEDIATE: SQLite has one writer at a time, so no two claims can interleave.
-- :kinds is a JSON array of kind names.
UPDATE bulk_units
SET state = CASE WHEN state = 'pending' THEN 'claimed' ELSE state END,
    attempt = attempt + 1,
    fence = fence + 1,
    lease_owner = :worker_id,
    lease_expires_at = :now + :lease_s,
    updated_at = :now
WHERE unit_id IN (
    SELECT u.unit_id
    FROM bulk_units u JOIN bulk_runs r ON r.run_id = u.run_id
    WHERE u.state IN ('pending', 'claimed', 'submitted')
      AND u.kind IN (SELECT value FROM json_each(:kinds))
      AND (:run_id IS NULL OR u.run_id = :run_id)
      AND r.status IN ('planning', 'running')
      AND (u.state = 'pending' OR u.lease_expires_at <= :now)
    ORDER BY u.unit_id
    LIMIT :limit
)
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: heartbeat
UPDATE bulk_units SET lease_expires_at = :now + :lease_s, updated_at = :now
WHERE unit_id = :unit_id AND fence = :fence AND lease_owner = :worker_id
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: mark_submitted
UPDATE bulk_units SET state = 'submitted', remote_id = :remote_id, updated_at = :now
WHERE unit_id = :unit_id AND fence = :fence AND lease_owner = :worker_id
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: finish
UPDATE bulk_units
SET state = :state, error = :error,
    remote_id = CASE WHEN :state = 'pending' THEN NULL ELSE remote_id END,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
WHERE unit_id = :unit_id AND fence = :fence AND lease_owner = :worker_id
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: release
UPDATE bulk_units
SET state = CASE WHEN state = 'submitted' THEN 'submitted' ELSE 'pending' END,
    lease_expires_at = CASE WHEN state = 'submitted' THEN :now ELSE NULL END,
    lease_owner = NULL, updated_at = :now
WHERE unit_id = :unit_id AND fence = :fence AND lease_owner = :worker_id
  AND state IN ('claimed', 'submitted')
RETURNING unit_id, run_id, kind, client_identifier, payload_path, payload, line_count, state, attempt,
          remote_id, lease_owner, lease_expires_at, fence, error;

-- name: release_run_leases
-- The run's previous process is gone (its run lock is ours now): its units are claimable at once.
UPDATE bulk_units
SET state = CASE WHEN state = 'submitted' THEN 'submitted' ELSE 'pending' END,
    lease_expires_at = CASE WHEN state = 'submitted' THEN :now ELSE NULL END,
    lease_owner = NULL, updated_at = :now
WHERE run_id = :run_id AND lease_owner = :worker_id AND state IN ('claimed', 'submitted')
RETURNING unit_id;

-- name: outcomes_staging
CREATE TEMP TABLE IF NOT EXISTS bulk_outcomes_in (
    source_file TEXT, line INTEGER, status TEXT, reason TEXT, object_id TEXT, unit_id INTEGER
);

-- name: outcomes_clear
DELETE FROM temp.bulk_outcomes_in;

-- name: outcomes_stage
INSERT INTO temp.bulk_outcomes_in (source_file, line, status, reason, object_id, unit_id)
VALUES (?, ?, ?, ?, ?, ?);

-- name: outcomes_insert
INSERT OR IGNORE INTO bulk_outcomes (run_id, source_file, line, status, reason, object_id, unit_id,
                                     recorded_at)
SELECT :run_id, source_file, line, status, reason, object_id, unit_id, :now FROM temp.bulk_outcomes_in;

-- name: outcomes_insert_rows
INSERT OR IGNORE INTO bulk_outcomes (run_id, source_file, line, status, reason, object_id, unit_id,
                                     recorded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: outcomes_counted
UPDATE bulk_runs SET outcomes_applied = outcomes_applied + :applied,
                     outcomes_unchanged = outcomes_unchanged + :unchanged,
                     outcomes_rejected = outcomes_rejected + :rejected
WHERE run_id = :run_id;

-- name: outcomes_conflict
SELECT i.source_file, i.line, o.status, i.status
FROM temp.bulk_outcomes_in i
JOIN bulk_outcomes o ON o.run_id = :run_id AND o.source_file = i.source_file AND o.line = i.line
WHERE o.status <> i.status
LIMIT 1;

-- name: outcomes
SELECT source_file, line, status, reason, object_id, unit_id
FROM bulk_outcomes
WHERE run_id = :run_id AND (:status IS NULL OR status = :status)
ORDER BY source_file, line
LIMIT :limit;

-- name: applied_staging
CREATE TEMP TABLE IF NOT EXISTS bulk_applied_in (object_id TEXT, field TEXT, value TEXT);

-- name: applied_clear
DELETE FROM temp.bulk_applied_in;

-- name: applied_stage
INSERT INTO temp.bulk_applied_in (object_id, field, value) VALUES (?, ?, ?);

-- name: applied_insert
-- REPLACE deletes the old row and inserts a new one with a higher seq: the latest value wins.
INSERT OR REPLACE INTO bulk_applied (run_id, object_id, field, value, applied_at)
SELECT :run_id, object_id, field, value, :now FROM temp.bulk_applied_in ORDER BY rowid;

-- name: applied_by_run
SELECT object_id, field, value FROM bulk_applied
WHERE run_id = :run_id AND object_id IN (SELECT value FROM json_each(:object_ids));

-- name: applied_latest
-- SQLite's bare-column rule: with max(seq), the other columns come from the row holding the max.
SELECT object_id, field, value, max(seq) FROM bulk_applied
WHERE object_id IN (SELECT value FROM json_each(:object_ids))
GROUP BY object_id, field;

-- name: touch_worker
INSERT INTO bulk_workers (worker_id, host, pid, started_at, last_seen_at)
VALUES (:worker_id, :host, :pid, :now, :now)
ON CONFLICT (worker_id)
DO UPDATE SET host = excluded.host, pid = excluded.pid, last_seen_at = excluded.last_seen_at;

-- name: workers
SELECT worker_id, host, pid, started_at, last_seen_at FROM bulk_workers
WHERE last_seen_at >= :now - :within_s
ORDER BY last_seen_at DESC, worker_id;
