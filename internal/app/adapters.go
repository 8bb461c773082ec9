package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/cluster"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradeall"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// The adapters translate between the services and the server's consumed
// interfaces (internal/server/deps.go), and map the services' typed errors
// onto the classes the server's one error table knows.

var (
	_ server.Sessions   = sessionsAdapter{}
	_ server.TradeAll   = tradeAllAdapter{}
	_ server.Collateral = collateralAdapter{}
	_ server.Accounts   = accountsAdapter{}
	_ server.PnL        = pnlAdapter{}
	_ server.Nodes      = nodesAdapter{}
	_ server.Stats      = statsAdapter{}
	_ server.Backfills  = backfillAdapter{}
)

// serviceErr keeps a service's coded error (internal/apperr) with its
// whole message, which services write for users; the code alone decides
// the status and exit code, through apperr's one table. An uncoded error
// is returned as it is: the server logs it and shows its class only.
func serviceErr(err error) error {
	switch c := apperr.CodeOf(err); c {
	case "", apperr.Internal, apperr.Timeout:
		return err
	default:
		return &apperr.Error{Code: c, Message: err.Error(), Err: err}
	}
}

// notOwnerErr adds to err (which has code apperr.NotOwner) the node that
// owns session id now and that node's address, when the leases say so,
// so a client can send the command there.
func (a *App) notOwnerErr(ctx context.Context, id string, err error) error {
	e := &apperr.Error{Code: apperr.NotOwner, Err: err}
	var node, addr string
	if a.cluster != nil {
		if l, lerr := a.db.Lease(ctx, id); lerr == nil && l.NodeID != "" && l.NodeID != a.nodeID && l.ExpiresAt.After(a.clk.Now()) {
			node = l.NodeID
			if nodes, nerr := a.db.Nodes(ctx, a.clk.Now()); nerr == nil {
				for _, n := range nodes {
					if n.ID == node {
						addr = n.Addr
					}
				}
			}
		}
	}
	switch {
	case node == "":
		e.Message = fmt.Sprintf("session %s is not run by this node (%s) and no node holds it now; retry in a few seconds, the node that takes it over will run it (%v)", id, a.nodeID, err)
	case addr == "":
		e.Message = fmt.Sprintf("session %s is run by node %s, not this node (%s); send the command to that node", id, node, a.nodeID)
		e.Details = map[string]string{"node": node}
	default:
		e.Message = fmt.Sprintf("session %s is run by node %s at %s, not this node (%s); send the command to that node", id, node, addr, a.nodeID)
		e.Details = map[string]string{"node": node, "addr": addr}
	}
	return e
}

type sessionsAdapter struct{ a *App }

