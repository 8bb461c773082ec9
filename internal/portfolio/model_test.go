package portfolio_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestIncrementalMatchesModel drives the engine with a seeded random stream
// of ticks, balance events, resyncs and ratio changes, and after every step
// compares its incremental totals with an independent model recomputed from
// scratch.
func TestIncrementalMatchesModel(t *testing.T) {
	t.Parallel()
	tb := setup(t, portfolio.Config{StaleAfter: time.Hour})
	p := tb.p
	markets := []venue.Symbol{
		sym("BTCUSDT", "BTC", "USDT"), sym("ETHUSDT", "ETH", "USDT"), sym("XRPBTC", "XRP", "BTC"),
		sym("ADAETH", "ADA", "ETH"), sym("USDTTRY", "USDT", "TRY"), sym("BNBUSDT", "BNB", "USDT"), sym("SOLBNB", "SOL", "BNB"),
	}
	if err := p.RegisterMarkets("binance", markets); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	last := map[string]venue.Decimal{}
	// Inverted prices come from a set with exact inverses.
	inverses := []string{"2", "4", "5", "8", "10", "20", "40", "50"}
	randPrice := func(m string) string {
		if m == "USDTTRY" {
			return inverses[rng.IntN(len(inverses))]
		}
		return fmt.Sprintf("%d.%04d", rng.IntN(1000)+1, rng.IntN(10000))
	}
	tickAt := t0
	tick := func(m string) {
		tickAt = tickAt.Add(time.Millisecond)
		pr := randPrice(m)
		if err := p.Tick(venue.PriceTick{Symbol: m, Price: d(pr), Time: tickAt}); err != nil {
			t.Fatal(err)
		}
		last[m] = d(pr)
	}
	for _, m := range markets {
		tick(m.Name)
	}
	price := func(asset string) venue.Decimal {
		switch asset {
		case "USDT":
			return d("1")
		case "BTC", "ETH", "BNB":
			return last[asset+"USDT"]
		case "XRP":
			return last["XRPBTC"].Mul(last["BTCUSDT"])
		case "ADA":
			return last["ADAETH"].Mul(last["ETHUSDT"])
		case "SOL":
			return last["SOLBNB"].Mul(last["BNBUSDT"])
		case "TRY":
			return d("1").MustDiv(last["USDTTRY"])
		}
		panic(asset)
	}
	assets := []string{"USDT", "BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "TRY"}
	defaults := map[string]string{"USDT": "1", "BTC": "0.95", "ETH": "0.95", "BNB": "0.5", "XRP": "0.5", "ADA": "0.5", "SOL": "0.5", "TRY": "0.5"}
	global := map[string]string{}
	perAcct := map[string]map[string]string{}
	ratio := func(acct, asset string) venue.Decimal {
		if r, ok := perAcct[acct][asset]; ok {
			return d(r)
		}
		if r, ok := global[asset]; ok {
			return d(r)
		}
		return d(defaults[asset])
	}
	accts := []string{"a", "b", "c", "d", "e"}
	wallets := []venue.Wallet{venue.WalletSpot, venue.WalletFunding, venue.WalletFutures}
	type key struct {
		acct   string
		wallet venue.Wallet
		asset  string
	}
	held := map[key]portfolio.Holding{}
	for _, a := range accts {
		tb.account(t, portfolio.Account{ID: a, Venue: "binance"})
		perAcct[a] = map[string]string{}
	}
	qty := func() venue.Decimal { return d(fmt.Sprintf("%d.%03d", rng.IntN(100), rng.IntN(1000))) }

	for step := range 3000 {
		acct, w, asset := accts[rng.IntN(len(accts))], wallets[rng.IntN(len(wallets))], assets[rng.IntN(len(assets))]
		k := key{acct, w, asset}
		switch op := rng.IntN(10); {
		case op < 5:
			tick(markets[rng.IntN(len(markets))].Name)
		case op < 7:
			h := portfolio.Holding{Free: qty(), Locked: qty()}
			if w == venue.WalletFutures && rng.IntN(2) == 0 {
				h.Borrowed = qty().Mul(d("3"))
			}
			if err := p.SetBalance(acct, venue.Balance{Wallet: w, Asset: asset, Free: h.Free, Locked: h.Locked, Borrowed: h.Borrowed}); err != nil {
				t.Fatal(err)
			}
			held[k] = h
		case op < 8:
			dq := qty().Sub(qty())
			if err := p.AddBalance(acct, venue.Balance{Wallet: w, Asset: asset, Free: dq}); err != nil {
				t.Fatal(err)
			}
			h := held[k]
			h.Free = h.Free.Add(dq)
			held[k] = h
		case op < 9:
			var bals []venue.Balance
			for kk := range held {
				if kk.acct == acct && kk.wallet == w {
					delete(held, kk)
				}
			}
			for _, as := range assets {
				if rng.IntN(3) == 0 {
					h := portfolio.Holding{Free: qty()}
					bals = append(bals, venue.Balance{Wallet: w, Asset: as, Free: h.Free})
					held[key{acct, w, as}] = h
				}
			}
			if _, err := p.ResyncWallet(acct, w, bals); err != nil {
				t.Fatal(err)
			}
		default:
			r := fmt.Sprintf("0.%02d", rng.IntN(100))
			target := ""
			if rng.IntN(2) == 0 {
				target = acct
			}
			if _, err := p.SetRatios("model", target, []portfolio.RatioInput{{Asset: asset, Ratio: r}}); err != nil {
				t.Fatal(err)
			}
			if target == "" {
				global[asset] = r
			} else {
				perAcct[acct][asset] = r
			}
		}

		var value, coll venue.Decimal
		byAcct := map[string]venue.Decimal{}
		for k, h := range held {
			q := h.Quantity()
			v := q.Mul(price(k.asset))
			value = value.Add(v)
			byAcct[k.acct] = byAcct[k.acct].Add(v)
			if q.Sign() > 0 {
				coll = coll.Add(q.Mul(ratio(k.acct, k.asset)).Mul(price(k.asset)))
			} else {
				coll = coll.Add(v)
			}
		}
		tot := p.Total()
		if !tot.Value.Equal(value) || !tot.CollateralValue.Equal(coll) {
			t.Fatalf("step %d: got value %s collateral %s, model %s %s", step, tot.Value, tot.CollateralValue, value, coll)
		}
		if step%100 == 0 {
			for _, a := range accts {
				if got := must(p.AccountTotal(a)); !got.Value.Equal(byAcct[a]) {
					t.Fatalf("step %d: account %s value %s, model %s", step, a, got.Value, byAcct[a])
				}
			}
		}
	}
}
