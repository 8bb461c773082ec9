-- One schema for SQLite and PostgreSQL. The store renders the template tokens
-- per dialect before goose applies the file: ID is an auto-increment
-- primary key, Money an exact decimal column (TEXT on SQLite, where
-- NUMERIC would turn money into floats; NUMERIC on PostgreSQL), Blob
-- bytes. Times are BIGINT microseconds since the Unix epoch, UTC.

-- +goose Up
CREATE TABLE accounts (
    id             {{.ID}},
    name           TEXT NOT NULL UNIQUE,
    venue          TEXT NOT NULL,
    base_url       TEXT NOT NULL DEFAULT '',
    api_key        TEXT NOT NULL DEFAULT '',
    api_secret_enc {{.Blob}},
    tags           TEXT NOT NULL DEFAULT '[]',
    created_at     BIGINT NOT NULL
);

-- The last result of reading each wallet of an account from its venue.
CREATE TABLE wallets (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    wallet     TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'ok',
    error      TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, wallet)
);

CREATE TABLE balances (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    wallet     TEXT NOT NULL,
    asset      TEXT NOT NULL,
    free       {{.Money}} NOT NULL,
    locked     {{.Money}} NOT NULL,
    borrowed   {{.Money}} NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, wallet, asset)
);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    strategy         TEXT NOT NULL,
    account_id       BIGINT NOT NULL REFERENCES accounts(id),
    symbols          TEXT NOT NULL DEFAULT '[]',
    params           TEXT NOT NULL DEFAULT '{}',
    allocation_kind  TEXT NOT NULL DEFAULT 'fixed',
    allocation       {{.Money}} NOT NULL,
    tags             TEXT NOT NULL DEFAULT '[]',
    state            TEXT NOT NULL,
    state_reason     TEXT NOT NULL DEFAULT '',
    desired          TEXT NOT NULL DEFAULT 'stopped',
    strategy_state   TEXT NOT NULL DEFAULT '{}',
    restart_policy   TEXT NOT NULL DEFAULT '{}',
    restarts_auto    BIGINT NOT NULL DEFAULT 0,
    restarts_manual  BIGINT NOT NULL DEFAULT 0,
    step_seq         BIGINT NOT NULL DEFAULT 0,
    last_step_at     BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE session_transitions (
    id         {{.ID}},
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL DEFAULT '',
    at         BIGINT NOT NULL
);
CREATE INDEX session_transitions_session ON session_transitions (session_id, id);

-- Orders by client order id: the row is written as an intent before the
-- request leaves, and carries the venue's answer after.
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL DEFAULT '',
    account_id      BIGINT NOT NULL REFERENCES accounts(id),
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    type            TEXT NOT NULL,
    price           {{.Money}} NOT NULL,
    quantity        {{.Money}} NOT NULL,
    quote_quantity  {{.Money}} NOT NULL,
    status          TEXT NOT NULL,
    venue_order_id  TEXT NOT NULL DEFAULT '',
    executed_qty    {{.Money}} NOT NULL,
    quote_qty       {{.Money}} NOT NULL,
    fence           BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX orders_session ON orders (session_id, created_at);
CREATE INDEX orders_status ON orders (status);

CREATE TABLE fills (
    id              {{.ID}},
    account_id      BIGINT NOT NULL REFERENCES accounts(id),
    symbol          TEXT NOT NULL,
    trade_id        TEXT NOT NULL,
    client_order_id TEXT NOT NULL DEFAULT '',
    venue_order_id  TEXT NOT NULL DEFAULT '',
    session_id      TEXT NOT NULL DEFAULT '',
    side            TEXT NOT NULL,
    price           {{.Money}} NOT NULL,
    quantity        {{.Money}} NOT NULL,
    quote_qty       {{.Money}} NOT NULL,
    fee             {{.Money}} NOT NULL,
    fee_asset       TEXT NOT NULL DEFAULT '',
    maker           BOOLEAN NOT NULL DEFAULT FALSE,
    source          TEXT NOT NULL,
    at              BIGINT NOT NULL,
    UNIQUE (account_id, symbol, trade_id)
);
CREATE INDEX fills_account_time ON fills (account_id, at);
CREATE INDEX fills_session_time ON fills (session_id, at);