func (s sessionsAdapter) Sessions(ctx context.Context, q server.SessionQuery) ([]server.SessionView, error) {
	f := session.Filter{Tag: q.Tag, State: session.State(q.State)}
	if q.Account != "" {
		acct, err := s.a.db.Account(ctx, q.Account)
		if err != nil {
			return nil, serviceErr(err)
		}
		f.AccountID = acct.ID
	}
	list, err := s.a.sessions.List(ctx, f)
	if err != nil {
		return nil, serviceErr(err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	names := s.a.accountNames(ctx)
	owners := s.a.owners(ctx)
	unknown := s.a.unknownOrders(ctx, "")
	out := make([]server.SessionView, 0, len(list))
	for _, se := range list {
		v := s.a.sessionViewNamed(se, names)
		v.Node = s.a.nodeOf(se, owners)
		v.UnknownOrders = unknown[se.ID]
		out = append(out, v)
	}
	return out, nil
}

// unknownOrders lists the orders whose outcome is not known yet by session
// (of one session when sessionID is set), with their age.
func (a *App) unknownOrders(ctx context.Context, sessionID string) map[string][]server.UnknownOrderView {
	var os []store.Order
	var err error
	if sessionID != "" {
		os, err = a.db.UnsettledOrders(ctx, sessionID)
	} else {
		os, err = a.db.AllUnsettledOrders(ctx)
	}
	if err != nil {
		a.log.Warn("list unknown orders: sessions are shown without them", "err", err)
		return nil
	}
	now := a.clk.Now()
	out := map[string][]server.UnknownOrderView{}
	for _, o := range os {
		out[o.SessionID] = append(out[o.SessionID], server.UnknownOrderView{ClientOrderID: o.ClientOrderID, Symbol: o.Symbol,
			Side: o.Side, Quantity: o.Quantity, Status: o.Status, Since: o.CreatedAt, AgeSeconds: int64(now.Sub(o.CreatedAt) / time.Second)})
	}
	return out
}

func (s sessionsAdapter) Session(ctx context.Context, id string) (server.SessionView, error) {
	se, err := s.a.sessions.Get(ctx, id)
	if err != nil {
		return server.SessionView{}, serviceErr(err)
	}
	return s.a.sessionView(ctx, se), nil
}

func (s sessionsAdapter) Command(ctx context.Context, id string, cmd server.SessionCommand, actor string) (server.SessionView, error) {
	m := s.a.sessions
	var (
		se  session.Session
		err error
	)
	switch cmd {
	case server.CommandStart:
		se, err = m.Start(ctx, id, actor)
	case server.CommandStop:
		se, err = m.Stop(ctx, id, actor)
	case server.CommandRestart:
		se, err = m.Restart(ctx, id, actor)
	case server.CommandPause:
		se, err = m.Pause(ctx, id, actor)
	case server.CommandResume:
		se, err = m.Resume(ctx, id, actor)
	case server.CommandTrade:
		rep, terr := m.TradeNow(ctx, id, actor)
		if terr != nil {
			err = terr
			break
		}
		if rep.Error != "" {
			// The step ran and failed (a venue rejection, a refused
			// allocation): a conflict with the world, shown to the user
			// with its reason; the journal and the alert carry the rest.
			return server.SessionView{}, &server.Error{Kind: server.ErrConflict,
				Message: fmt.Sprintf("trade step of session %s failed: %s", id, rep.Error)}
		}
		se, err = m.Get(ctx, id)
	default:
		return server.SessionView{}, &server.Error{Kind: server.ErrInvalid, Message: "unknown session command " + string(cmd)}
	}
	if apperr.CodeOf(err) == apperr.NotOwner {
		return server.SessionView{}, s.a.notOwnerErr(ctx, id, err)
	}
	if err != nil {
		return server.SessionView{}, serviceErr(err)
	}
	v := s.a.sessionView(ctx, se)
	s.a.publishSession(v)
	return v, nil
}

func (s sessionsAdapter) UpdateParams(ctx context.Context, id string, params json.RawMessage, actor string) (server.SessionView, error) {
	cur, err := s.a.sessions.Get(ctx, id)
	if err != nil {
		return server.SessionView{}, serviceErr(err)
	}
	// A merge, as the API documents: the keys not sent keep their values
	// (the whole object replaced them, so '--params {"levels":12}' lost the
	// symbol).
	merged, err := server.MergeParams(cur.Params, params)
	if err != nil {
		return server.SessionView{}, err
	}
	se, err := s.a.sessions.UpdateParams(ctx, id, merged, cur.Tags, cur.UpdatedAt, actor)
	if err != nil {
		return server.SessionView{}, serviceErr(err)
	}
	return s.a.sessionView(ctx, se), nil
}

// accountName is the name of account id ("" when it is gone).
func (a *App) accountName(ctx context.Context, id int64) string {
	a.mu.Lock()
	rt := a.accounts[id]
	a.mu.Unlock()
	if rt != nil {
		return rt.acct.Name
	}
	if acct, err := a.db.AccountByID(ctx, id); err == nil {
		return acct.Name
	}
	return ""
}

func (a *App) accountNames(ctx context.Context) map[int64]string {
	names := map[int64]string{}
	if accts, err := a.db.Accounts(ctx); err == nil {
		for _, ac := range accts {
			names[ac.ID] = ac.Name
		}
	}
	return names
}

// sessionView is one session's view. It runs after every trade step, so it
// reads only that session's account name: from the accounts open on this
// node, else by id from the store.
func (a *App) sessionView(ctx context.Context, se session.Session) server.SessionView {
	v := a.sessionViewNamed(se, map[int64]string{se.AccountID: a.accountName(ctx, se.AccountID)})
	v.Node = a.nodeOfOne(ctx, se)
	v.UnknownOrders = a.unknownOrders(ctx, se.ID)[se.ID]
	return v
}

// owners maps session ids to the node that holds each unexpired lease; nil
// on one node (SQLite), where this node runs every session.
func (a *App) owners(ctx context.Context) map[string]string {
	if a.cluster == nil {
		return nil
	}
	ls, err := a.db.Leases(ctx)
	if err != nil {
		a.log.Warn("list leases: sessions are shown without their node", "err", err)
		return map[string]string{}
	}
	now := a.clk.Now()
	out := make(map[string]string, len(ls))
	for _, l := range ls {
		if l.NodeID != "" && l.ExpiresAt.After(now) {
			out[l.SessionID] = l.NodeID
		}
	}
	return out
}

// nodeOf is the node that runs se now, from owners (see owners).
func (a *App) nodeOf(se session.Session, owners map[string]string) string {
	if a.cluster == nil {
		switch se.State {
		case session.Created, session.Stopped, session.Quarantined:
			return ""
		}
		return a.nodeID
	}
	return owners[se.ID]
}

// nodeOfOne is nodeOf for one session: this node when it holds the lease
// (no query: the common case of a session event published by its owner),
// else the lease row.
func (a *App) nodeOfOne(ctx context.Context, se session.Session) string {
	if a.cluster == nil {
		return a.nodeOf(se, nil)
	}
	if _, err := a.cluster.Guard(se.ID); err == nil {
		return a.nodeID
	}
	l, err := a.db.Lease(ctx, se.ID)
	if err != nil || l.NodeID == "" || !l.ExpiresAt.After(a.clk.Now()) {
		return ""
	}
	return l.NodeID
}

func (a *App) sessionViewNamed(se session.Session, names map[int64]string) server.SessionView {
	v := server.SessionView{
		ID: se.ID, Name: se.Name, Strategy: se.Strategy, Account: names[se.AccountID], Symbols: se.Symbols, Tags: se.Tags,
		State: string(se.State), StateReason: se.StateReason, AllocationKind: string(se.Allocation.Kind),
		Allocation: se.Allocation.Amount, LastError: se.LastError, RestartsAuto: se.RestartsAuto,
		RestartsManual: se.RestartsManual, Params: se.Params, UpdatedAt: se.UpdatedAt,
	}
	if !se.LastStepAt.IsZero() {
		t := se.LastStepAt
		v.LastStepAt = &t
	}
	if rep, ok := a.tracker.pnl(se.ID); ok {
		v.PnL = rep.Total.NetPnL
	}
	return v
}

// tradeallSessions lists sessions for Trade All's selections.
type tradeallSessions struct{ a *App }

func (t tradeallSessions) Sessions(ctx context.Context) ([]tradeall.SessionInfo, error) {
	list, err := t.a.sessions.List(ctx, session.Filter{})
	if err != nil {
		return nil, err
	}
	accts, err := t.a.db.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[int64]store.Account{}
	for _, ac := range accts {
		byID[ac.ID] = ac
	}
	out := make([]tradeall.SessionInfo, 0, len(list))
	for _, se := range list {
		ac := byID[se.AccountID]
		// A session that should run and is on its way there (adopted by
		// another node after a failover or rebalance, resumed at boot, in a
		// short restart backoff) is running for the selection: the
		// stepper waits for it. Leaving it out would drop it from a run
		// silently for the instant its state is in between.
		running := se.State == session.Running ||
			se.Desired == session.WantRunning && (se.State == session.Starting || se.State == session.Restarting)
		out = append(out, tradeall.SessionInfo{ID: se.ID, Name: se.Name, Account: ac.Name, Venue: ac.Venue, Tags: se.Tags,
			State: string(se.State), Running: running})
	}
	return out, nil
}

type tradeAllAdapter struct{ a *App }

func selectionOf(req server.TradeAllRequest) tradeall.Selection {
	return tradeall.Selection{IDs: req.SessionIDs, Tags: req.AllTags(), Account: req.Account, Venue: req.Venue, All: req.All}
}

func (t tradeAllAdapter) Preview(ctx context.Context, req server.TradeAllRequest) (server.TradeAllPreview, error) {
	p, err := t.a.tradeall.Preview(ctx, selectionOf(req))
	if err != nil {
		return server.TradeAllPreview{}, serviceErr(err)
	}
	out := server.TradeAllPreview{Sessions: []server.SessionView{}, Skipped: []server.TradeAllResult{}, Plans: []server.TradeAllPlan{}}
	names := t.a.accountNames(ctx)
	for _, it := range p.Items {
		out.Plans = append(out.Plans, planView(it))
		if it.Error != "" || it.Plan.Skip != "" {
			msg := it.Error
			if msg == "" {
				msg = string(it.Plan.Skip)
				if it.Plan.Message != "" {
					msg += ": " + it.Plan.Message
				}
			}
			out.Skipped = append(out.Skipped, server.TradeAllResult{SessionID: it.SessionID, State: server.ResultSkipped, Message: msg})
			continue
		}
		out.Orders += len(it.Plan.Orders)
		se, err := t.a.sessions.Get(ctx, it.SessionID)
		if err != nil {
			continue
		}
		out.Sessions = append(out.Sessions, t.a.sessionViewNamed(se, names))
	}
	return out, nil
}

// planView is one session's planned step for the API.
func planView(it tradeall.PreviewItem) server.TradeAllPlan {
	pl := it.Plan
	v := server.TradeAllPlan{SessionID: it.SessionID, Name: it.Name, Account: it.Account, Venue: it.Venue, State: it.State,
		Skip: string(pl.Skip), Message: pl.Message, Error: it.Error, Orders: []server.PlannedOrder{},
		Allocation: server.TradeAllAllocation{OK: pl.Allocation.OK, Required: pl.Allocation.Required, Message: pl.Allocation.Message}}
	if !pl.Allocation.Unlimited {
		avail := pl.Allocation.Available
		v.Allocation.Available = &avail
	}
	for _, o := range pl.Orders {
		v.Orders = append(v.Orders, server.PlannedOrder{Symbol: o.Symbol, Side: string(o.Side), Type: string(o.Type), Price: o.Price,
			Quantity: o.Quantity, QuoteQuantity: o.QuoteQuantity})
	}
	return v
}

func (t tradeAllAdapter) Start(ctx context.Context, req server.TradeAllRequest, key, actor string) (server.TradeAllRun, bool, error) {
	// The runner follows the run it starts (Config.OnExecute: followRun).
	run, err := t.a.tradeall.Start(ctx, tradeall.StartRequest{Key: key, Selection: selectionOf(req), Actor: actor})
	if err != nil {
		return server.TradeAllRun{}, false, serviceErr(err)
	}
	return runView(run), !run.Existing, nil
}

func (t tradeAllAdapter) Run(ctx context.Context, id string) (server.TradeAllRun, error) {
	run, err := t.a.tradeall.Get(ctx, id)
	if err != nil {
		return server.TradeAllRun{}, serviceErr(err)
	}
	return runView(run), nil
}

func (t tradeAllAdapter) Cancel(ctx context.Context, id, actor string) (server.TradeAllRun, error) {
	run, err := t.a.tradeall.Cancel(ctx, id, actor)
	if err != nil {
		return server.TradeAllRun{}, serviceErr(err)
	}
	return runView(run), nil
}

// followRun publishes a run's progress on the server's stream (and, through
// the fanout, on the other nodes') while it executes here. The runner calls
// it when a run starts executing on this node.
func (a *App) followRun(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	ch, err := a.tradeall.Subscribe(ctx, id)
	if err != nil {
		cancel()
		return
	}
	go func() {
		defer cancel()
		for range ch {
			if run, err := a.tradeall.Get(ctx, id); err == nil {
				a.publishTradeAll(runView(run))
			}
		}
		if run, err := a.tradeall.Get(context.Background(), id); err == nil {
			a.publishTradeAll(runView(run))
		}
	}()
}

// runStates maps every Trade All run state to the API's.
var runStates = map[tradeall.RunState]string{
	tradeall.RunRunning:  server.RunRunning,
	tradeall.RunDone:     server.RunDone,
	tradeall.RunPartial:  server.RunPartial,
	tradeall.RunFailed:   server.RunFailed,
	tradeall.RunCanceled: server.RunCanceled,
}

// runView flattens a run for the API.
func runView(r tradeall.Run) server.TradeAllRun {
	v := server.TradeAllRun{ID: r.ID, Key: r.Key, Actor: r.Actor, CreatedAt: r.CreatedAt, Total: r.Counts.Total,
		Results: []server.TradeAllResult{}}
	v.Request = server.TradeAllRequest{Tags: r.Selection.Tags, SessionIDs: r.Selection.IDs, Account: r.Selection.Account,
		Venue: r.Selection.Venue, All: r.Selection.All}
	if len(r.Selection.Tags) == 1 {
		v.Request.Tag = r.Selection.Tags[0] // as older clients read it
	}
	v.State = runStates[r.State]
	if v.State == "" {
		v.State = string(r.State) // a state added to tradeall but not here: TestTradeAllStatesInOpenAPI fails
	}
	if !r.FinishedAt.IsZero() {
		f := r.FinishedAt
		v.FinishedAt = &f
	}
	for _, it := range r.Items {
		res := server.TradeAllResult{SessionID: it.SessionID, Orders: len(it.Orders), Message: it.Message, Node: it.Node}
		switch it.State {
		case tradeall.ItemDone:
			res.State = server.ResultOK
		case tradeall.ItemFailed:
			res.State = server.ResultFailed
			if it.ErrorClass != "" {
				res.Message = it.ErrorClass + ": " + it.Message
			}
		case tradeall.ItemSkipped, tradeall.ItemCanceled:
			res.State = server.ResultSkipped
			if it.Skip != "" {
				res.Message = strings.TrimSuffix(string(it.Skip)+": "+it.Message, ": ")
			}
		case tradeall.ItemRunning:
			res.State = server.ResultRunning
		default:
			res.State = server.ResultPending
		}
		if !it.StartedAt.IsZero() {
			s := it.StartedAt
			res.StartedAt = &s
		}
		if !it.FinishedAt.IsZero() {
			f := it.FinishedAt
			res.FinishedAt = &f
			v.Done++
		}
		if res.State == server.ResultFailed {
			v.Failed++
		}
		v.Results = append(v.Results, res)
	}
	return v
}

type collateralAdapter struct{ a *App }

// Ratios are the effective ratios with the venues' own (Binance
// Multi-Assets mode haircuts) next to them, differences flagged.
func (c collateralAdapter) Ratios(ctx context.Context, account string) ([]portfolio.RatioView, error) {
	key, err := c.a.accountKey(ctx, account)
	if err != nil {
		return nil, err
	}
	return c.a.pf.RatiosWithVenues(key, c.a.venueHaircuts(ctx))
}

func (c collateralAdapter) SetRatio(ctx context.Context, actor, account, asset, ratio string) (portfolio.CollateralVersion, error) {
	key, err := c.a.accountKey(ctx, account)
	if err != nil {
		return portfolio.CollateralVersion{}, err
	}
	v, err := c.a.pf.SetRatios(actor, key, []portfolio.RatioInput{{Asset: strings.ToUpper(asset), Ratio: ratio}})
	if err != nil {
		return v, err
	}
	// v.Account is the account's portfolio key: stored as is, so that
	// RestoreCollateral replays it onto the same account.
	if err := PersistCollateral(ctx, c.a.db, v); err != nil {
		return v, fmt.Errorf("persist collateral change: %w", err)
	}
	return v, nil
}

// accountKey is the portfolio id of an account name ("" stays "").
func (a *App) accountKey(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	acct, err := a.db.Account(ctx, name)
	if err != nil {
		return "", err
	}
	return livefeed.AccountKey(acct), nil
}

type accountsAdapter struct{ a *App }

func (c accountsAdapter) CreateAccount(ctx context.Context, na server.NewAccount, actor string) (store.Account, error) {
	// The fields were checked by the API (fieldcheck.CheckAccount, the one
	// validation the CLI runs too) before they reach here.
	acct := &store.Account{Name: na.Name, Venue: na.Venue, BaseURL: na.BaseURL, APIKey: na.APIKey, Tags: na.Tags,
		Master: na.Master, SubAccountEmail: na.SubAccountEmail, FuturesLeverage: na.FuturesLeverage, FuturesMarginType: na.FuturesMarginType}
	if na.APISecret != "" {
		if c.a.factory.Box == nil {
			return store.Account{}, &server.Error{Kind: server.ErrUnavailable, Message: "no master key configured to encrypt credentials"}
		}
		sealed, err := c.a.factory.Box.Seal([]byte(na.APISecret))
		if err != nil {
			return store.Account{}, err
		}
		acct.APISecretEnc = sealed
	}
	// An account that cannot be opened is refused, not stored; so is a
	// sub-account its master does not list.
	if acct.SubAccountEmail != "" {
		if err := c.a.factory.CheckSubAccount(ctx, *acct); err != nil {
			return store.Account{}, &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("account %q: sub-account %v", na.Name, err)}
		}
	}
	if _, err := c.a.factory.Open(*acct); err != nil {
		return store.Account{}, &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("account %q cannot be opened on venue %s: %v", na.Name, na.Venue, err)}
	}
	if err := c.a.db.CreateAccount(ctx, acct); err != nil {
		return store.Account{}, err
	}
	if err := c.a.addAccount(ctx, *acct); err != nil {
		c.a.log.Warn("new account not opened", "account", acct.Name, "err", err)
	}
	return *acct, nil
}

