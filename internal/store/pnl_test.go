package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

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
