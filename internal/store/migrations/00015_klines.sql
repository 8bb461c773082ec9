-- Klines kept by backfill, so a replay (tradeplane replay --source db)
-- streams what was downloaded instead of downloading it again; and the
-- lookup of a session's unsettled orders, which every order placement makes.

-- +goose Up
-- One candle of one market of one venue: open_time and interval_ms in Unix
-- milliseconds (the venue's own units), prices and volume exact decimals.
CREATE TABLE klines (
    venue       TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    interval_ms BIGINT NOT NULL,
    open_time   BIGINT NOT NULL,
    open        {{.Money}} NOT NULL,
    high        {{.Money}} NOT NULL,
    low         {{.Money}} NOT NULL,
    close       {{.Money}} NOT NULL,
    volume      {{.Money}} NOT NULL,
    PRIMARY KEY (venue, symbol, interval_ms, open_time)
);

-- Orders whose outcome is not known yet are few; a session's others are
-- many (one a step). Without this, the lookup walked every order of the
-- session (orders_session), a cost that grew with the session's age.
CREATE INDEX orders_unsettled ON orders (session_id, created_at) WHERE status IN ('intent', 'unknown');

-- +goose Down
DROP INDEX orders_unsettled;
DROP TABLE klines;
