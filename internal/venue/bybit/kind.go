package bybit

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is Bybit's name in the venue registry.
const Name = "bybit"

func init() {
	venue.Register(venue.Kind{Name: Name, Description: "Bybit V5 unified trading account",
		Credentials: true, Trades: true, Positions: true, Open: open})
}

// open opens a Bybit account: mainnet, or a.BaseURL's host.
func open(env venue.Env, a venue.Account) (venue.Venue, error) {
	cfg := Config{APIKey: a.APIKey, APISecret: string(a.Secret), RecvWindow: env.RecvWindow}
	if a.BaseURL != "" {
		applyBaseURL(&cfg, a.BaseURL)
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
}
