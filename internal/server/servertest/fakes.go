// Package servertest runs the server against hand-written fakes that
// behave: a desk of accounts valued by the real portfolio engine, sessions
// with a working state machine, a Trade All that progresses in the
// background and publishes its progress, an in-memory journal, a PnL series
// with a backfilled range, collateral over the portfolio, and account
// management that seals credentials. The server's own tests, its browser
// tests and its load benchmark use it; internal/app may use Bench for
// `tradeplane bench api`. It owns no real trading: nothing here talks to a
// venue.
package servertest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	_ "github.com/tradeplane/tradeplane/internal/strategy/builtin" // the fake supervisor knows the built-in strategies
	"github.com/tradeplane/tradeplane/internal/venue"
	_ "github.com/tradeplane/tradeplane/internal/venue/builtin" // and the API's validation the built-in venues
)

// Compile-time proof that the fakes satisfy what the server consumes.
var (
	_ server.Sessions   = (*Sessions)(nil)
	_ server.TradeAll   = (*TradeAll)(nil)
	_ server.Journal    = (*Journal)(nil)
	_ server.PnL        = (*PnL)(nil)
	_ server.Collateral = (*Collateral)(nil)
	_ server.Accounts   = (*Accounts)(nil)
	_ server.Stats      = (*Stats)(nil)
	_ server.Backfills  = (*Backfills)(nil)
	_ server.Portfolio  = (*portfolio.Portfolio)(nil)
)

// Publisher is the part of *server.Server the fakes publish to.
type Publisher interface {
	PublishTradeAll(server.TradeAllRun)
	PublishSession(server.SessionView)
	PublishJournal(store.JournalEvent)
	PublishAlert(store.Alert)
}

// publisher forwards to a Publisher set after the server is built.
type publisher struct {
	mu sync.RWMutex
	p  Publisher
}

func (p *publisher) get() Publisher {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.p
}

// --- sessions --------------------------------------------------------------

// Sessions is a fake supervisor: commands move sessions through
// stopped → running ⇄ paused → stopped and refuse illegal moves with
// server.ErrConflict.
//
// Create checks the strategy (registered in internal/strategy: this package
// links the built-in ones) and that the account is in
// the store; Delete refuses a running or paused session without force.
type Sessions struct {
	pub *publisher
	db  *store.DB
	mu  sync.Mutex
	m   map[string]*server.SessionView
}

func newSessions(pub *publisher, db *store.DB) *Sessions {
	return &Sessions{pub: pub, db: db, m: map[string]*server.SessionView{}}
}

// Add registers a session.
func (f *Sessions) Add(v server.SessionView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := v
	f.m[v.ID] = &c
}

// Sessions implements server.Sessions.
func (f *Sessions) Sessions(ctx context.Context, q server.SessionQuery) ([]server.SessionView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]server.SessionView, 0, len(f.m))
	for _, v := range f.m {
		if (q.Tag != "" && !slices.Contains(v.Tags, q.Tag)) || (q.State != "" && v.State != q.State) || (q.Account != "" && v.Account != q.Account) {
			continue
		}
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b server.SessionView) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Session implements server.Sessions.
func (f *Sessions) Session(ctx context.Context, id string) (server.SessionView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[id]
	if !ok {
		return server.SessionView{}, fmt.Errorf("session %q: %w", id, server.ErrNotFound)
	}
	return *v, nil
}

// Command implements server.Sessions.
func (f *Sessions) Command(ctx context.Context, id string, cmd server.SessionCommand, actor string) (server.SessionView, error) {
	f.mu.Lock()
	v, ok := f.m[id]
	if !ok {
		f.mu.Unlock()
		return server.SessionView{}, fmt.Errorf("session %q: %w", id, server.ErrNotFound)
	}
	now := time.Now().UTC()
	conflict := func() error {
		return &server.Error{Kind: server.ErrConflict, Message: fmt.Sprintf("session %s is %s: cannot %s", id, v.State, cmd)}
	}
	var err error
	switch cmd {
	case server.CommandStart:
		if v.State == "running" {
			err = conflict()
		} else {
			v.State = "running"
		}
	case server.CommandStop:
		if v.State == "stopped" {
			err = conflict()
		} else {
			v.State = "stopped"
		}
	case server.CommandRestart:
		v.State, v.RestartsManual = "running", v.RestartsManual+1
	case server.CommandPause:
		if v.State != "running" {
			err = conflict()
		} else {
			v.State = "paused"
		}
	case server.CommandResume:
		if v.State != "paused" {
			err = conflict()
		} else {
			v.State = "running"
		}
	case server.CommandTrade:
		if v.State != "running" {
			err = conflict()
		} else {
			v.LastStepAt = &now
		}
	}
	v.UpdatedAt = now
	out := *v
	f.mu.Unlock()
	return out, err
}

