package portfolio_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func d(s string) venue.Decimal { return udecimal.MustParse(s) }

func sym(name, base, quote string) venue.Symbol {
	return venue.Symbol{Name: name, Base: base, Quote: quote}
}

type testBundle struct {
	p   *portfolio.Portfolio
	clk *clock.Fake
}

func setup(t *testing.T, cfg portfolio.Config) *testBundle {
	t.Helper()
	clk := clock.NewFake(t0)
	cfg.Clock = clk
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = time.Minute
	}
	p, err := portfolio.New(cfg)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return &testBundle{p: p, clk: clk}
}

func (tb *testBundle) tick(t *testing.T, symbol, price string) {
	t.Helper()
	if err := tb.p.Tick(venue.PriceTick{Symbol: symbol, Price: d(price), Time: tb.clk.Now()}); err != nil {
		t.Fatalf("tick %s %s: %v", symbol, price, err)
	}
}

func (tb *testBundle) account(t *testing.T, a portfolio.Account) {
	t.Helper()
	if err := tb.p.UpsertAccount(a); err != nil {
		t.Fatalf("upsert account %s: %v", a.ID, err)
	}
}

func (tb *testBundle) resync(t *testing.T, acct string, w venue.Wallet, bals ...venue.Balance) []portfolio.Drift {
	t.Helper()
	for i := range bals {
		bals[i].Wallet = w
	}
	drift, err := tb.p.ResyncWallet(acct, w, bals)
	if err != nil {
		t.Fatalf("resync %s/%s: %v", acct, w, err)
	}
	return drift
}

func bal(asset, free, locked, borrowed string) venue.Balance {
	b := venue.Balance{Asset: asset, Free: d(free)}
	if locked != "" {
		b.Locked = d(locked)
	}
	if borrowed != "" {
		b.Borrowed = d(borrowed)
	}
	return b
}

func eq(t *testing.T, what string, got, want venue.Decimal) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: got %s, want %s", what, got, want)
	}
}

// desk is the shared scenario: three accounts on two venues, spot, funding
// and futures wallets, cross-rate assets, an inverted pair, a stablecoin peg,
// stale prices, two unpriced assets and a failed wallet.
type refLine struct {
	acct, venue string
	tags        []string
	wallet      venue.Wallet
	asset       string
	qty         string // free + locked - borrowed, computed by hand
}

var deskLines = []refLine{
	{"a1", "binance", []string{"core", "btc"}, venue.WalletSpot, "BTC", "1.5"},
	{"a1", "binance", []string{"core", "btc"}, venue.WalletSpot, "USDT", "10000"},
	{"a1", "binance", []string{"core", "btc"}, venue.WalletSpot, "XRP", "1000"},
	{"a1", "binance", []string{"core", "btc"}, venue.WalletFunding, "USDC", "500"},
	{"a1", "binance", []string{"core", "btc"}, venue.WalletFutures, "USDT", "2000"},
	{"a1", "binance", []string{"core", "btc"}, venue.WalletFutures, "ETH", "-1"},
	{"a2", "binance", []string{"core"}, venue.WalletSpot, "ETH", "2"},
	{"a2", "binance", []string{"core"}, venue.WalletSpot, "SOL", "10"},
	{"a2", "binance", []string{"core"}, venue.WalletSpot, "TRY", "4000"},
	{"a2", "binance", []string{"core"}, venue.WalletSpot, "FOO", "100"},
	{"a2", "binance", []string{"core"}, venue.WalletFunding, "DOGE", "1000"},
	{"a3", "paper", nil, venue.WalletSpot, "USDT", "1000"},
	{"a3", "paper", nil, venue.WalletSpot, "BTC", "0.2"},
	{"a3", "paper", nil, venue.WalletFutures, "USDT", "300"},
}

// Hand-computed prices at t0+90s: XRP = 0.00001 × 60000, TRY = 1 ÷ 40,
// SOL = 0.25 × 600, USDC by peg.
var deskPrices = map[string]string{
	"USDT": "1", "USDC": "1", "BTC": "60000", "ETH": "3100", "XRP": "0.6",
	"TRY": "0.025", "SOL": "150", "BNB": "600",
}

