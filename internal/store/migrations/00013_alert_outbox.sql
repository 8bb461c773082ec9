-- Durable alerts: every alert is stored with one outbox row per sink
-- (webhook, Telegram) in one transaction; a sender delivers the rows with
-- retries and backoff, so an outage of a sink delays alerts but loses none.
-- dedup_key, when set, makes an alert raised by several nodes (a node that
-- went down) one alert.

-- +goose Up
ALTER TABLE alerts ADD COLUMN dedup_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX alerts_dedup_key ON alerts (dedup_key) WHERE dedup_key <> '';
CREATE TABLE alert_outbox (
    id           {{.ID}},
    alert_id     BIGINT NOT NULL,
    sink         TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    claim_until  BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_at) WHERE delivered_at = 0;
CREATE INDEX alert_outbox_alert ON alert_outbox (alert_id);

-- +goose Down
DROP TABLE alert_outbox;
DROP INDEX alerts_dedup_key;
ALTER TABLE alerts DROP COLUMN dedup_key;
