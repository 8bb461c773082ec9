package backfill_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

var fakeSymbols = []string{"ADAUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}

// hourPrice is the price path the fake's candles follow: deterministic,
// different per symbol and hour, 8 decimals at most.
func hourPrice(symIdx, hour int) venue.Decimal {
	return udecimal.MustFromInt64(int64(9000+symIdx*500+(hour*37+symIdx*11)%400), 2) // 90.00 .. 143.99
}

// binanceBundle is a fake Binance seeded with 30 days of trades and hourly
// prices for five symbols, an adapter on it, and a store with the account.
type binanceBundle struct {
	fake     *binancetest.Server
	client   *binance.Client
	db       *store.DB
	acct     store.Account
	from, to time.Time
	trades   int
}

const (
	fakeDays       = 30
	fakeTradeEvery = 20 * time.Minute
	fakeWeight     = 2000
	fakeWindow     = time.Second
)

func setupBinance(t *testing.T) *binanceBundle {
	t.Helper()
	var specs []binancetest.SymbolSpec
	for _, s := range fakeSymbols {
		specs = append(specs, binancetest.SymbolSpec{Name: s, Base: s[:len(s)-4], Quote: "USDT", TickSize: dec("0.01"),
			StepSize: dec("0.0001"), MinQty: dec("0.0001"), MaxQty: dec("9000"), MinNotional: dec("5")})
	}
	fake := binancetest.Start(t, binancetest.Config{WeightLimit: fakeWeight, WeightWindow: fakeWindow, Symbols: specs})
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(fakeDays * 24 * time.Hour)
	n := int(to.Sub(from) / fakeTradeEvery)
	for _, s := range fakeSymbols {
		fake.SeedTrades(s, from.Add(7*time.Minute), fakeTradeEvery, n)
	}
	// Candles: the fake stamps a price with its own clock, so move it back
	// to each hour and set the price there.
	for h := 0; h < fakeDays*24; h++ {
		fake.SetSkew(time.Until(from.Add(time.Duration(h)*time.Hour + time.Second)))
		for i, s := range fakeSymbols {
			fake.SetPrice(s, hourPrice(i, h))
		}
	}
	fake.SetSkew(0)
	client, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL,
		FuturesBaseURL: fake.URL, WSBaseURL: fake.StreamURL, WSAPIURL: fake.WSAPIURL,
		WeightLimit: fakeWeight, WeightWindow: fakeWindow})
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.MustOpenSQLite(t)
	return &binanceBundle{fake: fake, client: client, db: db, acct: mustAccount(t, db, "main", "binance"),
		from: from, to: to, trades: n * len(fakeSymbols)}
}

func (b *binanceBundle) config() backfill.Config {
	return backfill.Config{DB: b.db, Venue: b.client, Account: b.acct, Symbols: fakeSymbols, From: b.from, To: b.to,
		Interval: time.Hour, OpeningEquity: dec("10000"), PageLimit: 50}
}

// dumpPoints reads every stored point of a scope (sum and symbols).
func dumpPoints(t *testing.T, db *store.DB, scope string) []store.PnLPoint {
	t.Helper()
	var out []store.PnLPoint
	for _, sym := range append([]string{""}, fakeSymbols...) {
		ps, err := db.PnLPoints(context.Background(), store.PnLPointQuery{Scope: scope, Symbol: sym, Source: backfill.SourceBackfill})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ps...)
	}
	return out
}

func samePoints(a, b []store.PnLPoint) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d points, then %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Scope != y.Scope || x.Symbol != y.Symbol || !x.At.Equal(y.At) || !x.Position.Equal(y.Position) ||
			!x.Mark.Equal(y.Mark) || !x.Realized.Equal(y.Realized) || !x.Fees.Equal(y.Fees) ||
			!x.Unrealized.Equal(y.Unrealized) || !x.Net.Equal(y.Net) || !x.Equity.Equal(y.Equity) ||
			x.Trades != y.Trades || x.Partial != y.Partial {
			return fmt.Errorf("point %d: %+v, then %+v", i, x, y)
		}
	}
	return nil
}

