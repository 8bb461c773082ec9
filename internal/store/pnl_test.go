package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
)

// TestPnLConformance runs the PnL history suite (batch fills, checkpoints,
// points, lookups) against every engine.
func TestPnLConformance(t *testing.T) {
	t.Parallel()
	runAccountSuite(t, pnlSuite)
}

var pnlT0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func pnlFill(acct int64, i int) store.Fill {
	return store.Fill{AccountID: acct, Symbol: "BTCUSDT", TradeID: fmt.Sprint(i), Side: "buy", Price: dec("100.5"),
		Quantity: dec("0.01"), QuoteQty: dec("1.005"), Fee: dec("0.00001"), FeeAsset: "BTC", Source: "import",
		At: pnlT0.Add(time.Duration(i) * time.Minute)}
}

var pnlSuite = map[string]func(t *testing.T, db *store.DB, acct int64){
	"equity samples stream merged in time order, ties in source order, across pages": func(t *testing.T, db *store.DB, acct int64) {
		// live: one a minute over 5,000 minutes (two pages and a bit);
		// history: one every 7 minutes over the same span, some on the
		// same minute as live; backfill: only outside [from, to); another
		// scope: never.
		var ss []store.EquitySnapshot
		snap := func(scope, source string, at time.Time, v int64) {
			ss = append(ss, store.EquitySnapshot{Scope: scope, Source: source, At: at, Equity: udecimal.MustFromInt64(v, 2)})
		}
		for i := range 5000 {
			snap("total", "live", pnlT0.Add(time.Duration(i)*time.Minute), int64(i))
			if i%7 == 0 {
				snap("total", "history", pnlT0.Add(time.Duration(i)*time.Minute+time.Duration(i%2)*time.Second), int64(-i))
			}
			snap("account:other", "live", pnlT0.Add(time.Duration(i)*time.Minute), 1)
		}
		snap("total", "backfill", pnlT0.Add(-time.Minute), 9)
		snap("total", "backfill", pnlT0.Add(5000*time.Minute), 9)
		if err := db.UpsertEquitySnapshots(ctx, ss); err != nil {
			t.Fatal(err)
		}
		from, to := pnlT0, pnlT0.Add(5000*time.Minute)
		var got []store.EquitySample
		err := db.EachEquitySample(ctx, "total", []string{"history", "live", "backfill"}, from, to, func(s store.EquitySample) error {
			got = append(got, s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []store.EquitySample
		for _, s := range ss {
			if s.Scope == "total" && !s.At.Before(from) && s.At.Before(to) {
				want = append(want, store.EquitySample{At: s.At, Source: s.Source, Equity: s.Equity})
			}
		}
		rank := map[string]int{"history": 0, "live": 1}
		slices.SortStableFunc(want, func(a, b store.EquitySample) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return rank[a.Source] - rank[b.Source]
		})
		if len(got) != len(want) {
			t.Fatalf("%d samples, want %d", len(got), len(want))
		}
		for i := range want {
			if !got[i].At.Equal(want[i].At) || got[i].Source != want[i].Source || !got[i].Equity.Equal(want[i].Equity) {
				t.Fatalf("sample %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
		stop := errors.New("stop")
		n := 0
		err = db.EachEquitySample(ctx, "total", []string{"live"}, from, to, func(store.EquitySample) error {
			if n++; n == 10 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 10 {
			t.Fatalf("fn's error: got %v after %d samples, want stop after 10", err, n)
		}
	},
	"insert fills is idempotent across and within batches": func(t *testing.T, db *store.DB, acct int64) {
		var fs []store.Fill
		for i := range 2500 { // three chunks
			fs = append(fs, pnlFill(acct, i))
		}
		fs = append(fs, pnlFill(acct, 7)) // a repeat inside the batch
		n, err := db.InsertFills(ctx, fs)
		if err != nil || n != 2500 {
			t.Fatalf("first insert: got %d, %v; want 2500 new", n, err)
		}
		n, err = db.InsertFills(ctx, fs[2000:])
		if err != nil || n != 0 {
			t.Fatalf("second insert: got %d, %v; want 0 new", n, err)
		}
		if c, err := db.CountFills(ctx, acct); err != nil || c != 2500 {
			t.Fatalf("count: got %d, %v; want 2500", c, err)
		}
		got, err := db.Fills(ctx, store.FillQuery{AccountID: acct, Limit: 1})
		if err != nil || len(got) != 1 {
			t.Fatal(err)
		}
		want := pnlFill(acct, 0)
		g := got[0]
		if g.TradeID != "0" || !g.Price.Equal(want.Price) || !g.Fee.Equal(want.Fee) || !g.At.Equal(want.At) || g.Source != "import" {
			t.Fatalf("got %+v, want %+v", g, want)
		}
	},
	"a failing batch stores nothing": func(t *testing.T, db *store.DB, acct int64) {
		fs := []store.Fill{pnlFill(acct, 1), pnlFill(acct+999, 2)} // unknown account: foreign key
		if _, err := db.InsertFills(ctx, fs); err == nil {
			t.Fatal("want an error for an unknown account")
		}
		if c, _ := db.CountFills(ctx, 0); c != 0 {
			t.Fatalf("count after a failed batch: got %d, want 0", c)
		}
	},
	"order by venue id": func(t *testing.T, db *store.DB, acct int64) {
		o := store.Order{ClientOrderID: "s1-1", SessionID: "s1", AccountID: acct, Symbol: "BTCUSDT", Side: "buy", Type: "market",
			Status: "filled", VenueOrderID: "1001", CreatedAt: pnlT0}
		if err := db.InsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		got, err := db.OrderByVenueID(ctx, acct, "BTCUSDT", "1001")
		if err != nil || got.ClientOrderID != "s1-1" || got.SessionID != "s1" {
			t.Fatalf("got %+v, %v", got, err)
		}
		if _, err := db.OrderByVenueID(ctx, acct, "ETHUSDT", "1001"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other symbol: got %v, want ErrNotFound", err)
		}
	},
	"checkpoints": func(t *testing.T, db *store.DB, acct int64) {
		if _, err := db.BackfillCheckpoint(ctx, acct, "BTCUSDT"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		c := store.BackfillCheckpoint{AccountID: acct, Symbol: "BTCUSDT", From: pnlT0, Until: pnlT0.Add(24 * time.Hour), Trades: 5, UpdatedAt: pnlT0}
		for range 2 {
			if err := db.SetBackfillCheckpoint(ctx, c); err != nil {
				t.Fatal(err)
			}
			c.Until, c.Trades = c.Until.Add(24*time.Hour), 9
		}
		got, err := db.BackfillCheckpoint(ctx, acct, "BTCUSDT")
		if err != nil || !got.From.Equal(pnlT0) || !got.Until.Equal(pnlT0.Add(48*time.Hour)) || got.Trades != 9 {
			t.Fatalf("got %+v, %v", got, err)
		}
	},
	"points upsert, query with prior, mirror into equity": func(t *testing.T, db *store.DB, acct int64) {
		var ps []store.PnLPoint
		for i := range 600 {
			at := pnlT0.Add(time.Duration(i) * time.Hour)
			ps = append(ps,
				store.PnLPoint{Scope: "account:main", Source: "backfill", At: at, Realized: dec("1.5"), Fees: dec("0.25"),
					Unrealized: dec(fmt.Sprintf("%d.125", i)), Net: dec("0"), Equity: dec(fmt.Sprintf("%d", 1000+i)), Trades: int64(i)},
				store.PnLPoint{Scope: "account:main", Symbol: "BTCUSDT", Source: "backfill", At: at, Position: dec("0.01"),
					Mark: dec("100"), Equity: dec("1")})
		}
		if err := db.UpsertPnLPoints(ctx, ps); err != nil {
			t.Fatal(err)
		}
		ps[0].Equity, ps[0].Partial = dec("999.99"), true
		if err := db.UpsertPnLPoints(ctx, ps[:1]); err != nil {
			t.Fatal(err)
		}
		got, err := db.PnLPoints(ctx, store.PnLPointQuery{Scope: "account:main", Source: "backfill",
			From: pnlT0.Add(90 * time.Minute), To: pnlT0.Add(5 * time.Hour), WithPrior: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || !got[0].At.Equal(pnlT0.Add(time.Hour)) || !got[3].At.Equal(pnlT0.Add(4*time.Hour)) ||
			!got[1].Unrealized.Equal(dec("2.125")) || got[1].Trades != 2 {
			t.Fatalf("got %+v", got)
		}
		first, err := db.PnLPoints(ctx, store.PnLPointQuery{Scope: "account:main", Source: "backfill", To: pnlT0.Add(time.Minute)})
		if err != nil || len(first) != 1 || !first[0].Equity.Equal(dec("999.99")) || !first[0].Partial {
			t.Fatalf("replaced point: got %+v, %v", first, err)
		}
		eq, err := db.EquitySnapshots(ctx, "account:main", "backfill", pnlT0, pnlT0.Add(1000*time.Hour))
		if err != nil || len(eq) != 600 || !eq[0].Equity.Equal(dec("999.99")) || !eq[2].Realized.Equal(dec("1.5")) {
			t.Fatalf("mirror: got %d snapshots, %v", len(eq), err)
		}
		prior, err := db.EquitySnapshotBefore(ctx, "account:main", "backfill", pnlT0.Add(150*time.Minute))
		if err != nil || !prior.At.Equal(pnlT0.Add(2*time.Hour)) {
			t.Fatalf("before: got %+v, %v", prior, err)
		}
		if _, err := db.EquitySnapshotBefore(ctx, "account:main", "backfill", pnlT0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("before the first: got %v, want ErrNotFound", err)
		}
		scopes, err := db.PnLScopes(ctx, "backfill", "account:")
		if err != nil || len(scopes) != 1 || scopes[0] != "account:main" {
			t.Fatalf("scopes: got %v, %v", scopes, err)
		}
	},
}
