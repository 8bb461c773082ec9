package backfill_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// historyVenue is three days of trades in two symbols, with hourly candles
// and BNB fees: six 24-hour download windows of a few pages each.
func historyVenue(from time.Time, hours int) *memVenue {
	v := newMemVenue()
	rng := rand.New(rand.NewPCG(7, 11))
	for _, s := range []struct {
		sym  string
		base int64
	}{{"BTCUSDT", 6000000}, {"ETHUSDT", 300000}, {"BNBUSDT", 30000}} {
		opens := make([]venue.Decimal, hours)
		for h := range opens {
			opens[h] = udecimal.MustFromInt64(s.base+rng.Int64N(s.base/20), 2)
		}
		v.setHourly(s.sym, from, opens)
	}
	for i := range 300 {
		sym := []string{"BTCUSDT", "ETHUSDT"}[i%2]
		at := from.Add(time.Duration(rng.Int64N(int64(time.Duration(hours) * time.Hour)))).Truncate(time.Millisecond)
		side := venue.Buy
		if rng.IntN(5) < 2 {
			side = venue.Sell
		}
		tr := venue.Trade{Symbol: sym, Side: side, Price: v.klines[sym][int(at.Sub(from)/time.Hour)].Open,
			Quantity: udecimal.MustFromInt64(1+rng.Int64N(999), 4), Time: at}
		if i%3 == 0 {
			tr.Fee, tr.FeeAsset = udecimal.MustFromInt64(1+rng.Int64N(99), 6), "BNB"
		}
		v.addTrade(tr)
	}
	for sym, ts := range v.trades {
		slicesSortTrades(ts)
		for i := range ts {
			ts[i].ID = udecimal.MustFromInt64(int64(i+1), 0).String()
		}
		v.trades[sym] = ts
	}
	v.pageMax = 20
	return v
}

// countingVenue counts the trade pages one node asks for.
type countingVenue struct {
	*memVenue
	calls atomic.Int64
}

func (c *countingVenue) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	c.calls.Add(1)
	return c.memVenue.Trades(ctx, q)
}

// stallingVenue serves the first after trade pages, then hangs (a node
// paused or dead mid-download) until gate closes.
type stallingVenue struct {
	*memVenue
	after   int64
	n       atomic.Int64
	gate    chan struct{}
	stalled chan struct{} // closed when the first call hangs
	once    sync.Once
}

func (s *stallingVenue) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	if s.n.Add(1) > s.after {
		s.once.Do(func() { close(s.stalled) })
		select {
		case <-s.gate:
		case <-ctx.Done():
			return venue.TradePage{}, &venue.Error{Class: venue.ClassUnavailable, Op: "trades", Message: ctx.Err().Error()}
		}
	}
	return s.memVenue.Trades(ctx, q)
}

// lockedBuf collects log lines from several goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func jobResult(t *testing.T, j store.Job) backfill.Result {
	t.Helper()
	var st backfill.JobState
	if err := json.Unmarshal([]byte(j.Checkpoint), &st); err != nil || st.Result == nil {
		t.Fatalf("job %s: no result in %q (%v)", j.ID, j.Checkpoint, err)
	}
	return *st.Result
}