// UpdateParams implements server.Sessions: params merge into the old ones.
func (f *Sessions) UpdateParams(ctx context.Context, id string, params json.RawMessage, actor string) (server.SessionView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[id]
	if !ok {
		return server.SessionView{}, fmt.Errorf("session %q: %w", id, server.ErrNotFound)
	}
	merged, err := server.MergeParams(v.Params, params)
	if err != nil {
		return server.SessionView{}, err
	}
	v.Params = merged
	v.UpdatedAt = time.Now().UTC()
	return *v, nil
}

// Create implements server.Sessions.
func (f *Sessions) Create(ctx context.Context, spec server.SessionSpec, actor string) (server.SessionView, error) {
	if names := strategy.Names(); !slices.Contains(names, spec.Strategy) {
		return server.SessionView{}, &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("strategy %q: want one of %s", spec.Strategy, strings.Join(names, ", "))}
	}
	if len(spec.Symbols) == 0 {
		return server.SessionView{}, &server.Error{Kind: server.ErrInvalid, Message: "symbols: name at least one"}
	}
	if f.db != nil {
		if _, err := f.db.Account(ctx, spec.Account); err != nil {
			return server.SessionView{}, &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("account %q does not exist", spec.Account)}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.m) + 1
	for f.m[fmt.Sprintf("s-%04d", n)] != nil {
		n++
	}
	id := fmt.Sprintf("s-%04d", n)
	name := spec.Name
	if name == "" {
		name = spec.Strategy + "-" + id
	}
	for _, v := range f.m {
		if v.Name == name {
			return server.SessionView{}, &server.Error{Kind: server.ErrConflict, Message: fmt.Sprintf("a session named %q exists (%s)", name, v.ID)}
		}
	}
	state := "stopped"
	if spec.Start {
		state = "running"
	}
	v := &server.SessionView{ID: id, Name: name, Strategy: spec.Strategy, Account: spec.Account, Symbols: slices.Clone(spec.Symbols),
		Tags: slices.Clone(spec.Tags), State: state, AllocationKind: spec.AllocationKind, Allocation: spec.Allocation,
		Params: slices.Clone(spec.Params), UpdatedAt: time.Now().UTC()}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	f.m[id] = v
	return *v, nil
}

// Delete implements server.Sessions.
func (f *Sessions) Delete(ctx context.Context, id string, force bool, actor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[id]
	if !ok {
		return fmt.Errorf("session %q: %w", id, server.ErrNotFound)
	}
	if (v.State == "running" || v.State == "paused") && !force {
		return &server.Error{Kind: server.ErrConflict, Message: fmt.Sprintf("session %s is %s: stop it first or delete with force", id, v.State)}
	}
	delete(f.m, id)
	return nil
}

// step records a trade step of a session (Trade All calls it).
func (f *Sessions) step(id string, at time.Time, pnl udecimal.Decimal) (server.SessionView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[id]
	if !ok {
		return server.SessionView{}, false
	}
	v.LastStepAt = &at
	v.PnL = v.PnL.Add(pnl)
	return *v, true
}

// --- trade all -------------------------------------------------------------

// TradeAll is a fake runner: a run's sessions step one after another, Step
// apart, and every change is published. A session whose tags include
// "faulty" fails and raises an alert, as a venue fault would.
type TradeAll struct {
	pub      *publisher
	sessions *Sessions
	journal  *Journal
	db       *store.DB
	// Step is the time one session's step takes; default 120 ms.
	Step time.Duration

	mu     sync.Mutex
	runs   map[string]*server.TradeAllRun
	byKey  map[string]string
	cancel map[string]bool
	seq    int
	wg     sync.WaitGroup
	ctx    context.Context
	stop   context.CancelFunc
}