func (c accountsAdapter) RemoveAccount(ctx context.Context, name, actor string) error {
	acct, err := c.a.db.Account(ctx, name)
	if err != nil {
		return err
	}
	if err := c.a.db.DeleteAccount(ctx, name); err != nil {
		return err
	}
	// Its live feed, user stream, resync and order settling stop (and are
	// waited for) before the portfolio forgets it, so none of them reports
	// the account missing.
	c.a.feed.RemoveAccount(acct.ID)
	c.a.pf.RemoveAccount(livefeed.AccountKey(acct))
	c.a.mu.Lock()
	delete(c.a.accounts, acct.ID)
	c.a.mu.Unlock()
	return nil
}

type nodesAdapter struct{ a *App }

func (n nodesAdapter) Nodes(ctx context.Context) ([]server.NodeView, error) {
	if n.a.cluster == nil {
		st := n.a.sessions.Stats()
		return []server.NodeView{{ID: n.a.nodeID, Addr: n.a.cfg.Addr, Version: n.a.cfg.Version, Sessions: st.Running,
			StartedAt: n.a.started, SeenAt: n.a.clk.Now(), Health: server.NodeUp, Self: true}}, nil
	}
	nodes, err := n.a.db.Nodes(ctx, n.a.clk.Now())
	if err != nil {
		return nil, err
	}
	now := n.a.clk.Now()
	out := make([]server.NodeView, 0, len(nodes))
	for _, nd := range nodes {
		if !nd.StoppedAt.IsZero() {
			continue
		}
		v := server.NodeView{ID: nd.ID, Addr: nd.Addr, Sessions: nd.Leases, StartedAt: nd.StartedAt, SeenAt: nd.HeartbeatAt,
			Health: string(cluster.NodeHealth(nd, now, n.a.cfg.LeaseTTL)), Self: nd.ID == n.a.nodeID}
		if v.Self {
			v.Version = n.a.cfg.Version
		}
		out = append(out, v)
	}
	return out, nil
}

