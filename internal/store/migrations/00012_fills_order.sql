-- Fills by order: a fill reported for an order the journal had closed
-- (failed, canceled) is a late truth the executor corrects, and the journal
-- audit compares each order's fills with the venue's; both look fills up by
-- client order id, and the audit reads an account's orders by creation time.

-- +goose Up
CREATE INDEX fills_client_order ON fills (client_order_id);
CREATE INDEX orders_account_created ON orders (account_id, created_at);

-- +goose Down
DROP INDEX orders_account_created;
DROP INDEX fills_client_order;
