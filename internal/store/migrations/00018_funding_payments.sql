-- Funding payments of perpetual positions: one row per settlement of one
-- account, keyed by the venue's id so that reading a window twice (a
-- backfill rerun, the live path and a backfill) stores it once. amount is
-- signed: positive received, negative paid, in asset (the settle asset).
-- pnl_points gains their sum (net = realized − fees + funding + unrealized).

-- +goose Up
CREATE TABLE funding_payments (
    id            {{.ID}},
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    symbol        TEXT NOT NULL,
    payment_id    TEXT NOT NULL,
    asset         TEXT NOT NULL,
    amount        {{.Money}} NOT NULL,
    position_size {{.Money}} NOT NULL,
    session_id    TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL,
    at            BIGINT NOT NULL,
    UNIQUE (account_id, symbol, payment_id)
);
CREATE INDEX funding_payments_account_time ON funding_payments (account_id, at);
ALTER TABLE pnl_points ADD COLUMN funding {{.Money}} NOT NULL DEFAULT '0';

-- +goose Down
ALTER TABLE pnl_points DROP COLUMN funding;
DROP TABLE funding_payments;
