package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestSumRowsNeverMixQuotes: an account trading ETHUSDT (USDT) and ETHBTC
// (BTC). The sum row must not add BTC to USDT: it is in the valuation asset
// (USDT, the default), each BTC amount converted at the BTCUSDT mark of the
// step (a market the account never traded, downloaded for the conversion),
// and one row per quote asset keeps the exact unconverted sums.
func TestSumRowsNeverMixQuotes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(t)
	acct := mustAccount(t, db, "mix", "mem")
	v := newMemVenue()
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	v.setHourly("ETHUSDT", from, []venue.Decimal{dec("2000"), dec("2100"), dec("2050"), dec("2200")})
	v.setHourly("ETHBTC", from, []venue.Decimal{dec("0.03"), dec("0.031"), dec("0.0305"), dec("0.032")})
	v.setHourly("BTCUSDT", from, []venue.Decimal{dec("66000"), dec("67000"), dec("66500"), dec("68000")})
	v.addTrade(venue.Trade{Symbol: "ETHUSDT", Side: venue.Buy, Price: dec("2000"), Quantity: dec("1"), Fee: dec("2"), FeeAsset: "USDT",
		Time: from.Add(10 * time.Minute)})
	v.addTrade(venue.Trade{Symbol: "ETHBTC", Side: venue.Buy, Price: dec("0.03"), Quantity: dec("2"), Fee: dec("0.00006"), FeeAsset: "BTC",
		Time: from.Add(20 * time.Minute)})
	v.addTrade(venue.Trade{Symbol: "ETHBTC", Side: venue.Sell, Price: dec("0.031"), Quantity: dec("1"), Fee: dec("0.000031"), FeeAsset: "BTC",
		Time: from.Add(70 * time.Minute)})
	res, err := backfill.Run(ctx, backfill.Config{DB: db, Venue: v, Account: acct, Symbols: []string{"ETHBTC", "ETHUSDT"},
		From: from, To: from.Add(4 * time.Hour), OpeningEquity: dec("10000")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Valuation != "USDT" {
		t.Fatalf("valuation %q, want USDT (the stable quote of the account's symbols)", res.Valuation)
	}
	fills, err := db.Fills(ctx, store.FillQuery{AccountID: acct.ID})
	if err != nil {
		t.Fatal(err)
	}
	for h := 1; h < 4; h++ {
		at := from.Add(time.Duration(h) * time.Hour)
		var trades []tradecsv.Trade
		for _, f := range fills {
			if !f.At.After(at) {
				trades = append(trades, tradecsv.Trade{Time: f.At, Symbol: f.Symbol, Side: venue.Side(f.Side), Price: f.Price,
					Quantity: f.Quantity, Fee: f.Fee, FeeAsset: f.FeeAsset, ID: f.TradeID})
			}
		}
		marks := map[string]pnl.Decimal{"ETHUSDT": v.klines["ETHUSDT"][h].Open, "ETHBTC": v.klines["ETHBTC"][h].Open}
		rep, err := pnl.Compute(trades, pnl.AvgCost, marks, nil)
		if err != nil {
			t.Fatal(err)
		}
		var usdt, btc pnl.QuoteTotal
		for _, q := range rep.TotalsByQuote {
			switch q.Quote {
			case "USDT":
				usdt = q
			case "BTC":
				btc = q
			}
		}
		btcusdt := v.klines["BTCUSDT"][h].Open
		wantNet := usdt.NetPnL.Add(btc.NetPnL.Mul(btcusdt))
		sum := onePoint(t, db, "account:mix", "", at)
		if !sum.Net.Equal(wantNet) || !sum.Equity.Equal(dec("10000").Add(wantNet)) || sum.Partial {
			t.Errorf("%s: sum row net %s equity %s partial %v; want net %s USDT (%s USDT + %s BTC × %s)", at.Format("15:04"),
				sum.Net, sum.Equity, sum.Partial, wantNet, usdt.NetPnL, btc.NetPnL, btcusdt)
		}
		if raw := usdt.NetPnL.Add(btc.NetPnL); sum.Net.Equal(raw) {
			t.Errorf("%s: sum row net %s is USDT + BTC added as one unit", at.Format("15:04"), raw)
		}
		if !sum.Net.Equal(sum.Realized.Sub(sum.Fees).Add(sum.Unrealized)) {
			t.Errorf("%s: converted sum row breaks net = realized − fees + unrealized: %+v", at.Format("15:04"), sum)
		}
		for _, q := range []pnl.QuoteTotal{usdt, btc} {
			p := onePoint(t, db, "account:mix", backfill.QuoteRow(q.Quote), at)
			if !p.Net.Equal(q.NetPnL) || !p.Realized.Equal(q.RealizedPnL) || !p.Fees.Equal(q.FeesQuote) {
				t.Errorf("%s: %s row %+v, want the exact %s sums %+v", at.Format("15:04"), q.Quote, p, q.Quote, q)
			}
		}
	}
}

// onePoint reads the point of scope and symbol at exactly at.
func onePoint(t *testing.T, db *store.DB, scope, symbol string, at time.Time) store.PnLPoint {
	t.Helper()
	ps, err := db.PnLPoints(context.Background(), store.PnLPointQuery{Scope: scope, Symbol: symbol, Source: backfill.SourceBackfill,
		From: at, To: at.Add(time.Microsecond)})
	if err != nil || len(ps) != 1 {
		t.Fatalf("point %s/%q at %s: %v, %v", scope, symbol, at.Format(time.RFC3339), ps, err)
	}
	return ps[0]
}

// TestSumRowsWithoutConversionPrice: with no BTCUSDT market the BTC amounts
// cannot be valued in USDT; the sum row leaves them out and says partial,
// rather than adding them as if they were USDT.
func TestSumRowsWithoutConversionPrice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(t)
	acct := mustAccount(t, db, "mix", "mem")
	v := newMemVenue()
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	v.setHourly("ETHUSDT", from, []venue.Decimal{dec("2000"), dec("2100")})
	v.setHourly("ETHBTC", from, []venue.Decimal{dec("0.03"), dec("0.031")})
	v.addTrade(venue.Trade{Symbol: "ETHUSDT", Side: venue.Buy, Price: dec("2000"), Quantity: dec("1"), Time: from.Add(time.Minute)})
	v.addTrade(venue.Trade{Symbol: "ETHBTC", Side: venue.Buy, Price: dec("0.03"), Quantity: dec("1"), Time: from.Add(2 * time.Minute)})
	if _, err := backfill.Run(ctx, backfill.Config{DB: db, Venue: v, Account: acct, Symbols: []string{"ETHBTC", "ETHUSDT"},
		From: from, To: from.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	at := from.Add(time.Hour)
	sum := onePoint(t, db, "account:mix", "", at)
	// ETHUSDT: 1 × (2100 − 2000) = 100 USDT; ETHBTC's 0.001 BTC is left out.
	if !sum.Partial || !sum.Net.Equal(dec("100")) {
		t.Fatalf("sum row %+v: want partial with net 100 (USDT only)", sum)
	}
	if p := onePoint(t, db, "account:mix", backfill.QuoteRow("BTC"), at); !p.Net.Equal(dec("0.001")) {
		t.Fatalf("BTC row %+v, want net 0.001 BTC", p)
	}
}
