package livefeed_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

func dec(s string) udecimal.Decimal { return udecimal.MustParse(s) }

type bundle struct {
	ex    *paper.Exchange
	db    *store.DB
	pf    *portfolio.Portfolio
	feed  *livefeed.Feed
	a, b  store.Account
	mu    sync.Mutex
	drift []portfolio.Drift
	errs  []string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	bd := &bundle{ex: paper.MustNew(paper.Config{}), db: storetest.MustOpenSQLite(t)}
	pf, err := portfolio.New(portfolio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bd.pf = pf
	bd.feed = livefeed.New(livefeed.Config{
		Portfolio: pf, Store: bd.db,
		OnDrift: func(_ context.Context, _ store.Account, d portfolio.Drift) {
			bd.mu.Lock()
			bd.drift = append(bd.drift, d)
			bd.mu.Unlock()
		},
		OnError: func(_ context.Context, a store.Account, what string, err error) {
			bd.mu.Lock()
			bd.errs = append(bd.errs, a.Name+": "+what)
			bd.mu.Unlock()
		},
	})
	for _, name := range []string{"a", "b"} {
		acct := &store.Account{Name: name, Venue: "paper", Tags: []string{"t-" + name}}
		if err := bd.db.CreateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		if name == "a" {
			bd.a = *acct
		} else {
			bd.b = *acct
		}
	}
	must(t, bd.ex.SetPrice("BTCUSDT", dec("50000"), time.Time{}))
	must(t, bd.ex.SetPrice("ETHUSDT", dec("3000"), time.Time{}))
	must(t, bd.ex.Fund("a", venue.WalletSpot, "USDT", dec("1000")))
	must(t, bd.ex.Fund("a", venue.WalletSpot, "BTC", dec("0.5")))
	must(t, bd.ex.Fund("b", venue.WalletFunding, "ETH", dec("2")))
	return bd
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestResyncValuesAndPersists(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	ctx := context.Background()
	must(t, bd.feed.AddAccount(ctx, bd.a, bd.ex.Account("a")))
	must(t, bd.feed.AddAccount(ctx, bd.b, bd.ex.Account("b")))
	bd.mu.Lock()
	if len(bd.drift) != 0 {
		t.Fatalf("the first read of an account reported drift %+v; filling an empty view is not drift", bd.drift)
	}
	bd.mu.Unlock()
	// Prices arrive through the stream; feed them as the stream would.
	for _, s := range []string{"BTCUSDT", "ETHUSDT"} {
		tk, _ := bd.ex.Price(s)
		must(t, bd.pf.Tick(tk))
	}
	// 1000 + 0.5×50000 + 2×3000 = 32000
	if got := bd.pf.Total().Value; !got.Equal(dec("32000")) {
		t.Fatalf("total %s, want 32000", got)
	}
	bals, err := bd.db.Balances(ctx, 0)
	must(t, err)
	if len(bals) != 3 {
		t.Fatalf("stored balances %+v", bals)
	}
	// A change behind our back shows up as drift at the next resync.
	must(t, bd.ex.Fund("a", venue.WalletSpot, "USDT", dec("-250")))
	bd.feed.Resync(ctx, bd.a.ID)
	bd.mu.Lock()
	drift := append([]portfolio.Drift(nil), bd.drift...)
	bd.mu.Unlock()
	var found bool
	for _, d := range drift {
		if d.Asset == "USDT" && d.Delta.Equal(dec("-250")) {
			found = true
		}
	}
	if !found {
		t.Fatalf("drift %+v: want USDT −250", drift)
	}
	if got := bd.pf.Total().Value; !got.Equal(dec("31750")) {
		t.Fatalf("total after drift %s, want 31750", got)
	}
	// A failed read keeps the last holdings, flagged, and is reported.
	bd.ex.Account("a").Faults().Next(paper.OpBalances, paper.FaultServerError)
	bd.feed.Resync(ctx, bd.a.ID)
	tot := bd.pf.Total()
	if !tot.Partial || len(tot.UnknownWallets) == 0 || !tot.Value.Equal(dec("31750")) {
		t.Fatalf("after failed read: %+v", tot)
	}
	st, _ := bd.db.WalletStatuses(ctx)
	var failed bool
	for _, s := range st {
		if s.AccountID == bd.a.ID && s.Status == "error" {
			failed = true
		}
	}
	bd.mu.Lock()
	nerr := len(bd.errs)
	bd.mu.Unlock()
	if !failed || nerr == 0 {
		t.Fatalf("failure not recorded: statuses %+v, errors %d", st, nerr)
	}
}

func TestRunStreamsPricesAndSnapshots(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, bd.feed.AddAccount(ctx, bd.a, bd.ex.Account("a")))
	done := make(chan struct{})
	go func() { bd.feed.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		must(t, bd.ex.SetPrice("BTCUSDT", dec("60000"), time.Time{}))
		if bd.pf.Total().Value.Equal(dec("31000")) { // 1000 + 0.5×60000
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("price stream never reached the portfolio: total %s", bd.pf.Total().Value)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, bd.feed.SnapshotEquity(ctx))
	must(t, bd.feed.SnapshotPrices(ctx))
	snaps, err := bd.db.EquitySnapshots(ctx, "total", "live", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	must(t, err)
	if len(snaps) != 1 || !snaps[0].Equity.Equal(dec("31000")) {
		t.Fatalf("equity snapshots %+v", snaps)
	}
	if p, err := bd.db.PriceAt(ctx, "BTCUSDT", time.Now().Add(time.Minute)); err != nil || !p.Price.Equal(dec("60000")) {
		t.Fatalf("price snapshot %+v %v", p, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
