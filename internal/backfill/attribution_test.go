package backfill_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// attrBundle is an account with one session order, another account's
// session order, and four trades: the session's, a hand-placed one, one the
// venue reports without a client id, and one with the other account's id.
type attrBundle struct {
	db       *store.DB
	v        *memVenue
	acct     store.Account
	from, to time.Time
}

func setupAttribution(t *testing.T) *attrBundle {
	t.Helper()
	ctx := context.Background()
	b := &attrBundle{db: storetest.MustOpenSQLite(t), v: newMemVenue(), from: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}
	b.to = b.from.Add(4 * time.Hour)
	b.acct = mustAccount(t, b.db, "acc", "mem")
	other := mustAccount(t, b.db, "other", "mem")
	for _, o := range []store.Order{
		{ClientOrderID: "sessX-1", SessionID: "sessX", AccountID: b.acct.ID, VenueOrderID: "501"},
		{ClientOrderID: "sessY-1", SessionID: "sessY", AccountID: other.ID, VenueOrderID: "777"},
	} {
		o.Symbol, o.Side, o.Type, o.Status, o.CreatedAt = "BTCUSDT", "buy", "market", "filled", b.from
		if err := b.db.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	b.v.setHourly("BTCUSDT", b.from, []venue.Decimal{dec("100"), dec("110"), dec("120"), dec("130")})
	b.v.setHourly("BNBUSDT", b.from, []venue.Decimal{dec("300"), dec("310"), dec("320"), dec("330")})
	for _, tr := range []venue.Trade{
		{ID: "1", ClientOrderID: "sessX-1", VenueOrderID: "501", Side: venue.Buy, Price: dec("100"), Quantity: dec("2"),
			Fee: dec("0.01"), FeeAsset: "BNB", Time: b.from.Add(30 * time.Minute)},
		{ID: "2", ClientOrderID: "web_manual", VenueOrderID: "502", Side: venue.Buy, Price: dec("105"), Quantity: dec("1"),
			Time: b.from.Add(40 * time.Minute)},
		{ID: "3", VenueOrderID: "503", Side: venue.Sell, Price: dec("111"), Quantity: dec("1"), Time: b.from.Add(70 * time.Minute)},
		{ID: "4", ClientOrderID: "sessY-1", VenueOrderID: "777", Side: venue.Buy, Price: dec("112"), Quantity: dec("1"),
			Time: b.from.Add(80 * time.Minute)},
	} {
		tr.Symbol = "BTCUSDT"
		b.v.addTrade(tr)
	}
	return b
}

func TestAttribution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAttribution(t)
	res, err := backfill.Run(ctx, backfill.Config{DB: b.db, Venue: b.v, Account: b.acct, Symbols: []string{"BTCUSDT"},
		From: b.from, To: b.to})
	if err != nil {
		t.Fatal(err)
	}
	if res.NewFills != 4 || len(res.Scopes) != 2 || res.Scopes[1] != "session:sessX" {
		t.Fatalf("got %+v", res)
	}
	fills, err := b.db.Fills(ctx, store.FillQuery{AccountID: b.acct.ID})
	if err != nil {
		t.Fatal(err)
	}
	wantSession := map[string]string{"1": "sessX", "2": "", "3": "", "4": ""}
	for _, f := range fills {
		if f.SessionID != wantSession[f.TradeID] || f.Source != backfill.SourceBackfill {
			t.Errorf("fill %s: session %q source %q, want session %q", f.TradeID, f.SessionID, f.Source, wantSession[f.TradeID])
		}
	}
	// The session's PnL holds its one fill, its BNB fee priced at the fill's
	// candle (0.01 × 300); the account holds all four.
	last := b.from.Add(3 * time.Hour)
	sess, _ := b.db.PnLPoints(ctx, store.PnLPointQuery{Scope: "session:sessX", Source: backfill.SourceBackfill, From: last})
	acct, _ := b.db.PnLPoints(ctx, store.PnLPointQuery{Scope: "account:acc", Source: backfill.SourceBackfill, From: last})
	if len(sess) != 1 || sess[0].Trades != 1 || !sess[0].Fees.Equal(dec("3")) || !sess[0].Unrealized.Equal(dec("60")) ||
		!sess[0].Net.Equal(dec("57")) || !sess[0].Equity.Equal(dec("57")) {
		t.Fatalf("session point: %+v", sess)
	}
	if len(acct) != 1 || acct[0].Trades != 4 {
		t.Fatalf("account point: %+v", acct)
	}
	// The session has no point before its first fill; the account has one
	// at every hour.
	all, _ := b.db.PnLPoints(ctx, store.PnLPointQuery{Scope: "session:sessX", Source: backfill.SourceBackfill})
	if len(all) != 3 || !all[0].At.Equal(b.from.Add(time.Hour)) {
		t.Fatalf("session points: %+v", all)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	b := setupAttribution(t)
	for name, cfg := range map[string]backfill.Config{
		"empty range":  {DB: b.db, Venue: b.v, Account: b.acct, Symbols: []string{"BTCUSDT"}, From: b.to, To: b.from},
		"bad interval": {DB: b.db, Venue: b.v, Account: b.acct, Symbols: []string{"BTCUSDT"}, From: b.from, To: b.to, Interval: time.Minute},
		"no venue":     {DB: b.db, Account: b.acct, From: b.from, To: b.to},
		"bad method":   {DB: b.db, Venue: b.v, Account: b.acct, From: b.from, To: b.to, Method: "lifo"},
	} {
		if _, err := backfill.Run(context.Background(), cfg); !errors.Is(err, backfill.ErrInput) {
			t.Errorf("%s: got %v, want ErrInput", name, err)
		}
	}
}

func TestJobsRunAndResumeAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupAttribution(t)
	gate := make(chan struct{})
	blocking := &gatedVenue{memVenue: b.v, gate: gate}
	args := backfill.JobArgs{Account: "acc", Symbols: []string{"BTCUSDT"}, From: b.from, To: b.to, Interval: "1h"}

	// A first server starts the job; the venue hangs; the server stops.
	j1 := backfill.NewJobs(backfill.JobsConfig{DB: b.db, Owner: "node1",
		Venue: func(context.Context, store.Account) (venue.Venue, error) { return blocking, nil }})
	job, err := j1.Start(ctx, args)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, b.db, job.ID, backfill.JobRunning)
	j1.Close()
	if got, _ := b.db.Job(ctx, job.ID); got.State != backfill.JobRunning {
		t.Fatalf("after shutdown: state %q, want running (to resume)", got.State)
	}

	// The next server resumes it.
	j2 := backfill.NewJobs(backfill.JobsConfig{DB: b.db, Owner: "node2",
		Venue: func(context.Context, store.Account) (venue.Venue, error) { return b.v, nil }})
	defer j2.Close()
	ids, err := j2.Resume(ctx)
	if err != nil || len(ids) != 1 || ids[0] != job.ID {
		t.Fatalf("resume: got %v, %v", ids, err)
	}
	done, err := j2.Wait(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var st backfill.JobState
	if err := json.Unmarshal([]byte(done.Checkpoint), &st); err != nil {
		t.Fatal(err)
	}
	if done.State != backfill.JobDone || done.Owner != "node2" || done.Done != 1 || done.Total != 1 || st.Result == nil ||
		st.Result.NewFills != 4 {
		t.Fatalf("job: %+v, state %+v", done, st)
	}

	// Bad args are refused up front and store nothing.
	if _, err := j2.Start(ctx, backfill.JobArgs{Account: "nobody", From: b.from, To: b.to}); !errors.Is(err, backfill.ErrInput) {
		t.Fatalf("unknown account: got %v, want ErrInput", err)
	}
	// Cancel ends a job "canceled".
	j3 := backfill.NewJobs(backfill.JobsConfig{DB: b.db,
		Venue: func(context.Context, store.Account) (venue.Venue, error) { return blocking, nil }})
	defer j3.Close()
	job, err = j3.Start(ctx, args)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, b.db, job.ID, backfill.JobRunning)
	if err := j3.Cancel(job.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.db.Job(ctx, job.ID); got.State != backfill.JobCanceled {
		t.Fatalf("after cancel: state %q, want canceled", got.State)
	}
}

// gatedVenue blocks Trades until gate closes or ctx ends.
type gatedVenue struct {
	*memVenue
	gate chan struct{}
}

func (g *gatedVenue) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	select {
	case <-g.gate:
		return g.memVenue.Trades(ctx, q)
	case <-ctx.Done():
		return venue.TradePage{}, &venue.Error{Class: venue.ClassUnavailable, Op: "trades", Message: ctx.Err().Error()}
	}
}

func waitState(t *testing.T, db *store.DB, id, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if j, err := db.Job(context.Background(), id); err == nil && j.State == state {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("job %s never reached %q", id, state)
}
