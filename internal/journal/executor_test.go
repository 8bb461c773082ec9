package journal_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

var ctx = context.Background()

func dec(s string) venue.Decimal { return udecimal.MustParse(s) }

// spyVenue is the paper venue seen through the executor's eyes: it counts
// the orders that reach the venue and checks, on every PlaceOrder, that the
// intent was committed before the request left (kill safety).
type spyVenue struct {
	venue.Venue
	t  *testing.T
	db *store.DB

	mu    sync.Mutex
	sends map[string]int
}

func (s *spyVenue) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	o, err := s.db.OrderByClientID(ctx, req.ClientOrderID)
	if err != nil {
		s.t.Errorf("order %q reached the venue without a committed orders row: %v", req.ClientOrderID, err)
	} else if store.TerminalOrderStatus(o.Status) {
		s.t.Errorf("order %q sent while stored as %s", req.ClientOrderID, o.Status)
	}
	evs, _ := s.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: req.ClientOrderID, Kind: "intent"})
	if len(evs) != 1 {
		s.t.Errorf("order %q reached the venue with %d committed intent events", req.ClientOrderID, len(evs))
	}
	s.mu.Lock()
	s.sends[req.ClientOrderID]++
	s.mu.Unlock()
	return s.Venue.PlaceOrder(ctx, req)
}

func (s *spyVenue) sent(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sends[id]
}

type bundle struct {
	db      *store.DB
	ex      *paper.Exchange
	acct    *paper.Account
	spy     *spyVenue
	j       *journal.Journal
	x       *journal.Executor
	alerts  *alert.Recorder
	metrics *journal.Metrics
	reg     *prometheus.Registry
	account int64
}

