-- Journal schema, version 1 (PostgreSQL). Applied only by `bulk db upgrade`, in one transaction.

-- The database's clock, moved by a test-only offset: leases are measured on the server so that
-- worker clock skew cannot matter, and tests move time without sleeping.
CREATE FUNCTION bulk_now(offset_s double precision) RETURNS timestamptz
    LANGUAGE sql STABLE AS $$ SELECT now() + offset_s * interval '1 second' $$;

CREATE TABLE bulk_runs (
    run_id      bigserial PRIMARY KEY,
    run_key     text NOT NULL UNIQUE,          -- caller's idempotency key: same input, same run
    input_name  text NOT NULL,
    input_hash  text NOT NULL,
    options     jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'planning'
                CHECK (status IN ('planning', 'running', 'done', 'failed', 'cancelled')),
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bulk_units (
    unit_id           bigserial PRIMARY KEY,
    run_id            bigint NOT NULL REFERENCES bulk_runs ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('bulk_shard', 'direct_batch', 'inventory_batch')),
    client_identifier text NOT NULL UNIQUE,    -- also sent to Shopify: adopt a dead worker's operation
    payload_path      text,
    payload           jsonb,
    line_count        integer NOT NULL DEFAULT 0,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'claimed', 'submitted', 'done', 'failed')),
    attempt           integer NOT NULL DEFAULT 0,
    remote_id         text,                    -- bulk operation GID once started
    lease_owner       text,
    lease_expires_at  timestamptz,
    fence             bigint NOT NULL DEFAULT 0,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((payload_path IS NULL) <> (payload IS NULL))
);
-- Claims scan only the units still in play.
CREATE INDEX bulk_units_claimable ON bulk_units (unit_id) WHERE state IN ('pending', 'claimed', 'submitted');
CREATE INDEX bulk_units_run ON bulk_units (run_id, unit_id);

CREATE TABLE bulk_outcomes (
    run_id      bigint NOT NULL REFERENCES bulk_runs ON DELETE CASCADE,
    source_file text NOT NULL,
    line        integer NOT NULL,
    status      text NOT NULL CHECK (status IN ('applied', 'unchanged', 'rejected')),
    reason      text,
    object_id   text,
    unit_id     bigint,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, source_file, line)    -- invariant 5: one final outcome per input row
);

CREATE TABLE bulk_applied (
    seq        bigserial PRIMARY KEY,          -- order of application: the latest wins
    run_id     bigint NOT NULL REFERENCES bulk_runs ON DELETE CASCADE,
    object_id  text NOT NULL,
    field      text NOT NULL,
    value      text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, object_id, field)
);
CREATE INDEX bulk_applied_object ON bulk_applied (object_id, field, seq);

CREATE TABLE bulk_workers (
    worker_id    text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
