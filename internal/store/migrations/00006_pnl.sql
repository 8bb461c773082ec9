-- PnL history: reconstructed PnL series per scope and symbol, backfill
-- checkpoints, and the lookup of orders by venue order id that attributes a
-- downloaded fill to its session.

-- +goose Up
-- One point of a step series: the PnL state of a scope ("account:NAME",
-- "session:ID") in one symbol (symbol '' is the sum over the scope's symbols)
-- as of time at (every fill at or before at applied, marked at at).
CREATE TABLE pnl_points (
    scope      TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    source     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    position   {{.Money}} NOT NULL,
    mark       {{.Money}} NOT NULL,
    realized   {{.Money}} NOT NULL,
    fees       {{.Money}} NOT NULL,
    unrealized {{.Money}} NOT NULL,
    net        {{.Money}} NOT NULL,
    equity     {{.Money}} NOT NULL,
    trades     BIGINT NOT NULL DEFAULT 0,
    partial    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (scope, symbol, source, at)
);

-- How far a backfill has downloaded one symbol of one account: every trade
-- in [from_at, until_at) is stored.
CREATE TABLE backfill_checkpoints (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    symbol     TEXT NOT NULL,
    from_at    BIGINT NOT NULL,
    until_at   BIGINT NOT NULL,
    trades     BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, symbol)
);

CREATE INDEX orders_venue_order ON orders (account_id, venue_order_id);

-- A backfill replays one symbol's fills in time order.
CREATE INDEX fills_account_symbol_time ON fills (account_id, symbol, at);

-- +goose Down
DROP INDEX fills_account_symbol_time;
DROP INDEX orders_venue_order;
DROP TABLE backfill_checkpoints;
DROP TABLE pnl_points;