type pnlAdapter struct{ a *App }

// scopeKey maps the API's scope to the equity snapshot scope.
func scopeKey(scope string) string {
	if scope == "" || scope == "desk" {
		return "total"
	}
	return scope
}

func (p pnlAdapter) Report(ctx context.Context, q server.PnLQuery) (server.PnLReport, error) {
	interval := time.Hour
	if q.Interval == "1d" {
		interval = 24 * time.Hour
	}
	rep := server.PnLReport{Scope: q.Scope, Interval: q.Interval, From: q.From, To: q.To,
		Equity: []server.EquityPoint{}, Averages: []server.IntervalAverage{}, Backfills: []server.TimeRange{}}
	scope := scopeKey(q.Scope)
	// The series streams from the store: equity thinned as it goes
	// (q.MaxEquityPoints), averages summed as it goes, so a report over
	// the largest range holds its answer, never its 240,000 rows. The
	// demo's replayed history (source "history") counts as live for the
	// averages: it is what the desk's sessions would have done; backfilled
	// snapshots count only when the range has neither.
	maxPts := q.MaxEquityPoints
	if maxPts <= 0 {
		maxPts = -1 // every point
	}
	thin := server.NewEquityThinner(q.From, q.To, maxPts)
	liveMeans, err := pnl.NewMeansBuilder(ctx, interval, q.From, q.To)
	if err != nil {
		return rep, fmt.Errorf("pnl report %s: %w", q.Scope, err)
	}
	bfMeans, _ := pnl.NewMeansBuilder(ctx, interval, q.From, q.To)
	var livePts int
	var bfFirst, bfLast, histLast time.Time
	err = p.a.db.EachEquitySample(ctx, scope, []string{HistorySource, "live", "backfill"}, q.From, q.To, func(s store.EquitySample) error {
		thin.Add(server.EquityPoint{At: s.At, Equity: s.Equity, Source: s.Source})
		pt := pnl.Point{Time: s.At, Value: s.Equity}
		if s.Source == HistorySource {
			histLast = s.At
		}
		if s.Source != "backfill" {
			livePts++
			return liveMeans.Add(pt)
		}
		if bfFirst.IsZero() {
			bfFirst = s.At
		}
		bfLast = s.At
		return bfMeans.Add(pt)
	})
	if err != nil {
		return rep, fmt.Errorf("pnl report %s: %w", q.Scope, err)
	}
	if pts := thin.Points(); pts != nil {
		rep.Equity = pts
	}
	if !bfFirst.IsZero() {
		rep.Backfills = append(rep.Backfills, server.TimeRange{From: bfFirst, To: bfLast})
	}
	series := liveMeans
	if livePts == 0 {
		series = bfMeans
	}
	means, err := series.Means()
	if err != nil && ctx.Err() != nil {
		return rep, fmt.Errorf("pnl report %s: %w", q.Scope, err)
	}
	if err == nil {
		for _, m := range means {
			if m.Covered > 0 {
				bf := inRanges(m.Start, rep.Backfills)
				// An interval that ends by the last replayed point is
				// history; the one after it holds the first live snapshots.
				rep.Averages = append(rep.Averages, server.IntervalAverage{Start: m.Start, Average: m.Mean,
					Backfilled: bf, History: !bf && !histLast.IsZero() && !m.Start.Add(interval).After(histLast)})
			}
		}
	}
	// Realized, unrealized and fees from the live engines of the sessions
	// in scope.
	ids, err := p.sessionsIn(ctx, q.Scope)
	if err != nil {
		return rep, err
	}
	var totals []pnl.Total
	for _, id := range ids {
		if r, ok := p.a.tracker.pnl(id); ok {
			totals = append(totals, r.Total)
		}
	}
	sum := pnl.SumTotals(totals...)
	rep.Realized, rep.Unrealized, rep.Fees, rep.Net = sum.Realized, sum.Unrealized, sum.Fees, sum.Net
	return rep, nil
}

