package bybit

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is Bybit's name in the venue registry.
const Name = "bybit"

// LinearName is the registry's name of the linear perpetuals of a Bybit
// unified trading account: the same key as a "bybit" account, trading
// category linear.
const LinearName = "bybit-linear"

func init() {
	venue.Register(venue.Kind{Name: Name, Description: "Bybit V5 unified trading account",
		Credentials: true, Trades: true, Positions: true, Open: open})
	venue.Register(venue.Kind{Name: LinearName,
		Description: "Bybit V5 linear perpetuals (USDT and USDC: orders, positions, funding; the unified wallet as margin)",
		Credentials: true, Trades: true, Positions: true, Open: openLinear})
}

// openLinear opens a bybit-linear account: mainnet, or a.BaseURL's host.
func openLinear(env venue.Env, a venue.Account) (venue.Venue, error) {
	l, err := NewLinear(config(env, a))
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	return l, nil
}

// config is the client configuration of account a.
func config(env venue.Env, a venue.Account) Config {
	cfg := Config{APIKey: a.APIKey, APISecret: string(a.Secret), RecvWindow: env.RecvWindow}
	if a.BaseURL != "" {
		applyBaseURL(&cfg, a.BaseURL)
	}
	return cfg
}

// SharedLinearKeys is what env.Shared answers, for a bybit account, with a
// func(apiKey string) bool that tells whether a bybit-linear account of the
// same key exists: that account reports the unified trading account (its
// wallet and positions), so the bybit one leaves them out and a desk counts
// them once. A process that answers nothing gets both reporting them.
const SharedLinearKeys = "bybit/linear-keys"

// open opens a Bybit account: mainnet, or a.BaseURL's host.
func open(env venue.Env, a venue.Account) (venue.Venue, error) {
	cfg := config(env, a)
	if keyed, ok := env.Value(SharedLinearKeys).(func(apiKey string) bool); ok && keyed != nil {
		key := a.APIKey
		cfg.UnifiedElsewhere = func() bool { return keyed(key) }
	}
	c, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	return c, nil
}

// streamHosts are the stream hosts of Bybit's REST hosts other than
// mainnet's (the client's default): testnet and demo trading serve
// websockets from their own host.
var streamHosts = map[string]string{
	"api-testnet.bybit.com": "stream-testnet.bybit.com",
	"api-demo.bybit.com":    "stream-demo.bybit.com",
}

// applyBaseURL points a client at base: REST there, and the streams at
// base's stream host (a testnet's), or at base itself (the loopback fake
// serves all from one host).
func applyBaseURL(cfg *Config, base string) {
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
	if h, ok := streamHosts[u.Hostname()]; ok {
		ws.Host = h
	}
	cfg.PublicWSURL = ws.String() + "/v5/public/spot"
	cfg.PrivateWSURL = ws.String() + "/v5/private"
	cfg.LinearWSURL = ws.String() + "/v5/public/linear"
}
