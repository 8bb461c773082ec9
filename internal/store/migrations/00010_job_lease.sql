-- Backfill jobs on several nodes: owner (the node id) runs a queued or running
-- job and holds it until expires_at, renewing it while the job runs, as a node
-- holds a session lease. Once it has passed (the node died, or released the
-- job on a graceful stop) another node claims the job with a conditional
-- UPDATE, so exactly one does, and resumes it from its checkpoints. 0: nobody
-- holds it (one node on SQLite, jobs from before this column).

-- +goose Up
ALTER TABLE jobs ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN expires_at;