// TestJobTakenOverWhenItsNodeStops: a job whose node stopped renewing its
// hold mid-download is claimed by exactly one of the surviving nodes, which
// resumes it from the download checkpoints and ends with what an
// uninterrupted run gives; the stalled node, once it moves again, finds the
// job taken and writes nothing more.
func TestJobTakenOverWhenItsNodeStops(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			from := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
			const hours = 72
			v := historyVenue(from, hours)
			args := backfill.JobArgs{Account: "acc", Symbols: []string{"BTCUSDT", "ETHUSDT"}, From: from,
				To: from.Add(hours * time.Hour), Interval: "1h", OpeningEquity: dec("1000")}
			opener := func(v venue.Venue) func(context.Context, store.Account) (venue.Venue, error) {
				return func(context.Context, store.Account) (venue.Venue, error) { return v, nil }
			}

			// The uninterrupted run.
			refDB := storetest.Open(t, eng.URL(t))
			mustAccount(t, refDB, "acc", "mem")
			solo := backfill.NewJobs(backfill.JobsConfig{DB: refDB, Owner: "solo", Venue: opener(v)})
			refJob, err := solo.Start(ctx, args)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := solo.Wait(ctx, refJob.ID)
			solo.Close()
			if err != nil || ref.State != backfill.JobDone {
				t.Fatalf("uninterrupted run: %+v %v", ref, err)
			}
			want := jobResult(t, ref)

			// Node a starts the job and stalls after a few pages; its clock
			// stands still, so it neither renews its hold nor writes.
			db := storetest.Open(t, eng.URL(t))
			acct := mustAccount(t, db, "acc", "mem")
			const ttl = 3 * time.Second
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clkA := clock.NewFake(t0)
			stall := &stallingVenue{memVenue: v, after: 5, gate: make(chan struct{}), stalled: make(chan struct{})}
			a := backfill.NewJobs(backfill.JobsConfig{DB: db, Owner: "node-a", LeaseTTL: ttl, Clock: clkA, Venue: opener(stall),
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			defer a.Close()
			job, err := a.Start(ctx, args)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-stall.stalled:
			case <-ctx.Done():
				t.Fatal("node a never reached the stall")
			}

			// Two surviving nodes watch; neither takes a job still held.
			var logs lockedBuf
			log := slog.New(slog.NewTextHandler(&logs, nil))
			clk := clock.NewFake(t0)
			vb, vc := &countingVenue{memVenue: v}, &countingVenue{memVenue: v}
			b := backfill.NewJobs(backfill.JobsConfig{DB: db, Owner: "node-b", LeaseTTL: ttl, Clock: clk, Log: log, Venue: opener(vb)})
			c := backfill.NewJobs(backfill.JobsConfig{DB: db, Owner: "node-c", LeaseTTL: ttl, Clock: clk, Log: log, Venue: opener(vc)})
			defer b.Close()
			defer c.Close()
			for _, n := range []*backfill.Jobs{b, c} {
				if ids, err := n.Resume(ctx); err != nil || len(ids) != 0 {
					t.Fatalf("resume while node a holds the job: %v %v, want nothing taken", ids, err)
				}
			}
			// Time passes for the survivors until one of them claims it.
			for {
				got, err := db.Job(ctx, job.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Owner != "node-a" {
					break
				}
				if clk.Now().After(t0.Add(3 * ttl)) {
					t.Fatalf("job still held by node a at %s: %+v", clk.Now(), got)
				}
				clk.Advance(250 * time.Millisecond)
				time.Sleep(5 * time.Millisecond)
			}
			if clk.Now().Before(t0.Add(ttl)) {
				t.Fatalf("job taken over at %s, before node a's hold ended", clk.Now())
			}
			waitState(t, db, job.ID, backfill.JobDone)
			// More heartbeats change nothing: it ran once.
			for range 8 {
				clk.Advance(time.Second)
				time.Sleep(5 * time.Millisecond)
			}
			done, err := db.Job(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if done.State != backfill.JobDone || (done.Owner != "node-b" && done.Owner != "node-c") {
				t.Fatalf("after the takeover: %+v", done)
			}
			if n := strings.Count(logs.String(), "resuming job"); n != 1 {
				t.Errorf("job resumed %d times by the survivors, want once:\n%s", n, logs.String())
			}
			if nb, nc := vb.calls.Load(), vc.calls.Load(); (nb == 0) == (nc == 0) {
				t.Errorf("trade pages asked by node b %d, node c %d: want exactly one of them to run the job", nb, nc)
			}

			// Same result as the uninterrupted run, resumed from the checkpoints.
			got := jobResult(t, done)
			if got.WindowsSkipped == 0 {
				t.Errorf("resumed run skipped no window: %+v, want it to continue after node a's checkpoints", got)
			}
			if got.Windows+got.WindowsSkipped != want.Windows+want.WindowsSkipped || got.Fills != want.Fills ||
				got.Points != want.Points || !reflect.DeepEqual(got.Scopes, want.Scopes) ||
				!reflect.DeepEqual(got.Symbols, want.Symbols) || len(got.Unconverted) != len(want.Unconverted) {
				t.Errorf("resumed result %+v, uninterrupted %+v", got, want)
			}
			samePoints := func() {
				t.Helper()
				q := store.PnLPointQuery{Scope: "account:acc", Source: backfill.SourceBackfill, From: args.From, To: args.To}
				wp, err := refDB.PnLPoints(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				gp, err := db.PnLPoints(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(wp) == 0 || len(gp) != len(wp) {
					t.Fatalf("points: %d resumed, %d uninterrupted", len(gp), len(wp))
				}
				for i := range wp {
					if !gp[i].At.Equal(wp[i].At) || !gp[i].Equity.Equal(wp[i].Equity) || !gp[i].Realized.Equal(wp[i].Realized) {
						t.Fatalf("point %d: resumed %+v, uninterrupted %+v", i, gp[i], wp[i])
					}
				}
				fills, err := db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 100000})
				if err != nil || len(fills) != want.Fills {
					t.Fatalf("stored fills: %d (%v), want %d", len(fills), err, want.Fills)
				}
			}
			samePoints()

			// Node a moves again (time passed for it too): its hung call
			// returns, it finds the job held by another node and stops
			// without writing to it.
			clkA.Advance(2 * ttl)
			close(stall.gate)
			if _, err := a.Wait(ctx, job.ID); err != nil {
				t.Fatal(err)
			}
			after, err := db.Job(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, done) {
				t.Errorf("node a wrote to the job after losing it:\nbefore %+v\nafter  %+v", done, after)
			}
			samePoints()
		})
	}
}
