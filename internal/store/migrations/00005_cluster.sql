-- Several nodes on PostgreSQL: node heartbeats and session leases with
-- fencing tokens. On SQLite one node owns everything and these stay empty.

-- +goose Up
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    addr         TEXT NOT NULL DEFAULT '',
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT NOT NULL DEFAULT 0
);

-- One row per session that should run somewhere. token only ever grows: a
-- takeover increments it, so a write carrying an older token is refused.
CREATE TABLE leases (
    session_id  TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL DEFAULT '',
    token       BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT NOT NULL DEFAULT 0,
    acquired_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX leases_node ON leases (node_id);
CREATE INDEX leases_expires ON leases (expires_at);

-- +goose Down
DROP TABLE leases;
DROP TABLE nodes;
