-- Indexes that make each journal query shape one index range scan that stops
-- after LIMIT rows (see store.JournalEvents and the Journal section of
-- docs/BENCHMARKS.md).

-- +goose Up
-- Time-range pages are ordered by (at, seq), the keyset cursor of a
-- time-range EventQuery: at is not monotonic in seq (each writer stamps it
-- with its own clock before queueing), so a range of at is not a range of
-- seq. Replaces journal_at (at), which could filter the range but not order
-- its ties without a sort on PostgreSQL.
CREATE INDEX journal_at_seq ON journal_events (at, seq);
DROP INDEX journal_at;
-- A session's failures, newest first: the dashboard's session + failures
-- filter. Partial, so it costs only the failing rows.
CREATE INDEX journal_session_failures ON journal_events (session_id, seq) WHERE error_class <> '';

-- +goose Down
DROP INDEX journal_session_failures;
CREATE INDEX journal_at ON journal_events (at);
DROP INDEX journal_at_seq;
