package cluster

import (
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
)

// DefaultTTL is the lease TTL when Config.TTL is not set.
const DefaultTTL = 15 * time.Second

// Health is what a node's last heartbeat says of it (the API's node
// health values).
type Health string

// Node healths. Nodes heartbeat every TTL/3.
const (
	HealthUp   Health = "up"
	HealthLate Health = "late" // two heartbeats missed
	HealthDown Health = "down" // past the TTL: its leases are free to claim
)

// Healths lists every Health, for enums that must match.
var Healths = []Health{HealthUp, HealthLate, HealthDown}

// NodeHealth judges a node that has not stopped gracefully by the age of
// its last heartbeat at now, with leases of ttl (0: DefaultTTL).
func NodeHealth(n store.Node, now time.Time, ttl time.Duration) Health {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	switch age := now.Sub(n.HeartbeatAt); {
	case age > ttl:
		return HealthDown
	case age > 2*ttl/3:
		return HealthLate
	}
	return HealthUp
}

// DownNodes returns the nodes other than self that stopped heartbeating
// more than ttl (0: DefaultTTL) ago without stopping gracefully: the ones
// whose death the survivors must report, since a dead process cannot.
func DownNodes(nodes []store.Node, self string, now time.Time, ttl time.Duration) []store.Node {
	var out []store.Node
	for _, n := range nodes {
		if n.ID == self || !n.StoppedAt.IsZero() || NodeHealth(n, now, ttl) != HealthDown {
			continue
		}
		out = append(out, n)
	}
	return out
}
