-- The node that claimed each Trade All item: with several nodes each item is
-- stepped by the node that owns its session, and an item left running by a
-- node that died is settled by another (see tradeall.Runner). '' on SQLite
-- and for items claimed before this column existed.

-- +goose Up
ALTER TABLE tradeall_items ADD COLUMN node TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tradeall_items DROP COLUMN node;
