package portfolio_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestGroupsMatchModel drives the engine with a seeded random stream of
// ticks (including a market's first price, which re-routes), balance events,
// resyncs, ratio changes, failed wallet queries, account metadata changes
// (venue, tags, duplicates), account removal and clock jumps that make
// prices stale, and after every step compares the incremental group totals
// (Groups) with a from-scratch recomputation: values against an independent
// model of the holdings, values and every flag against Snapshot, which sums
// the lines. Every few steps it also checks that a client applying the
// GroupsSince deltas holds exactly the full breakdown.
func TestGroupsMatchModel(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { groupsModel(t, seed, 1500) })
	}
}

func groupsModel(t *testing.T, seed uint64, steps int) {
	tb := setup(t, portfolio.Config{StaleAfter: time.Minute})
	p := tb.p
	markets := []venue.Symbol{
		sym("BTCUSDT", "BTC", "USDT"), sym("ETHUSDT", "ETH", "USDT"), sym("XRPBTC", "XRP", "BTC"),
		sym("ADAETH", "ADA", "ETH"), sym("USDTTRY", "USDT", "TRY"), sym("BNBUSDT", "BNB", "USDT"),
		sym("SOLBNB", "SOL", "BNB"), sym("LTCUSDT", "LTC", "USDT"), sym("ZZZBTC", "ZZZ", "BTC"),
	}
	if err := p.RegisterMarkets("binance", markets); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	last := map[string]venue.Decimal{}
	inverses := []string{"2", "4", "5", "8", "10", "20", "40", "50"}
	tick := func(m string) {
		pr := fmt.Sprintf("%d.%04d", rng.IntN(1000)+1, rng.IntN(10000))
		if m == "USDTTRY" {
			pr = inverses[rng.IntN(len(inverses))]
		}
		if err := p.Tick(venue.PriceTick{Symbol: m, Price: d(pr), Time: tb.clk.Now()}); err != nil {
			t.Fatal(err)
		}
		last[m] = d(pr)
	}
	// LTCUSDT gets its first price mid-stream; ZZZBTC never does (ZZZ stays
	// unpriced), so only the first seven are ticked now.
	for _, m := range markets[:7] {
		tick(m.Name)
	}
	price := func(asset string) (venue.Decimal, bool) {
		switch asset {
		case "USDT":
			return d("1"), true
		case "BTC", "ETH", "BNB", "LTC":
			pr, ok := last[asset+"USDT"]
			return pr, ok
		case "XRP":
			return last["XRPBTC"].Mul(last["BTCUSDT"]), true
		case "ADA":
			return last["ADAETH"].Mul(last["ETHUSDT"]), true
		case "SOL":
			return last["SOLBNB"].Mul(last["BNBUSDT"]), true
		case "TRY":
			return d("1").MustDiv(last["USDTTRY"]), true
		}
		return venue.Decimal{}, false // ZZZ
	}
	assets := []string{"USDT", "BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "TRY", "LTC", "ZZZ"}
	ratios := map[string]venue.Decimal{} // acct/asset → effective ratio, refreshed from the engine
	ratio := func(acct, asset string) venue.Decimal {
		if r, ok := ratios[acct+"/"+asset]; ok {
			return r
		}
		views := must(p.Ratios(acct))
		for _, v := range views {
			ratios[acct+"/"+v.Asset] = v.Ratio
		}
		return ratios[acct+"/"+asset]
	}
	type meta struct {
		venue string
		tags  []string
	}
	accts := []string{"a", "b", "c", "d", "e", "f"}
	venues := []string{"binance", "paper"}
	tagPool := []string{"core", "hedge", "x"}
	live := map[string]*meta{}
	randMeta := func() *meta {
		m := &meta{venue: venues[rng.IntN(len(venues))]}
		for _, tg := range tagPool {
			if rng.IntN(2) == 0 {
				m.tags = append(m.tags, tg)
			}
		}
		if len(m.tags) > 0 && rng.IntN(4) == 0 {
			m.tags = append(m.tags, m.tags[0]) // a duplicate tag counts once
		}
		return m
	}
	upsert := func(id string, m *meta) {
		tb.account(t, portfolio.Account{ID: id, Venue: m.venue, Tags: m.tags})
		live[id] = m
	}
	for _, a := range accts {
		upsert(a, randMeta())
	}
	wallets := []venue.Wallet{venue.WalletSpot, venue.WalletFunding, venue.WalletFutures}
	type key struct {
		acct   string
		wallet venue.Wallet
		asset  string
	}
	held := map[key]portfolio.Holding{}
	qty := func() venue.Decimal { return d(fmt.Sprintf("%d.%03d", rng.IntN(100), rng.IntN(1000))) }

	var mirror map[portfolio.GroupRef]string
	var cursor uint64

	for step := range steps {
		acct, w, asset := accts[rng.IntN(len(accts))], wallets[rng.IntN(len(wallets))], assets[rng.IntN(len(assets))]
		k := key{acct, w, asset}
		_, exists := live[acct]
		switch op := rng.IntN(100); {
		case !exists:
			if op < 30 {
				upsert(acct, randMeta())
			}
		case op < 40:
			m := markets[rng.IntN(len(markets)-1)].Name // never ZZZBTC
			if m == "LTCUSDT" && step < steps/3 {
				m = "BTCUSDT"
			}
			tick(m)
		case op < 55:
			h := portfolio.Holding{Free: qty(), Locked: qty()}
			if w == venue.WalletFutures && rng.IntN(2) == 0 {
				h.Borrowed = qty().Mul(d("3"))
			}
			if rng.IntN(8) == 0 {
				h = portfolio.Holding{} // the line goes away
			}
			if err := p.SetBalance(acct, venue.Balance{Wallet: w, Asset: asset, Free: h.Free, Locked: h.Locked, Borrowed: h.Borrowed}); err != nil {
				t.Fatal(err)
			}
			held[k] = h
		case op < 63:
			dq := qty().Sub(qty())
			if err := p.AddBalance(acct, venue.Balance{Wallet: w, Asset: asset, Free: dq}); err != nil {
				t.Fatal(err)
			}
			h := held[k]
			h.Free = h.Free.Add(dq)
			held[k] = h
		case op < 70:
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
		case op < 75:
			r := fmt.Sprintf("0.%02d", rng.IntN(100))
			target := ""
			if rng.IntN(2) == 0 {
				target = acct
			}
			if asset == "ZZZ" || asset == "LTC" && step < steps/3 {
				asset = "BTC"
			}
			if _, err := p.SetRatios("model", target, []portfolio.RatioInput{{Asset: asset, Ratio: r}}); err != nil {
				t.Fatal(err)
			}
			clear(ratios)
		case op < 79:
			if err := p.MarkWalletUnknown(acct, w, "timeout"); err != nil {
				t.Fatal(err)
			}
		case op < 81:
			if err := p.MarkAccountUnknown(acct, "down"); err != nil {
				t.Fatal(err)
			}
		case op < 87:
			upsert(acct, randMeta())
		case op < 89:
			if err := p.RemoveAccount(acct); err != nil {
				t.Fatal(err)
			}
			delete(live, acct)
			for kk := range held {
				if kk.acct == acct {
					delete(held, kk)
				}
			}
			clear(ratios)
		case op < 93:
			tb.clk.Advance(time.Duration(rng.IntN(40)) * time.Second)
		default:
			// a read in the middle of a burst: later checks see the
			// deltas accumulated across it
			_ = p.Groups()
		}

		bd := p.Groups()
		snap := p.Snapshot()
		where := fmt.Sprintf("seed %d step %d", seed, step)
		sameGroupRows(t, where+" by_account", bd.ByAccount, snap.ByAccount)
		sameGroupRows(t, where+" by_venue", bd.ByVenue, snap.ByVenue)
		sameGroupRows(t, where+" by_wallet", bd.ByWallet, snap.ByWallet)
		sameGroupRows(t, where+" by_tag", bd.ByTag, snap.ByTag)
		sameAssetRows(t, where+" by_asset", bd.ByAsset, snap.ByAsset)
		if !bd.Total.Value.Equal(snap.Total.Value) || bd.Version != snap.Version {
			t.Fatalf("%s: breakdown total %s at v%d, snapshot %s at v%d", where, bd.Total.Value, bd.Version, snap.Total.Value, snap.Version)
		}

		// The independent model: values and collateral values by group.
		type vc struct{ v, c venue.Decimal }
		model := map[portfolio.GroupRef]vc{}
		for k, h := range held {
			pr, ok := price(k.asset)
			if !ok || h == (portfolio.Holding{}) {
				continue
			}
			q := h.Quantity()
			v, c := q.Mul(pr), q.Mul(pr)
			if q.Sign() > 0 {
				c = q.Mul(ratio(k.acct, k.asset)).Mul(pr)
			}
			m := live[k.acct]
			refs := []portfolio.GroupRef{{Kind: portfolio.GroupAccount, Key: k.acct}, {Kind: portfolio.GroupVenue, Key: m.venue}, {Kind: portfolio.GroupWallet, Key: string(k.wallet)}, {Kind: portfolio.GroupAsset, Key: k.asset}}
			seen := map[string]bool{}
			for _, tg := range m.tags {
				if !seen[tg] {
					seen[tg] = true
					refs = append(refs, portfolio.GroupRef{Kind: portfolio.GroupTag, Key: tg})
				}
			}
			for _, r := range refs {
				x := model[r]
				model[r] = vc{x.v.Add(v), x.c.Add(c)}
			}
		}
		got := rowsOf(&bd)
		for r, tot := range got {
			want := model[r]
			if !tot.Value.Equal(want.v) || !tot.CollateralValue.Equal(want.c) {
				t.Fatalf("%s: %s %s: value %s collateral %s, model %s %s", where, r.Kind, r.Key, tot.Value, tot.CollateralValue, want.v, want.c)
			}
		}
		for r, want := range model {
			if _, ok := got[r]; !ok && (!want.v.IsZero() || !want.c.IsZero()) {
				t.Fatalf("%s: %s %s missing, model %s", where, r.Kind, r.Key, want.v)
			}
		}

		// A client that applies deltas holds the full breakdown.
		if mirror == nil || rng.IntN(2) == 0 {
			delta := p.GroupsSince(cursor)
			if mirror == nil {
				if !delta.Full {
					t.Fatalf("%s: first read is not full", where)
				}
				mirror = map[portfolio.GroupRef]string{}
			}
			for r, tot := range rowsOf(&delta) {
				mirror[r] = totalsString(tot)
			}
			for _, r := range delta.Removed {
				delete(mirror, r)
			}
			cursor = delta.Cursor
			full := rowsOf(&bd)
			if len(full) != len(mirror) {
				t.Fatalf("%s: mirror has %d groups, breakdown %d", where, len(mirror), len(full))
			}
			// bd was read before delta but nothing changed in between
			// except staleness, which only the clock moves.
			for r, tot := range full {
				if mirror[r] != totalsString(tot) {
					t.Fatalf("%s: mirror %s %s = %s, breakdown %s", where, r.Kind, r.Key, mirror[r], totalsString(tot))
				}
			}
		}
	}
}

func rowsOf(b *portfolio.Breakdown) map[portfolio.GroupRef]portfolio.Totals {
	out := map[portfolio.GroupRef]portfolio.Totals{}
	for _, x := range []struct {
		k  portfolio.GroupKind
		gs []portfolio.Group
	}{{portfolio.GroupAccount, b.ByAccount}, {portfolio.GroupVenue, b.ByVenue}, {portfolio.GroupWallet, b.ByWallet}, {portfolio.GroupTag, b.ByTag}} {
		for _, g := range x.gs {
			out[portfolio.GroupRef{Kind: x.k, Key: g.Key}] = g.Totals
		}
	}
	for _, a := range b.ByAsset {
		out[portfolio.GroupRef{Kind: portfolio.GroupAsset, Key: a.Asset}] = a.Totals
	}
	return out
}

func totalsString(t portfolio.Totals) string {
	// Value.String() normalises trailing zeros away only when they are not
	// there; compare through a canonical form.
	return fmt.Sprintf("%s|%s|%v|%v|%s|%s", canon(t.Value), canon(t.CollateralValue), t.Partial, t.IncludesStale,
		strings.Join(t.UnpricedAssets, ","), strings.Join(t.UnknownWallets, ","))
}

func canon(x venue.Decimal) string {
	s := x.String()
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func sameTotals(t *testing.T, where string, got, want portfolio.Totals) {
	t.Helper()
	if totalsString(got) != totalsString(want) {
		t.Fatalf("%s: incremental %s, from scratch %s", where, totalsString(got), totalsString(want))
	}
}

func sameGroupRows(t *testing.T, where string, got, want []portfolio.Group) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b portfolio.Group) bool { return a.Key == b.Key }) {
		keys := func(gs []portfolio.Group) (ks []string) {
			for _, g := range gs {
				ks = append(ks, g.Key)
			}
			return ks
		}
		t.Fatalf("%s: incremental groups %q, from scratch %q", where, keys(got), keys(want))
	}
	for i := range got {
		sameTotals(t, where+" "+got[i].Key, got[i].Totals, want[i].Totals)
	}
}