var deskRatios = map[string]string{
	"USDT": "1", "USDC": "1", "BTC": "0.95", "ETH": "0.95", "XRP": "0.5",
	"TRY": "0.5", "SOL": "0.5", "DOGE": "0.5", "FOO": "0",
}

func setupDesk(t *testing.T) *testBundle {
	t.Helper()
	tb := setup(t, portfolio.Config{})
	p := tb.p
	if err := p.RegisterMarkets("binance", []venue.Symbol{
		sym("BTCUSDT", "BTC", "USDT"), sym("ETHUSDT", "ETH", "USDT"), sym("ETHBTC", "ETH", "BTC"),
		sym("XRPBTC", "XRP", "BTC"), sym("USDTTRY", "USDT", "TRY"), sym("BNBUSDT", "BNB", "USDT"),
		sym("SOLBNB", "SOL", "BNB"), sym("DOGEUSDT", "DOGE", "USDT"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.RegisterMarkets("paper", []venue.Symbol{sym("BTCUSDT", "BTC", "USDT")}); err != nil {
		t.Fatal(err)
	}
	tb.account(t, portfolio.Account{ID: "a1", Name: "Main", Venue: "binance", Tags: []string{"core", "btc"}})
	tb.account(t, portfolio.Account{ID: "a2", Name: "Alt", Venue: "binance", Tags: []string{"core"}})
	tb.account(t, portfolio.Account{ID: "a3", Name: "Paper", Venue: "paper"})

	for _, s := range [][2]string{{"BTCUSDT", "50000"}, {"ETHUSDT", "3000"}, {"ETHBTC", "0.06"}, {"XRPBTC", "0.00001"},
		{"USDTTRY", "40"}, {"BNBUSDT", "600"}, {"SOLBNB", "0.25"}} {
		tb.tick(t, s[0], s[1])
	}
	tb.resync(t, "a1", venue.WalletSpot, bal("BTC", "1", "0.5", ""), bal("USDT", "10000", "", ""), bal("XRP", "1000", "", ""))
	tb.resync(t, "a1", venue.WalletFunding, bal("USDC", "500", "", ""))
	tb.resync(t, "a1", venue.WalletFutures, bal("USDT", "2000", "", ""), bal("ETH", "0", "", "1"))
	tb.resync(t, "a2", venue.WalletSpot, bal("ETH", "2", "", ""), bal("SOL", "10", "", ""), bal("TRY", "4000", "", ""), bal("FOO", "100", "", ""))
	tb.resync(t, "a2", venue.WalletFunding, bal("DOGE", "1000", "", ""))
	tb.resync(t, "a3", venue.WalletSpot, bal("USDT", "1000", "", ""), bal("BTC", "0.2", "", ""))
	tb.resync(t, "a3", venue.WalletFutures, bal("USDT", "300", "", ""))
	if err := p.MarkWalletUnknown("a3", venue.WalletFutures, "futures balance: unavailable: 503"); err != nil {
		t.Fatal(err)
	}

	// 90 s later everything but XRPBTC and SOLBNB is fresh again.
	tb.clk.Advance(90 * time.Second)
	for _, s := range [][2]string{{"BTCUSDT", "60000"}, {"ETHUSDT", "3100"}, {"ETHBTC", "0.05"}, {"USDTTRY", "40"}, {"BNBUSDT", "600"}} {
		tb.tick(t, s[0], s[1])
	}
	return tb
}

// expect computes totals by brute force over deskLines for the lines keep
// selects.
func expect(keep func(refLine) bool, ratio func(refLine) string) portfolio.Totals {
	var tot portfolio.Totals
	unpriced := map[string]bool{}
	for _, l := range deskLines {
		if !keep(l) {
			continue
		}
		price, ok := deskPrices[l.asset]
		if !ok {
			unpriced[l.asset] = true
			continue
		}
		v := d(l.qty).Mul(d(price))
		tot.Value = tot.Value.Add(v)
		if d(l.qty).Sign() < 0 {
			tot.CollateralValue = tot.CollateralValue.Add(v)
		} else {
			tot.CollateralValue = tot.CollateralValue.Add(v.Mul(d(ratio(l))))
		}
		if l.asset == "XRP" || l.asset == "SOL" {
			tot.IncludesStale = true
		}
		if l.acct == "a3" && l.wallet == venue.WalletFutures {
			tot.UnknownWallets = []string{"a3/futures-usdm"}
		}
	}
	tot.UnpricedAssets = slices.Sorted(func(y func(string) bool) {
		for a := range unpriced {
			if !y(a) {
				return
			}
		}
	})
	tot.Partial = len(tot.UnpricedAssets) > 0 || len(tot.UnknownWallets) > 0
	return tot
}

func defaultRatio(l refLine) string { return deskRatios[l.asset] }

func checkTotals(t *testing.T, what string, got, want portfolio.Totals) {
	t.Helper()
	eq(t, what+" value", got.Value, want.Value)
	eq(t, what+" collateral", got.CollateralValue, want.CollateralValue)
	if got.Partial != want.Partial || got.IncludesStale != want.IncludesStale {
		t.Errorf("%s flags: got partial=%v stale=%v, want partial=%v stale=%v", what, got.Partial, got.IncludesStale, want.Partial, want.IncludesStale)
	}
	if !slices.Equal(got.UnpricedAssets, want.UnpricedAssets) || !slices.Equal(got.UnknownWallets, want.UnknownWallets) {
		t.Errorf("%s: got unpriced %q unknown %q, want %q %q", what, got.UnpricedAssets, got.UnknownWallets, want.UnpricedAssets, want.UnknownWallets)
	}
}

func TestDeskTotals(t *testing.T) {
	t.Parallel()
	tb := setupDesk(t)
	all := func(refLine) bool { return true }
	want := expect(all, defaultRatio)
	// Cross-check the brute force with one hand sum: 1.5×60000 + 10000 +
	// 1000×0.6 + 500 + 2000 − 3100 + 2×3100 + 10×150 + 4000×0.025 + 1000 +
	// 0.2×60000 + 300.
	eq(t, "hand sum", want.Value, d("121100"))
	checkTotals(t, "total", tb.p.Total(), want)

	s := tb.p.Snapshot()
	checkTotals(t, "snapshot total", s.Total, want)
	groups := map[string]map[string]portfolio.Totals{"account": {}, "venue": {}, "wallet": {}, "tag": {}}
	for _, g := range s.ByAccount {
		groups["account"][g.Key] = g.Totals
	}
	for _, g := range s.ByVenue {
		groups["venue"][g.Key] = g.Totals
	}
	for _, g := range s.ByWallet {
		groups["wallet"][g.Key] = g.Totals
	}
	for _, g := range s.ByTag {
		groups["tag"][g.Key] = g.Totals
	}
	for _, c := range []struct {
		kind, key string
		keep      func(refLine) bool
	}{
		{"account", "a1", func(l refLine) bool { return l.acct == "a1" }},
		{"account", "a2", func(l refLine) bool { return l.acct == "a2" }},
		{"account", "a3", func(l refLine) bool { return l.acct == "a3" }},
		{"venue", "binance", func(l refLine) bool { return l.venue == "binance" }},
		{"venue", "paper", func(l refLine) bool { return l.venue == "paper" }},
		{"wallet", "spot", func(l refLine) bool { return l.wallet == venue.WalletSpot }},
		{"wallet", "funding", func(l refLine) bool { return l.wallet == venue.WalletFunding }},
		{"wallet", "futures-usdm", func(l refLine) bool { return l.wallet == venue.WalletFutures }},
		{"tag", "core", func(l refLine) bool { return slices.Contains(l.tags, "core") }},
		{"tag", "btc", func(l refLine) bool { return slices.Contains(l.tags, "btc") }},
	} {
		got, ok := groups[c.kind][c.key]
		if !ok {
			t.Errorf("no %s group %q", c.kind, c.key)
			continue
		}
		checkTotals(t, c.kind+" "+c.key, got, expect(c.keep, defaultRatio))
	}
	if len(s.ByTag) != 2 {
		t.Errorf("got %d tag groups, want 2", len(s.ByTag))
	}
	for _, at := range s.ByAsset {
		checkTotals(t, "asset "+at.Asset, at.Totals, expect(func(l refLine) bool { return l.asset == at.Asset }, defaultRatio))
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		got, err := tb.p.AccountTotal(id)
		if err != nil {
			t.Fatal(err)
		}
		checkTotals(t, "AccountTotal "+id, got, expect(func(l refLine) bool { return l.acct == id }, defaultRatio))
	}
	// Every line carries its price, route and flags.
	n := 0
	for _, a := range s.Accounts {
		for _, w := range a.Wallets {
			if w.Unknown != (a.ID == "a3" && w.Wallet == venue.WalletFutures) {
				t.Errorf("%s/%s unknown=%v", a.ID, w.Wallet, w.Unknown)
			}
			for _, ln := range w.Lines {
				n++
				if p, ok := deskPrices[ln.Asset]; ok {
					if ln.Price == nil || !ln.Price.Equal(d(p)) || ln.Value == nil {
						t.Errorf("%s/%s/%s: price %v, want %s", a.ID, w.Wallet, ln.Asset, ln.Price, p)
					}
				} else if ln.Price != nil || ln.Value != nil || ln.UnpricedReason == "" {
					t.Errorf("%s/%s/%s: want unpriced with a reason, got price %v", a.ID, w.Wallet, ln.Asset, ln.Price)
				}
			}
		}
	}
	if n != len(deskLines) {
		t.Errorf("snapshot has %d lines, want %d", n, len(deskLines))
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	tb := setupDesk(t)
	for _, c := range []struct {
		asset, price string
		route        []string
		stale        bool
		ageMS        int64
	}{
		{"USDT", "1", []string{}, false, 0},
		{"BTC", "60000", []string{"BTC/USDT"}, false, 0},
		{"ETH", "3100", []string{"ETH/USDT"}, false, 0},
		{"XRP", "0.6", []string{"XRP/BTC", "BTC/USDT"}, true, 90000},
		{"TRY", "0.025", []string{"USDT/TRY"}, false, 0},
		{"USDC", "1", []string{"USDC=USDT"}, false, 0},
		{"SOL", "150", []string{"SOL/BNB", "BNB/USDT"}, true, 90000},
	} {
		q := tb.p.Quote(c.asset)
		if q.Price == nil || !q.Price.Equal(d(c.price)) {
			t.Errorf("%s: price %v, want %s (%s)", c.asset, q.Price, c.price, q.UnpricedReason)
			continue
		}
		if !slices.Equal(q.Route, c.route) || q.Stale != c.stale || q.AgeMS != c.ageMS {
			t.Errorf("%s: route %q stale %v age %d, want %q %v %d", c.asset, q.Route, q.Stale, q.AgeMS, c.route, c.stale, c.ageMS)
		}
	}
	for _, c := range []struct{ asset, reason string }{
		{"DOGE", "no price received yet for DOGE/USDT"},
		{"FOO", "no market links FOO to USDT directly or via BTC, ETH, BNB"},
		{"NEVERSEEN", "no market links NEVERSEEN"},
	} {
		q := tb.p.Quote(c.asset)
		if q.Price != nil || !strings.Contains(q.UnpricedReason, c.reason) {
			t.Errorf("%s: got price %v reason %q, want unpriced %q", c.asset, q.Price, q.UnpricedReason, c.reason)
		}
	}
	// DOGE gets its first price: it is valued from now on, partial stays
	// only for FOO.
	tb.tick(t, "DOGEUSDT", "0.1")
	tot := tb.p.Total()
	want := expect(func(refLine) bool { return true }, defaultRatio)
	eq(t, "value after DOGE priced", tot.Value, want.Value.Add(d("100")))
	if !slices.Equal(tot.UnpricedAssets, []string{"FOO"}) {
		t.Errorf("unpriced %q, want [FOO]", tot.UnpricedAssets)
	}
	// An older tick is ignored, an unknown market refused.
	if err := tb.p.Tick(venue.PriceTick{Symbol: "BTCUSDT", Price: d("1"), Time: t0}); err != nil {
		t.Fatal(err)
	}
	if q := tb.p.Quote("BTC"); !q.Price.Equal(d("60000")) {
		t.Errorf("older tick moved BTC to %s", q.Price)
	}
	if err := tb.p.Tick(venue.PriceTick{Symbol: "NOPE", Price: d("1")}); !errors.Is(err, portfolio.ErrNotFound) {
		t.Errorf("unknown market: got %v, want ErrNotFound", err)
	}
}

func TestUSDValuation(t *testing.T) {
	t.Parallel()
	tb := setup(t, portfolio.Config{Currency: "USD"})
	if err := tb.p.RegisterMarkets("binance", []venue.Symbol{sym("BTCUSDT", "BTC", "USDT"), sym("USDTUSD", "USDT", "USD")}); err != nil {
		t.Fatal(err)
	}
	tb.tick(t, "BTCUSDT", "50000")
	check := func(asset, price string, route ...string) {
		t.Helper()
		q := tb.p.Quote(asset)
		if q.Price == nil || !q.Price.Equal(d(price)) || !slices.Equal(q.Route, route) {
			t.Errorf("%s: got %v %q (%s), want %s %q", asset, q.Price, q.Route, q.UnpricedReason, price, route)
		}
	}
	check("USDT", "1", "USDT=USD")
	check("FDUSD", "1", "FDUSD=USD")
	check("BTC", "50000", "BTC/USDT", "USDT=USD")
	// A quote says otherwise: USDT/USD now has a price and replaces the peg.
	tb.tick(t, "USDTUSD", "0.999")
	check("USDT", "0.999", "USDT/USD")
	check("BTC", "49950", "BTC/USDT", "USDT/USD")
}

func TestResyncDriftAndDeltas(t *testing.T) {
	t.Parallel()
	tb := setupDesk(t)
	drift := tb.resync(t, "a1", venue.WalletSpot, bal("BTC", "1.5", "", ""), bal("USDT", "9000", "", ""), bal("ADA", "5", "", ""))
	// BTC moved 0.5 from locked to free: quantity unchanged, still drift.
	want := []struct{ asset, delta string }{{"ADA", "5"}, {"BTC", "0"}, {"USDT", "-1000"}, {"XRP", "-1000"}}
	if len(drift) != len(want) {
		t.Fatalf("got drift %+v, want %v", drift, want)
	}
	for i, w := range want {
		if drift[i].Asset != w.asset || !drift[i].Delta.Equal(d(w.delta)) {
			t.Errorf("drift %d: got %s %s, want %s %s", i, drift[i].Asset, drift[i].Delta, w.asset, w.delta)
		}
	}
	if b := drift[1]; !b.Old.Locked.Equal(d("0.5")) || !b.New.Free.Equal(d("1.5")) || !b.New.Locked.IsZero() {
		t.Errorf("BTC drift: got old %+v new %+v", b.Old, b.New)
	}
	before := tb.p.Total().Value
	// -1000 USDT, -1000 XRP × 0.6; ADA unpriced.
	if err := tb.p.AddBalance("a1", venue.Balance{Wallet: venue.WalletSpot, Asset: "BTC", Free: d("-0.5")}); err != nil {
		t.Fatal(err)
	}
	if err := tb.p.SetBalance("a1", venue.Balance{Wallet: venue.WalletSpot, Asset: "USDT", Free: d("9500")}); err != nil {
		t.Fatal(err)
	}
	eq(t, "after deltas", tb.p.Total().Value, before.Sub(d("30000")).Add(d("500")))
	// A resync of the failed wallet clears the unknown mark.
	tb.resync(t, "a3", venue.WalletFutures, bal("USDT", "300", "", ""))
	if got := tb.p.Total().UnknownWallets; len(got) != 0 {
		t.Errorf("unknown wallets after resync: %q", got)
	}
	if err := tb.p.RemoveAccount("a2"); err != nil {
		t.Fatal(err)
	}
	if got := tb.p.Total().UnpricedAssets; !slices.Equal(got, []string{"ADA"}) {
		t.Errorf("unpriced after removing a2: %q, want [ADA]", got)
	}
	if err := tb.p.MarkAccountUnknown("a1", "balances: rate_limited"); err != nil {
		t.Fatal(err)
	}
	if got := tb.p.Total().UnknownWallets; !slices.Equal(got, []string{"a1/funding", "a1/futures-usdm", "a1/spot"}) {
		t.Errorf("unknown wallets after account failure: %q", got)
	}
	if _, err := tb.p.ResyncWallet("nope", venue.WalletSpot, nil); !errors.Is(err, portfolio.ErrNotFound) {
		t.Errorf("resync unknown account: got %v", err)
	}
}

func TestCollateralRatios(t *testing.T) {
	t.Parallel()
	tb := setupDesk(t)
	_, err := tb.p.SetRatios("alice", "", []portfolio.RatioInput{{"XRP", "1.5"}, {"BTC", "abc"}, {"NOPE", "0.2"}})
	var ve *portfolio.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("got %v, want 3 validation problems", err)
	}
	for i, want := range []string{"collateral ratio for XRP: 1.5 is outside [0,1]", `collateral ratio for BTC: "abc" is not a decimal`, "asset NOPE is unknown"} {
		if !strings.Contains(ve.Problems[i].Message, want) {
			t.Errorf("problem %d: got %q, want %q", i, ve.Problems[i].Message, want)
		}
	}
	if v := tb.p.CollateralVersion(); v != 0 {
		t.Fatalf("a refused change made version %d", v)
	}

	v1, err := tb.p.SetRatios("alice", "", []portfolio.RatioInput{{"xrp", "0.8"}})
	if err != nil {
		t.Fatal(err)
	}
	tb.clk.Advance(time.Second)
	v2, err := tb.p.SetRatios("bob", "a1", []portfolio.RatioInput{{"BTC", "0.5"}})
	if err != nil {
		t.Fatal(err)
	}
	v3, err := tb.p.SetRatios("carol", "", []portfolio.RatioInput{{"XRP", "0.7"}})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v2.Version != 2 || v3.Version != 3 || v2.Who != "bob" || v2.Account != "a1" || !v2.At.Equal(t0.Add(91*time.Second)) {
		t.Errorf("versions: %+v %+v %+v", v1, v2, v3)
	}
	if c := v3.Changes[0]; c.Asset != "XRP" || c.Old == nil || !c.Old.Equal(d("0.8")) || !c.New.Equal(d("0.7")) {
		t.Errorf("v3 change: %+v", c)
	}
	if c := v1.Changes[0]; c.Old != nil {
		t.Errorf("v1 old: got %v, want nil (default)", c.Old)
	}
	ratio := func(l refLine) string {
		switch {
		case l.asset == "XRP":
			return "0.7"
		case l.asset == "BTC" && l.acct == "a1":
			return "0.5"
		}
		return deskRatios[l.asset]
	}
	all := func(refLine) bool { return true }
	checkTotals(t, "total after overrides", tb.p.Total(), expect(all, ratio))
	checkTotals(t, "a1 after overrides", must(tb.p.AccountTotal("a1")), expect(func(l refLine) bool { return l.acct == "a1" }, ratio))

	views, err := tb.p.Ratios("a1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]portfolio.RatioView{}
	for _, v := range views {
		got[v.Asset] = v
	}
	for asset, want := range map[string]portfolio.RatioSource{"BTC": portfolio.SourceAccount, "XRP": portfolio.SourceGlobal, "SOL": portfolio.SourceDefault, "DAI": portfolio.SourceDefault, "FOO": portfolio.SourceDefault} {
		if got[asset].Source != want {
			t.Errorf("%s source %q, want %q", asset, got[asset].Source, want)
		}
	}
	eq(t, "FOO default", got["FOO"].Ratio, d("0"))
	eq(t, "DAI default", got["DAI"].Ratio, d("1"))

	// Replaying the history into a fresh portfolio gives the same totals.
	tb2 := setupDesk(t)
	if err := tb2.p.RestoreCollateral(tb.p.CollateralHistory()); err != nil {
		t.Fatal(err)
	}
	eq(t, "restored collateral", tb2.p.Total().CollateralValue, tb.p.Total().CollateralValue)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCheckOrder(t *testing.T) {
	t.Parallel()
	tb := setup(t, portfolio.Config{})
	tb.account(t, portfolio.Account{ID: "acc", Venue: "paper"})
	tb.resync(t, "acc", venue.WalletSpot, bal("USDT", "10000", "", ""))
	share := portfolio.Allocation{Session: "s-12", Account: "acc", Share: d("0.1")}
	dec, err := tb.p.CheckOrder(portfolio.OrderCheck{Allocation: share, Exposure: d("900"), Order: d("150")})
	if err != nil {
		t.Fatal(err)
	}
	want := "order 150.00 USDT would raise session s-12 exposure to 1,050.00 USDT over its allocation 1,000.00 USDT (10% of collateral 10,000.00 USDT)"
	if dec.OK || dec.Reason != want {
		t.Errorf("got ok=%v %q, want %q", dec.OK, dec.Reason, want)
	}
	if dec, _ := tb.p.CheckOrder(portfolio.OrderCheck{Allocation: share, Exposure: d("850"), Order: d("150")}); !dec.OK {
		t.Errorf("exactly at the limit refused: %q", dec.Reason)
	}
	fixed := portfolio.Allocation{Session: "s-7", Account: "acc", Fixed: d("500")}
	dec, _ = tb.p.CheckOrder(portfolio.OrderCheck{Allocation: fixed, Exposure: d("499.5"), Order: d("0.505")})
	if want := "order 0.505 USDT would raise session s-7 exposure to 500.005 USDT over its allocation 500.00 USDT (fixed)"; dec.OK || dec.Reason != want {
		t.Errorf("got %q, want %q", dec.Reason, want)
	}
	if _, err := tb.p.CheckOrder(portfolio.OrderCheck{Allocation: portfolio.Allocation{Session: "s-1", Account: "acc", Share: d("1.2")}}); !portfolio.IsValidation(err) {
		t.Errorf("share 1.2: got %v, want validation error", err)
	}
	err = tb.p.ValidateAllocations("acc", []portfolio.Allocation{
		{Session: "s-1", Share: d("0.5")}, {Session: "s-2", Fixed: d("7000")},
	})
	if want := "allocations of account acc total 12,000.00 USDT, 120% of its collateral 10,000.00 USDT: s-1 50% = 5,000.00 USDT, s-2 7,000.00 USDT"; err == nil || !strings.Contains(err.Error(), want) || !portfolio.IsValidation(err) {
		t.Errorf("got %v, want %q", err, want)
	}
	if err := tb.p.ValidateAllocations("acc", []portfolio.Allocation{{Session: "s-1", Share: d("0.5")}, {Session: "s-2", Fixed: d("5000")}}); err != nil {
		t.Errorf("exactly 100%%: %v", err)
	}
}

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0": "0.00", "1050": "1,050.00", "-1234567.5": "-1,234,567.50", "0.123": "0.123", "999": "999.00", "100000": "100,000.00"} {
		if got := portfolio.FormatMoney(d(in)); got != want {
			t.Errorf("FormatMoney(%s): got %q, want %q", in, got, want)
		}
	}
}

func TestSubscribeCoalesces(t *testing.T) {
	t.Parallel()
	tb := setupDesk(t)
	ch, cancel := tb.p.Subscribe()
	for i := range 100 {
		tb.clk.Advance(time.Millisecond)
		tb.tick(t, "BTCUSDT", "6000"+string(rune('0'+i%10)))
	}
	c := <-ch
	if c.Version != tb.p.Snapshot().Version || c.Cause != portfolio.CauseTick {
		t.Errorf("got version %d cause %s, want the latest", c.Version, c.Cause)
	}
	eq(t, "change value", c.Value, tb.p.Total().Value)
	select {
	case c := <-ch:
		t.Errorf("second pending change %d: not coalesced", c.Version)
	default:
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
}

func TestSnapshotJSON(t *testing.T) {
	t.Parallel()
	tb := setupDesk(t)
	b, err := json.Marshal(tb.p.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		AsOf  string `json:"as_of"`
		Total struct {
			Value   string `json:"value"`
			Partial bool   `json:"partial"`
		} `json:"total"`
		Accounts []struct {
			Wallets []struct {
				UpdatedAt string `json:"updated_at"`
				Lines     []struct {
					Asset          string   `json:"asset"`
					Price          *string  `json:"price"`
					Route          []string `json:"route"`
					Stale          bool     `json:"stale"`
					UnpricedReason string   `json:"unpriced_reason"`
				} `json:"lines"`
			} `json:"wallets"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decimals or times not as strings: %v\n%s", err, b)
	}
	if m.AsOf != "2025-01-02T03:05:35Z" || m.Total.Value != "121100" || !m.Total.Partial {
		t.Errorf("got as_of %q total %q partial %v", m.AsOf, m.Total.Value, m.Total.Partial)
	}
	if !strings.HasSuffix(m.Accounts[0].Wallets[0].UpdatedAt, "Z") {
		t.Errorf("updated_at %q not UTC", m.Accounts[0].Wallets[0].UpdatedAt)
	}
}