func newTradeAll(pub *publisher, ss *Sessions, j *Journal, db *store.DB) *TradeAll {
	ctx, stop := context.WithCancel(context.Background())
	return &TradeAll{pub: pub, sessions: ss, journal: j, db: db, Step: 120 * time.Millisecond,
		runs: map[string]*server.TradeAllRun{}, byKey: map[string]string{}, cancel: map[string]bool{}, ctx: ctx, stop: stop}
}

// selectSessions resolves a request: every criterion set must match, and
// matching sessions that are not running are reported skipped. Every fake
// account is on the paper venue.
func (f *TradeAll) selectSessions(ctx context.Context, req server.TradeAllRequest) (run, skipped []server.SessionView, err error) {
	all, _ := f.sessions.Sessions(ctx, server.SessionQuery{})
	for _, id := range req.SessionIDs {
		if _, err := f.sessions.Session(ctx, id); err != nil {
			return nil, nil, &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("session %q does not exist", id)}
		}
	}
	for _, v := range all {
		switch {
		case len(req.SessionIDs) > 0 && !slices.Contains(req.SessionIDs, v.ID),
			req.Account != "" && req.Account != v.Account,
			req.Venue != "" && req.Venue != "paper":
			continue
		}
		if !slices.ContainsFunc(req.AllTags(), func(t string) bool { return !slices.Contains(v.Tags, t) }) {
			if v.State == "running" {
				run = append(run, v)
			} else {
				skipped = append(skipped, v)
			}
		}
	}
	if len(run)+len(skipped) == 0 {
		return nil, nil, &server.Error{Kind: server.ErrInvalid, Message: "bad selection: no session matches"}
	}
	return run, skipped, nil
}

// Preview implements server.TradeAll: each running session would place one
// limit buy of 0.001 BTCUSDT at 65000, within its allocation.
func (f *TradeAll) Preview(ctx context.Context, req server.TradeAllRequest) (server.TradeAllPreview, error) {
	run, skipped, err := f.selectSessions(ctx, req)
	if err != nil {
		return server.TradeAllPreview{}, err
	}
	p := server.TradeAllPreview{Sessions: run}
	for _, v := range run {
		avail := v.Allocation
		p.Plans = append(p.Plans, server.TradeAllPlan{SessionID: v.ID, Name: v.Name, Account: v.Account, Venue: "paper", State: v.State,
			Orders: []server.PlannedOrder{{Symbol: firstOr(v.Symbols, "BTCUSDT"), Side: "buy", Type: "limit",
				Price: udecimal.MustParse("65000"), Quantity: udecimal.MustParse("0.001")}},
			Allocation: server.TradeAllAllocation{OK: true, Required: udecimal.MustParse("65"), Available: &avail}})
		p.Orders++
	}
	for _, v := range skipped {
		p.Skipped = append(p.Skipped, server.TradeAllResult{SessionID: v.ID, State: server.ResultSkipped, Message: "session is " + v.State})
		p.Plans = append(p.Plans, server.TradeAllPlan{SessionID: v.ID, Name: v.Name, Account: v.Account, Venue: "paper", State: v.State,
			Skip: "not_running", Message: "session is " + v.State, Orders: []server.PlannedOrder{}, Allocation: server.TradeAllAllocation{OK: true}})
	}
	return p, nil
}

// sameRequest compares two requests as selections.
func sameRequest(a, b server.TradeAllRequest) bool {
	ids := func(r server.TradeAllRequest) []string {
		s := slices.Clone(r.SessionIDs)
		slices.Sort(s)
		return slices.Compact(s)
	}
	return slices.Equal(ids(a), ids(b)) && slices.Equal(a.AllTags(), b.AllTags()) && a.Account == b.Account && a.Venue == b.Venue && a.All == b.All
}

