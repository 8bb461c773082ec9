package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func groupsEnv(t testing.TB, accounts int) (*servertest.Env, string, string) {
	t.Helper()
	env, err := servertest.NewEnv(context.Background(), "", servertest.Options{Accounts: accounts, Sessions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	base, err := env.Serve()
	if err != nil {
		t.Fatal(err)
	}
	return env, base, env.MustToken(t, auth.RoleViewer)
}

type livePortfolio struct {
	Version       uint64                 `json:"version"`
	TotalsVersion uint64                 `json:"totals_version"`
	TotalsAsOf    time.Time              `json:"totals_as_of"`
	Total         portfolio.Totals       `json:"total"`
	ByAccount     []portfolio.Group      `json:"by_account"`
	ByTag         []portfolio.Group      `json:"by_tag"`
	ByAsset       []portfolio.AssetTotal `json:"by_asset"`
	Accounts      []portfolio.AccountView
}

func getJSON(t testing.TB, url, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestPortfolioBreakdownsAreLive: right after a tick, GET /api/v1/portfolio
// serves breakdowns that include it, equal to a fresh snapshot's, while the
// accounts detail may still come from the cached snapshot.
func TestPortfolioBreakdownsAreLive(t *testing.T) {
	t.Parallel()
	env, base, token := groupsEnv(t, 4)
	var before livePortfolio
	getJSON(t, base+"/api/v1/portfolio", token, &before)
	if len(before.Accounts) != 4 || len(before.ByAccount) != 4 || before.TotalsVersion < before.Version {
		t.Fatalf("first read: %+v", before)
	}
	if err := env.Tick("BTCUSDT", "71234.5"); err != nil {
		t.Fatal(err)
	}
	var after livePortfolio
	getJSON(t, base+"/api/v1/portfolio", token, &after)
	want := env.Portfolio.Snapshot()
	if after.TotalsVersion != want.Version {
		t.Fatalf("totals at version %d, portfolio at %d", after.TotalsVersion, want.Version)
	}
	if !after.Total.Value.Equal(want.Total.Value) || after.Total.Value.Equal(before.Total.Value) {
		t.Fatalf("total %s, want %s (before the tick %s)", after.Total.Value, want.Total.Value, before.Total.Value)
	}
	for i, g := range want.ByAccount {
		got := after.ByAccount[i]
		if got.Key != g.Key || !got.Value.Equal(g.Value) || !got.CollateralValue.Equal(g.CollateralValue) || got.Partial != g.Partial {
			t.Errorf("account %s: %+v, want %+v", g.Key, got.Totals, g.Totals)
		}
	}
	if len(after.ByTag) != len(want.ByTag) || len(after.ByAsset) != len(want.ByAsset) {
		t.Errorf("tags %d assets %d, want %d %d", len(after.ByTag), len(after.ByAsset), len(want.ByTag), len(want.ByAsset))
	}
	if after.Version > after.TotalsVersion {
		t.Errorf("detail version %d newer than totals %d", after.Version, after.TotalsVersion)
	}
}

type groupsEvent struct {
	Version uint64              `json:"version"`
	Kind    portfolio.GroupKind `json:"kind"`
	Full    bool                `json:"full"`
	Groups  json.RawMessage     `json:"groups"`
	Removed []string            `json:"removed"`
	at      time.Time
	size    int
}

func (e groupsEvent) groups(t testing.TB) []portfolio.Group {
	var gs []portfolio.Group
	if err := json.Unmarshal(e.Groups, &gs); err != nil {
		t.Fatal(err)
	}
	return gs
}

// openGroups opens the portfolio stream and sends its events (of every
// name) to the returned channel: "portfolio" events as kind "".
func openGroups(t testing.TB, base, token, query string) <-chan groupsEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/portfolio/stream"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	ch := make(chan groupsEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		r := newSSEReader(resp.Body)
		for {
			name, data, err := r.next()
			if err != nil {
				return
			}
			at := time.Now() // arrival, before decoding
			var ev groupsEvent
			if name == "portfolio-groups" {
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					return
				}
			} else {
				ev.Kind = ""
			}
			ev.at, ev.size = at, len(data)
			ch <- ev
		}
	}()
	return ch
}

func nextEvent(t testing.TB, ch <-chan groupsEvent, d time.Duration) groupsEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(d):
		t.Fatal("no event")
	}
	return groupsEvent{}
}

