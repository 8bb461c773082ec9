-- Late truths for strategies: when the journal corrects an order it had
-- closed (failed, rejected, canceled) because the venue executed it after
-- all, the session's strategy state must count that execution, exactly once.
-- One row per corrected order of a session, written in the same commit as
-- the corrected event: seen_qty/seen_quote are the executed quantity the
-- strategy has accounted for (what the journal said when it closed the
-- order, then what each applied correction brought it to); done is set once
-- the order is terminal and fully seen, in the same commit as the strategy
-- state that saw it; gen counts corrections, so a correction that lands
-- while a session applies an earlier one is not marked done by it.

-- +goose Up
CREATE TABLE strategy_corrections (
    session_id      TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    was_status      TEXT NOT NULL,
    seen_qty        {{.Money}} NOT NULL,
    seen_quote      {{.Money}} NOT NULL,
    gen             BIGINT NOT NULL DEFAULT 1,
    done            BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_order_id)
);
CREATE INDEX strategy_corrections_pending ON strategy_corrections (session_id) WHERE done = 0;

-- +goose Down
DROP TABLE strategy_corrections;
