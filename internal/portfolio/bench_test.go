package portfolio_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// benchDesk builds 1,000 accounts × 50 assets: USDT, BTC, ETH, BNB, 31
// assets quoted in USDT and 15 only quoted in BTC (cross route), every
// account holding every asset in spot (50,000 lines). It returns the
// portfolio and a stream of ticks over all 49 markets.
func benchDesk(tb testing.TB) (*portfolio.Portfolio, []venue.PriceTick) {
	tb.Helper()
	p, err := portfolio.New(portfolio.Config{Clock: clock.NewFake(t0), StaleAfter: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	assets := []string{"USDT", "BTC", "ETH", "BNB"}
	var markets []venue.Symbol
	for _, a := range assets[1:] {
		markets = append(markets, sym(a+"USDT", a, "USDT"))
	}
	for i := range 31 {
		a := fmt.Sprintf("D%02d", i)
		assets = append(assets, a)
		markets = append(markets, sym(a+"USDT", a, "USDT"))
	}
	for i := range 15 {
		a := fmt.Sprintf("X%02d", i)
		assets = append(assets, a)
		markets = append(markets, sym(a+"BTC", a, "BTC"))
	}
	if err := p.RegisterMarkets("binance", markets); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	price := func(m venue.Symbol) venue.Decimal {
		if m.Quote == "BTC" {
			return d(fmt.Sprintf("0.%08d", rng.IntN(99_999_999)+1))
		}
		return d(fmt.Sprintf("%d.%04d", rng.IntN(60000)+1, rng.IntN(10000)))
	}
	for _, m := range markets {
		if err := p.Tick(venue.PriceTick{Symbol: m.Name, Price: price(m), Time: t0}); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range 1000 {
		id := fmt.Sprintf("acct-%04d", i)
		if err := p.UpsertAccount(portfolio.Account{ID: id, Venue: "binance", Tags: []string{fmt.Sprintf("desk-%d", i%10)}}); err != nil {
			tb.Fatal(err)
		}
		bals := make([]venue.Balance, 0, len(assets))
		for _, a := range assets {
			bals = append(bals, venue.Balance{Wallet: venue.WalletSpot, Asset: a, Free: d(fmt.Sprintf("%d.%06d", rng.IntN(1000), rng.IntN(1_000_000)))})
		}
		if _, err := p.ResyncWallet(id, venue.WalletSpot, bals); err != nil {
			tb.Fatal(err)
		}
	}
	ticks := make([]venue.PriceTick, 1<<14)
	for i := range ticks {
		m := markets[rng.IntN(len(markets))]
		ticks[i] = venue.PriceTick{Symbol: m.Name, Price: price(m)}
	}
	return p, ticks
}

// BenchmarkTick is tick-to-updated-grand-total: one op is one Tick call,
// after which Total().Value is current.
func BenchmarkTick(b *testing.B) {
	p, ticks := benchDesk(b)
	at := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		tk := ticks[i&(len(ticks)-1)]
		tk.Time = at.Add(time.Duration(i))
		if err := p.Tick(tk); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
	checkBenchTotal(b, p)
}

// BenchmarkTickSubscribed is BenchmarkTick with one subscriber that never
// reads, so every tick takes the coalescing path.
func BenchmarkTickSubscribed(b *testing.B) {
	p, ticks := benchDesk(b)
	_, cancel := p.Subscribe()
	defer cancel()
	at := t0.Add(time.Second)
	b.ResetTimer()
	for i := range b.N {
		tk := ticks[i&(len(ticks)-1)]
		tk.Time = at.Add(time.Duration(i))
		if err := p.Tick(tk); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}

// BenchmarkTickLatency times every tick on its own and reports the median
// and 99th percentile tick-to-updated-total latency.
func BenchmarkTickLatency(b *testing.B) {
	p, ticks := benchDesk(b)
	at := t0.Add(time.Second)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		tk := ticks[i&(len(ticks)-1)]
		tk.Time = at.Add(time.Duration(i))
		start := time.Now()
		if err := p.Tick(tk); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
}

// BenchmarkSnapshot is the lazy full breakdown over 50,000 lines.
func BenchmarkSnapshot(b *testing.B) {
	p, _ := benchDesk(b)
	b.ResetTimer()
	for range b.N {
		_ = p.Snapshot()
	}
}

// checkBenchTotal proves the incremental total equals the sum of the lines
// after the stream.
func checkBenchTotal(b *testing.B, p *portfolio.Portfolio) {
	b.Helper()
	s := p.Snapshot()
	var sum venue.Decimal
	for _, g := range s.ByAccount {
		sum = sum.Add(g.Value)
	}
	if !sum.Equal(s.Total.Value) {
		b.Fatalf("incremental total %s, sum of accounts %s", s.Total.Value, sum)
	}
}

// BenchmarkWarmup is start-up at exchange scale: register 1,500 markets
// (500 assets against USDT, BTC and ETH) and give each its first price,
// which re-selects routes.
func BenchmarkWarmup(b *testing.B) {
	var markets []venue.Symbol
	for i := range 500 {
		a := fmt.Sprintf("A%03d", i)
		markets = append(markets, sym(a+"USDT", a, "USDT"), sym(a+"BTC", a, "BTC"), sym(a+"ETH", a, "ETH"))
	}
	markets = append(markets, sym("BTCUSDT", "BTC", "USDT"), sym("ETHUSDT", "ETH", "USDT"), sym("ETHBTC", "ETH", "BTC"))
	for range b.N {
		p, err := portfolio.New(portfolio.Config{Clock: clock.NewFake(t0)})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.RegisterMarkets("binance", markets); err != nil {
			b.Fatal(err)
		}
		for _, m := range markets {
			if err := p.Tick(venue.PriceTick{Symbol: m.Name, Price: d("1.5"), Time: t0}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// groupDesk builds n accounts on one venue, each in one of 10 tags, holding
// BTC, ETH and USDT in spot and BTC in futures, so a BTC/USDT tick moves
// every account's totals: n account groups, the venue, two wallet kinds and
// 10 tags (n+13 groups, 2n lines).
func groupDesk(tb testing.TB, n int) *portfolio.Portfolio {
	tb.Helper()
	p, err := portfolio.New(portfolio.Config{Clock: clock.NewFake(t0), StaleAfter: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.RegisterMarkets("binance", []venue.Symbol{sym("BTCUSDT", "BTC", "USDT"), sym("ETHUSDT", "ETH", "USDT")}); err != nil {
		tb.Fatal(err)
	}
	for _, tk := range []venue.PriceTick{{Symbol: "BTCUSDT", Price: d("60000.12"), Time: t0}, {Symbol: "ETHUSDT", Price: d("3000.5"), Time: t0}} {
		if err := p.Tick(tk); err != nil {
			tb.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	q := func() venue.Decimal { return d(fmt.Sprintf("%d.%06d", rng.IntN(100), rng.IntN(1_000_000))) }
	for i := range n {
		id := fmt.Sprintf("acct-%05d", i)
		if err := p.UpsertAccount(portfolio.Account{ID: id, Venue: "binance", Tags: []string{fmt.Sprintf("desk-%d", i%10)}}); err != nil {
			tb.Fatal(err)
		}
		if _, err := p.ResyncAccount(id, []venue.Balance{
			{Wallet: venue.WalletSpot, Asset: "BTC", Free: q()}, {Wallet: venue.WalletSpot, Asset: "ETH", Free: q()},
			{Wallet: venue.WalletSpot, Asset: "USDT", Free: q()}, {Wallet: venue.WalletFutures, Asset: "BTC", Free: q()},
		}); err != nil {
			tb.Fatal(err)
		}
	}
	_ = p.Groups()
	return p
}

// btcTick is the next tick of a BTC/USDT stream that alternates prices,
// each a nanosecond after the previous one (an older tick is ignored).
func btcTick() venue.PriceTick {
	btcSeq++
	pr := [...]string{"60001.25", "59998.5", "60003.75", "60000.01"}[btcSeq&3]
	return venue.PriceTick{Symbol: "BTCUSDT", Price: d(pr), Time: t0.Add(time.Second + time.Duration(btcSeq))}
}

var btcSeq int

// BenchmarkTickGroups is the cost of one BTC/USDT tick when every account
// holds BTC:
//   - tick: Tick alone; the grand total is current, the groups' revaluation
//     is queued (O(assets routed through the market));
//   - tick+delta: Tick, then GroupsSince, which revalues every group holding
//     BTC (n+13 groups, two multiplications each) and returns the changed
//     groups' totals: the tick-to-current-group-totals latency when read
//     right after each tick, and the work the SSE publisher does per window;
//   - groups: Groups, the full breakdown read that GET /api/v1/portfolio
//     makes (no tick in between: the O(groups) build alone).
func BenchmarkTickGroups(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		p := groupDesk(b, n)
		b.Run(fmt.Sprintf("accounts=%d/tick", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := p.Tick(btcTick()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = p.Groups()
		})
		b.Run(fmt.Sprintf("accounts=%d/tick+delta", n), func(b *testing.B) {
			cursor := p.Groups().Cursor
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.Tick(btcTick()); err != nil {
					b.Fatal(err)
				}
				d := p.GroupsSince(cursor)
				if len(d.ByAccount) != n {
					b.Fatalf("%d accounts changed, want %d", len(d.ByAccount), n)
				}
				cursor = d.Cursor
			}
		})
		b.Run(fmt.Sprintf("accounts=%d/groups", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if g := p.Groups(); len(g.ByAccount) != n {
					b.Fatal(len(g.ByAccount))
				}
			}
		})
	}
}
