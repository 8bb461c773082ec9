package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/replay"
	_ "github.com/tradeplane/tradeplane/internal/strategy/builtin"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

const sharedBTC = "../../../shared/data/BTCUSDT-1m.csv"

func d(s string) udecimal.Decimal { return udecimal.MustParse(s) }

// btc returns the first n 1 m BTCUSDT klines of the shared data.
func btc(t testing.TB, n int) []venue.Kline {
	t.Helper()
	ks, err := marketdata.ReadKlinesFile(sharedBTC)
	if err != nil {
		t.Skipf("shared data: %v", err)
	}
	if n > 0 && n < len(ks) {
		ks = ks[:n]
	}
	return ks
}

func dcaConfig(ks []venue.Kline) replay.Config {
	return replay.Config{
		Accounts: []replay.Account{{Name: "alpha", Balances: []replay.Balance{{Asset: "USDT", Amount: d("10000")}}}},
		Sessions: []replay.Session{{Name: "btc-dca", Strategy: "dca", Account: "alpha", Symbols: []string{"BTCUSDT"},
			Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"1h"}`)}},
		Sources: []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: &replay.SliceStream{Klines: ks}, Name: "btc"}},
		Fill:    replay.Fill{Slippage: d("0.0005")},
		Seed:    7,
	}
}

func TestDCAReplay(t *testing.T) {
	t.Parallel()
	res, err := replay.Run(context.Background(), dcaConfig(btc(t, 3*24*60)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(res.Summary, "", " ")
	t.Logf("%s", b)
	var buf bytes.Buffer
	res.WriteTrades(&buf)
	t.Logf("%s", buf.String()[:min(400, buf.Len())])
}

// deskConfig is a small desk over three days of real BTCUSDT bars: a DCA
// (market orders), a grid (resting limit orders, partial fills) and a
// rebalance session over two accounts, with random venue faults.
func deskConfig(t testing.TB) replay.Config {
	ks := btc(t, 3*24*60)
	return replay.Config{
		KeepJournal: true,
		Accounts: []replay.Account{
			{Name: "alpha", Balances: []replay.Balance{{Asset: "USDT", Amount: d("20000")}}},
			{Name: "beta", Balances: []replay.Balance{{Asset: "USDT", Amount: d("5000")}, {Asset: "BTC", Amount: d("0.2")}}},
		},
		Sessions: []replay.Session{
			{Name: "dca", Strategy: "dca", Account: "alpha", Symbols: []string{"BTCUSDT"},
				Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"50","interval":"1h"}`)},
			{Name: "grid", Strategy: "grid", Account: "alpha", Symbols: []string{"BTCUSDT"},
				Params: json.RawMessage(`{"symbol":"BTCUSDT","lower":"22000","upper":"24000","levels":9,"quantity":"0.01","interval":"15m"}`)},
			{Name: "rebal", Strategy: "rebalance", Account: "beta", Symbols: []string{"BTCUSDT"},
				Params: json.RawMessage(`{"quote":"USDT","weights":{"BTC":"0.5","USDT":"0.5"},"threshold":"0.02","interval":"2h"}`)},
		},
		Sources: []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: &replay.SliceStream{Klines: ks}, Name: "btc"}},
		Fill: replay.Fill{Slippage: d("0.0005"), FillShare: d("0.5"),
			Faults: paper.FaultRates{RateLimited: 0.02, ServerError: 0.02, TimeoutAfterExecution: 0.02, InsufficientFunds: 0.01}},
		TradeAll: []time.Time{ks[0].OpenTime.Add(36 * time.Hour)},
		Seed:     42,
	}
}