func inRanges(t time.Time, rs []server.TimeRange) bool {
	for _, r := range rs {
		if !t.Before(r.From) && !t.After(r.To) {
			return true
		}
	}
	return false
}

func (p pnlAdapter) sessionsIn(ctx context.Context, scope string) ([]string, error) {
	f := session.Filter{}
	switch {
	case strings.HasPrefix(scope, "session:"):
		return []string{strings.TrimPrefix(scope, "session:")}, nil
	case strings.HasPrefix(scope, "account:"):
		acct, err := p.a.db.Account(ctx, strings.TrimPrefix(scope, "account:"))
		if err != nil {
			return nil, err
		}
		f.AccountID = acct.ID
	}
	list, err := p.a.sessions.List(ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids, nil
}

// Today is the desk's equity now minus its first live equity snapshot of
// the UTC day (zero before the first snapshot).
func (p pnlAdapter) Today(ctx context.Context) (udecimal.Decimal, error) {
	now := p.a.clk.Now()
	midnight := now.Truncate(24 * time.Hour)
	snaps, err := p.a.db.EquitySnapshots(ctx, "total", "live", midnight, now.Add(time.Minute))
	if err != nil || len(snaps) == 0 {
		return udecimal.Zero, err
	}
	return p.a.pf.Total().Value.Sub(snaps[0].Equity), nil
}

func (s sessionsAdapter) Create(ctx context.Context, spec server.SessionSpec, actor string) (server.SessionView, error) {
	acct, err := s.a.db.Account(ctx, spec.Account)
	if err != nil {
		return server.SessionView{}, &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("account %q: no such account", spec.Account)}
	}
	if k, err := venue.Lookup(acct.Venue); err == nil && !k.Trades {
		return server.SessionView{}, &server.Error{Kind: server.ErrInvalid,
			Message: fmt.Sprintf("account %q is on venue %s, which this build reads but does not trade on: a session needs a trading venue", acct.Name, acct.Venue)}
	}
	if acct.SubAccountEmail != "" && acct.APIKey == "" {
		return server.SessionView{}, &server.Error{Kind: server.ErrInvalid,
			Message: fmt.Sprintf("account %q is sub-account %s of %q without an API key of its own: its balances are read through the master, "+
				"but trading needs the sub-account's own key (add it again with --api-key and --api-secret-file)", acct.Name, acct.SubAccountEmail, acct.Master)}
	}
	if err := s.checkSymbols(ctx, acct, spec.Symbols); err != nil {
		return server.SessionView{}, err
	}
	kind := session.AllocationKind(spec.AllocationKind)
	if kind == "" {
		kind = session.AllocFixed
	}
	name := spec.Name
	if name == "" {
		name = spec.Strategy + "-" + strings.Join(spec.Symbols, "-")
	}
	alloc := session.Allocation{Kind: kind, Amount: spec.Allocation}
	// The allocation rule runs in the insert's transaction, the account
	// locked on every node (session.Manager.CreateChecked).
	se, warning, err := s.a.sessions.CreateChecked(ctx, session.Spec{
		Name: name, Strategy: spec.Strategy, AccountID: acct.ID, Symbols: spec.Symbols, Params: spec.Params,
		Allocation: alloc, Tags: spec.Tags,
	}, actor)
	var invalid *portfolio.ValidationError
	if errors.As(err, &invalid) {
		return server.SessionView{}, err // the allocation rule's refusal: 400
	}
	if err != nil {
		return server.SessionView{}, serviceErr(err)
	}
	if spec.Start {
		if se, err = s.a.sessions.Start(ctx, se.ID, actor); err != nil {
			return server.SessionView{}, serviceErr(err)
		}
	}
	v := s.a.sessionView(ctx, se)
	s.a.publishSession(v)
	if warning != "" {
		v.Warnings = []string{warning}
	}
	return v, nil
}

