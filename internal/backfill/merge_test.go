package backfill_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// binanceExport writes trades as Binance's trade-history export does: no
// trade ids, times to the second (truncated), units appended.
func binanceExport(ts []venue.Trade, base, quote string) string {
	var b strings.Builder
	b.WriteString("\ufeffDate(UTC),Pair,Side,Price,Executed,Amount,Fee\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s%s,%s%s,%s%s\n", t.Time.UTC().Format("2006-01-02 15:04:05"), t.Symbol,
			strings.ToUpper(string(t.Side)), t.Price, t.Quantity, base, t.Price.Mul(t.Quantity), quote, t.Fee, t.FeeAsset)
	}
	return b.String()
}

// TestImportAndBackfillCountOnce: the same trades imported from a Binance
// export (keyed by content hash, no trade id) and backfilled from the venue
// (keyed by myTrades ids) are one execution each: the rebuild keeps the
// venue's row, reports the merge, and the PnL counts each trade once.
func TestImportAndBackfillCountOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spec := binancetest.SymbolSpec{Name: "BTCUSDT", Base: "BTC", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.0001"),
		MinQty: dec("0.0001"), MaxQty: dec("9000"), MinNotional: dec("5")}
	fake := binancetest.Start(t, binancetest.Config{Symbols: []binancetest.SymbolSpec{spec}})
	from := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	const hours, n = 24, 60
	// Trades at 00:07:00.250 + 20 min × i: the export truncates the 250 ms.
	fake.SeedTrades("BTCUSDT", from.Add(7*time.Minute+250*time.Millisecond), 20*time.Minute, n)
	for h := 0; h < hours; h++ {
		fake.SetSkew(time.Until(from.Add(time.Duration(h)*time.Hour + time.Second)))
		fake.SetPrice("BTCUSDT", hourPrice(1, h))
	}
	fake.SetSkew(0)
	client, err := binance.New(binance.Config{APIKey: fake.APIKey(), APISecret: fake.APISecret(), BaseURL: fake.URL,
		FuturesBaseURL: fake.URL, WSBaseURL: fake.StreamURL, WSAPIURL: fake.WSAPIURL})
	if err != nil {
		t.Fatal(err)
	}
	to := from.Add(hours * time.Hour)
	page, err := client.Trades(ctx, venue.TradeQuery{Symbol: "BTCUSDT", From: from, To: to, Limit: 1000})
	if err != nil || len(page.Trades) != n {
		t.Fatalf("venue trades: %d, %v", len(page.Trades), err)
	}
	export := binanceExport(page.Trades, "BTC", "USDT")

	db := storetest.MustOpenSQLite(t)
	acct := mustAccount(t, db, "main", "binance")
	imp, err := backfill.ImportTrades(ctx, db, "main", strings.NewReader(export), int64(len(export)), nil)
	if err != nil || imp.New != n {
		t.Fatalf("import: %+v, %v", imp, err)
	}
	res, err := backfill.Run(ctx, backfill.Config{DB: db, Venue: client, Account: acct, Symbols: []string{"BTCUSDT"},
		From: from, To: to, OpeningEquity: dec("1000")})
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := db.CountFills(ctx, acct.ID); stored != 2*n {
		t.Fatalf("%d fills stored, want %d (both sources are kept as facts)", stored, 2*n)
	}
	if res.Fills != n || res.Merged != n {
		t.Fatalf("rebuild used %d fills and merged %d; want %d used, %d merged", res.Fills, res.Merged, n, n)
	}

	// The last point equals the PnL of the venue's trades counted once.
	var trades []tradecsv.Trade
	last := to.Add(-time.Hour)
	for _, tr := range page.Trades {
		if !tr.Time.After(last) {
			trades = append(trades, tradecsv.Trade{Time: tr.Time, Symbol: tr.Symbol, Side: tr.Side, Price: tr.Price,
				Quantity: tr.Quantity, Fee: tr.Fee, FeeAsset: tr.FeeAsset, ID: tr.ID})
		}
	}
	want, err := pnl.Compute(trades, pnl.AvgCost, map[string]pnl.Decimal{"BTCUSDT": hourPrice(1, hours-1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := onePoint(t, db, "account:main", "", last)
	if !sum.Net.Equal(want.Total.NetPnL) || sum.Trades != int64(len(trades)) {
		t.Fatalf("last point net %s over %d trades, want %s over %d (each trade once)", sum.Net, sum.Trades, want.Total.NetPnL, len(trades))
	}

	// Importing again after the backfill changes nothing either.
	if _, err := backfill.ImportTrades(ctx, db, "main", strings.NewReader(export), int64(len(export)), nil); err != nil {
		t.Fatal(err)
	}
	res, err = backfill.Run(ctx, backfill.Config{DB: db, Venue: client, Account: acct, Symbols: []string{"BTCUSDT"},
		From: from, To: to, OpeningEquity: dec("1000")})
	if err != nil || res.Fills != n || res.Merged != n {
		t.Fatalf("rerun: %+v, %v", res, err)
	}
	// Both sources stay stored: the merge is the rebuild's reading, not a
	// deletion.
	fills, _ := db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 1000})
	bySource := map[string]int{}
	for _, f := range fills {
		bySource[f.Source]++
	}
	if bySource[backfill.SourceBackfill] != n || bySource[backfill.SourceImport] != n {
		t.Fatalf("stored fills by source %v", bySource)
	}
}

func TestMergeSources(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 2, 1, 10, 0, 5, 0, time.UTC)
	fill := func(id string, at time.Time, price, qty string) backfill.Fill {
		return backfill.Fill{Trade: tradecsv.Trade{Time: at, Symbol: "BTCUSDT", Side: venue.Buy, Price: dec(price),
			Quantity: dec(qty), Fee: dec("0.00000100"), FeeAsset: "BNB", ID: id}}
	}
	h := tradecsv.HashID(tradecsv.Trade{Time: at, Base: "BTC", Quote: "USDT", Side: venue.Buy})
	fs := []backfill.Fill{
		// Two identical executions in one second, seen by both sources.
		fill("101", at.Add(120*time.Millisecond), "90000.00", "0.01"),
		fill("102", at.Add(870*time.Millisecond), "90000", "0.0100"),
		fill(h, at, "90000.0", "0.01"),
		fill(h+"-2", at, "90000", "0.010"),
		// A third id-less one has no venue twin: it stays.
		fill(h+"-3", at, "90000", "0.01"),
		// Same second, other quantity: not the same execution.
		fill("h"+strings.Repeat("0", 32), at, "90000", "0.02"),
		// The next second is another execution.
		fill("103", at.Add(time.Second), "90000", "0.01"),
	}
	kept, merged := backfill.MergeSources(fs)
	var ids []string
	for _, f := range kept {
		ids = append(ids, f.ID)
	}
	want := []string{"101", "102", h + "-3", "h" + strings.Repeat("0", 32), "103"}
	if merged != 2 || fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("merged %d, kept %v; want 2 merged, kept %v", merged, ids, want)
	}
}
