package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	params := `{"symbol":"BTCUSDT","quote_amount":"30","interval":"1h"}`
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--strategy", "dca", "--symbol", "BTCUSDT", "--params", params, "--klines", gap}, "BTCUSDT-1m.csv line 51"},
		{[]string{"--strategy", "dca", "--symbol", "ETHUSDT", "--params", params, "--klines", gap}, "symbol ETHUSDT has no klines"},
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
