-- A run's outcomes counted as they are recorded, not by reading them back: counting a Black Friday
-- run's 950,000 outcomes took ~0.5 s per status, and a run's end reads its counters three times (the
-- report's check, two status changes) — seconds the merchant waited after the shop was done.
ALTER TABLE bulk_runs ADD COLUMN outcomes_applied INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bulk_runs ADD COLUMN outcomes_unchanged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bulk_runs ADD COLUMN outcomes_rejected INTEGER NOT NULL DEFAULT 0;
UPDATE bulk_runs SET
    outcomes_applied = (SELECT count(*) FROM bulk_outcomes o
                        WHERE o.run_id = bulk_runs.run_id AND o.status = 'applied'),
    outcomes_unchanged = (SELECT count(*) FROM bulk_outcomes o
                          WHERE o.run_id = bulk_runs.run_id AND o.status = 'unchanged'),
    outcomes_rejected = (SELECT count(*) FROM bulk_outcomes o
                         WHERE o.run_id = bulk_runs.run_id AND o.status = 'rejected');