// checkSymbols refuses symbols the account's venue does not list; a venue
// that cannot list its symbols now refuses the creation (503), so nothing
// unknown is stored.
func (s sessionsAdapter) checkSymbols(ctx context.Context, acct store.Account, syms []string) error {
	if len(syms) == 0 {
		return nil
	}
	rt, err := s.a.account(acct.ID)
	if err != nil {
		return &server.Error{Kind: server.ErrUnavailable, Message: fmt.Sprintf("account %q is not open on this node; its symbols cannot be checked", acct.Name)}
	}
	list, err := rt.v.Symbols(ctx)
	if err != nil {
		return &server.Error{Kind: server.ErrUnavailable, Message: fmt.Sprintf("venue of account %q did not list its symbols; retry", acct.Name)}
	}
	known := make(map[string]bool, len(list))
	for _, sym := range list {
		known[sym.Name] = true
	}
	for i, sym := range syms {
		if !known[sym] {
			return &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("symbols[%d]: %q is not a symbol of account %q's venue (%s)", i, sym, acct.Name, acct.Venue)}
		}
	}
	return nil
}

// allocationRule is session.Options.Allocations: the portfolio's rule
// over an account's allocations (portfolio.CheckAllocations).
func (a *App) allocationRule(accountID int64, named []session.NamedAllocation) (string, error) {
	key := livefeed.AccountKey(store.Account{ID: accountID})
	allocs := make([]portfolio.Allocation, len(named))
	for i, n := range named {
		allocs[i] = portfolio.SessionAllocation(n.Label, key, string(n.Allocation.Kind), n.Allocation.Amount)
	}
	return a.pf.CheckAllocations(key, allocs)
}

