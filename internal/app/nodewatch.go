package app

import (
	"context"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/cluster"
)

// A process that dies cannot report its own death: the surviving nodes do.
// Each node watches the nodes table and raises a critical alert for a node
// whose heartbeat is older than the lease TTL without a graceful stop. The
// alert's key names the node and its last heartbeat, so every survivor
// raising it stores and delivers it once.

// nodeWatchLoop raises the node-down alerts until ctx ends (PostgreSQL
// only).
func (a *App) nodeWatchLoop(ctx context.Context) {
	ttl := a.cfg.LeaseTTL
	if ttl <= 0 {
		ttl = cluster.DefaultTTL
	}
	t := a.clk.NewTicker(max(ttl/3, time.Second))
	defer t.Stop()
	raised := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := a.clk.Now()
		nodes, err := a.db.Nodes(ctx, now)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("watch nodes", "err", err)
			}
			continue
		}
		for _, n := range cluster.DownNodes(nodes, a.nodeID, now, ttl) {
			key := fmt.Sprintf("node-down:%s:%d", n.ID, n.HeartbeatAt.UnixMicro())
			if raised[key] {
				continue
			}
			raised[key] = true
			a.alerts.Raise(ctx, alert.Alert{Severity: alert.Critical, Source: "cluster", Key: key,
				Message: fmt.Sprintf("node %s (%s) is down: no heartbeat since %s and no graceful stop; its %d sessions move to the surviving nodes",
					n.ID, n.Addr, n.HeartbeatAt.UTC().Format(time.RFC3339), n.Leases)})
		}
	}
}
