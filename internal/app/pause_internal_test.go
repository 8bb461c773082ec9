package app

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestPauseAlertNamesItsCause: the alert for a Binance host that stops
// taking requests says what Binance said, through the factory's wiring: a
// 403 is the WAF blocking the IP or request (not a 418 ban), a 418 is an IP
// ban until a time; each says what to do.
func TestPauseAlertNamesItsCause(t *testing.T) {
	t.Parallel()
	box, err := secrets.New(bytes.Repeat([]byte{9}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	alertOf := func(t *testing.T, fail func(*binancetest.Server)) (binance.Pause, string) {
		t.Helper()
		fake := binancetest.Start(t, binancetest.Config{})
		sealed, err := box.Seal([]byte(fake.APISecret()))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var pauses []binance.Pause
		f := VenueFactory{Box: box, Budgets: binance.NewBudgets(binance.BudgetConfig{}),
			OnBan: func(_ store.Account, p binance.Pause) { mu.Lock(); pauses = append(pauses, p); mu.Unlock() }}
		acct := store.Account{ID: 7, Name: "desk", Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed}
		v, err := f.Open(acct)
		if err != nil {
			t.Fatal(err)
		}
		fail(fake)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := v.OpenOrders(ctx, "BTCUSDT"); err == nil {
			t.Fatal("open orders succeeded; want the host paused")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(pauses) != 1 {
			t.Fatalf("OnBan told %d times, want 1", len(pauses))
		}
		a := pauseAlert(acct, pauses[0])
		if a.AccountID != 7 || a.Source != "venue" || !strings.Contains(a.Message, pauses[0].Until.UTC().Format(time.RFC3339)) {
			t.Errorf("alert %+v; want account 7, source venue, the pause's end", a)
		}
		return pauses[0], a.Message
	}

	t.Run("403 WAF block", func(t *testing.T) {
		t.Parallel()
		p, msg := alertOf(t, func(s *binancetest.Server) { s.FailNextForbidden(binancetest.OpOpenOrders) })
		if p.Cause != binance.PauseWAF || p.Status != 403 {
			t.Errorf("pause %+v; want the WAF's 403", p)
		}
		for _, want := range []string{"WAF", "HTTP 403", "not executed", "IP"} {
			if !strings.Contains(msg, want) {
				t.Errorf("alert %q does not say %q", msg, want)
			}
		}
		// "418" as a word: the message names the host, whose port may hold
		// the digits (127.0.0.1:41889 failed a run).
		if regexp.MustCompile(`\b418\b`).MatchString(msg) || strings.Contains(msg, "banned") {
			t.Errorf("alert %q calls a WAF block a 418 ban", msg)
		}
	})
	t.Run("418 IP ban", func(t *testing.T) {
		t.Parallel()
		p, msg := alertOf(t, func(s *binancetest.Server) { s.FailNext(binancetest.OpOpenOrders, binancetest.FaultBanned) })
		if p.Cause != binance.PauseBanned || p.Status != 418 {
			t.Errorf("pause %+v; want the 418 ban", p)
		}
		for _, want := range []string{"banned this IP", "HTTP 418", "until", "lower the request rate"} {
			if !strings.Contains(msg, want) {
				t.Errorf("alert %q does not say %q", msg, want)
			}
		}
		if strings.Contains(msg, "WAF") || strings.Contains(msg, "HTTP 403") { // not "403": the ban's Unix-ms time in Binance's text may hold it
			t.Errorf("alert %q calls a 418 ban a WAF block", msg)
		}
	})
}