func setup(t *testing.T, mod func(*journal.ExecutorOptions)) *bundle {
	t.Helper()
	db := storetest.MustOpenSQLite(t)
	a := &store.Account{Name: "main", Venue: "paper"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	ex := paper.MustNew(paper.Config{Prices: map[string]venue.Decimal{"BTCUSDT": dec("42000")}, RetryAfter: 5 * time.Millisecond})
	if err := ex.Fund("main", venue.WalletSpot, "USDT", dec("100000")); err != nil {
		t.Fatal(err)
	}
	acct := ex.Account("main")
	spy := &spyVenue{Venue: acct, t: t, db: db, sends: map[string]int{}}
	reg := prometheus.NewRegistry()
	m, err := journal.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	j := journal.Open(db, journal.Options{Metrics: m, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { j.Close() })
	rec := &alert.Recorder{}
	opts := journal.ExecutorOptions{Alerter: rec, Metrics: m, Backoff: time.Millisecond, SettleTries: 3, SettleWait: -1,
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&opts)
	}
	x := journal.NewExecutor(j, spy, a.ID, opts)
	return &bundle{db: db, ex: ex, acct: acct, spy: spy, j: j, x: x, alerts: rec, metrics: m, reg: reg, account: a.ID}
}

func (b *bundle) intent(id string) journal.Intent {
	return journal.Intent{SessionID: "s1", AccountID: b.account, Fence: 1, Request: venue.OrderRequest{
		ClientOrderID: id, Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market, Quantity: dec("0.001")}}
}

func (b *bundle) kinds(t *testing.T, id string) []string {
	t.Helper()
	evs, err := b.db.JournalEvents(ctx, store.EventQuery{ClientOrderID: id, Ascending: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		k := e.Kind
		if e.ErrorClass != "" {
			k += "(" + e.ErrorClass + ")"
		}
		out = append(out, k)
	}
	return out
}

// counter reads a counter from the registry (0 when absent).
func (b *bundle) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
			if label == "" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestPlaceEveryFaultClass(t *testing.T) {
	t.Parallel()
	ok := []string{"intent", "sent", "acknowledged", "filled", "fill"}
	tests := []struct {
		fault     paper.Fault
		kinds     []string
		status    string
		errKind   journal.Kind // "" means success
		class     string       // counted in tradeplane_execution_failures_total
		alerted   alert.Severity
		sends     int
		venueHas  bool
		outcome   journal.Outcome
		errIsWant error
	}{
		{fault: "", kinds: ok, status: "filled", sends: 1, venueHas: true, outcome: journal.OutcomeFilled},
		{fault: paper.FaultRateLimited, kinds: append([]string{"intent", "retry(rate_limited)"}, ok[1:]...), status: "filled",
			class: "rate_limited", sends: 2, venueHas: true, outcome: journal.OutcomeFilled},
		{fault: paper.FaultTimestamp, kinds: append([]string{"intent", "retry(timestamp)"}, ok[1:]...), status: "filled",
			class: "timestamp", sends: 2, venueHas: true, outcome: journal.OutcomeFilled},
		{fault: paper.FaultBanned, kinds: []string{"intent", "sent(banned)", "failed(banned)"}, status: "failed",
			errKind: journal.KindFailed, class: "banned", alerted: alert.Critical, sends: 1, outcome: journal.OutcomeFailed, errIsWant: venue.ErrBanned},
		{fault: paper.FaultAuth, kinds: []string{"intent", "sent(auth)", "failed(auth)"}, status: "failed",
			errKind: journal.KindFailed, class: "auth", alerted: alert.Critical, sends: 1, outcome: journal.OutcomeFailed, errIsWant: venue.ErrAuth},
		{fault: paper.FaultInsufficientFunds, kinds: []string{"intent", "sent(insufficient_funds)", "rejected(insufficient_funds)"},
			status: "rejected", errKind: journal.KindRejected, class: "insufficient_funds", alerted: alert.Warning, sends: 1,
			outcome: journal.OutcomeRejected, errIsWant: venue.ErrInsufficientFunds},
		{fault: paper.FaultFilterReject, kinds: []string{"intent", "sent(rejected)", "rejected(rejected)"},
			status: "rejected", errKind: journal.KindRejected, class: "rejected", alerted: alert.Warning, sends: 1,
			outcome: journal.OutcomeRejected, errIsWant: venue.ErrRejected},
		// Not found right after an unknown outcome is no proof: the order
		// stays unknown until recvWindow and the venue's lag have passed
		// (TestUnknownUntilCertain goes on from here).
		{fault: paper.FaultTimeoutBeforeExecution,
			kinds:  []string{"intent", "sent(unknown_outcome)", "unknown_outcome(unknown_outcome)", "error(unsettled)"},
			status: "unknown", errKind: journal.KindUnknownOutcome, class: "unknown_outcome", sends: 1, outcome: journal.OutcomeUnsettled,
			errIsWant: venue.ErrUnknownOutcome},
		// Not found right after an unknown outcome is no proof: the order
		// stays unknown until recvWindow and the venue's lag have passed
		// (TestUnknownUntilCertain goes on from here).
		{fault: paper.FaultServerError,
			kinds:  []string{"intent", "sent(unknown_outcome)", "unknown_outcome(unknown_outcome)", "error(unsettled)"},
			status: "unknown", errKind: journal.KindUnknownOutcome, class: "unknown_outcome", sends: 1, outcome: journal.OutcomeUnsettled,
			errIsWant: venue.ErrUnknownOutcome},
		{fault: paper.FaultTimeoutAfterExecution,
			kinds:  []string{"intent", "sent(unknown_outcome)", "unknown_outcome(unknown_outcome)", "reconciled", "acknowledged", "filled", "fill"},
			status: "filled", class: "unknown_outcome", sends: 1, venueHas: true, outcome: journal.OutcomeFilled},
	}
	for _, tt := range tests {
		name := string(tt.fault)
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			if tt.fault != "" {
				b.acct.Faults().Next(paper.OpPlace, tt.fault)
			}
			in := b.intent("s1-1-0")
			o, err := b.x.Place(ctx, in)
			if tt.errKind == "" {
				if err != nil || o.Status != venue.StatusFilled {
					t.Fatalf("Place: %+v %v", o, err)
				}
			} else {
				var je *journal.Error
				if !errors.As(err, &je) || je.Kind != tt.errKind || je.ClientOrderID != "s1-1-0" {
					t.Fatalf("Place error %v, want kind %s", err, tt.errKind)
				}
				if tt.errIsWant != nil && !errors.Is(err, tt.errIsWant) {
					t.Fatalf("errors.Is(%v, %v) false", err, tt.errIsWant)
				}
			}
			if got := b.kinds(t, "s1-1-0"); !slices.Equal(got, tt.kinds) {
				t.Errorf("journal kinds\n got %q\nwant %q", got, tt.kinds)
			}
			stored, err := b.db.OrderByClientID(ctx, "s1-1-0")
			if err != nil || stored.Status != tt.status {
				t.Errorf("stored order %+v %v, want status %s", stored, err, tt.status)
			}
			if got := b.spy.sent("s1-1-0"); got != tt.sends {
				t.Errorf("requests sent %d, want %d", got, tt.sends)
			}
			_, qerr := b.acct.QueryOrder(ctx, "BTCUSDT", "s1-1-0")
			if (qerr == nil) != tt.venueHas {
				t.Errorf("venue has the order: %v, want %v", qerr == nil, tt.venueHas)
			}
			if tt.venueHas {
				fills, _ := b.db.Fills(ctx, store.FillQuery{AccountID: b.account})
				if len(fills) != 1 || fills[0].ClientOrderID != "s1-1-0" || fills[0].SessionID != "s1" {
					t.Errorf("fills %+v", fills)
				}
			}
			if tt.class != "" {
				if got := b.counter(t, "tradeplane_execution_failures_total", "class", tt.class); got < 1 {
					t.Errorf("tradeplane_execution_failures_total{class=%q} = %v", tt.class, got)
				}
			}
			alerts := b.alerts.Alerts()
			switch {
			case tt.alerted == "" && len(alerts) != 0:
				t.Errorf("unexpected alerts %+v", alerts)
			case tt.alerted != "" && (len(alerts) == 0 || alerts[len(alerts)-1].Severity != tt.alerted ||
				!strings.Contains(alerts[len(alerts)-1].Message, "s1-1-0")):
				t.Errorf("alerts %+v, want one %s naming the order", alerts, tt.alerted)
			}
			overall, sessions := b.x.Stats()
			if overall.Intents != 1 || overall.Outcomes[tt.outcome] != 1 || sessions["s1"].Intents != 1 {
				t.Errorf("stats %+v", overall)
			}
			if got := b.counter(t, "tradeplane_execution_outcomes_total", "outcome", string(tt.outcome)); got != 1 {
				t.Errorf("outcomes{%s} = %v", tt.outcome, got)
			}
			// A second Place of the same id never sends again.
			b.x.Place(ctx, in)
			if got := b.spy.sent("s1-1-0"); got != tt.sends {
				t.Errorf("after a repeated Place: requests sent %d, want %d", got, tt.sends)
			}
		})
	}
}

