-- Fills by order: a fill reported for an order the journal had closed
-- (failed, canceled) is a late truth the executor corrects, and the journal
-- audit compares each order's fills with the venue's; both look fills up by
-- client order id.

-- +goose Up
CREATE INDEX fills_client_order ON fills (client_order_id);

-- +goose Down
DROP INDEX fills_client_order;