// TestPortfolioStreamGroups: the stream starts with the grand total and a
// full event per requested kind; a balance change sends only the groups
// that hold it; a burst of ticks is coalesced to at most one event per kind
// per window, and the last one equals the current totals.
func TestPortfolioStreamGroups(t *testing.T) {
	t.Parallel()
	env, base, token := groupsEnv(t, 6)
	ch := openGroups(t, base, token, "?groups=account,tag")
	if ev := nextEvent(t, ch, 5*time.Second); ev.Kind != "" {
		t.Fatalf("first event %+v, want the portfolio total", ev)
	}
	for _, want := range []portfolio.GroupKind{portfolio.GroupAccount, portfolio.GroupTag} {
		ev := nextEvent(t, ch, 5*time.Second)
		if ev.Kind != want || !ev.Full {
			t.Fatalf("initial event %s full=%v, want full %s", ev.Kind, ev.Full, want)
		}
		if want == portfolio.GroupAccount && len(ev.groups(t)) != 6 {
			t.Fatalf("initial accounts %d", len(ev.groups(t)))
		}
	}

	// One account's balance: only its groups.
	acct := env.Portfolio.Snapshot().Accounts[2]
	if err := env.Portfolio.AddBalance(acct.ID, venue.Balance{Wallet: venue.WalletSpot, Asset: "USDT", Free: udecimal.MustParse("100")}); err != nil {
		t.Fatal(err)
	}
	var accounts, tags []portfolio.Group
	deadline := time.After(5 * time.Second)
	for accounts == nil || tags == nil {
		select {
		case ev := <-ch:
			switch ev.Kind {
			case portfolio.GroupAccount:
				accounts = ev.groups(t)
			case portfolio.GroupTag:
				tags = ev.groups(t)
			case "":
			default:
				t.Fatalf("event of kind %s, not asked for", ev.Kind)
			}
		case <-deadline:
			t.Fatalf("no group events after a balance change (accounts %v tags %v)", accounts, tags)
		}
	}
	if len(accounts) != 1 || accounts[0].Key != acct.ID || len(tags) != 1 || tags[0].Key != acct.Tags[0] {
		t.Fatalf("changed accounts %+v tags %+v, want %s and %s", accounts, tags, acct.ID, acct.Tags[0])
	}

	// A burst of 40 ticks over ~600 ms: coalesced (each window's event
	// lists every account, since every account holds BTC).
	var evs []groupsEvent
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 40 {
			if err := env.Tick("BTCUSDT", "65"+strconv.Itoa(100+i)+".5"); err != nil { // every price new
				t.Error(err)
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	<-done
	quiet := time.After(2 * server.PortfolioGroupsEvery)
collect:
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.Kind == portfolio.GroupAccount {
				evs = append(evs, ev)
			}
		case <-quiet:
			break collect
		}
	}
	if len(evs) < 2 || len(evs) > 5 {
		t.Errorf("%d account events for 40 ticks over ~600 ms, want 2..5 (one per %s window)", len(evs), server.PortfolioGroupsEvery)
	}
	// The gaps are read where the client receives the events, so one
	// event delivered late (a loaded machine: 45 ms seen, and once an event
	// held back until the next one, 30 µs before it) shortens the gap after
	// it. Uncoalesced events would come a tick apart (15 ms), every one of
	// them; so at most one gap may be under half a window.
	short := 0
	for i := 1; i < len(evs); i++ {
		if gap := evs[i].at.Sub(evs[i-1].at); gap < server.PortfolioGroupsEvery/2 {
			short++
			t.Logf("account events %d and %d only %s apart", i-1, i, gap)
		}
	}
	if short > 1 {
		t.Errorf("%d of %d gaps between account events under %s: not coalesced", short, len(evs)-1, server.PortfolioGroupsEvery/2)
	}
	last := evs[len(evs)-1].groups(t)
	want := env.Portfolio.Groups().ByAccount
	if len(last) != len(want) {
		t.Fatalf("last event has %d accounts, want %d", len(last), len(want))
	}
	for i := range want {
		if last[i].Key != want[i].Key || !last[i].Value.Equal(want[i].Value) {
			t.Errorf("account %s: streamed %s, now %s", want[i].Key, last[i].Value, want[i].Value)
		}
	}
}