// Start implements server.TradeAll.
func (f *TradeAll) Start(ctx context.Context, req server.TradeAllRequest, key, actor string) (server.TradeAllRun, bool, error) {
	f.mu.Lock()
	if id, ok := f.byKey[key]; ok {
		r := *f.runs[id]
		f.mu.Unlock()
		if !sameRequest(r.Request, req) {
			return server.TradeAllRun{}, false, &server.Error{Kind: server.ErrConflict, Message: "idempotency key " + key + " was used for another request"}
		}
		return cloneRun(&r), false, nil
	}
	f.mu.Unlock()
	sel, skipped, err := f.selectSessions(ctx, req)
	if err != nil {
		return server.TradeAllRun{}, false, err
	}
	f.mu.Lock()
	f.seq++
	r := &server.TradeAllRun{ID: "run-" + strconv.Itoa(f.seq), Key: key, State: server.RunRunning, Request: req, Actor: actor, CreatedAt: time.Now().UTC()}
	for _, v := range sel {
		r.Results = append(r.Results, server.TradeAllResult{SessionID: v.ID, State: server.ResultPending})
	}
	for _, v := range skipped {
		r.Results = append(r.Results, server.TradeAllResult{SessionID: v.ID, State: server.ResultSkipped, Message: "session is " + v.State})
		r.Done++
	}
	r.Total = len(r.Results)
	f.runs[r.ID], f.byKey[key] = r, r.ID
	out := cloneRun(r)
	f.mu.Unlock()
	f.wg.Add(1)
	go f.progress(r.ID, sel)
	return out, true, nil
}

func cloneRun(r *server.TradeAllRun) server.TradeAllRun {
	c := *r
	c.Results = slices.Clone(r.Results)
	return c
}

func (f *TradeAll) progress(id string, sel []server.SessionView) {
	defer f.wg.Done()
	publish := func() {
		f.mu.Lock()
		r := cloneRun(f.runs[id])
		f.mu.Unlock()
		if p := f.pub.get(); p != nil {
			p.PublishTradeAll(r)
		}
	}
	for i, v := range sel {
		f.mu.Lock()
		canceled := f.cancel[id]
		if !canceled {
			now := time.Now().UTC()
			f.runs[id].Results[i].State, f.runs[id].Results[i].StartedAt = server.ResultRunning, &now
		}
		f.mu.Unlock()
		if canceled {
			break
		}
		publish()
		select {
		case <-time.After(f.Step):
		case <-f.ctx.Done():
			return
		}
		now := time.Now().UTC()
		faulty := slices.Contains(v.Tags, "faulty")
		f.mu.Lock()
		res := &f.runs[id].Results[i]
		res.FinishedAt = &now
		if faulty {
			res.State, res.Message = server.ResultFailed, "venue rejected the order: insufficient balance (-2010)"
			f.runs[id].Failed++
		} else {
			res.State, res.Orders, res.Message = server.ResultOK, 1, "placed 1 order"
		}
		f.runs[id].Done++
		f.mu.Unlock()
		f.journal.Append(store.JournalEvent{At: now, Kind: "intent", SessionID: v.ID, Symbol: firstOr(v.Symbols, "BTCUSDT"), Side: "buy", OrderType: "limit",
			ClientOrderID: fmt.Sprintf("%s-%s", v.ID, id), Quantity: udecimal.MustParse("0.001"), Price: udecimal.MustParse("65000")})
		if faulty {
			f.journal.Append(store.JournalEvent{At: now, Kind: "rejected", SessionID: v.ID, Symbol: firstOr(v.Symbols, "BTCUSDT"), ErrorClass: "insufficient_funds", ErrorCode: -2010, Message: res.Message})
			a := store.Alert{At: now, Severity: "critical", Source: "journal", SessionID: v.ID, Message: "trade step of " + v.ID + " failed: " + res.Message}
			if id, err := f.db.InsertAlert(f.ctx, a); err == nil {
				a.ID = id
				if p := f.pub.get(); p != nil {
					p.PublishAlert(a)
				}
			}
		} else if sv, ok := f.sessions.step(v.ID, now, udecimal.MustParse("1.25")); ok {
			if p := f.pub.get(); p != nil {
				p.PublishSession(sv)
			}
		}
		publish()
	}
	f.mu.Lock()
	r := f.runs[id]
	now := time.Now().UTC()
	r.FinishedAt = &now
	if f.cancel[id] {
		r.State = server.RunCanceled
		for i := range r.Results {
			if r.Results[i].State == server.ResultPending {
				r.Results[i].State, r.Results[i].Message = server.ResultSkipped, "canceled"
				r.Done++
			}
		}
	} else {
		r.State = server.RunDone
	}
	f.mu.Unlock()
	publish()
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// Run implements server.TradeAll.
func (f *TradeAll) Run(ctx context.Context, id string) (server.TradeAllRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return server.TradeAllRun{}, fmt.Errorf("trade-all run %q: %w", id, server.ErrNotFound)
	}
	return cloneRun(r), nil
}

