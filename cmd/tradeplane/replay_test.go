package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/store"
)

const sharedBTC1m = "../../../shared/data/BTCUSDT-1m.csv"

// firstLines writes the header and the first n rows of the shared BTCUSDT
// file to dir/name.
func firstLines(t *testing.T, dir, name string, n int, edit func([]string) []string) string {
	t.Helper()
	b, err := os.ReadFile(sharedBTC1m)
	if err != nil {
		t.Skipf("shared data: %v", err)
	}
	lines := strings.SplitN(string(b), "\n", n+2)[:n+1]
	if edit != nil {
		lines = edit(lines)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplayCLI: a replay's --json PnL is what `pnl compute --json` makes of
// its --trades file; a second run writes byte-identical files.
func TestReplayCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := firstLines(t, dir, "BTCUSDT-1m.csv", 2*24*60, nil)
	last := strings.Split(strings.TrimSpace(mustRead(t, k)), "\n")
	closePx := strings.Split(last[len(last)-1], ",")[4]
	run := func(tag string) (cliResult, string, string) {
		trades, jrnl := filepath.Join(dir, tag+"-trades.csv"), filepath.Join(dir, tag+"-journal.jsonl")
		r := cli(t, "", "replay", "--quiet", "--json", "--strategy", "dca", "--symbol", "BTCUSDT", "--klines", k,
			"--params", `{"symbol":"BTCUSDT","quote_amount":"30","interval":"1h"}`, "--slippage", "0.0005",
			"--trades", trades, "--journal", jrnl).want(t, 0)
		return r, mustRead(t, trades), mustRead(t, jrnl)
	}
	a, ta, ja := run("a")
	b, tb, jb := run("b")
	if a.stdout != b.stdout || ta != tb || ja != jb {
		t.Fatal("two runs of the same replay differ")
	}
	var doc struct {
		PnL json.RawMessage `json:"pnl"`
	}
	if err := json.Unmarshal([]byte(a.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	p := cli(t, "", "pnl", "compute", "--json", "--trades", filepath.Join(dir, "a-trades.csv"), "--mark", "BTCUSDT="+closePx).want(t, 0)
	var got, want bytes.Buffer
	json.Compact(&got, []byte(p.stdout))
	json.Compact(&want, doc.PnL)
	if got.String() != want.String() {
		t.Fatalf("pnl compute of the replay's trades:\n%s\nreplay --json pnl:\n%s", got.String(), want.String())
	}
}

// TestReplayCLIBadInput: exit 2 with the place named.
func TestReplayCLIBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gap := firstLines(t, dir, "BTCUSDT-1m.csv", 100, func(l []string) []string { return append(l[:50], l[52:]...) })
	// A row out of place shows first as a gap (the next row is ahead of
	// time), then, at the row itself, as going back in time.
	unsorted := firstLines(t, dir, "BTCUSDT-1m-2023-03.csv", 100, func(l []string) []string {
		l[20], l[21] = l[21], l[20]
		return l
	})
	repeated := firstLines(t, dir, "BTCUSDT-1m-2023-04.csv", 100, func(l []string) []string {
		return append(l[:31:31], l[30:]...)
	})
	params := `{"symbol":"BTCUSDT","quote_amount":"30","interval":"1h"}`
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--klines", gap}, "BTCUSDT-1m.csv line 51"},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--klines", unsorted}, "BTCUSDT-1m-2023-03.csv line 21: BTCUSDT klines have a gap"},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--klines", unsorted}, "sort the rows oldest first"},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--klines", repeated}, "BTCUSDT-1m-2023-04.csv line 32: BTCUSDT kline at 2023-03-01T00:29:00Z is not after the previous one"},
		{[]string{"--strategy", "dca", "--symbol", "ETHUSDT", "--params", params, "--klines", gap}, "symbol ETHUSDT has no klines"},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--source", "db", "--demo-data"}, "not both"},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--source", "s3"}, "--source"},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", `{"symbol":"BTCUSDT"}`, "--klines", gap}, "quote_amount"},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--klines", filepath.Join(dir, "btc.csv")}, "SYMBOL:INTERVAL="},
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params}, "--klines"},
	}
	for _, tc := range cases {
		r := cli(t, "", append([]string{"replay", "--quiet"}, tc.args...)...).want(t, 2)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("replay %v: stderr %q does not name %q", tc.args, r.stderr, tc.want)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReplayDeskAndSession: a desk file of two accounts and sessions, and
// --session copying a stored session's settings from --db.
func TestReplayDeskAndSession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := firstLines(t, dir, "BTCUSDT-1m.csv", 24*60, nil)
	desk := filepath.Join(dir, "desk.json")
	os.WriteFile(desk, []byte(`{
  "accounts": [
    {"name": "alpha", "balances": [{"asset": "USDT", "amount": "5000"}]},
    {"name": "beta", "balances": [{"asset": "USDT", "amount": "3000"}, {"asset": "BTC", "amount": "0.1"}], "collateral": {"BTC": "0.8"}}
  ],
  "sessions": [
    {"name": "a-dca", "strategy": "dca", "account": "alpha", "symbols": ["BTCUSDT"], "params": {"symbol": "BTCUSDT", "quote_amount": "20", "interval": "1h"}, "allocation": "300"},
    {"name": "b-dca", "strategy": "dca", "account": "beta", "symbols": ["BTCUSDT"], "params": {"symbol": "BTCUSDT", "quote_amount": "20", "interval": "2h"}, "allocation": "0.02", "allocation_kind": "share"}
  ],
  "collateral": {"BTC": "0.9"},
  "trade_all": ["2023-03-01T12:00:00Z"]
}`), 0o644)
	r := cli(t, "", "replay", "--quiet", "--json", "--desk", desk, "--klines", k).want(t, 0)
	var doc struct {
		Summary struct {
			Failures map[string]int64 `json:"failures"`
		} `json:"summary"`
		Sessions []struct {
			Name   string `json:"name"`
			Steps  int64  `json:"steps"`
			Failed int64  `json:"failed_steps"`
			PnL    struct {
				Symbols []struct {
					Trades int `json:"trades"`
				} `json:"symbols"`
			} `json:"pnl"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	// a-dca: 23 scheduled steps and the Trade All; its 300 USDT allocation
	// stops it after 15 buys of 20. b-dca: 11 scheduled and the Trade All.
	if len(doc.Sessions) != 2 || doc.Sessions[0].Steps != 24 || doc.Sessions[1].Steps != 12 {
		t.Fatalf("sessions %+v", doc.Sessions)
	}
	if n := doc.Sessions[0].PnL.Symbols[0].Trades; n != 15 {
		t.Errorf("a-dca made %d buys of 20 USDT under its 300 USDT allocation, want 15", n)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"accounts": [], "sesions": []}`), 0o644)
	if r := cli(t, "", "replay", "--quiet", "--desk", bad, "--klines", k).want(t, 2); !strings.Contains(r.stderr, `unknown field "sesions"`) {
		t.Errorf("bad desk: %s", r.stderr)
	}

	// --session: the stored session's strategy, symbols and parameters.
	db := tempDB(t)
	cli(t, "", "--db", db, "migrate").want(t, 0)
	st, err := store.Open(t.Context(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &store.Account{Name: "main", Venue: "paper"}
	if err := st.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	s := &store.Session{ID: "s-copyme00", Name: "stored", Strategy: "dca", AccountID: a.ID, Symbols: []string{"BTCUSDT"},
		Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"15","interval":"3h"}`), AllocationKind: "fixed", State: "stopped", Desired: "stopped"}
	if err := st.CreateSession(t.Context(), s, "test"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = cli(t, "", "--db", db, "replay", "--quiet", "--json", "--session", "s-copyme00", "--klines", k).want(t, 0)
	doc.Sessions = nil
	json.Unmarshal([]byte(r.stdout), &doc)
	if len(doc.Sessions) != 1 || doc.Sessions[0].Name != "stored" || doc.Sessions[0].Steps != 7 {
		t.Fatalf("--session replay: %+v (want 7 steps of 3 h in a day)", doc.Sessions)
	}
	cli(t, "", "--db", db, "replay", "--quiet", "--session", "s-nothere0", "--klines", k).want(t, 2)
}

// TestReplaySourceDB: --source db streams the klines stored in --db and
// replays as the same klines from a file do; a symbol not stored is exit
// 2 naming it and what is stored.
func TestReplaySourceDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := firstLines(t, dir, "BTCUSDT-1m.csv", 24*60, nil)
	ks, err := marketdata.ReadKlinesFile(k)
	if err != nil {
		t.Fatal(err)
	}
	db := tempDB(t)
	cli(t, "", "--db", db, "migrate").want(t, 0)
	st, err := store.Open(t.Context(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Kline
	for _, k := range ks {
		out = append(out, store.Kline{OpenTime: k.OpenTime, Open: k.Open, High: k.High, Low: k.Low, Close: k.Close, Volume: k.Volume})
	}
	if err := st.PutKlines(t.Context(), store.KlineKey{Venue: "binance", Symbol: "BTCUSDT", Interval: time.Minute}, out); err != nil {
		t.Fatal(err)
	}
	st.Close()
	args := []string{"replay", "--quiet", "--json", "--strategy", "dca", "--symbol", "BTCUSDT",
		"--params", `{"symbol":"BTCUSDT","quote_amount":"30","interval":"1h"}`, "--slippage", "0.0005"}
	fromDB := cli(t, "", append([]string{"--db", db}, append(args, "--source", "db")...)...).want(t, 0)
	fromFile := cli(t, "", append(args, "--klines", k)...).want(t, 0)
	if fromDB.stdout != fromFile.stdout {
		t.Fatalf("replay over the stored klines:\n%s\nover the file:\n%s", fromDB.stdout, fromFile.stdout)
	}
	r := cli(t, "", "--db", db, "replay", "--quiet", "--strategy", "dca", "--symbol", "ETHUSDT", "--source", "db",
		"--params", `{"symbol":"ETHUSDT","quote_amount":"30","interval":"1h"}`).want(t, 2)
	if !strings.Contains(r.stderr, "no stored klines of ETHUSDT") || !strings.Contains(r.stderr, "binance BTCUSDT") {
		t.Fatalf("stderr %q does not name the missing symbol and what is stored", r.stderr)
	}
}