func TestPortfolioStreamRefusesUnknownGroupKind(t *testing.T) {
	t.Parallel()
	_, base, token := groupsEnv(t, 1)
	req, _ := http.NewRequest("GET", base+"/api/v1/portfolio/stream?groups=account,desk", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 400 || !strings.Contains(body.Error.Message, `"desk"`) {
		t.Fatalf("status %d %+v", resp.StatusCode, body)
	}
}

// BenchmarkPortfolioGroupsAge is the age of the group totals a stream
// client holds after a BTC/USDT tick, with `accounts` accounts all holding
// BTC: from Tick returning to the "portfolio-groups" account event that
// includes it arriving at one SSE client over loopback.
//   - quiet: one tick after a quiet window, sent at once (read + encode +
//     write of every account group);
//   - steady: a tick every 5 ms for the run; each tick's age is measured to
//     the first event at or after its version (bounded by the window).
func BenchmarkPortfolioGroupsAge(b *testing.B) {
	for _, n := range []int{1000} {
		env, base, token := groupsEnv(b, n)
		ch := openGroups(b, base, token, "?groups=account")
		for range 2 { // total and the full account event
			nextEvent(b, ch, 10*time.Second)
		}
		b.Run("accounts="+strconv.Itoa(n)+"/quiet", func(b *testing.B) {
			var ages []time.Duration
			size := 0
			for range b.N {
				b.StopTimer()
				time.Sleep(server.PortfolioGroupsEvery + 20*time.Millisecond)
				b.StartTimer()
				if err := env.Tick("BTCUSDT", nextPrice()); err != nil {
					b.Fatal(err)
				}
				start, v := time.Now(), env.Portfolio.Version()
				for {
					ev := nextEvent(b, ch, 10*time.Second)
					if ev.Kind == portfolio.GroupAccount && ev.Version >= v {
						ages, size = append(ages, ev.at.Sub(start)), ev.size
						break
					}
				}
			}
			reportAges(b, ages)
			b.ReportMetric(float64(size), "event-bytes")
		})
		b.Run("accounts="+strconv.Itoa(n)+"/steady", func(b *testing.B) {
			type sent struct {
				v  uint64
				at time.Time
			}
			stop := make(chan struct{})
			ticks := make(chan sent, 1<<16)
			go func() {
				defer close(ticks)
				for {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					if err := env.Tick("BTCUSDT", nextPrice()); err != nil {
						return
					}
					ticks <- sent{env.Portfolio.Version(), time.Now()}
				}
			}()
			var ages []time.Duration
			var pending []sent
			events := 0
			b.ResetTimer()
			for events < b.N {
				ev := nextEvent(b, ch, 10*time.Second)
				if ev.Kind != portfolio.GroupAccount {
					continue
				}
				events++
			drain:
				for {
					select {
					case s := <-ticks:
						pending = append(pending, s)
					default:
						break drain
					}
				}
				k := 0
				for _, s := range pending {
					if s.v <= ev.Version {
						ages = append(ages, ev.at.Sub(s.at))
					} else {
						pending[k] = s
						k++
					}
				}
				pending = pending[:k]
			}
			close(stop)
			for range ticks {
			}
			reportAges(b, ages)
		})
	}
}

var priceSeq atomic.Int64

// nextPrice is a BTC price never used before in this process, so every
// tick moves every total.
func nextPrice() string { return strconv.FormatInt(60000+priceSeq.Add(1)%20000, 10) + ".25" }

func reportAges(b *testing.B, ages []time.Duration) {
	if len(ages) == 0 {
		return
	}
	slices.Sort(ages)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(ages[len(ages)/2]), "p50-age-ms")
	b.ReportMetric(ms(ages[len(ages)*99/100]), "p99-age-ms")
	b.ReportMetric(ms(ages[len(ages)-1]), "max-age-ms")
}

// BenchmarkPortfolioGET is GET /api/v1/portfolio over loopback with 1,000
// accounts: "moved" ticks BTC/USDT before each request, so the live
// breakdowns are read and encoded again (the accounts detail comes from the
// cached snapshot); "unchanged" reuses the encoded breakdowns.
func BenchmarkPortfolioGET(b *testing.B) {
	env, base, token := groupsEnv(b, 1000)
	get := func() {
		req, _ := http.NewRequest("GET", base+"/api/v1/portfolio", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
	get()
	b.Run("moved", func(b *testing.B) {
		for range b.N {
			if err := env.Tick("BTCUSDT", nextPrice()); err != nil {
				b.Fatal(err)
			}
			get()
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		for range b.N {
			get()
		}
	})
}
