package app

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/reliability"
	"github.com/tradeplane/tradeplane/internal/store"
)

// TestDemoBackfillAccuracy starts the demo on a fresh store and checks that,
// once its history is filled, the reliability report's backfill accuracy has
// a row for every demo account: the real backfill of the replayed days
// (stored fills + the paper venue's 1h candles) against the equity the
// replay recorded for the account, with a finite and small difference per
// hour. Then it deletes one replayed fill of alpha from the store, backfills
// alpha again as `pnl backfill` would, and checks that alpha's accuracy
// changes: the report compares, it does not copy.
func TestDemoBackfillAccuracy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "demo.db")
	a, err := New(ctx, Config{DBURL: "sqlite:" + path, Addr: "127.0.0.1:0", Demo: true, NoDemoLogin: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	t.Cleanup(a.closeAll)
	if err := a.start(rctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); !a.demoHistoryDone.Load(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("demo history not done after 3 minutes (%d%%)", a.demoHistoryPct.Load())
		}
	}
	if p := a.demoHistoryPct.Load(); p != 100 {
		t.Fatalf("demo history ended at %d%%, not written", p)
	}
	accuracy := func() map[string]reliability.BackfillAccuracy {
		t.Helper()
		rep, err := reliability.Compute(ctx, a.db, reliability.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]reliability.BackfillAccuracy{}
		for _, b := range rep.Backfill {
			out[b.Scope] = b
		}
		return out
	}
	before := accuracy()
	maxRel := udecimal.MustParse("0.0005") // 0.05% of the account's equity, per hour
	for _, da := range demoAccounts {
		b, ok := before["account:"+da.name]
		if !ok {
			t.Fatalf("no backfill accuracy row for %s: %+v", da.name, before)
		}
		t.Logf("%s: %+v", da.name, b)
		if b.Recorded != backfill.SourceHistory {
			t.Errorf("%s compared with %q, want the replayed history", da.name, b.Recorded)
		}
		if b.Intervals < 29*24 {
			t.Errorf("%s: %d hours compared, want 30 days' worth", da.name, b.Intervals)
		}
		meanRel, err := udecimal.Parse(b.MeanRelDiff)
		if err != nil {
			t.Fatalf("%s mean rel diff %q: %v", da.name, b.MeanRelDiff, err)
		}
		maxAbs, err := udecimal.Parse(b.MaxAbsDiff)
		if err != nil {
			t.Fatalf("%s max abs diff %q: %v", da.name, b.MaxAbsDiff, err)
		}
		if meanRel.GreaterThan(maxRel) {
			t.Errorf("%s: mean |diff| / equity %s per hour, want at most %s", da.name, meanRel, maxRel)
		}
		if maxAbs.IsZero() {
			t.Errorf("%s: the backfill agrees exactly with the recorded equity; the two sides mark differently and cannot", da.name)
		}
		// The hourly differences are marks (the replay values at the last
		// close before the hour, the backfill at the open of the hour's
		// candle): each reverses in the next hour, so over the 30 days the
		// two sides' changes add up to nearly the same.
		acc, err := backfill.CompareLive(ctx, a.db, "account:"+da.name, time.Hour, time.Now().Add(-31*24*time.Hour), time.Now(),
			backfill.AccuracyOptions{Recorded: backfill.SourceHistory})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: drift %s, opening offset %s", da.name, acc.Drift, acc.OpeningOffset)
		// `pnl report --account` shows the same comparison.
		h, err := backfill.Report(ctx, a.db, "account:"+da.name, time.Hour, time.Now().Add(-31*24*time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if h.Accuracy == nil || h.Accuracy.Recorded != backfill.SourceHistory || len(h.Accuracy.Intervals) != len(acc.Intervals) {
			t.Errorf("%s: pnl report accuracy %+v; want the comparison with the replayed history", da.name, h.Accuracy)
		}
		if acc.Drift.Abs().GreaterThan(udecimal.One) {
			t.Errorf("%s: backfilled and recorded equity drift apart by %s over the history; want at most 1", da.name, acc.Drift)
		}
	}

	// Remove one replayed fill of alpha and backfill alpha again.
	if demoAccounts[0].name != "alpha" {
		t.Fatalf("demo account 0 is %s, not alpha", demoAccounts[0].name)
	}
	acct, err := a.db.Account(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	fills, err := a.db.Fills(ctx, store.FillQuery{AccountID: acct.ID, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var gone *store.Fill
	for i := range fills {
		if strings.HasPrefix(fills[i].TradeID, "history-") && fills[i].Symbol == "ETHUSDT" {
			gone = &fills[i]
			break
		}
	}
	if gone == nil {
		t.Fatalf("alpha has no replayed ETHUSDT fill among %d", len(fills))
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `DELETE FROM fills WHERE account_id = ? AND trade_id = ?`, acct.ID, gone.TradeID); err != nil {
		t.Fatal(err)
	}
	pts, err := a.db.PnLPoints(ctx, store.PnLPointQuery{Scope: "account:alpha", Source: backfill.SourceBackfill,
		From: time.Time{}, To: time.Now().Add(time.Hour)})
	if err != nil || len(pts) == 0 {
		t.Fatalf("alpha's backfilled points: %d, %v", len(pts), err)
	}
	first, last := pts[0], pts[len(pts)-1]
	from, end := first.At, last.At.Add(time.Hour)
	dr, err := demoReplay(from, demoHistoryDays*24*time.Hour, "1h")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.demoBackfillAccount(ctx, 0, dr.series, from, end); err != nil {
		t.Fatal(err)
	}
	after := accuracy()
	b, c := before["account:alpha"], after["account:alpha"]
	t.Logf("alpha without the fill at %s: %+v", gone.At.Format(time.RFC3339), c)
	if b.MeanAbsDiff == c.MeanAbsDiff && b.MaxAbsDiff == c.MaxAbsDiff {
		t.Errorf("alpha's accuracy did not change without a fill: %+v", c)
	}
	if b.WithinTolerance < c.WithinTolerance {
		t.Errorf("alpha agrees in more hours without a fill (%d) than with it (%d)", c.WithinTolerance, b.WithinTolerance)
	}
}
