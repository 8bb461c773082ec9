-- Leverage and margin type per binance-futures account: JSON objects from
-- symbol to leverage (1 to 125) and to margin type ("cross", "isolated"),
-- set by `accounts add --futures-leverage/--futures-margin-type` or the
-- API. A symbol without an entry falls back to serve's server-wide flags.

-- +goose Up
ALTER TABLE accounts ADD COLUMN futures_leverage TEXT NOT NULL DEFAULT '{}';
ALTER TABLE accounts ADD COLUMN futures_margin_type TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE accounts DROP COLUMN futures_margin_type;
ALTER TABLE accounts DROP COLUMN futures_leverage;
