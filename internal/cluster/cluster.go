// Package cluster spreads sessions across the tradeplane nodes that share one
// PostgreSQL database. Each node heartbeats; each session that should run has
// a lease row owned by one node until it expires; a node renews its leases on
// every heartbeat, claims free or expired ones up to its fair share (FOR
// UPDATE SKIP LOCKED, so two nodes never claim one), and releases a few per
// heartbeat when it holds more than its share, so a joining node receives
// work gradually without stopping trading.
//
// Every claim increments the lease's fencing token. The node hands the token
// to the session it starts; journal writes carry it and the store refuses a
// stale one, and Guard refuses to let an order leave once the node cannot be
// sure it still holds the lease (its last renewal is older than the TTL minus
// a safety margin, as after a SIGSTOP). With SQLite there is one node and
// Single owns everything: the cluster layer is a no-op.
//
// The heartbeat never waits long for a session to stop: Handler.Lose can
// take as long as a stuck step takes to give up, and a heartbeat held that
// long renews nothing, so this node's other leases expire and a paused
// node's are not taken over. Sessions are stopped on their own goroutines
// (Guard refuses them at once); a lease given up is released once its
// session has stopped, and one claimed again meanwhile is handed to
// Handler.Acquire only then.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
)

// ErrNotOwner: this node does not (or can no longer be sure it does) hold
// the session's lease; the session must not trade here.
var ErrNotOwner = errors.New("session lease not held by this node")

// Handler starts and stops sessions as leases come and go.
type Handler interface {
	// Acquire starts running a session under token. It must not block long.
	Acquire(ctx context.Context, sessionID string, token int64)
	// Lose stops a session at once: the lease expired, was released, or was
	// taken over.
	Lose(sessionID string)
}

// Config wires a Cluster.
type Config struct {
	Store  *store.DB
	NodeID string
	Addr   string
	// TTL is how long a lease lives without renewal; default 15 s. Nodes
	// heartbeat every TTL/3.
	TTL time.Duration
	// Safety is subtracted from the TTL when deciding locally whether a lease
	// is still certainly ours; default TTL/5.
	Safety time.Duration
	// Sessions lists the sessions that should run somewhere.
	Sessions func(ctx context.Context) ([]string, error)
	Handler  Handler
	Clock    clock.Clock
	Log      *slog.Logger
	// RebalanceStep is the most leases released per heartbeat when over the
	// fair share; default 5.
	RebalanceStep int
}

// Cluster is one node's view of the deployment.
type Cluster struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	owned    map[string]owned
	stopping map[string]*stopping // sessions whose Handler.Lose runs now
	stops    sync.WaitGroup
}

// stopping is a session being stopped. With release set the lease is given
// up once it has stopped; with acquire set it was claimed again meanwhile
// and is handed to Handler.Acquire once stopped.
type stopping struct {
	done    chan struct{}
	release bool
	acquire func()
}

type owned struct {
	token   int64
	renewed time.Time // when this node last renewed it
}

