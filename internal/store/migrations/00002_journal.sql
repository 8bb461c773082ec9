-- Indexes for the execution journal's queries and reconciliation.

-- +goose Up
-- "Failures only", newest first, across every class.
CREATE INDEX journal_failures_seq ON journal_events (seq) WHERE error_class <> '';
-- Reconciliation lists one account's non-terminal orders.
CREATE INDEX orders_account_status ON orders (account_id, status);

-- +goose Down
DROP INDEX orders_account_status;
DROP INDEX journal_failures_seq;
