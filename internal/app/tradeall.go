package app

import (
	"context"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradeall"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// This file wires Trade All: its stepper (tradeall.SessionStepper) to the
// session manager, the store, the allocation check and the accounts'
// journals, and its runner to the cluster.

// newTradeAllStepper wires the Trade All stepper.
func (a *App) newTradeAllStepper() (*tradeall.SessionStepper, error) {
	return tradeall.NewSessionStepper(tradeall.SessionStepperConfig{
		Sessions:   a.sessions,
		Journal:    a.db,
		Allocation: a.planAllocation,
		Place:      a.placeStored,
		Clustered:  a.cluster != nil,
		Clock:      a.clk,
		Logger:     a.log,
	})
}

// placeStored places a stored order again through its account's journal,
// which reconciles it by client order id and sends nothing new.
func (a *App) placeStored(ctx context.Context, in journal.Intent) (venue.Order, error) {
	rt, err := a.account(in.AccountID)
	if err != nil {
		return venue.Order{}, err
	}
	return rt.x.Place(ctx, in)
}

// planAllocation is the allocation check of a step's planned orders taken
// together: the value of their buys (sells add no exposure) on top of the
// session's exposure, against its allocation, as the journal's check will
// judge them one by one.
func (a *App) planAllocation(ctx context.Context, se session.Session, reqs []venue.OrderRequest) (tradeall.Allocation, error) {
	total := udecimal.Zero
	for _, r := range reqs {
		value, err := portfolio.BuyValue(ctx, r, a.price)
		if err != nil {
			return tradeall.Allocation{}, err
		}
		total = total.Add(value)
	}
	if se.Allocation.Amount.IsZero() {
		return tradeall.Allocation{OK: true, Required: total, Unlimited: true}, nil
	}
	al := portfolio.SessionAllocation(se.ID, livefeed.AccountKey(store.Account{ID: se.AccountID}), string(se.Allocation.Kind), se.Allocation.Amount)
	exposure := a.tracker.exposure(se.ID)
	d, err := a.pf.CheckOrder(portfolio.OrderCheck{Allocation: al, Exposure: exposure, Order: total})
	if err != nil {
		return tradeall.Allocation{}, err
	}
	return tradeall.Allocation{OK: d.OK, Required: total, Available: d.Limit.Sub(exposure), Message: d.Reason}, nil
}

// tradeAllChannel carries run ids between nodes: a node that creates a run,
// or has done its part of one, tells the others to look at it now.
const tradeAllChannel = "tradeplane_tradeall"

// shareTradeAll configures the Trade All runner for several nodes: each
// node steps the items of the sessions it owns, settles the items a dead
// node left in flight, and looks for such work every poll interval or when
// another node announces a run. On SQLite it leaves cfg alone.
func (a *App) shareTradeAll(cfg *tradeall.Config) {
	cfg.OnExecute = a.followRun
	if a.cluster == nil {
		return
	}
	ttl := a.leaseTTL()
	cfg.Node = a.nodeID
	cfg.Here = a.tradeAllHere
	cfg.Alive = func(ctx context.Context) (map[string]bool, error) {
		now := a.clk.Now()
		nodes, err := a.db.Nodes(ctx, now)
		if err != nil {
			return nil, err
		}
		alive := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			alive[n.ID] = n.StoppedAt.IsZero() && now.Sub(n.HeartbeatAt) < ttl
		}
		return alive, nil
	}
	cfg.Poll = min(max(ttl/15, 100*time.Millisecond), time.Second)
	cfg.Announce = func(runID string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.db.Notify(ctx, tradeAllChannel, runID); err != nil {
			a.log.Debug("announce trade-all run", "run", runID, "err", err)
		}
	}
}

func (a *App) leaseTTL() time.Duration {
	if a.cfg.LeaseTTL > 0 {
		return a.cfg.LeaseTTL
	}
	return 15 * time.Second // the cluster's default
}

// listenTradeAll kicks the runner when another node announces a run.
func (a *App) listenTradeAll(ctx context.Context) error {
	if a.cluster == nil {
		return nil
	}
	ch, err := a.db.Listen(ctx, tradeAllChannel)
	if err != nil {
		return fmt.Errorf("listen for other nodes' trade-all runs: %w", err)
	}
	a.goLoop(func() {
		for id := range ch {
			a.tradeall.Kick(id)
		}
	})
	return nil
}

// tradeAllHere says which sessions this node steps: those whose lease it
// holds, and those no node will hold because they should not run (stopped,
// never started, deleted), which the stepper reports as skipped. A session
// that should run but whose lease another node holds, or nobody holds yet
// (its node died and the lease has not been taken over), is not here.
func (a *App) tradeAllHere(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	rest := false
	for i, id := range ids {
		if _, err := a.cluster.Guard(id); err == nil {
			out[i] = true
		} else {
			rest = true
		}
	}
	if !rest {
		return out, nil
	}
	var missing []string
	for i, id := range ids {
		if !out[i] {
			missing = append(missing, id)
		}
	}
	list, err := a.sessions.List(ctx, session.Filter{IDs: missing})
	if err != nil {
		return nil, err
	}
	desired := make(map[string]session.Desired, len(list))
	for _, se := range list {
		desired[se.ID] = se.Desired
	}
	for i, id := range ids {
		if out[i] {
			continue
		}
		d, ok := desired[id]
		out[i] = !ok || (d != session.WantRunning && d != session.WantPaused)
	}
	return out, nil
}

// tradeAllAccount is sessionAccount with orders placed through the Trade
// All stepper's Placer: a rejection aborts a Trade All step.
func (a *App) tradeAllAccount(ctx context.Context, accountID int64) (session.Account, error) {
	acct, err := a.sessionAccount(ctx, accountID)
	if err == nil && acct.Orders != nil {
		acct.Orders = a.steps.Placer(acct.Orders)
	}
	return acct, err
}