// New validates cfg and returns a Cluster; Run starts it.
func New(cfg Config) (*Cluster, error) {
	if cfg.Store == nil || cfg.NodeID == "" || cfg.Sessions == nil || cfg.Handler == nil {
		return nil, fmt.Errorf("cluster: Store, NodeID, Sessions and Handler are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Safety <= 0 {
		cfg.Safety = cfg.TTL / 5
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.RebalanceStep <= 0 {
		cfg.RebalanceStep = 5
	}
	return &Cluster{cfg: cfg, log: cfg.Log.With("node", cfg.NodeID), owned: map[string]owned{}, stopping: map[string]*stopping{}}, nil
}

// Run heartbeats until ctx ends, then stops every owned session and
// releases the leases (graceful shutdown).
func (c *Cluster) Run(ctx context.Context) error {
	t := c.cfg.Clock.NewTicker(c.cfg.TTL / 3)
	defer t.Stop()
	for {
		if err := c.Beat(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("cluster heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil
		case <-t.C():
		}
	}
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	ids := make([]string, 0, len(c.owned))
	for id := range c.owned {
		ids = append(ids, id)
	}
	c.owned = map[string]owned{}
	c.mu.Unlock()
	for _, id := range ids {
		c.stop(id, false)
	}
	c.stops.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.cfg.Store.StopNode(ctx, c.cfg.NodeID, c.cfg.Clock.Now()); err != nil {
		c.log.Warn("cluster: release leases at shutdown failed; they expire after the TTL", "err", err)
	}
}

// Beat runs one heartbeat: register, renew, drop lost leases, claim up to the
// fair share, release the excess. It waits for the sessions it stops for at
// most stopWait; those still stopping then finish on their own.
func (c *Cluster) Beat(ctx context.Context) error {
	start := time.Now()
	var stopped []chan struct{}
	defer func() {
		c.await(stopped, c.stopWait())
		if d := time.Since(start); d > c.cfg.TTL/3 {
			c.log.Warn("cluster: slow heartbeat", "took", d.Round(time.Millisecond))
		}
	}()
	now := c.cfg.Clock.Now()
	if err := c.cfg.Store.Heartbeat(ctx, store.Node{ID: c.cfg.NodeID, Addr: c.cfg.Addr}, now); err != nil {
		return err
	}
	want, err := c.cfg.Sessions(ctx)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	if err := c.cfg.Store.EnsureLeases(ctx, want); err != nil {
		return err
	}
	// Read the clock again before each step that stamps leases: a beat can
	// take a while (a loaded host, a pause), and a lease renewed or claimed
	// "at" the beat's start would be stamped earlier than it was taken.
	now = c.cfg.Clock.Now()
	renewed, err := c.cfg.Store.RenewLeases(ctx, c.cfg.NodeID, now, c.cfg.TTL)
	if err != nil {
		// Without a renewal our leases age; Guard stops orders once they
		// may have expired.
		return err
	}
	wanted := make(map[string]bool, len(want))
	for _, id := range want {
		wanted[id] = true
	}
	held := map[string]int64{}
	for _, l := range renewed {
		held[l.SessionID] = l.Token
	}
	// Sessions we ran but no longer hold (expired during a pause, taken
	// over) stop now.
	c.mu.Lock()
	var lost []string
	for id, o := range c.owned {
		if tok, ok := held[id]; !ok || tok != o.token {
			lost = append(lost, id)
			delete(c.owned, id)
		} else {
			c.owned[id] = owned{token: tok, renewed: now}
		}
	}
	c.mu.Unlock()
	for _, id := range lost {
		c.log.Warn("cluster: lease lost; session stopped on this node", "session", id)
		stopped = append(stopped, c.stop(id, false))
	}
	// Leases renewed that we were not running (e.g. after a restart with the
	// same node id) are adopted; one whose session is being stopped to give
	// it up is not.
	for _, l := range renewed {
		c.mu.Lock()
		_, running := c.owned[l.SessionID]
		_, leaving := c.stopping[l.SessionID]
		adopt := !running && !leaving && wanted[l.SessionID]
		if adopt {
			c.owned[l.SessionID] = owned{token: l.Token, renewed: now}
		}
		c.mu.Unlock()
		if adopt {
			c.cfg.Handler.Acquire(ctx, l.SessionID, l.Token)
		}
	}
	// Release leases of sessions that should no longer run.
	for id := range held {
		if !wanted[id] {
			stopped = append(stopped, c.stop(id, true))
		}
	}

	now = c.cfg.Clock.Now()
	nodes, err := c.cfg.Store.Nodes(ctx, now)
	if err != nil {
		return err
	}
	live := 0
	for _, n := range nodes {
		if n.StoppedAt.IsZero() && now.Sub(n.HeartbeatAt) < c.cfg.TTL {
			live++
		}
	}
	live = max(live, 1)
	share := (len(want) + live - 1) / live
	c.mu.Lock()
	mine := len(c.owned)
	c.mu.Unlock()
	switch {
	case mine < share:
		claimed, err := c.cfg.Store.ClaimLeases(ctx, c.cfg.NodeID, share-mine, now, c.cfg.TTL)
		if err != nil {
			return err
		}
		for _, l := range claimed {
			if !wanted[l.SessionID] {
				c.cfg.Store.ReleaseLease(ctx, c.cfg.NodeID, l.SessionID)
				continue
			}
			c.log.Info("cluster: lease acquired", "session", l.SessionID, "token", l.Token)
			c.acquire(ctx, l, now)
		}
	case mine > share:
		// Hand over a few at a time so a joining node ramps up smoothly.
		ids := c.Owned()
		sort.Strings(ids)
		n := min(mine-share, c.cfg.RebalanceStep)
		for _, id := range ids[len(ids)-n:] {
			stopped = append(stopped, c.stop(id, true))
		}
	}
	return nil
}

// acquire records a lease just claimed and hands its session to
// Handler.Acquire, or, while the session is still being stopped here (it
// was lost or given up a moment ago), once it has stopped.
func (c *Cluster) acquire(ctx context.Context, l store.Lease, at time.Time) {
	c.mu.Lock()
	c.owned[l.SessionID] = owned{token: l.Token, renewed: at}
	if st, ok := c.stopping[l.SessionID]; ok {
		st.release = false
		st.acquire = func() { c.cfg.Handler.Acquire(ctx, l.SessionID, l.Token) }
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.cfg.Handler.Acquire(ctx, l.SessionID, l.Token)
}

// stop takes a session from this node: Guard refuses it from now on, and
// Handler.Lose runs on its own goroutine; with release the lease is given
// up once the session has stopped (stop first, then let go). The returned
// channel is closed when that is done.
func (c *Cluster) stop(id string, release bool) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.owned, id)
	if st, ok := c.stopping[id]; ok {
		st.acquire = nil
		st.release = st.release || release
		return st.done
	}
	st := &stopping{done: make(chan struct{}), release: release}
	c.stopping[id] = st
	c.stops.Add(1)
	go func() {
		defer c.stops.Done()
		c.cfg.Handler.Lose(id)
		for {
			c.mu.Lock()
			if st.release {
				st.release = false
				c.mu.Unlock()
				c.releaseLease(id)
				continue
			}
			acquire := st.acquire
			delete(c.stopping, id)
			c.mu.Unlock()
			close(st.done)
			if acquire != nil {
				acquire()
			}
			return
		}
	}()
	return st.done
}

func (c *Cluster) releaseLease(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.TTL)
	defer cancel()
	if err := c.cfg.Store.ReleaseLease(ctx, c.cfg.NodeID, id); err != nil {
		c.log.Warn("cluster: release failed; the lease expires after the TTL", "session", id, "err", err)
	}
}

// stopWait is how long a heartbeat waits for the sessions it stops: a
// fraction of the heartbeat interval, so a stuck step cannot hold up the
// next renewal.
func (c *Cluster) stopWait() time.Duration { return c.cfg.TTL / 10 }

// await waits until every channel is closed or d has passed (real time:
// it bounds how long goroutines may hold the heartbeat, whatever Clock is).
func (c *Cluster) await(chans []chan struct{}, d time.Duration) {
	if len(chans) == 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-t.C:
			return
		}
	}
}

