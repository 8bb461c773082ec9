package pnl

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// assertGolden compares got with testdata/name, rewriting it under -update.
func assertGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs (run with -update after checking):\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

// mixedTrades are two symbols, one flat, fees in quote, base and BNB (one BNB
// fee on ETHBTC has no BNB/BTC price).
const mixedCSV = `time,symbol,side,price,quantity,fee,fee_asset,trade_id
2020-08-04T10:00:00Z,BTC/USDT,buy,11000,0.5,0.0005,BTC,1
2020-08-04T10:00:00Z,ETHBTC,buy,0.032,2,0.01,BNB,2
2020-08-04T11:00:00Z,BTCUSDT,sell,11200.5,0.2,2.2401,USDT,3
2020-08-04T12:00:00Z,ETHBTC,sell,0.0335,2,0.00067,BTC,4
2020-08-04T12:30:00Z,BTCUSDT,buy,11100,0.1,0.05,BNB,5
`

func mixedReport(tb testing.TB, m Method) Report {
	tb.Helper()
	trades, err := tradecsv.ReadAll(strings.NewReader(mixedCSV))
	if err != nil {
		tb.Fatal(err)
	}
	rep, err := Compute(trades, m, map[string]Decimal{"BTCUSDT": dec("11500")}, FixedPrices{{"BNB", "USDT"}: dec("17.5")})
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

// TestReportJSON pins the `pnl compute --json` contract: field names and
// order, decimals as strings, fees_unconverted as an array.
func TestReportJSON(t *testing.T) {
	t.Parallel()
	for _, m := range []Method{AvgCost, FIFO} {
		got, err := json.MarshalIndent(mixedReport(t, m), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		assertGolden(t, "report-"+string(m)+".json", append(got, '\n'))

		// The shape: every contract field present, decimals as strings.
		var generic struct {
			Method  string           `json:"method"`
			Symbols []map[string]any `json:"symbols"`
			Total   map[string]any   `json:"total"`
			ByQuote []map[string]any `json:"totals_by_quote"`
		}
		if err := json.Unmarshal(got, &generic); err != nil {
			t.Fatal(err)
		}
		for _, s := range generic.Symbols {
			for _, k := range []string{"symbol", "base", "quote", "position", "avg_entry", "realized_pnl", "unrealized_pnl", "fees_quote", "net_pnl", "mark"} {
				if _, ok := s[k].(string); !ok {
					t.Errorf("%s: %q = %#v, want a string", m, k, s[k])
				}
			}
			if _, ok := s["trades"].(float64); !ok {
				t.Errorf("trades = %#v", s["trades"])
			}
			if _, ok := s["fees_unconverted"].([]any); !ok {
				t.Errorf("fees_unconverted = %#v, want an array", s["fees_unconverted"])
			}
			if len(s) != 12 {
				t.Errorf("symbol has %d fields, want the contract's 12", len(s))
			}
		}
		// BTC and USDT quotes: no single total, one per quote.
		if generic.Total != nil || !bytes.Contains(got, []byte(`"total": null`)) {
			t.Errorf("total of a mixed report = %v, want null", generic.Total)
		}
		if len(generic.ByQuote) != 2 {
			t.Errorf("totals_by_quote %v, want BTC and USDT", generic.ByQuote)
		}
		for _, q := range generic.ByQuote {
			for _, k := range []string{"quote", "realized_pnl", "unrealized_pnl", "fees_quote", "net_pnl"} {
				if _, ok := q[k].(string); !ok {
					t.Errorf("totals_by_quote %q = %#v, want a string", k, q[k])
				}
			}
		}
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteTable(&buf, mixedReport(t, AvgCost)); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "report-avg.txt", buf.Bytes())
}

func TestEmptyReport(t *testing.T) {
	t.Parallel()
	rep, err := Compute(nil, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rep)
	if want := `{"method":"avg","symbols":[],"total":{"realized_pnl":"0","fees_quote":"0","net_pnl":"0"},"totals_by_quote":[]}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestComputeGroups(t *testing.T) {
	t.Parallel()
	trades := mustTrades(t, "buy,100,1,0,", "buy,200,1,0,", "sell,300,1,1,USDT")
	fills := []Fill{
		{Trade: trades[0], Account: "main", Session: "s1", Tags: []string{"grid", "btc"}},
		{Trade: trades[1], Account: "main", Session: "s2", Tags: []string{"btc"}},
		{Trade: trades[2], Account: "main", Session: "s1"},
	}
	net := func(gs []Group) map[string]string {
		out := map[string]string{}
		for _, g := range gs {
			out[g.Key] = g.Report.Total.NetPnL.String()
		}
		return out
	}
	tests := []struct {
		by   GroupBy
		want string
	}{
		// One account: buy 100, buy 200, sell 300 (fee 1), marked at 300: 300 − 300 − 1 + 300 = 299.
		{ByAccount, "map[main:299]"},
		// s1: buy 100, sell 300 (fee 1) = 199; s2: buy 200 marked at its last price 200 = 0.
		{BySession, "map[s1:199 s2:0]"},
		// grid: buy 100 marked 100 = 0; btc: buys 100, 200 marked 200 = 100; untagged: a lone sell
		// at 300 (fee 1) marked 300 = −1.
		{ByTag, "map[:-1 btc:100 grid:0]"},
	}
	for _, tt := range tests {
		gs, err := ComputeGroups(fills, tt.by, FIFO, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(net(gs)); got != tt.want {
			t.Errorf("by %s: %s, want %s", tt.by, got, tt.want)
		}
	}
	if _, err := ComputeGroups(fills, "desk", AvgCost, nil, nil); !errors.Is(err, ErrInput) {
		t.Errorf("by desk: %v", err)
	}
}

// TestTotalsNeverMixQuotes: the golden mixed report has BTCUSDT (USDT) and
// ETHBTC (BTC). Its realized PnL is 40.1 USDT and 0.003 BTC, which must never
// be added into 40.103 of nothing: totals are per quote asset, and the single
// total exists only when every symbol shares one quote.
func TestTotalsNeverMixQuotes(t *testing.T) {
	t.Parallel()
	rep := mixedReport(t, AvgCost)
	if !rep.Mixed() {
		t.Fatalf("Mixed() = false for quotes %v", rep.Quotes())
	}
	if rep.Total != (Total{}) {
		t.Errorf("Total of a BTC+USDT report = %+v, want the zero Total (no sum across quotes)", rep.Total)
	}
	want := []string{"BTC 2 0.003 0 0.00067 0.00233", "USDT 3 40.1 189.75 8.6151 221.2349"}
	var got []string
	for _, q := range rep.TotalsByQuote {
		got = append(got, fmt.Sprintf("%s %d %s %s %s %s", q.Quote, q.Trades, q.RealizedPnL, q.UnrealizedPnL, q.FeesQuote, q.NetPnL))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("totals by quote %v, want %v", got, want)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"total":null`)) || bytes.Contains(js, []byte("40.103")) {
		t.Errorf("mixed JSON must say total null and never 40.103: %s", js)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || back.Total != (Total{}) || len(back.TotalsByQuote) != 2 {
		t.Errorf("round trip: %+v, %v", back, err)
	}

	// One quote: total is the sum, in that quote, and equals its only
	// totals_by_quote entry.
	trades := mustTrades(t, "buy,100,1,0.1,USDT", "sell,110,1,0.1,USDT")
	one, err := Compute(trades, AvgCost, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if one.Mixed() || one.Total.Quote != "USDT" || one.Total.NetPnL.String() != "9.8" || len(one.TotalsByQuote) != 1 ||
		!one.TotalsByQuote[0].NetPnL.Equal(one.Total.NetPnL) {
		t.Errorf("single quote: total %+v, by quote %+v", one.Total, one.TotalsByQuote)
	}
	js, _ = json.Marshal(one)
	if !bytes.Contains(js, []byte(`"total":{"quote":"USDT","realized_pnl":"10","fees_quote":"0.2","net_pnl":"9.8"}`)) {
		t.Errorf("single-quote JSON: %s", js)
	}
}