func TestRetriesExhaustedFail(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *journal.ExecutorOptions) { o.MaxRetries = 2 })
	b.acct.Faults().Next(paper.OpPlace, paper.FaultRateLimited, paper.FaultRateLimited, paper.FaultRateLimited)
	_, err := b.x.Place(ctx, b.intent("s1-2-0"))
	if !errors.Is(err, venue.ErrRateLimited) {
		t.Fatalf("err %v", err)
	}
	want := []string{"intent", "retry(rate_limited)", "retry(rate_limited)", "sent(rate_limited)", "failed(rate_limited)"}
	if got := b.kinds(t, "s1-2-0"); !slices.Equal(got, want) {
		t.Fatalf("kinds %q, want %q", got, want)
	}
	if b.spy.sent("s1-2-0") != 3 || len(b.alerts.Alerts()) != 1 {
		t.Fatalf("sends %d alerts %+v", b.spy.sent("s1-2-0"), b.alerts.Alerts())
	}
	if got := b.counter(t, "tradeplane_execution_failures_total", "class", "rate_limited"); got != 3 {
		t.Fatalf("failures{rate_limited} = %v", got)
	}
}

func TestUnsettledIsLeftForReconcile(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.acct.Faults().Next(paper.OpPlace, paper.FaultTimeoutAfterExecution)
	b.acct.Faults().Next(paper.OpQuery, paper.FaultServerError, paper.FaultServerError, paper.FaultServerError)
	_, err := b.x.Place(ctx, b.intent("s1-3-0"))
	var je *journal.Error
	if !errors.As(err, &je) || je.Kind != journal.KindUnknownOutcome || je.Class != journal.ClassUnsettled {
		t.Fatalf("err %v", err)
	}
	if o, _ := b.db.OrderByClientID(ctx, "s1-3-0"); o.Status != store.OrderUnknown {
		t.Fatalf("status %s", o.Status)
	}
	// Unknown for a moment is not yet alarming: alerts come with age
	// (SettleUnknown), not at once.
	if al := b.alerts.Alerts(); len(al) != 0 {
		t.Fatalf("alerts %+v", al)
	}
	rep, err := b.x.Reconcile(ctx)
	if err != nil || rep.Checked != 1 || rep.Settled != 1 {
		t.Fatalf("reconcile %+v %v", rep, err)
	}
	want := []string{"intent", "sent(unknown_outcome)", "unknown_outcome(unknown_outcome)", "error(unsettled)", "reconciled",
		"acknowledged", "filled", "fill"}
	if got := b.kinds(t, "s1-3-0"); !slices.Equal(got, want) {
		t.Fatalf("kinds\n got %q\nwant %q", got, want)
	}
	if b.spy.sent("s1-3-0") != 1 {
		t.Fatalf("sent %d times", b.spy.sent("s1-3-0"))
	}
	overall, _ := b.x.Stats()
	if overall.Outcomes[journal.OutcomeUnsettled] != 0 || overall.Outcomes[journal.OutcomeFilled] != 1 || overall.SuccessRate != 1 {
		t.Fatalf("stats after reconcile %+v", overall)
	}
}

