package app

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/bybit"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// VenueFactory builds the venue.Venue of a stored account.
type VenueFactory struct {
	// Paper is the simulated exchange every paper account trades on; its
	// state lives in this process.
	Paper *paper.Exchange
	// Box opens sealed API secrets; nil when no master key is configured.
	Box *secrets.Box
	// OnBan is told when a Binance host stops taking our requests, for an
	// alert: an IP ban (HTTP 418) or a WAF block (HTTP 403); p says which
	// and until when.
	OnBan func(acct store.Account, p binance.Pause)
	// Budgets holds the request budgets (spot, USDⓈ-M futures and /sapi
	// weight, WebSocket connection attempts) of each Binance host, shared by every account of this process on that
	// host, since Binance counts weight per IP; nil means the process-wide
	// binanceBudgets.
	Budgets *binance.Budgets
	// RecvWindow is the recvWindow the venue's signed order requests carry
	// (0: the adapter's default, 5 s): the same value the journal's
	// certainty rule assumes (Config.RecvWindow), or a request could still
	// land after the journal concluded it never would.
	RecvWindow time.Duration
}

// binanceBudgets is the weight budget per Binance host of this process:
// every VenueFactory (and so every account opened, on any App in it) shares
// it, as they all send from the same IP.
var binanceBudgets = binance.NewBudgets(binance.BudgetConfig{})

// Open returns the venue of a.
func (f VenueFactory) Open(a store.Account) (venue.Venue, error) {
	switch a.Venue {
	case "paper":
		if f.Paper == nil {
			return nil, fmt.Errorf("account %q: no paper exchange in this process", a.Name)
		}
		return f.Paper.Account(a.Name), nil
	case "bybit":
		secret, err := f.secret(a)
		if err != nil {
			return nil, err
		}
		cfg := bybit.Config{APIKey: a.APIKey, APISecret: string(secret), RecvWindow: f.RecvWindow}
		if a.BaseURL != "" {
			applyBybitBaseURL(&cfg, a.BaseURL)
		}
		c, err := bybit.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("account %q: %w", a.Name, err)
		}
		return c, nil
	case "binance":
		secret, err := f.secret(a)
		if err != nil {
			return nil, err
		}
		cfg := binance.Config{APIKey: a.APIKey, APISecret: string(secret), RecvWindow: f.RecvWindow}
		if a.BaseURL != "" {
			applyBaseURL(&cfg, a.BaseURL)
		}
		budgets := f.Budgets
		if budgets == nil {
			budgets = binanceBudgets
		}
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
		if f.OnBan != nil {
			acct := a
			cfg.OnBan = func(p binance.Pause) { f.OnBan(acct, p) }
		}
		c, err := binance.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("account %q: %w", a.Name, err)
		}
		return c, nil
	default:
		return nil, fmt.Errorf("account %q: unknown venue %q", a.Name, a.Venue)
	}
}

// secret opens the sealed API secret of a.
func (f VenueFactory) secret(a store.Account) ([]byte, error) {
	if len(a.APISecretEnc) == 0 {
		return nil, fmt.Errorf("account %q has no API secret: add it again with --api-secret-file", a.Name)
	}
	if f.Box == nil {
		return nil, fmt.Errorf("account %q: no master key to decrypt its API secret (set TRADEPLANE_MASTER_KEY or --master-key-file)", a.Name)
	}
	secret, err := f.Box.Open(a.APISecretEnc)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	return secret, nil
}

// bybitStreamHosts are the stream hosts of Bybit's REST hosts other than
// mainnet's (the client's default): testnet and demo trading serve
// websockets from their own host.
var bybitStreamHosts = map[string]string{
	"api-testnet.bybit.com": "stream-testnet.bybit.com",
	"api-demo.bybit.com":    "stream-demo.bybit.com",
}

// applyBybitBaseURL points a Bybit client at base: REST there, and the
// streams at base's stream host (a testnet's), or at base itself (the
// loopback fake serves all from one host).
func applyBybitBaseURL(cfg *bybit.Config, base string) {
	base = strings.TrimRight(base, "/")
	cfg.BaseURL = base
	u, err := url.Parse(base)
	if err != nil {
		return
	}
	ws := *u
	ws.Scheme = "ws"
	if u.Scheme == "https" {
		ws.Scheme = "wss"
	}
	if h, ok := bybitStreamHosts[u.Hostname()]; ok {
		ws.Host = h
	}
	cfg.PublicWSURL = ws.String() + "/v5/public/spot"
	cfg.PrivateWSURL = ws.String() + "/v5/private"
}

// applyBaseURL points every endpoint at one host, as testnets and the
// loopback fake serve REST, futures and websockets from one base.
func applyBaseURL(cfg *binance.Config, base string) {
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
