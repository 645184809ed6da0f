-- The embedded job queue and the webhook event log. Timestamps are Unix milliseconds.

-- One row per queued job (embedded queue only). A job is available when state = 'ready',
-- run_at has passed and no live lease holds it; a worker that dies leaves a lease that expires,
-- and the job comes back. Finished jobs are deleted; jobs out of attempts stay as 'dead'.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    -- The Job as JSON.
    payload TEXT NOT NULL,
    -- Failed attempts so far (a lease that expired counts as one).
    attempt BIGINT NOT NULL DEFAULT 0,
    -- Times the job was handed to a worker.
    deliveries BIGINT NOT NULL DEFAULT 0,
    -- 'ready' or 'dead'.
    state TEXT NOT NULL DEFAULT 'ready',
    run_at BIGINT NOT NULL,
    lease_until BIGINT,
    worker TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (state, run_at);

-- Every webhook event received, with what became of it: 'queued', 'deleted', 'ignored',
-- 'refused' (registry not configured), 'rejected' (the whole request: bad token, malformed,
-- too large), 'failed' (the queue was unavailable; the registry was told to retry).
CREATE TABLE webhook_events (
    id BIGSERIAL PRIMARY KEY,
    endpoint TEXT NOT NULL,
    -- The event id from the payload (deduplication key), if any.
    event_id TEXT,
    outcome TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    reason TEXT,
    action TEXT,
    registry TEXT,
    repository TEXT,
    reference TEXT,
    received_at BIGINT NOT NULL
);
-- event_id first: lookups name a few ids, and a generic plan must still use them.
CREATE INDEX webhook_events_dedup ON webhook_events (event_id, endpoint);
CREATE INDEX webhook_events_received ON webhook_events (received_at);
