package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestSessionCreateRefusesSharesOver100 creates sessions on an account
// holding 10,000 USDT: share allocations past 100% of its collateral are
// refused with a 400 naming the account and the total, other accounts are
// not affected, and fixed amounts past the collateral value pass with a
// warning.
func TestSessionCreateRefusesSharesOver100(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t)})
	for _, name := range []string{"alpha", "beta"} {
		if err := app.PaperOf(n.app).Fund(name, venue.WalletSpot, "USDT", udecimal.MustParse("10000")); err != nil {
			t.Fatal(err)
		}
		if code := n.do(t, "POST", "/api/v1/accounts", map[string]any{"name": name, "venue": "paper"}, nil, &map[string]any{}); code != 201 {
			t.Fatalf("create account %s: %d", name, code)
		}
	}
	create := func(name, account, kind, amount string) (int, []byte) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"name": name, "strategy": "dca", "account": account, "symbols": []string{"ETHUSDT"},
			"params":          map[string]string{"symbol": "ETHUSDT", "quote_amount": "25", "interval": "1m"},
			"allocation_kind": kind, "allocation": amount})
		req, _ := http.NewRequest("POST", n.url+"/api/v1/sessions", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+n.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	var view struct {
		ID       string   `json:"id"`
		Warnings []string `json:"warnings"`
	}
	mustCreate := func(name, account, kind, amount string) {
		t.Helper()
		code, data := create(name, account, kind, amount)
		view.ID, view.Warnings = "", nil
		if code != 201 {
			t.Fatalf("create %s (%s %s on %s): %d %s", name, kind, amount, account, code, data)
		}
		if err := json.Unmarshal(data, &view); err != nil {
			t.Fatal(err)
		}
	}

	mustCreate("a-60", "alpha", "share", "0.6")
	if len(view.Warnings) > 0 {
		t.Errorf("60%% share: warnings %q", view.Warnings)
	}
	code, data := create("a-50", "alpha", "share", "0.5")
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(data, &e)
	if code != 400 || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, "account alpha") || !strings.Contains(e.Error.Message, "110%") {
		t.Fatalf("shares of 110%%: %d %s, want 400 invalid naming account alpha and 110%%", code, data)
	}
	mustCreate("a-40", "alpha", "share", "0.4") // exactly 100%
	mustCreate("b-50", "beta", "share", "0.5")  // another account's shares are its own

	// Fixed amounts are only warned about: 0.5 share of beta is 5,000 USDT.
	mustCreate("b-fixed", "beta", "fixed", "5000")
	if len(view.Warnings) > 0 {
		t.Errorf("fixed within collateral: warnings %q", view.Warnings)
	}
	mustCreate("b-fixed-2", "beta", "fixed", "1")
	if len(view.Warnings) != 1 || !strings.Contains(view.Warnings[0], "account beta") || !strings.Contains(view.Warnings[0], "10,001.00 USDT") {
		t.Errorf("fixed over collateral: warnings %q, want one naming account beta and 10,001.00 USDT", view.Warnings)
	}
}
