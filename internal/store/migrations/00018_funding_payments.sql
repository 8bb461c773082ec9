-- Funding payments of perpetual positions: one row per settlement of one
-- account, keyed by the venue's id so that reading a window twice (a
-- backfill rerun, the live path and a backfill) stores it once. amount is
-- signed: positive received, negative paid, in asset (the settle asset).
-- pnl_points gains their sum (net = realized − fees + funding + unrealized).
--
-- Binance sub-accounts are accounts: master names the master account a
-- sub-account belongs to and sub_account_email is its email there; a
-- sub-account without a key of its own is read through the master's key.

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
ALTER TABLE accounts ADD COLUMN master TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN sub_account_email TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE accounts DROP COLUMN sub_account_email;
ALTER TABLE accounts DROP COLUMN master;
ALTER TABLE pnl_points DROP COLUMN funding;
DROP TABLE funding_payments;