-- The execution journal: append-only.
CREATE TABLE journal_events (
    seq             {{.ID}},
    at              BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    session_id      TEXT NOT NULL DEFAULT '',
    account_id      BIGINT NOT NULL DEFAULT 0,
    symbol          TEXT NOT NULL DEFAULT '',
    client_order_id TEXT NOT NULL DEFAULT '',
    venue_order_id  TEXT NOT NULL DEFAULT '',
    side            TEXT NOT NULL DEFAULT '',
    order_type      TEXT NOT NULL DEFAULT '',
    quantity        {{.Money}} NOT NULL,
    price           {{.Money}} NOT NULL,
    filled_qty      {{.Money}} NOT NULL,
    fee             {{.Money}} NOT NULL,
    fee_asset       TEXT NOT NULL DEFAULT '',
    latency_us      BIGINT NOT NULL DEFAULT 0,
    error_class     TEXT NOT NULL DEFAULT '',
    error_code      BIGINT NOT NULL DEFAULT 0,
    message         TEXT NOT NULL DEFAULT '',
    fence           BIGINT NOT NULL DEFAULT 0,
    node            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX journal_session ON journal_events (session_id, seq);
CREATE INDEX journal_at ON journal_events (at);
CREATE INDEX journal_client_order ON journal_events (client_order_id);
CREATE INDEX journal_failures ON journal_events (error_class, seq) WHERE error_class <> '';

CREATE TABLE price_snapshots (
    symbol TEXT NOT NULL,
    at     BIGINT NOT NULL,
    price  {{.Money}} NOT NULL,
    PRIMARY KEY (symbol, at)
);

-- Equity over time for a scope ("total", "account:NAME", "session:ID"),
-- recorded live or reconstructed by a backfill.
CREATE TABLE equity_snapshots (
    scope      TEXT NOT NULL,
    source     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    equity     {{.Money}} NOT NULL,
    collateral {{.Money}} NOT NULL,
    realized   {{.Money}} NOT NULL,
    unrealized {{.Money}} NOT NULL,
    partial    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (scope, source, at)
);

-- Collateral ratios: account '' is the desk-wide value.
CREATE TABLE collateral_ratios (
    account    TEXT NOT NULL,
    asset      TEXT NOT NULL,
    ratio      {{.Money}} NOT NULL,
    version    BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account, asset)
);

CREATE TABLE collateral_changes (
    version    {{.ID}},
    account    TEXT NOT NULL,
    asset      TEXT NOT NULL,
    old_ratio  TEXT NOT NULL DEFAULT '',
    new_ratio  TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         BIGINT NOT NULL
);

-- Durable background jobs (backfill, import) with progress and a checkpoint.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    args         TEXT NOT NULL DEFAULT '{}',
    state        TEXT NOT NULL,
    done         BIGINT NOT NULL DEFAULT 0,
    total        BIGINT NOT NULL DEFAULT 0,
    message      TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    checkpoint   TEXT NOT NULL DEFAULT '{}',
    owner        TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit_log (
    id     {{.ID}},
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    remote TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit_log (at);

CREATE TABLE alerts (
    id         {{.ID}},
    at         BIGINT NOT NULL,
    severity   TEXT NOT NULL,
    source     TEXT NOT NULL,
    session_id TEXT NOT NULL DEFAULT '',
    account_id BIGINT NOT NULL DEFAULT 0,
    message    TEXT NOT NULL,
    acked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX alerts_at ON alerts (at);

-- +goose Down
DROP TABLE alerts;
DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP TABLE jobs;
DROP TABLE collateral_changes;
DROP TABLE collateral_ratios;
DROP TABLE equity_snapshots;
DROP TABLE price_snapshots;
DROP TABLE journal_events;
DROP TABLE fills;
DROP TABLE orders;
DROP TABLE session_transitions;
DROP TABLE sessions;
DROP TABLE balances;
DROP TABLE wallets;
DROP TABLE accounts;
