package binance

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is Binance's name in the venue registry.
const Name = "binance"

func init() {
	venue.Register(venue.Kind{Name: Name, Description: "Binance (spot trading; spot, funding and USDⓈ-M balances)",
		Credentials: true, Trades: true, Open: open})
}

// processBudgets is the request budget per Binance host of this process
// when its Env shares none: every account opened in it shares it, as they
// all send from the same IP and Binance counts weight per IP.
var processBudgets = NewBudgets(BudgetConfig{})

// open opens a Binance account: the real hosts, or every endpoint at
// a.BaseURL (a testnet, the loopback fake). Its request budgets are
// env.Shared("binance") (a *Budgets) or the process's; a host that stops
// taking its requests is told to env.Notify as a Pause.
func open(env venue.Env, a venue.Account) (venue.Venue, error) {
	return openClient(env, a, false)
}

// openClient is open's client; futuresTime syncs its clock from the
// futures host (a binance-futures account).
func openClient(env venue.Env, a venue.Account, futuresTime bool) (*Client, error) {
	cfg := Config{APIKey: a.APIKey, APISecret: string(a.Secret), SyncTimeFromFutures: futuresTime, RecvWindow: env.RecvWindow}
	if a.BaseURL != "" {
		applyBaseURL(&cfg, a.BaseURL)
	}
	budgets, _ := env.Value(Name).(*Budgets)
	if budgets == nil {
		budgets = processBudgets
	}
	var err error
	if cfg.Budget, err = budgets.For(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	if cfg.FuturesBudget, err = budgets.ForFutures(cfg.FuturesBaseURL); err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	if cfg.SapiBudget, err = budgets.ForSapi(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	if cfg.WSBudget, err = budgets.ForWS(cfg.WSBaseURL); err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	if cfg.WSAPIBudget, err = budgets.ForWSAPI(cfg.WSAPIURL); err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	if keyed, ok := env.Value(SharedFuturesKeys).(func(apiKey string) bool); ok && keyed != nil && !futuresTime {
		key := a.APIKey
		cfg.FuturesWalletElsewhere = func() bool { return keyed(key) }
	}
	if env.Notify != nil {
		name := a.Name
		cfg.OnBan = func(p Pause) { env.Notify(name, p) }
	}
	c, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	return c, nil
}

// applyBaseURL points every endpoint at one host, as testnets and the
// loopback fake serve REST, futures and websockets from one base.
func applyBaseURL(cfg *Config, base string) {
	base = strings.TrimRight(base, "/")
	cfg.BaseURL = base
	cfg.FuturesBaseURL = base
	if u, err := url.Parse(base); err == nil {
		ws := *u
		if u.Scheme == "https" {
			ws.Scheme = "wss"
		} else {
			ws.Scheme = "ws"
		}
		cfg.WSBaseURL = ws.String()
		cfg.WSAPIURL = ws.String() + "/ws-api/v3"
	}
}