func TestReconcileAtStartup(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	old := time.Now().Add(-time.Hour)
	// A crash after the intent committed: one request never left, one did
	// (the venue has it), one is too fresh to call dead, one was open.
	for _, id := range []string{"lost", "landed", "fresh"} {
		o := store.Order{ClientOrderID: id, SessionID: "s1", AccountID: b.account, Symbol: "BTCUSDT", Side: "buy", Type: "market",
			Quantity: dec("0.001"), Status: store.OrderIntent, CreatedAt: old}
		if id == "fresh" {
			o.CreatedAt = time.Now()
		}
		if err := b.db.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.acct.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "landed", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, Quantity: dec("0.001")}); err != nil {
		t.Fatal(err)
	}
	if err := b.db.InsertOrder(ctx, store.Order{ClientOrderID: "acked", SessionID: "s1", AccountID: b.account, Symbol: "BTCUSDT",
		Side: "buy", Type: "limit", Price: dec("1"), Quantity: dec("1"), Status: "new", VenueOrderID: "gone", CreatedAt: old}); err != nil {
		t.Fatal(err)
	}
	rep, err := b.x.Reconcile(ctx)
	if err != nil || rep.Checked != 4 || rep.Settled != 3 || rep.Unsettled != 1 {
		t.Fatalf("report %+v %v", rep, err)
	}
	for id, want := range map[string]string{"lost": "failed", "landed": "filled", "fresh": "intent", "acked": "canceled"} {
		if o, _ := b.db.OrderByClientID(ctx, id); o.Status != want {
			t.Errorf("%s: status %s, want %s", id, o.Status, want)
		}
	}
	if got := b.kinds(t, "lost"); !slices.Equal(got, []string{"reconciled(not_found)", "failed(not_found)"}) {
		t.Errorf("lost kinds %q", got)
	}
	if got := b.kinds(t, "landed"); !slices.Equal(got, []string{"reconciled", "acknowledged", "filled", "fill"}) {
		t.Errorf("landed kinds %q", got)
	}
	if n := len(b.alerts.Alerts()); n != 2 {
		t.Errorf("alerts %d, want 2 (lost, acked)", n)
	}
}

