-- Trade All runs: one row per run, keyed by the client's idempotency key,
-- and one row per selected session with its step's state and result.

-- +goose Up
CREATE TABLE tradeall_runs (
    id               TEXT PRIMARY KEY,
    idem_key         TEXT NOT NULL UNIQUE,
    selection        TEXT NOT NULL DEFAULT '{}',
    state            TEXT NOT NULL,
    actor            TEXT NOT NULL DEFAULT '',
    remote           TEXT NOT NULL DEFAULT '',
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    message          TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tradeall_runs_state ON tradeall_runs (state, created_at);

CREATE TABLE tradeall_items (
    run_id      TEXT NOT NULL REFERENCES tradeall_runs(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    session_id  TEXT NOT NULL,
    account     TEXT NOT NULL DEFAULT '',
    venue       TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    error_class TEXT NOT NULL DEFAULT '',
    error_code  BIGINT NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    orders      TEXT NOT NULL DEFAULT '[]',
    fills       BIGINT NOT NULL DEFAULT 0,
    started_at  BIGINT NOT NULL DEFAULT 0,
    finished_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, session_id)
);
CREATE INDEX tradeall_items_state ON tradeall_items (run_id, state);

-- +goose Down
DROP TABLE tradeall_items;
DROP TABLE tradeall_runs;
