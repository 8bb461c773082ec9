-- A session's open trade step: the step number whose orders may still have
-- an unknown outcome (the step failed with one, or the process died in it).
-- 0 when every step is closed. The next step replays an open step's number,
-- so a strategy that decides the same orders again gets the same client
-- order ids, and the executor answers them from the journal (settling with
-- the venue) instead of sending a second order. See store.OpenSessionStep.

-- +goose Up
ALTER TABLE sessions ADD COLUMN step_open BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN step_open;
