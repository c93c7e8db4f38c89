-- Journal schema, version 1 (SQLite). The embedded journal migrates itself when opened: one
-- process owns the file. Times are seconds (REAL) from the journal's injected clock.

CREATE TABLE bulk_runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key     TEXT NOT NULL UNIQUE,
    input_name  TEXT NOT NULL,
    input_hash  TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL DEFAULT 'planning'
                CHECK (status IN ('planning', 'running', 'done', 'failed', 'cancelled')),
    error       TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);

CREATE TABLE bulk_units (
    unit_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            INTEGER NOT NULL REFERENCES bulk_runs ON DELETE CASCADE,
    kind              TEXT NOT NULL CHECK (kind IN ('bulk_shard', 'direct_batch', 'inventory_batch')),
    client_identifier TEXT NOT NULL UNIQUE,
    payload_path      TEXT,
    payload           TEXT,                    -- JSON text
    line_count        INTEGER NOT NULL DEFAULT 0,
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'claimed', 'submitted', 'done', 'failed')),
    attempt           INTEGER NOT NULL DEFAULT 0,
    remote_id         TEXT,
    lease_owner       TEXT,
    lease_expires_at  REAL,
    fence             INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    CHECK ((payload_path IS NULL) <> (payload IS NULL))
);
CREATE INDEX bulk_units_claimable ON bulk_units (unit_id) WHERE state IN ('pending', 'claimed', 'submitted');
CREATE INDEX bulk_units_run ON bulk_units (run_id, unit_id);

CREATE TABLE bulk_outcomes (
    run_id      INTEGER NOT NULL REFERENCES bulk_runs ON DELETE CASCADE,
    source_file TEXT NOT NULL,
    line        INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('applied', 'unchanged', 'rejected')),
    reason      TEXT,
    object_id   TEXT,
    unit_id     INTEGER,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (run_id, source_file, line)
) WITHOUT ROWID;

CREATE TABLE bulk_applied (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER NOT NULL REFERENCES bulk_runs ON DELETE CASCADE,
    object_id  TEXT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    applied_at REAL NOT NULL,
    UNIQUE (run_id, object_id, field)
);
CREATE INDEX bulk_applied_object ON bulk_applied (object_id, field, seq);

CREATE TABLE bulk_workers (
    worker_id    TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
