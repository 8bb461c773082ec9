-- The id of the last caller-named trade step (Trade All) whose outcome was
-- saved with the session's strategy state, written in the same UPDATE as the
-- state. After a crash, Trade All settles an interrupted step from the
-- journal and, when this does not name the step, replays it under the same
-- client order ids so the strategy records what it did (see
-- store.SaveSessionStep and app's stepper.Settle).

-- +goose Up
ALTER TABLE sessions ADD COLUMN closed_step TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN closed_step;
