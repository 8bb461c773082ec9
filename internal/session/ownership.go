package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
)

// This file is the Manager's side of several nodes (package cluster): which
// sessions this node supervises, taking one over (Adopt), letting one go
// (Release), and the sync loop that makes commands given to other nodes
// take effect here.

// reconcileWindow: an account reconciled this recently is not reconciled
// again for another adoption (one Reconcile per account per burst of
// acquired leases).
const reconcileWindow = 5 * time.Second

// reconcile runs Options.Reconcile for an account before sessions resume
// there; with burst, a success within reconcileWindow stands in. A failure
// raises a critical alert and is returned.
func (m *Manager) reconcile(ctx context.Context, account int64, sessions int, burst bool) error {
	if m.opts.Reconcile == nil {
		return nil
	}
	m.reconMu.Lock()
	defer m.reconMu.Unlock() // one Reconcile at a time: concurrent adoptions of one account share it
	if at, ok := m.reconAt[account]; burst && ok && m.clk.Now().Sub(at) < reconcileWindow {
		return nil
	}
	if err := m.opts.Reconcile(ctx, account); err != nil {
		err = fmt.Errorf("reconcile account %d before resuming %d sessions: %w", account, sessions, err)
		m.alert(ctx, Alert{Severity: SevCritical, AccountID: account, Message: err.Error()})
		return err
	}
	m.reconAt[account] = m.clk.Now()
	return nil
}

// supervising reports whether a supervisor goroutine runs the session here.
func (m *Manager) supervising(id string) bool {
	m.mu.Lock()
	r := m.runners[id]
	m.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// Adopt starts supervising a session this node just acquired (the cluster's
// Handler.Acquire): when its stored desired state is running and it is not
// quarantined, Options.Reconcile runs for its account (once per account per
// burst of adoptions) and the session is started from whatever state it was
// left in, with the reason "adopted by this node". A session whose desired
// state is paused or stopped stays as stored; one left in stopping is
// finished stopping. Adopt is idempotent: a session already supervised here
// is left alone. It fails with ErrNotOwner when Options.Owns says this node
// does not own the session, and with the Reconcile error (the session stays
// down, with a critical alert) when reconciliation fails.
func (m *Manager) Adopt(ctx context.Context, id string) error {
	if !m.ownsHere(id) {
		return fmt.Errorf("adopt session %s: %w", id, ErrNotOwner)
	}
	s, err := m.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("adopt session %s: %w", id, err)
	}
	if s.State == Stopping {
		err := m.withLock(id, func() error {
			return m.move(ctx, id, Stopping, Stopped, "stop finished by the adopting node", "system", WantStopped, nil)
		})
		if err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("adopt session %s: %w", id, err)
		}
		return nil
	}
	if s.Desired != WantRunning || s.State == Quarantined || m.supervising(id) {
		return nil
	}
	if err := m.reconcile(ctx, s.AccountID, 1, true); err != nil {
		return fmt.Errorf("adopt session %s: %w", id, err)
	}
	err = m.withLock(id, func() error {
		cur, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		if cur.Desired != WantRunning || cur.State == Quarantined || m.supervising(id) {
			return nil
		}
		return m.startFrom(ctx, cur.State, id, "adopted by this node", "system")
	})
	if err != nil {
		return fmt.Errorf("adopt session %s: %w", id, err)
	}
	return nil
}

// Release stops supervising a session now (the cluster's Handler.Lose)
// without changing its stored state or desired state: another node takes
// over. An in-flight step is canceled and waited for up to AbandonGrace;
// from the moment Release is called the session's goroutine writes nothing
// more to the store. Release is idempotent and a no-op for a session not
// supervised here.
func (m *Manager) Release(id string) {
	m.letGo(id)
	// A command that raced with the loss may have spawned a goroutine
	// meanwhile; commands hold the session's lock.
	m.withLock(id, func() error { m.letGo(id); return nil })
	m.log.Info("session released", "session", id)
}

// letGo halts the session's goroutine, if any, telling it to write nothing
// more.
func (m *Manager) letGo(id string) {
	m.mu.Lock()
	r := m.runners[id]
	delete(m.runners, id)
	m.mu.Unlock()
	if r != nil {
		r.released.Store(true)
		r.halt()
	}
}

// Desired lists the ids of the sessions whose desired state is running or
// paused: those that should be owned by some node (the cluster's Sessions
// callback). Quarantined sessions keep desired state running and are
// listed; stopped ones are not.
func (m *Manager) Desired(ctx context.Context) ([]string, error) {
	all, err := m.db.Sessions(ctx, store.SessionFilter{})
	if err != nil {
		return nil, fmt.Errorf("desired sessions: %w", err)
	}
	var out []string
	for _, s := range all {
		if d := Desired(s.Desired); d == WantRunning || d == WantPaused {
			out = append(out, s.ID)
		}
	}
	return out, nil
}

// sync brings what this node supervises in line with the stored desired
// states (with Options.Owns set, every SyncInterval): a session supervised
// here that another node paused or stopped is let go (its state is already
// stored), and an owned session that should run but is not supervised here
// (started, resumed or restarted on another node, or whose goroutine ended)
// is adopted.
func (m *Manager) sync(ctx context.Context) {
	all, err := m.db.Sessions(ctx, store.SessionFilter{})
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("session sync", "err", err)
		}
		return
	}
	for _, s := range all {
		if ctx.Err() != nil {
			return
		}
		st := State(s.State)
		if m.supervising(s.ID) {
			if Desired(s.Desired) == WantRunning && st != Paused && st != Stopped && st != Stopping && st != Created {
				continue
			}
			m.withLock(s.ID, func() error {
				cur, err := m.Get(ctx, s.ID)
				if err == nil && cur.Desired == WantRunning && cur.State != Paused && cur.State != Stopped &&
					cur.State != Stopping && cur.State != Created {
					return nil
				}
				m.log.Info("session changed by another node; no longer supervised here", "session", s.ID, "state", cur.State)
				m.letGo(s.ID)
				return nil
			})
			continue
		}
		if Desired(s.Desired) == WantRunning && st != Quarantined && m.ownsHere(s.ID) {
			if err := m.Adopt(ctx, s.ID); err != nil && ctx.Err() == nil {
				m.log.Warn("session sync: adopt", "session", s.ID, "err", err)
			}
		}
	}
}
