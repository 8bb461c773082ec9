package app

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestJournalAuditAndScheduledAlert: after a session trades on the paper
// venue, the audit of its account finds no difference; after a fill made
// at the venue that the journal never saw, it finds exactly that one, and
// the scheduled audit raises a critical alert naming it.
func TestJournalAuditAndScheduledAlert(t *testing.T) {
	t.Parallel()
	a, ctx := startPaperNode(t, paper.Config{})
	a.cfg.AuditConfirm = 50 * time.Millisecond // the confirming second audit comes at once
	acct := &store.Account{Name: "audited", Venue: "paper"}
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	a.paper.Fund("audited", venue.WalletSpot, "USDT", udecimal.MustParse("100000"))
	if err := a.addAccount(ctx, *acct); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "50", "interval": "1h"})
	s, err := a.sessions.Create(ctx, session.Spec{Name: "audited-dca", Strategy: "dca", AccountID: acct.ID,
		Symbols: []string{"BTCUSDT"}, Params: raw}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.sessions.Start(ctx, s.ID, "test"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := a.sessions.TradeNow(ctx, s.ID, "test")
			var se *session.StateError
			if err == nil || !errors.As(err, &se) || time.Now().After(deadline) {
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Minute)
	rep, err := auditAdapter{a}.AuditJournal(ctx, "audited", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 0 || rep.Orders < 3 {
		t.Fatalf("after trading: %d orders, differences %+v; want at least 3 orders and none", rep.Orders, rep.Differences)
	}
	pv := a.paper.Account("audited")
	if _, err := pv.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "behind-the-back", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, Quantity: udecimal.MustParse("0.001")}); err != nil {
		t.Fatal(err)
	}
	rep, err = auditAdapter{a}.AuditJournal(ctx, "audited", from, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 1 || rep.Differences[0].ClientOrderID != "behind-the-back" {
		t.Fatalf("differences %+v, want exactly the injected one", rep.Differences)
	}
	a.auditAll(ctx, 24*time.Hour)
	// The alert writer stores it after Raise returned.
	polltest.Until(t, 10*time.Second, "a critical audit alert naming the difference", func() bool {
		als, _ := a.db.Alerts(ctx, 0, 1000)
		for _, al := range als {
			if al.Source == "audit" && al.Severity == "critical" && strings.Contains(al.Message, "behind-the-back") &&
				strings.Contains(al.Message, "1 differences") {
				return true
			}
		}
		return false
	})
}
