package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// TestTradeAllSelectionFlags: --tag repeats (every tag must match),
// --account, --venue and --all select as the API does, and the
// confirmation prompt shows each session's planned orders and allocation
// check as a table.
func TestTradeAllSelectionFlags(t *testing.T) {
	t.Parallel()
	b := setupServer(t, servertest.Options{Sessions: 6})
	r := cli(t, "", b.args("trade-all", "--yes")...).want(t, 2)
	if !strings.Contains(r.stderr, "--session, --tag, --account, --venue or --all") {
		t.Errorf("no selection: stderr %q", r.stderr)
	}
	run := func(args ...string) server.TradeAllRun {
		t.Helper()
		r := cli(t, "", b.args(append([]string{"trade-all", "--yes", "--json"}, args...)...)...)
		var run server.TradeAllRun
		if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
			t.Fatalf("%v: stdout is not one JSON run: %v\n%s\n%s", args, err, r.stdout, r.stderr)
		}
		return run
	}
	if got := run("--tag", "desk-a", "--tag", "faulty"); got.Total != 1 || got.Results[0].SessionID != "s-0005" ||
		strings.Join(got.Request.AllTags(), ",") != "desk-a,faulty" {
		t.Errorf("two tags: %+v", got)
	}
	if got := run("--account", "acct-0003", "--venue", "paper"); got.Total != 2 || got.Request.Account != "acct-0003" || got.Request.Venue != "paper" {
		t.Errorf("account and venue: %+v", got)
	}
	if got := run("--all"); got.Total != 6 || !got.Request.All {
		t.Errorf("all: %+v", got)
	}

	// Without --yes the preview is printed before the prompt (which needs a
	// terminal: refused here, exit 2, nothing run).
	r = cli(t, "", b.args("trade-all", "--account", "acct-0001")...).want(t, 2)
	for _, want := range []string{
		`SESSION\s+NAME\s+ACCOUNT\s+SYMBOL\s+SIDE\s+TYPE\s+PRICE\s+QUANTITY\s+ALLOCATION`,
		`s-0001\s+grid-0001\s+acct-0001\s+BTCUSDT\s+buy\s+limit\s+65,000\s+0\.001\s+ok: 65\.00 of 10,000\.00 left`,
		`s-0004\s+grid-0004\s+acct-0001\s+BTCUSDT\s+buy\s+limit`,
		`2 sessions would run 2 orders, 0 would be skipped`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("preview lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "without confirmation") {
		t.Errorf("stderr %q", r.stderr)
	}
	// A skipped session says why.
	r = cli(t, "", b.args("trade-all", "--session", "s-0002")...)
	if !regexp.MustCompile(`s-0002\s+grid-0002\s+acct-0002\s+skip \(not_running: session is stopped\)`).MatchString(r.stdout) {
		t.Errorf("skipped session:\n%s", r.stdout)
	}
}