type refuse struct{}

func (refuse) CheckOrder(ctx context.Context, in journal.Intent) error {
	return fmt.Errorf("allocation of session %s exhausted", in.SessionID)
}

func TestAllocationRefusal(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *journal.ExecutorOptions) { o.Checker = refuse{} })
	_, err := b.x.Place(ctx, b.intent("s1-4-0"))
	var je *journal.Error
	if !errors.As(err, &je) || je.Class != journal.ClassAllocation || je.Kind != journal.KindRejected {
		t.Fatalf("err %v", err)
	}
	if got := b.kinds(t, "s1-4-0"); !slices.Equal(got, []string{"intent", "rejected(allocation)"}) {
		t.Fatalf("kinds %q", got)
	}
	if b.spy.sent("s1-4-0") != 0 || len(b.alerts.Alerts()) != 1 {
		t.Fatal("refused order was sent or not alerted")
	}
	if got := b.counter(t, "tradeplane_execution_failures_total", "class", "allocation"); got != 1 {
		t.Fatalf("failures{allocation} = %v", got)
	}
}

func TestCancelAndRecordTrade(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	in := b.intent("s1-5-0")
	in.Request.Type, in.Request.Price, in.Request.TimeInForce = venue.Limit, dec("30000"), venue.GTC
	o, err := b.x.Place(ctx, in)
	if err != nil || o.Status != venue.StatusNew {
		t.Fatalf("place %+v %v", o, err)
	}
	c, err := b.x.Cancel(ctx, journal.Intent{SessionID: "s1", Fence: 1, Request: venue.OrderRequest{ClientOrderID: "s1-5-0", Symbol: "BTCUSDT"}})
	if err != nil || c.Status != venue.StatusCanceled {
		t.Fatalf("cancel %+v %v", c, err)
	}
	want := []string{"intent", "sent", "acknowledged", "cancel_requested", "acknowledged", "canceled"}
	if got := b.kinds(t, "s1-5-0"); !slices.Equal(got, want) {
		t.Fatalf("kinds %q want %q", got, want)
	}
	tr := venue.Trade{ID: "x1", ClientOrderID: "s1-5-0", Symbol: "BTCUSDT", Side: venue.Buy, Price: dec("1"), Quantity: dec("1"), Time: time.Now()}
	for i, wantNew := range []bool{true, false} {
		isNew, err := b.x.RecordTrade(ctx, tr, "")
		if err != nil || isNew != wantNew {
			t.Fatalf("RecordTrade #%d: %v %v", i, isNew, err)
		}
	}
	if evs, _ := b.db.JournalEvents(ctx, store.EventQuery{Kind: "fill"}); len(evs) != 1 || evs[0].SessionID != "s1" {
		t.Fatalf("fill events %+v", evs)
	}
}

func TestInvalidIntent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	_, err := b.x.Place(ctx, b.intent("has space"))
	if !errors.Is(err, journal.ErrInvalidIntent) || len(b.alerts.Alerts()) != 1 {
		t.Fatalf("err %v alerts %d", err, len(b.alerts.Alerts()))
	}
}

// flakyTrades fails OrderTrades while failing is set.
type flakyTrades struct {
	*spyVenue
	failing bool
}

func (f *flakyTrades) OrderTrades(ctx context.Context, symbol, venueOrderID string) ([]venue.Trade, error) {
	if f.failing {
		return nil, &venue.Error{Class: venue.ClassUnavailable, Message: "injected"}
	}
	return f.spyVenue.OrderTrades(ctx, symbol, venueOrderID)
}

