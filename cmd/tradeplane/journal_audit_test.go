package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestJournalAuditOverDemoTrading is the audit's proof end to end: a demo
// node trades (its sessions on their schedules plus Trade All rounds, with
// the demo's replayed prices moving the grids); `tradeplane journal audit`
// of every demo account then finds no difference and exits 0. A fill made
// at the venue behind the journal's back is exactly one difference, exit 1,
// and the node's scheduled audit raises a critical alert naming it, which
// its webhook receives.
func TestJournalAuditOverDemoTrading(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a demo node for several seconds; skipped with -short")
	}
	t.Parallel()
	var mu sync.Mutex
	var hooked []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooked = append(hooked, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "demo.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, app.Config{DBURL: dbURL, Addr: "127.0.0.1:0", Demo: true, NoDemoLogin: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AuditEvery: 500 * time.Millisecond, AuditConfirm: 2 * time.Second,
		Webhooks: []alert.Webhook{{Name: "ops", URL: hook.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(u string) { urlc <- u }) }()
	var url string
	select {
	case url = <-urlc:
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("node did not start")
	}
	defer func() { cancel(); <-done }()
	token := strings.TrimSpace(cli(t, "", "--db", dbURL, "tokens", "create", "--role", "admin", "--name", "audit").want(t, 0).stdout)
	srv := []string{"--server", url, "--token", token}
	from := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)

	// Demo trading: the sessions step on their own schedules (5 s to 30 s);
	// Trade All rounds add steps while the replayed prices move (600× real
	// time: 6 s is an hour of market). TRADEPLANE_TEST_AUDIT_DEMO sets how
	// long (default 6s).
	trade := 6 * time.Second
	if v := os.Getenv("TRADEPLANE_TEST_AUDIT_DEMO"); v != "" {
		if trade, err = time.ParseDuration(v); err != nil {
			t.Fatalf("TRADEPLANE_TEST_AUDIT_DEMO %q: %v", v, err)
		}
	}
	for end := time.Now().Add(trade); time.Now().Before(end); {
		cli(t, "", append(srv, "trade-all", "--all", "--yes", "--json")...)
		time.Sleep(time.Second)
	}
	// Quiesce, as one audits a window that has ended: pause every session,
	// then wait until the journal holds no order still in flight (intent or
	// unknown); an order whose answer is on its way differs for a moment.
	var list []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(cli(t, "", append(srv, "sessions", "list", "--json")...).want(t, 0).stdout), &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.State == "running" {
			cli(t, "", append(srv, "sessions", "pause", s.ID)...).want(t, 0)
		}
	}
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, 10*time.Second, "no order in flight", func() bool {
		os, err := db.AllUnsettledOrders(ctx)
		return err == nil && len(os) == 0
	})
	// Answered orders' fills arrive by the user stream or a fetch: wait
	// until every executed order's fills add up to its executed quantity.
	start := time.Now().Add(-time.Hour)
	eventually(t, 10*time.Second, "every executed order's fills recorded", func() bool {
		accts, err := db.Accounts(ctx)
		if err != nil {
			return false
		}
		for _, acct := range accts {
			created, err := db.OrdersCreated(ctx, acct.ID, start, time.Now().Add(time.Minute))
			if err != nil {
				return false
			}
			for _, o := range created {
				if !o.ExecutedQty.IsPos() {
					continue
				}
				fills, err := db.FillsOfOrder(ctx, acct.ID, o.ClientOrderID)
				if err != nil {
					return false
				}
				sum := udecimal.Zero
				for _, f := range fills {
					sum = sum.Add(f.Quantity)
				}
				if !sum.Equal(o.ExecutedQty) {
					return false
				}
			}
		}
		return true
	})
	to := func() string { return time.Now().Add(time.Minute).UTC().Format(time.RFC3339) }
	orders := 0
	for _, acct := range []string{"alpha", "bravo", "charlie"} {
		r := cli(t, "", append(srv, "journal", "audit", "--account", acct, "--from", from, "--to", to(), "--json")...).want(t, 0)
		var rep journal.AuditReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("audit of %s: %v\n%s", acct, err, r.stdout)
		}
		if len(rep.Differences) != 0 {
			t.Fatalf("audit of %s after demo trading: %+v, want no difference", acct, rep.Differences)
		}
		orders += rep.Orders
	}
	if orders < 10 {
		t.Fatalf("the audits saw %d orders: too little demo trading to prove anything", orders)
	}
	t.Logf("demo trading for %s: %d orders audited, no difference", trade, orders)
	// The scheduled audit ran all along (and would have recorded fills the
	// journal lacked): it must have found nothing either.
	mu.Lock()
	for _, h := range hooked {
		if strings.Contains(h, `"source":"audit"`) {
			mu.Unlock()
			t.Fatalf("the scheduled audit alerted during demo trading: %s", h)
		}
	}
	mu.Unlock()

	// A fill the journal never saw.
	if _, err := a.PaperAccount("alpha").PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "behind-the-back", Symbol: "BTCUSDT",
		Side: venue.Buy, Type: venue.Market, Quantity: udecimal.MustParse("0.001")}); err != nil {
		t.Fatal(err)
	}
	r := cli(t, "", append(srv, "journal", "audit", "--account", "alpha", "--from", from, "--to", to(), "--json")...).want(t, 1)
	var rep journal.AuditReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("audit: %v\n%s", err, r.stdout)
	}
	if len(rep.Differences) != 1 || rep.Differences[0].ClientOrderID != "behind-the-back" {
		t.Fatalf("differences %+v, want exactly the injected fill", rep.Differences)
	}
	if !strings.Contains(r.stderr, "1 differences") {
		t.Errorf("stderr %q does not say why it failed", r.stderr)
	}
	eventually(t, 10*time.Second, "the scheduled audit's alert at the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooked {
			if strings.Contains(h, "behind-the-back") && strings.Contains(h, "critical") {
				return true
			}
		}
		return false
	})
}