// Owned lists the sessions this node runs now.
func (c *Cluster) Owned() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.owned))
	for id := range c.owned {
		out = append(out, id)
	}
	return out
}

// Guard returns the fencing token to trade a session under, or ErrNotOwner
// when this node does not hold its lease or cannot be sure it still does
// (the last renewal is older than TTL − Safety), or is still stopping the
// session after losing or giving it up. Call it right before an order
// leaves.
func (c *Cluster) Guard(sessionID string) (int64, error) {
	c.mu.Lock()
	o, ok := c.owned[sessionID]
	_, leaving := c.stopping[sessionID]
	c.mu.Unlock()
	if !ok || leaving {
		return 0, fmt.Errorf("session %s: %w", sessionID, ErrNotOwner)
	}
	if c.cfg.Clock.Now().Sub(o.renewed) >= c.cfg.TTL-c.cfg.Safety {
		return 0, fmt.Errorf("session %s: lease not renewed for %s: %w", sessionID, c.cfg.Clock.Now().Sub(o.renewed).Round(time.Millisecond), ErrNotOwner)
	}
	return o.token, nil
}

// Single is the one-node cluster of a SQLite deployment: it owns every
// session with token 0 and never loses one.
type Single struct{}

// Guard always allows, with token 0.
func (Single) Guard(string) (int64, error) { return 0, nil }