// TestFilledOrderNeverTerminalWithoutFills: an order the venue filled stays
// non-terminal in the store until its fills are recorded, so a crash (here:
// fills that cannot be fetched) never leaves a filled order without fills;
// Reconcile then records both.
func TestFilledOrderNeverTerminalWithoutFills(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	fv := &flakyTrades{spyVenue: b.spy, failing: true}
	x := journal.NewExecutor(b.j, fv, b.account, journal.ExecutorOptions{Alerter: b.alerts, Metrics: b.metrics,
		Backoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	o, err := x.Place(ctx, b.intent("fills-later"))
	if err != nil || o.Status != venue.StatusFilled {
		t.Fatalf("place: %+v %v", o, err)
	}
	row, _ := b.db.OrderByClientID(ctx, "fills-later")
	if store.TerminalOrderStatus(row.Status) {
		t.Fatalf("order stored as %s with no fill recorded", row.Status)
	}
	fv.failing = false
	if _, err := x.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	row, _ = b.db.OrderByClientID(ctx, "fills-later")
	fills, _ := b.db.Fills(ctx, store.FillQuery{AccountID: b.account})
	if row.Status != string(venue.StatusFilled) || len(fills) != 1 || fills[0].ClientOrderID != "fills-later" {
		t.Fatalf("after reconcile: status %s, fills %+v", row.Status, fills)
	}
	if b.spy.sent("fills-later") != 1 {
		t.Fatalf("order sent %d times", b.spy.sent("fills-later"))
	}
}

// TestStoredIDAnswersOnlyTheSameOrder: a Place of an id already stored is
// answered from the journal only when it asks for the same order (a replayed
// step deciding the same thing again); an id that names another order is
// refused, journaled and alerted, and nothing is sent.
func TestStoredIDAnswersOnlyTheSameOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	first, err := b.x.Place(ctx, b.intent("s1-1-0"))
	if err != nil || first.Status != venue.StatusFilled {
		t.Fatalf("first place: %v %v", first.Status, err)
	}
	// The same order again, at another quantity (a market order re-sized at
	// a moved price): the stored order is the answer.
	again := b.intent("s1-1-0")
	again.Request.Quantity = dec("0.002")
	o, err := b.x.Place(ctx, again)
	if err != nil || o.ClientOrderID != "s1-1-0" || !o.ExecutedQty.Equal(first.ExecutedQty) {
		t.Fatalf("same order again: %+v %v, want the stored order", o, err)
	}
	// Another order under that id: refused.
	other := b.intent("s1-1-0")
	other.Request.Side = venue.Sell
	_, err = b.x.Place(ctx, other)
	var je *journal.Error
	if !errors.As(err, &je) || !errors.Is(err, journal.ErrInvalidIntent) {
		t.Fatalf("another order under a stored id: got %v, want an invalid-intent refusal", err)
	}
	if n := b.spy.sent("s1-1-0"); n != 1 {
		t.Fatalf("id sent %d times, want 1", n)
	}
	if ks := b.kinds(t, "s1-1-0"); ks[len(ks)-1] != "error(invalid)" {
		t.Fatalf("journal of s1-1-0: %v, want it to end with the refusal", ks)
	}
	if len(b.alerts.Alerts()) != 1 {
		t.Fatalf("alerts: %d, want 1", len(b.alerts.Alerts()))
	}
}

// TestNewOnAStoredIDNeverSendsTwice: Intent.New skips the lookup of a
// stored order, so an id wrongly marked new reaches the intent's insert;
// the insert finds the stored order and Place answers with it (or refuses
// another order under it), as when the lookup finds it: nothing is sent
// again and the journal gains no second intent.
func TestNewOnAStoredIDNeverSendsTwice(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	in := b.intent("s1-2-0")
	in.New = true
	first, err := b.x.Place(ctx, in)
	if err != nil || first.Status != venue.StatusFilled {
		t.Fatalf("first place: %v %v", first.Status, err)
	}
	again := b.intent("s1-2-0")
	again.New = true
	again.Request.Quantity = dec("0.002")
	o, err := b.x.Place(ctx, again)
	if err != nil || o.ClientOrderID != "s1-2-0" || !o.ExecutedQty.Equal(first.ExecutedQty) {
		t.Fatalf("same id again marked new: %+v %v, want the stored order", o, err)
	}
	other := b.intent("s1-2-0")
	other.New = true
	other.Request.Side = venue.Sell
	if _, err := b.x.Place(ctx, other); !errors.Is(err, journal.ErrInvalidIntent) {
		t.Fatalf("another order under a stored id marked new: got %v, want an invalid-intent refusal", err)
	}
	if n := b.spy.sent("s1-2-0"); n != 1 {
		t.Fatalf("id sent %d times, want 1", n)
	}
	intents := 0
	for _, k := range b.kinds(t, "s1-2-0") {
		if k == "intent" {
			intents++
		}
	}
	if intents != 1 {
		t.Fatalf("journal of s1-2-0: %v, want one intent", b.kinds(t, "s1-2-0"))
	}
}

// takeoverVenue hands the session's lease to another node during the first
// PlaceOrder, which then fails with a retryable rate limit: the executor's
// retry comes after the lease moved on.
type takeoverVenue struct {
	*spyVenue
	takeover func()
	once     sync.Once
}

func (v *takeoverVenue) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	first := false
	v.once.Do(func() { first = true })
	if first {
		v.spyVenue.mu.Lock()
		v.spyVenue.sends[req.ClientOrderID]++
		v.spyVenue.mu.Unlock()
		v.takeover()
		return venue.Order{}, &venue.Error{Class: venue.ClassRateLimited, Code: -1003, Message: "too many requests", RetryAfter: time.Millisecond}
	}
	return v.spyVenue.PlaceOrder(ctx, req)
}