// outputs renders every output of a replay as bytes.
func outputs(t *testing.T, res *replay.Result) (doc, trades, jrnl []byte) {
	t.Helper()
	doc, err := json.Marshal(struct {
		S  replay.Summary
		P  any
		SS []replay.SessionResult
		E  []replay.EquityPoint
		H  any
		D  any
	}{res.Summary, res.PnL, res.Sessions, res.Equity, res.Hourly, res.Daily})
	if err != nil {
		t.Fatal(err)
	}
	var tb, jb bytes.Buffer
	if err := res.WriteTrades(&tb); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteJournal(&jb); err != nil {
		t.Fatal(err)
	}
	return doc, tb.Bytes(), jb.Bytes()
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	run := func() *replay.Result {
		res, err := replay.Run(context.Background(), deskConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(), run()
	da, ta, ja := outputs(t, a)
	db, tb, jb := outputs(t, b)
	if !bytes.Equal(da, db) {
		t.Errorf("reports differ:\n%s\n%s", da, db)
	}
	if !bytes.Equal(ta, tb) {
		t.Errorf("trade CSVs differ")
	}
	if !bytes.Equal(ja, jb) {
		t.Errorf("journals differ")
	}
	s := a.Summary
	t.Logf("summary: %+v", s)
	// The desk must exercise what determinism is claimed for: market and
	// resting fills, injected faults and Trade All.
	if s.Trades < 50 || s.Orders["filled"] == 0 || len(s.Failures) == 0 {
		t.Errorf("the desk did too little to prove anything: %+v", s)
	}
	maker := 0
	evs, err := a.Journal()
	if err != nil {
		t.Fatal(err)
	}
	// The summary's order counts are the journal's: each order counted
	// once, by its last terminal event, failures by that event's class.
	orders, failures := map[string]int64{}, map[string]int64{}
	last := map[string]replay.JournalEntry{}
	for _, ev := range evs {
		switch ev.Kind {
		case "intent":
			orders["placed"]++
		case "filled", "canceled", "rejected", "failed":
			if ev.ClientOrderID != "" {
				last[ev.ClientOrderID] = ev
			}
		}
	}
	for _, ev := range last {
		orders[ev.Kind]++
		if ev.ErrorClass != "" {
			failures[ev.ErrorClass]++
		}
	}
	if !maps.Equal(orders, s.Orders) || !maps.Equal(failures, s.Failures) {
		t.Errorf("summary orders %v failures %v; the journal says %v and %v", s.Orders, s.Failures, orders, failures)
	}
	for _, ev := range evs {
		if ev.Kind == "fill" && ev.OrderType == "" {
			maker++
		}
	}
	var steps int64
	for _, ss := range a.Sessions {
		steps += ss.Steps
	}
	if steps != s.Steps {
		t.Errorf("session steps %d, summary %d", steps, s.Steps)
	}
}

// TestJournalNotKept: without Config.KeepJournal a replay holds no journal
// (asking for it is an error, not an empty list) and reports the same
// summary, orders and failures by class included, as with it.
func TestJournalNotKept(t *testing.T) {
	t.Parallel()
	kept, err := replay.Run(context.Background(), deskConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := deskConfig(t) // a fresh stream of the same klines
	cfg.KeepJournal = false
	lean, err := replay.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lean.Journal(); !errors.Is(err, replay.ErrJournalNotKept) {
		t.Fatalf("Journal() = %v, want ErrJournalNotKept", err)
	}
	if err := lean.WriteJournal(io.Discard); !errors.Is(err, replay.ErrJournalNotKept) {
		t.Fatalf("WriteJournal = %v, want ErrJournalNotKept", err)
	}
	a, _ := json.Marshal(kept.Summary)
	b, _ := json.Marshal(lean.Summary)
	if !bytes.Equal(a, b) {
		t.Fatalf("summaries differ:\nkept %s\nlean %s", a, b)
	}
	if len(kept.Summary.Orders) < 3 || len(kept.Summary.Failures) == 0 {
		t.Fatalf("the desk counted too little to compare: %s", a)
	}
}

// TestTradesThroughPnLCompute: the trade CSV a replay writes, read back and
// computed as `pnl compute` does (marked at the last close), gives the
// replay's own PnL exactly.
func TestTradesThroughPnLCompute(t *testing.T) {
	t.Parallel()
	res, err := replay.Run(context.Background(), deskConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := res.WriteTrades(&buf); err != nil {
		t.Fatal(err)
	}
	trades, err := tradecsv.ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ks := btc(t, 3*24*60)
	marks := map[string]udecimal.Decimal{"BTCUSDT": ks[len(ks)-1].Close}
	rep, err := pnl.Compute(trades, pnl.AvgCost, marks, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rep)
	want, _ := json.Marshal(res.PnL)
	if !bytes.Equal(got, want) {
		t.Fatalf("pnl compute of the replay's trades:\n%s\nreplay's own:\n%s", got, want)
	}
	if len(trades) == 0 || res.Summary.NetPnL != rep.TotalsByQuote[0].NetPnL {
		t.Fatalf("summary net %s, computed %s", res.Summary.NetPnL, rep.TotalsByQuote[0].NetPnL)
	}
	// The equity curve agrees too: start value plus net PnL is the end
	// value (one quote, everything marked at the last close).
	start := d("20000").Add(d("5000")).Add(d("0.2").Mul(ks[0].Open))
	endFromPnL := start.Add(rep.TotalsByQuote[0].NetPnL).Add(d("0.2").Mul(ks[len(ks)-1].Close.Sub(ks[0].Open)))
	if !endFromPnL.Equal(res.Summary.EndValue) {
		t.Errorf("end value %s, start %s + pnl + beta's BTC move = %s", res.Summary.EndValue, start, endFromPnL)
	}
}

// A canceled context ends a long run with an error naming where it stopped.
func TestCancel(t *testing.T) {
	t.Parallel()
	ks := btc(t, 0)
	cfg := dcaConfig(nil)
	cfg.Sources[0].Stream = replay.Mirror(ks, 525600, ks[0].OpenTime, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cfg.ProgressEvery = 20000
	cfg.Progress = func(p replay.Progress) {
		if p.Bars >= 40000 {
			cancel()
		}
	}
	_, err := replay.Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "replay canceled at") {
		t.Fatalf("err %v, want a cancellation", err)
	}
}

// Trade All at a chosen time runs one extra step of every session at the
// first bar at or after it, trigger "trade-all", beside their schedules.
func TestTradeAllAtChosenTimes(t *testing.T) {
	t.Parallel()
	ks := btc(t, 6*60)
	base := dcaConfig(ks)
	base.Sessions = append(base.Sessions, replay.Session{Name: "eth-less", Strategy: "dca", Account: "alpha", Symbols: []string{"BTCUSDT"},
		Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"10","interval":"2h"}`)})
	plain, err := replay.Run(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	with := dcaConfig(ks)
	with.Sessions = base.Sessions
	at := ks[0].OpenTime.Add(90*time.Minute + 30*time.Second) // between bars: the next bar's open
	with.TradeAll = []time.Time{at, ks[0].OpenTime.Add(5 * time.Hour)}
	res, err := replay.Run(context.Background(), with)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary.Steps, plain.Summary.Steps+2*2; got != want {
		t.Errorf("steps with two Trade Alls over two sessions: %d, want %d", got, want)
	}
	var first time.Time
	for _, tr := range res.Trades {
		if tr.Time.After(ks[0].OpenTime.Add(time.Hour)) {
			first = tr.Time
			break
		}
	}
	if want := ks[0].OpenTime.Add(91 * time.Minute); !first.Equal(want) {
		t.Errorf("first trade after the first hour at %s, want the Trade All's at %s", first, want)
	}
}

// A session that steps faster than the bars (a TWAP's 30 s slices over 1 m
// bars) keeps its own pace: it steps once per due time, at the first bar
// instant at or after it, so its 20 slices fill within its 10 minutes, all
// at bar opens. Stepping once per bar instant ran it at half speed.
func TestSessionFasterThanTheBars(t *testing.T) {
	t.Parallel()
	ks := btc(t, 30)
	cfg := dcaConfig(ks)
	cfg.Sessions = []replay.Session{{Name: "twap", Strategy: "twap", Account: "alpha", Symbols: []string{"BTCUSDT"},
		Params: json.RawMessage(`{"symbol":"BTCUSDT","side":"buy","quantity":"0.02","duration":"10m","slices":20}`)}}
	res, err := replay.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	bought := d("0")
	for _, tr := range res.Trades {
		if tr.Time.Second() != 0 {
			t.Errorf("trade at %s: between two bars, want a bar's open", tr.Time)
		}
		if end := ks[0].OpenTime.Add(10 * time.Minute); tr.Time.After(end) {
			t.Errorf("slice filled at %s, after the TWAP's 10 minutes end at %s", tr.Time, end)
		}
		bought = bought.Add(tr.Quantity)
	}
	if !bought.Equal(d("0.02")) {
		t.Errorf("the TWAP bought %s BTC, want all 0.02 within its 10 minutes", bought)
	}
}