// Cancel implements server.TradeAll: pending steps are skipped.
func (f *TradeAll) Cancel(ctx context.Context, id, actor string) (server.TradeAllRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return server.TradeAllRun{}, fmt.Errorf("trade-all run %q: %w", id, server.ErrNotFound)
	}
	if r.State != server.RunRunning {
		return server.TradeAllRun{}, &server.Error{Kind: server.ErrConflict, Message: "run " + id + " is " + r.State}
	}
	f.cancel[id] = true
	return cloneRun(r), nil
}

// Close stops and waits for every run.
func (f *TradeAll) Close() {
	f.stop()
	f.wg.Wait()
}

// --- journal ---------------------------------------------------------------

// Journal is an in-memory journal answering store.EventQuery like the
// store does (newest first, keyset by seq).
type Journal struct {
	pub *publisher
	mu  sync.RWMutex
	evs []store.JournalEvent // ascending seq
}

// Append adds an event, numbers it and publishes it.
func (j *Journal) Append(e store.JournalEvent) store.JournalEvent {
	j.mu.Lock()
	e.Seq = int64(len(j.evs) + 1)
	j.evs = append(j.evs, e)
	j.mu.Unlock()
	if j.pub != nil {
		if p := j.pub.get(); p != nil {
			p.PublishJournal(e)
		}
	}
	return e
}