// TestNoSendUnderALostLease: the lease is checked before every request that
// places an order. An order whose session's lease moved to another node
// before it left, or during a retry's backoff, is not sent: it is failed
// (class stale_fence), journaled and alerted.
func TestNoSendUnderALostLease(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	now := time.Now()
	const ttl = 10 * time.Second
	if err := b.db.EnsureLeases(ctx, []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.db.ClaimLeases(ctx, "node-a", 1, now.Add(-time.Second), ttl); err != nil || len(got) != 1 || got[0].Token != 1 {
		t.Fatalf("claim: %+v %v", got, err)
	}
	v := &takeoverVenue{spyVenue: b.spy, takeover: func() {
		// node-a is "paused" past its TTL; node-b claims the session.
		if got, err := b.db.ClaimLeases(ctx, "node-b", 1, now.Add(ttl+time.Second), ttl); err != nil || len(got) != 1 {
			t.Errorf("takeover: %+v %v", got, err)
		}
	}}
	x := journal.NewExecutor(b.j, v, b.account, journal.ExecutorOptions{Alerter: b.alerts, Metrics: b.metrics,
		Backoff: time.Millisecond, SettleTries: 3, Logger: slog.New(slog.DiscardHandler)})

	_, err := x.Place(ctx, b.intent("s1-1-0")) // under token 1
	var je *journal.Error
	if !errors.As(err, &je) || je.Class != journal.ClassStaleFence || !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("retry after the lease moved: got %v, want a stale_fence failure", err)
	}
	if n := b.spy.sent("s1-1-0"); n != 1 {
		t.Fatalf("order sent %d times, want once (the attempt before the takeover)", n)
	}
	if o, _ := b.db.OrderByClientID(ctx, "s1-1-0"); o.Status != store.OrderFailed {
		t.Fatalf("order status %s, want failed", o.Status)
	}
	if ks := b.kinds(t, "s1-1-0"); ks[len(ks)-1] != "failed(stale_fence)" {
		t.Fatalf("journal: %v", ks)
	}

	// A first send under the old token: nothing leaves at all.
	if _, err := x.Place(ctx, b.intent("s1-2-0")); !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("first send under a stale token: got %v", err)
	}
	if n := b.spy.sent("s1-2-0"); n != 0 {
		t.Fatalf("order under a stale token sent %d times", n)
	}
	if len(b.alerts.Alerts()) < 2 {
		t.Fatalf("alerts: %d, want one per refused order", len(b.alerts.Alerts()))
	}
}
