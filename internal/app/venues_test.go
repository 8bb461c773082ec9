package app_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestVenueFactorySharesBinanceBudgetPerHost: Binance counts request weight
// per IP, so every account the node opens on one host spends one budget,
// also across factories of one process; another host has its own.
func TestVenueFactorySharesBinanceBudgetPerHost(t *testing.T) {
	t.Parallel()
	box, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	client := func(f app.VenueFactory, name, base string) *binance.Client {
		t.Helper()
		v, err := f.Open(store.Account{Name: name, Venue: "binance", BaseURL: base, APIKey: "k-" + name, APISecretEnc: sealed})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		return v.(*binance.Client)
	}
	open := func(f app.VenueFactory, name, base string) *binance.Budget {
		t.Helper()
		return client(f, name, base).Budget()
	}
	f := app.VenueFactory{Box: box, Budgets: binance.NewBudgets(binance.BudgetConfig{})}
	a, b := open(f, "a", "http://127.0.0.1:9"), open(f, "b", "http://127.0.0.1:9/")
	if a != b {
		t.Error("two accounts on one host got two weight budgets")
	}
	fa, fb := client(f, "fa", "http://127.0.0.1:9").FuturesBudget(), client(f, "fb", "http://127.0.0.1:9").FuturesBudget()
	if fa != fb || fa == a {
		t.Error("accounts on one host do not share one futures budget apart from the spot one")
	}
	ca, cb := client(f, "sa", "http://127.0.0.1:9"), client(f, "sb", "http://127.0.0.1:9")
	if ca.SapiBudget() != cb.SapiBudget() || ca.SapiBudget() == a || ca.SapiBudget() == fa {
		t.Error("accounts on one host do not share one /sapi budget apart from the spot and futures ones")
	}
	wa, aa := ca.WSBudgets()
	wb, ab := cb.WSBudgets()
	if wa != wb || aa != ab || wa == ca.SapiBudget() {
		t.Error("accounts on one host do not share its WebSocket connection budgets")
	}
	if client(f, "sc", "http://127.0.0.1:10").SapiBudget() == ca.SapiBudget() {
		t.Error("accounts on two hosts share a /sapi budget")
	}
	if c := open(f, "c", "http://127.0.0.1:10"); c == a {
		t.Error("accounts on two hosts share a weight budget")
	}
	if d := open(f, "d", ""); d == a || d != open(f, "e", "https://api.binance.com") {
		t.Error("accounts on the default host do not share its budget")
	}
	// Factories that leave Budgets nil share the process-wide set.
	p, q := app.VenueFactory{Box: box}, app.VenueFactory{Box: box}
	if open(p, "p", "http://127.0.0.1:11") != open(q, "q", "http://127.0.0.1:11") {
		t.Error("two factories of one process keep separate budgets for one host")
	}
}

// TestVenueKindsSayWhatTheirVenuesDo: every registered venue opens through
// the factory from its Kind, and a Kind's Positions says truly whether its
// venue reports positions (venue.PositionReader), since callers read the
// registry instead of asking each venue.
func TestVenueKindsSayWhatTheirVenuesDo(t *testing.T) {
	t.Parallel()
	box, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	ex, err := paper.New(paper.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := app.VenueFactory{Box: box, Paper: ex}
	for _, k := range venue.Kinds() {
		a := store.Account{Name: "k-" + k.Name, Venue: k.Name, BaseURL: "http://127.0.0.1:9"}
		if k.Credentials {
			a.APIKey, a.APISecretEnc = "key", sealed
		}
		if k.InProcess {
			a.BaseURL = ""
		}
		v, err := f.Open(a)
		if err != nil {
			t.Errorf("%s: open: %v", k.Name, err)
			continue
		}
		if _, ok := v.(venue.PositionReader); ok != k.Positions {
			t.Errorf("%s: Kind.Positions %v, but its venue implements PositionReader: %v", k.Name, k.Positions, ok)
		}
		if k.Credentials {
			a.APISecretEnc = nil
			if _, err := f.Open(a); err == nil {
				t.Errorf("%s: opened without the API secret its Kind needs", k.Name)
			}
		}
	}
	if _, err := f.Open(store.Account{Name: "x", Venue: "nope"}); !errors.Is(err, venue.ErrUnknownKind) {
		t.Errorf("unknown venue: got %v, want venue.ErrUnknownKind", err)
	}
}