// JournalEvents implements server.Journal.
func (j *Journal) JournalEvents(ctx context.Context, q store.EventQuery) ([]store.JournalEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	hi := len(j.evs)
	if q.BeforeSeq > 0 {
		hi = min(hi, int(q.BeforeSeq)-1)
	}
	var out []store.JournalEvent
	for i := hi - 1; i >= 0 && len(out) < limit; i-- {
		e := j.evs[i]
		if (q.SessionID != "" && e.SessionID != q.SessionID) || (q.Kind != "" && e.Kind != q.Kind) || (q.FailuresOnly && e.ErrorClass == "") {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// --- pnl -------------------------------------------------------------------

// PnL is a fake PnL engine: an hourly equity series over the last week
// whose first two days are marked backfilled.
type PnL struct{ Now func() time.Time }

// Report implements server.PnL.
func (f *PnL) Report(ctx context.Context, q server.PnLQuery) (server.PnLReport, error) {
	if strings.HasPrefix(q.Scope, "session:nosuch") {
		return server.PnLReport{}, fmt.Errorf("scope %q: %w", q.Scope, server.ErrNotFound)
	}
	rep := server.PnLReport{Scope: q.Scope, Interval: q.Interval, From: q.From, To: q.To,
		Realized: udecimal.MustParse("812.40"), Unrealized: udecimal.MustParse("-95.10"), Fees: udecimal.MustParse("42.05")}
	rep.Net = rep.Realized.Sub(rep.Fees).Add(rep.Unrealized)
	start := q.From.Truncate(time.Hour)
	backTo := start.Add(48 * time.Hour)
	rep.Backfills = []server.TimeRange{{From: start, To: backTo}}
	step := time.Hour
	if q.Interval == "1d" {
		step = 24 * time.Hour
	}
	i := 0
	for t := start; t.Before(q.To); t = t.Add(time.Hour) {
		if err := ctx.Err(); err != nil {
			return server.PnLReport{}, fmt.Errorf("fake pnl report: %w", err)
		}
		// A deterministic wave around 100k.
		v := 100000 + (i%24)*37 - (i%7)*53 + i*3
		src := "live"
		if t.Before(backTo) {
			src = "backfill"
		}
		rep.Equity = append(rep.Equity, server.EquityPoint{At: t, Equity: udecimal.MustParse(strconv.Itoa(v)), Source: src})
		i++
	}
	// Equity is in time order: one pass sums each interval's points.
	k := 0
	for t := start.Truncate(step); t.Before(q.To); t = t.Add(step) {
		if err := ctx.Err(); err != nil {
			return server.PnLReport{}, fmt.Errorf("fake pnl report: %w", err)
		}
		var sum, n int64
		for ; k < len(rep.Equity) && rep.Equity[k].At.Before(t.Add(step)); k++ {
			if !rep.Equity[k].At.Before(t) {
				x, _ := strconv.ParseInt(rep.Equity[k].Equity.String(), 10, 64)
				sum, n = sum+x, n+1
			}
		}
		if n == 0 {
			continue
		}
		avg, _ := udecimal.MustParse(strconv.FormatInt(sum, 10)).Div(udecimal.MustParse(strconv.FormatInt(n, 10)))
		rep.Averages = append(rep.Averages, server.IntervalAverage{Start: t, Average: avg, Backfilled: t.Before(backTo)})
	}
	return rep, nil
}

// Today implements server.PnL.
func (f *PnL) Today(ctx context.Context) (udecimal.Decimal, error) {
	return udecimal.MustParse("1234.56"), nil
}

// --- collateral --------------------------------------------------------------

// Collateral sets ratios on the portfolio and persists the change to the
// store, as the real adapter does.
type Collateral struct {
	P  *portfolio.Portfolio
	DB *store.DB
}

// Ratios implements server.Collateral.
func (c *Collateral) Ratios(ctx context.Context, account string) ([]portfolio.RatioView, error) {
	return c.P.Ratios(account)
}

// SetRatio implements server.Collateral.
func (c *Collateral) SetRatio(ctx context.Context, actor, account, asset, ratio string) (portfolio.CollateralVersion, error) {
	v, err := c.P.SetRatios(actor, account, []portfolio.RatioInput{{Asset: asset, Ratio: ratio}})
	if err != nil {
		return v, fmt.Errorf("set ratio %s: %w", asset, err)
	}
	var d *udecimal.Decimal
	if x, err := udecimal.Parse(ratio); err == nil {
		d = &x
	}
	{
		if _, err := c.DB.SetCollateralRatio(ctx, account, asset, d, actor, v.At); err != nil {
			return v, fmt.Errorf("persist ratio %s: %w", asset, err)
		}
	}
	return v, nil
}

// --- accounts --------------------------------------------------------------

// Accounts adds accounts to the store with the secret "sealed" (hashed;
// the fake never stores it in clear). An account named "explode" fails
// with an error that quotes the secret, to prove the server scrubs it.
type Accounts struct {
	DB *store.DB
	P  *portfolio.Portfolio
}

// CreateAccount implements server.Accounts.
func (f *Accounts) CreateAccount(ctx context.Context, a server.NewAccount, actor string) (store.Account, error) {
	if a.Name == "explode" {
		return store.Account{}, fmt.Errorf("venue said: bad signature for key %s secret %s", a.APIKey, a.APISecret)
	}
	sealed := sha256.Sum256([]byte(a.APISecret))
	acc := store.Account{Name: a.Name, Venue: a.Venue, BaseURL: a.BaseURL, APIKey: a.APIKey, APISecretEnc: sealed[:], Tags: a.Tags}
	if err := f.DB.CreateAccount(ctx, &acc); err != nil {
		return store.Account{}, err
	}
	if f.P != nil {
		_ = f.P.UpsertAccount(portfolio.Account{ID: strconv.FormatInt(acc.ID, 10), Name: acc.Name, Venue: acc.Venue, Tags: acc.Tags})
	}
	return acc, nil
}

// RemoveAccount implements server.Accounts.
func (f *Accounts) RemoveAccount(ctx context.Context, name, actor string) error {
	return f.DB.DeleteAccount(ctx, name)
}

// --- stats -----------------------------------------------------------------

// Stats derives statistics from the fakes: restarts from the sessions,
// steps and execution outcomes from the journal (an intent without an
// error succeeded; a rejected event with an error class failed).
type Stats struct {
	Sessions *Sessions
	Journal  *Journal
}

// Stats implements server.Stats.
func (f *Stats) Stats(ctx context.Context) (server.StatsView, error) {
	var st server.StatsView
	sup := &st.Supervisor
	sup.Failures, sup.Sessions = map[string]int64{}, map[string]server.RestartCounts{}
	ss, _ := f.Sessions.Sessions(ctx, server.SessionQuery{})
	for _, v := range ss {
		if v.State == "running" {
			sup.Running++
		}
		sup.Sessions[v.ID] = server.RestartCounts{Auto: v.RestartsAuto, Manual: v.RestartsManual}
		sup.RestartsAuto += v.RestartsAuto
		sup.RestartsManual += v.RestartsManual
	}
	ex := &st.Execution
	ex.Outcomes, ex.Failures, ex.Sessions = map[string]int64{}, map[string]int64{}, map[string]server.ExecutionCounts{}
	f.Journal.mu.RLock()
	failed := map[string]int64{}
	for _, e := range f.Journal.evs {
		c := ex.Sessions[e.SessionID]
		if c.Outcomes == nil {
			c.Outcomes = map[string]int64{}
		}
		switch {
		case e.Kind == "intent":
			c.Intents++
			ex.Intents++
			sup.Steps++
		case e.ErrorClass != "":
			ex.Failures[e.ErrorClass]++
			ex.Outcomes["failed"]++
			c.Outcomes["failed"]++
			failed[e.SessionID]++
			sup.Failures["error"]++
		case e.Kind == "fill":
			ex.Outcomes["filled"]++
			c.Outcomes["filled"]++
		}
		ex.Sessions[e.SessionID] = c
	}
	f.Journal.mu.RUnlock()
	rate := func(c *server.ExecutionCounts, failed int64) {
		c.Successes = max(c.Intents-failed, 0)
		if c.Intents > 0 {
			c.SuccessRate = float64(c.Successes) / float64(c.Intents)
		}
	}
	for id, c := range ex.Sessions {
		rate(&c, failed[id])
		ex.Sessions[id] = c
	}
	var all int64
	for _, n := range failed {
		all += n
	}
	rate(&ex.ExecutionCounts, all)
	return st, nil
}

// --- backfills ---------------------------------------------------------------

// Backfills is a fake backfill runner: a job of one window per day of the
// range, stored in the store's jobs table and advanced Step apart to done.
type Backfills struct {
	DB *store.DB
	// Step is the time one window takes; default 20 ms.
	Step time.Duration

	mu   sync.Mutex
	seq  int
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

func newBackfills(db *store.DB) *Backfills {
	ctx, stop := context.WithCancel(context.Background())
	return &Backfills{DB: db, Step: 20 * time.Millisecond, ctx: ctx, stop: stop}
}

// Start implements server.Backfills.
func (f *Backfills) Start(ctx context.Context, req server.BackfillRequest, actor string) (store.Job, error) {
	if _, err := f.DB.Account(ctx, req.Account); err != nil {
		return store.Job{}, &server.Error{Kind: server.ErrInvalid, Message: fmt.Sprintf("account %q does not exist", req.Account)}
	}
	args, _ := json.Marshal(req)
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("bf_%04d", f.seq)
	f.mu.Unlock()
	now := time.Now().UTC()
	days := int64(req.To.Sub(req.From).Hours()/24) + 1
	j := store.Job{ID: id, Kind: "backfill", Args: string(args), State: "queued", Total: days, Message: "queued", Owner: "servertest", CreatedAt: now, UpdatedAt: now}
	if err := f.DB.CreateJob(ctx, j); err != nil {
		return store.Job{}, fmt.Errorf("start backfill for %q: %w", req.Account, err)
	}
	f.wg.Add(1)
	go f.run(j)
	return j, nil
}

func (f *Backfills) run(j store.Job) {
	defer f.wg.Done()
	j.State = "running"
	for j.Done < j.Total {
		select {
		case <-time.After(f.Step):
		case <-f.ctx.Done():
			return
		}
		j.Done++
		j.Message = fmt.Sprintf("window %d of %d", j.Done, j.Total)
		j.UpdatedAt = time.Now().UTC()
		if err := f.DB.UpdateJob(f.ctx, j); err != nil {
			return
		}
	}
	j.State, j.Message = "done", "backfilled"
	_ = f.DB.UpdateJob(f.ctx, j)
}

// Close stops and waits for every job.
func (f *Backfills) Close() {
	f.stop()
	f.wg.Wait()
}

var _ = venue.WalletSpot