func (s sessionsAdapter) Delete(ctx context.Context, id string, force bool, actor string) error {
	return serviceErr(s.a.sessions.Delete(ctx, id, force, actor))
}

type statsAdapter struct{ a *App }

func (s statsAdapter) Stats(ctx context.Context) (server.StatsView, error) {
	st := s.a.sessions.Stats()
	v := server.StatsView{Supervisor: server.SupervisorStats{
		Running: st.Running, RestartsAuto: st.RestartsAuto, RestartsManual: st.RestartsManual, Steps: st.Steps,
		Failures: map[string]int64{}, Sessions: map[string]server.RestartCounts{},
	}}
	for k, n := range st.Failures {
		v.Supervisor.Failures[string(k)] = n
	}
	for id, rc := range st.Sessions {
		v.Supervisor.Sessions[id] = server.RestartCounts{Auto: rc.Auto, Manual: rc.Manual}
	}
	overall, per := s.a.jmetrics.Stats()
	v.Execution = server.ExecutionStats{ExecutionCounts: execCounts(overall), Failures: overall.Failures,
		Sessions: map[string]server.ExecutionCounts{}}
	if v.Execution.Failures == nil {
		v.Execution.Failures = map[string]int64{}
	}
	for id, st := range per {
		v.Execution.Sessions[id] = execCounts(st)
	}
	return v, nil
}

func execCounts(s journal.Stats) server.ExecutionCounts {
	c := server.ExecutionCounts{Intents: s.Intents, Successes: s.Successes, SuccessRate: s.SuccessRate, Outcomes: map[string]int64{}}
	for o, n := range s.Outcomes {
		c.Outcomes[string(o)] = n
	}
	return c
}

type backfillAdapter struct{ a *App }

func (b backfillAdapter) Start(ctx context.Context, req server.BackfillRequest, actor string) (store.Job, error) {
	job, err := b.a.jobs.Start(ctx, backfill.JobArgs{Account: req.Account, Symbols: req.Symbols, From: req.From, To: req.To,
		Interval: req.Interval, OpeningEquity: req.OpeningEquity, Valuation: req.Valuation, OpeningHoldings: req.OpeningHoldings})
	if errors.Is(err, backfill.ErrInput) {
		return job, &server.Error{Kind: server.ErrInvalid, Message: err.Error()}
	}
	return job, err
}