// TestBackfillBinanceFake backfills 30 days × 5 symbols from the fake
// Binance through the real adapter: it is canceled mid-run, resumes from its
// checkpoints, finishes with zero 429s, and a rerun changes nothing.
func TestBackfillBinanceFake(t *testing.T) {
	t.Parallel()
	b := setupBinance(t)
	ctx := context.Background()

	// One seeded order is a session's: its fill must go to that session.
	// SeedTrades numbers orders from 1001 in seeding order (ADAUSDT first).
	if err := b.db.InsertOrder(ctx, store.Order{ClientOrderID: "sessA-1", SessionID: "sessA", AccountID: b.acct.ID,
		Symbol: "ADAUSDT", Side: "buy", Type: "market", Status: "filled", VenueOrderID: "1001", CreatedAt: b.from}); err != nil {
		t.Fatal(err)
	}

	// Run 1: cancel once 60 of 150 windows are done.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := b.config()
	var progress []backfill.Progress
	cfg.Progress = func(p backfill.Progress) {
		progress = append(progress, p)
		if p.WindowsDone >= 60 {
			cancel()
		}
	}
	start := time.Now()
	_, err := backfill.Run(cctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled run: got %v, want context.Canceled", err)
	}
	firstFills, _ := b.db.CountFills(ctx, b.acct.ID)
	if firstFills == 0 || firstFills >= int64(b.trades) {
		t.Fatalf("after cancel: %d fills, want some of %d", firstFills, b.trades)
	}
	last := progress[len(progress)-1]
	if last.WindowsTotal != fakeDays*len(fakeSymbols) || last.Trades != firstFills || last.ETA <= 0 {
		t.Fatalf("progress at cancel: %+v (fills %d)", last, firstFills)
	}

	// Run 2 resumes after the checkpoints.
	cfg.Progress = nil
	res, err := backfill.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if res.WindowsSkipped < 60 || res.Windows+res.WindowsSkipped != fakeDays*len(fakeSymbols) {
		t.Fatalf("resume: %d windows downloaded, %d skipped; want ≥ 60 skipped of %d", res.Windows, res.WindowsSkipped,
			fakeDays*len(fakeSymbols))
	}
	if n, _ := b.db.CountFills(ctx, b.acct.ID); n != int64(b.trades) || res.Fills != b.trades {
		t.Fatalf("after resume: %d fills stored, %d replayed; want %d", n, res.Fills, b.trades)
	}
	st := b.fake.Stats()
	if st.RateLimited != 0 || st.Banned != 0 {
		t.Fatalf("fake answered %d 429s and %d 418s, want none", st.RateLimited, st.Banned)
	}
	t.Logf("backfill of %d trades (%d windows, 2 runs): %s, %d requests, weight %d, %.0f trades/s",
		b.trades, fakeDays*len(fakeSymbols), elapsed.Round(time.Millisecond), st.Requests, st.Weight,
		float64(b.trades)/elapsed.Seconds())

	// The session's fill is attributed; everything else is the account's.
	sess, err := b.db.Fills(ctx, store.FillQuery{SessionID: "sessA"})
	if err != nil || len(sess) != 1 || sess[0].VenueOrderID != "1001" || sess[0].ClientOrderID != "sessA-1" {
		t.Fatalf("session fills: got %+v, %v", sess, err)
	}
	wantScopes := []string{"account:main", "session:sessA"}
	if fmt.Sprint(res.Scopes) != fmt.Sprint(wantScopes) {
		t.Fatalf("scopes: got %v, want %v", res.Scopes, wantScopes)
	}

	// The last account point equals a direct computation over every fill,
	// marked at the last hour's price.
	acctPts := dumpPoints(t, b.db, "account:main")
	// A sum row every hour; symbol rows from the first fill on (00:07).
	if want := fakeDays*24 + (fakeDays*24-1)*len(fakeSymbols); len(acctPts) != want {
		t.Fatalf("got %d account points, want %d", len(acctPts), want)
	}
	if first := acctPts[0]; !first.At.Equal(b.from) || !first.Equity.Equal(dec("10000")) || !first.Net.IsZero() {
		t.Fatalf("first point: got %+v, want opening equity before any fill", first)
	}
	lastHour := fakeDays*24 - 1
	lastSum := acctPts[lastHour]
	fills, _ := b.db.Fills(ctx, store.FillQuery{AccountID: b.acct.ID, Limit: 100000})
	var trades []tradecsv.Trade
	for _, f := range fills {
		if f.At.After(lastSum.At) {
			continue // the point is as of its time
		}
		trades = append(trades, tradecsv.Trade{Time: f.At, Symbol: f.Symbol, Side: venue.Side(f.Side), Price: f.Price,
			Quantity: f.Quantity, Fee: f.Fee, FeeAsset: f.FeeAsset, ID: f.TradeID})
	}
	marks := map[string]pnl.Decimal{}
	for i, s := range fakeSymbols {
		marks[s] = hourPrice(i, lastHour)
	}
	want, err := pnl.Compute(trades, pnl.AvgCost, marks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !lastSum.Net.Equal(want.Total.NetPnL) || !lastSum.Equity.Equal(dec("10000").Add(want.Total.NetPnL)) ||
		!lastSum.Realized.Equal(want.Total.RealizedPnL) || !lastSum.Fees.Equal(want.Total.FeesQuote) || lastSum.Partial {
		t.Fatalf("last point %+v, want net %s realized %s fees %s", lastSum, want.Total.NetPnL, want.Total.RealizedPnL, want.Total.FeesQuote)
	}

	// Run 3 over the same range: no trade downloads, nothing changes.
	fillsBefore, _ := b.db.CountFills(ctx, 0)
	sessBefore := dumpPoints(t, b.db, "session:sessA")
	reqBefore := b.fake.Stats().Requests
	res, err = backfill.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Windows != 0 || res.NewFills != 0 || res.WindowsSkipped != fakeDays*len(fakeSymbols) {
		t.Fatalf("rerun: got %+v, want every window skipped", res)
	}
	if n, _ := b.db.CountFills(ctx, 0); n != fillsBefore {
		t.Fatalf("rerun: fills %d → %d", fillsBefore, n)
	}
	if err := samePoints(acctPts, dumpPoints(t, b.db, "account:main")); err != nil {
		t.Fatalf("rerun changed account points: %v", err)
	}
	if err := samePoints(sessBefore, dumpPoints(t, b.db, "session:sessA")); err != nil || len(sessBefore) == 0 {
		t.Fatalf("rerun changed session points (%d): %v", len(sessBefore), err)
	}
	if got := b.fake.Stats().Requests - reqBefore; got > len(fakeSymbols)+1 { // klines only (+ a time sync)
		t.Fatalf("rerun sent %d requests, want only the %d kline requests", got, len(fakeSymbols))
	}
	if st := b.fake.Stats(); st.RateLimited != 0 || st.Banned != 0 {
		t.Fatalf("fake answered %d 429s and %d 418s, want none", st.RateLimited, st.Banned)
	}
}
