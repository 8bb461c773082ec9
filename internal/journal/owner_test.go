package journal_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestPositionOwnersRule: the session that holds an account's whole
// position in a symbol just before a time owns what happens to it; shared
// or session-less positions, and a size the venue names that is not the
// session's, stay at the account.
func TestPositionOwnersRule(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	a := &store.Account{Name: "own", Venue: "paper"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	j := journal.Open(db, journal.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { j.Close() })
	x := journal.NewExecutor(j, paper.MustNew(paper.Config{}).Account("own"), a.ID,
		journal.ExecutorOptions{Logger: slog.New(slog.DiscardHandler)})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	n := 0
	trade := func(h int, sym string, side venue.Side, qty, sid string) {
		t.Helper()
		n++
		tr := venue.Trade{ID: "t" + string(rune('a'+n)), Symbol: sym, Side: side, Price: dec("100"), Quantity: dec(qty),
			QuoteQty: dec(qty).Mul(dec("100")), Fee: dec("0.01"), FeeAsset: "USDT", Time: at(h)}
		if _, err := x.RecordTrade(ctx, tr, sid); err != nil {
			t.Fatal(err)
		}
	}
	// ETHUSDT: s1 opens a short of 2 at 1h, s2 buys 1 at 3h and sells it
	// at 5h, s1 closes at 7h, a trade of no session buys 1 at 9h.
	trade(1, "ETHUSDT", venue.Sell, "2", "s1")
	trade(3, "ETHUSDT", venue.Buy, "1", "s2")
	trade(5, "ETHUSDT", venue.Sell, "1", "s2")
	trade(7, "ETHUSDT", venue.Buy, "2", "s1")
	trade(9, "ETHUSDT", venue.Buy, "1", "")
	// BTCUSDT: s3 alone, long 0.5.
	trade(1, "BTCUSDT", venue.Buy, "0.5", "s3")

	owners := journal.NewPositionOwners(db, a.ID)
	for _, c := range []struct {
		name   string
		symbol string
		h      int
		size   string
		want   string
	}{
		{"before any fill", "ETHUSDT", 0, "0", ""},
		{"the fill's own time is not before it", "ETHUSDT", 1, "0", ""},
		{"s1 alone holds the short", "ETHUSDT", 2, "0", "s1"},
		{"s1 alone, the venue's size agrees", "ETHUSDT", 2, "-2", "s1"},
		{"s1 alone, the venue names another size", "ETHUSDT", 2, "-3", ""},
		{"s1 short and s2 long share it", "ETHUSDT", 4, "0", ""},
		{"s2 flat again: s1 alone", "ETHUSDT", 6, "0", "s1"},
		{"everyone flat", "ETHUSDT", 8, "0", ""},
		{"a position of no session", "ETHUSDT", 10, "0", ""},
		{"another symbol, another session", "BTCUSDT", 2, "0.5", "s3"},
	} {
		got, err := owners.Owner(ctx, c.symbol, at(c.h), dec(c.size))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %s at %dh (size %s): owner %q, want %q", c.name, c.symbol, c.h, c.size, got, c.want)
		}
	}
}

// TestPerpFundingAndLiquidationGoToTheSession: the paper short of
// TestPerpFundingAndLiquidation, opened by session s1, gets its funding
// payment and its liquidation attributed to s1 (rows and events), once;
// the same position opened by a fill of no session keeps both at the
// account.
func TestPerpFundingAndLiquidationGoToTheSession(t *testing.T) {
	t.Parallel()
	for _, sid := range []string{"s1", ""} {
		db, a, acct, t0 := shortETHPerp(t)
		j := journal.Open(db, journal.Options{Logger: slog.New(slog.DiscardHandler)})
		x := journal.NewExecutor(j, acct, a.ID, journal.ExecutorOptions{Alerter: &alert.Recorder{}, Logger: slog.New(slog.DiscardHandler)})
		open := venue.Trade{ID: "open-1", Symbol: "ETHUSDT", Side: venue.Sell, Price: dec("2000"), Quantity: dec("1"),
			QuoteQty: dec("2000"), Fee: dec("2"), FeeAsset: "USDT", Time: t0}
		if _, err := x.RecordTrade(ctx, open, sid); err != nil {
			t.Fatal(err)
		}
		var liqs []venue.Trade
		for _, l := range acct.Liquidations() {
			liqs = append(liqs, l.Trade())
		}
		for i, want := range []int{1, 0} {
			nf, err := x.SyncFunding(ctx, acct, t0, t0.Add(24*time.Hour))
			if err != nil || nf != want {
				t.Fatalf("session %q: sync funding #%d: %d new, %v; want %d", sid, i+1, nf, err, want)
			}
			nl, err := x.SyncLiquidations(ctx, liqs)
			if err != nil || nl != want {
				t.Fatalf("session %q: sync liquidations #%d: %d new, %v; want %d", sid, i+1, nl, err, want)
			}
		}
		j.Close()
		fps, err := db.FundingPayments(ctx, a.ID, "", time.Time{})
		if err != nil || len(fps) != 1 || fps[0].SessionID != sid || !fps[0].Amount.Equal(dec("0.2")) {
			t.Errorf("session %q: funding rows %+v, %v; want one of +0.2 for the session", sid, fps, err)
		}
		fills, err := db.Fills(ctx, store.FillQuery{AccountID: a.ID})
		if err != nil || len(fills) != 2 || fills[1].Source != journal.SourceLiquidation || fills[1].SessionID != sid {
			t.Errorf("session %q: fills %+v, %v; want the opening fill and the liquidation, both the session's", sid, fills, err)
		}
		evs, err := db.JournalEvents(ctx, store.EventQuery{AccountID: a.ID, Ascending: true, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		kinds := 0
		for _, e := range evs {
			if e.Kind == string(journal.KindFunding) || e.Kind == string(journal.KindLiquidation) {
				kinds++
				if e.SessionID != sid {
					t.Errorf("session %q: %s event of session %q", sid, e.Kind, e.SessionID)
				}
			}
		}
		if kinds != 2 {
			t.Errorf("session %q: %d funding and liquidation events, want 2", sid, kinds)
		}
	}
}