func sameAssetRows(t *testing.T, where string, got, want []portfolio.AssetTotal) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d incremental assets, %d from scratch", where, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Asset != w.Asset || !g.Quantity.Equal(w.Quantity) || (g.Price == nil) != (w.Price == nil) || g.Price != nil && !g.Price.Equal(*w.Price) || g.Stale != w.Stale {
			t.Fatalf("%s: incremental %+v, from scratch %+v", where, g, w)
		}
		sameTotals(t, where+" "+g.Asset, g.Totals, w.Totals)
	}
}

// TestTickTouchesOnlyHoldingGroups: after a tick, GroupsSince lists exactly
// the groups that hold the ticked asset, with their new totals.
func TestTickTouchesOnlyHoldingGroups(t *testing.T) {
	t.Parallel()
	tb := setup(t, portfolio.Config{})
	p := tb.p
	if err := p.RegisterMarkets("binance", []venue.Symbol{sym("BTCUSDT", "BTC", "USDT"), sym("ETHUSDT", "ETH", "USDT")}); err != nil {
		t.Fatal(err)
	}
	tb.tick(t, "BTCUSDT", "60000")
	tb.tick(t, "ETHUSDT", "3000")
	tb.account(t, portfolio.Account{ID: "a", Venue: "binance", Tags: []string{"core"}})
	tb.account(t, portfolio.Account{ID: "b", Venue: "paper", Tags: []string{"hedge"}})
	tb.resync(t, "a", venue.WalletSpot, bal("BTC", "2", "", ""))
	tb.resync(t, "b", venue.WalletFunding, bal("ETH", "10", "", ""))
	full := p.Groups()
	if !full.Full || len(full.ByAccount) != 2 || len(full.ByTag) != 2 {
		t.Fatalf("full breakdown %+v", full)
	}
	tb.tick(t, "BTCUSDT", "61000")
	tb.tick(t, "BTCUSDT", "62000") // a burst: one revaluation per group
	delta := p.GroupsSince(full.Cursor)
	keys := func(gs []portfolio.Group) (ks []string) {
		for _, g := range gs {
			ks = append(ks, g.Key)
		}
		return ks
	}
	for what, got := range map[string][]string{
		"account": keys(delta.ByAccount), "venue": keys(delta.ByVenue), "wallet": keys(delta.ByWallet), "tag": keys(delta.ByTag),
	} {
		want := map[string]string{"account": "a", "venue": "binance", "wallet": "spot", "tag": "core"}[what]
		if !slices.Equal(got, []string{want}) {
			t.Errorf("changed %s groups %q, want [%s]", what, got, want)
		}
	}
	if len(delta.ByAsset) != 1 || delta.ByAsset[0].Asset != "BTC" {
		t.Errorf("changed assets %+v, want BTC", delta.ByAsset)
	}
	eq(t, "account a", delta.ByAccount[0].Value, d("124000"))
	eq(t, "collateral a", delta.ByAccount[0].CollateralValue, d("117800"))
	if again := p.GroupsSince(delta.Cursor); again.Changed() != 0 {
		t.Errorf("nothing changed, delta lists %d groups", again.Changed())
	}

	// A failed query flags the account's groups, and its asset's row.
	if err := p.MarkWalletUnknown("b", venue.WalletFunding, "timeout"); err != nil {
		t.Fatal(err)
	}
	delta = p.GroupsSince(delta.Cursor)
	if len(delta.ByAccount) != 1 || !delta.ByAccount[0].Partial || !slices.Equal(delta.ByAccount[0].UnknownWallets, []string{"b/funding"}) {
		t.Errorf("unknown wallet: %+v", delta.ByAccount)
	}
	if len(delta.ByAsset) != 1 || delta.ByAsset[0].Asset != "ETH" || !delta.ByAsset[0].Partial {
		t.Errorf("unknown wallet, assets: %+v", delta.ByAsset)
	}

	// Staleness is a flag of time: a read after the threshold reports it.
	tb.clk.Advance(2 * time.Minute)
	delta = p.GroupsSince(delta.Cursor)
	if len(delta.ByAccount) != 2 || !delta.ByAccount[0].IncludesStale || !delta.ByAccount[1].IncludesStale {
		t.Errorf("stale: %+v", delta.ByAccount)
	}

	// A tag change moves the account; the old tag's row is removed.
	tb.account(t, portfolio.Account{ID: "b", Venue: "paper", Tags: []string{"core"}})
	delta = p.GroupsSince(delta.Cursor)
	if !slices.Equal(delta.Removed, []portfolio.GroupRef{{Kind: portfolio.GroupTag, Key: "hedge"}}) {
		t.Errorf("removed %+v, want tag hedge", delta.Removed)
	}
	if len(delta.ByTag) != 1 || delta.ByTag[0].Key != "core" {
		t.Fatalf("tags %+v", delta.ByTag)
	}
	eq(t, "tag core", delta.ByTag[0].Value, d("154000"))
}
