package binance

import (
	"fmt"
	"net/url"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// FuturesName is Binance USDⓈ-M futures' name in the venue registry: the
// same Binance key as a "binance" account, trading its perpetuals.
const FuturesName = "binance-futures"

func init() {
	venue.Register(venue.Kind{Name: FuturesName,
		Description: "Binance USDⓈ-M futures (linear perpetuals: orders, positions, funding; the futures wallet)",
		Credentials: true, Trades: true, Positions: true, Open: openFutures})
}

// SharedFuturesKeys is what env.Shared answers, for a binance account, with
// a func(apiKey string) bool that tells whether a binance-futures account of
// the same key exists: that account reports the USDⓈ-M futures wallet, so
// the binance one leaves it out of its balances and a desk counts it once.
const SharedFuturesKeys = "binance/futures-keys"

// FuturesSettings is what a process shares with its binance-futures
// accounts (env.Shared(FuturesName)): the leverage and margin type to set
// per symbol before its first order.
type FuturesSettings struct {
	Leverage   map[string]int
	MarginType map[string]venue.MarginMode
}

// futuresTestnetWS is the stream host of Binance's futures testnet, whose
// REST host serves no websockets.
var futuresTestnetWS = map[string]string{"testnet.binancefuture.com": "wss://fstream.binancefuture.com"}

// openFutures opens a binance-futures account: a Client as open builds it
// (the same budgets, shared per host; its clock from /fapi/v1/time) and its
// Futures, with the process's FuturesSettings.
func openFutures(env venue.Env, a venue.Account) (venue.Venue, error) {
	c, err := openClient(env, a, true)
	if err != nil {
		return nil, err
	}
	var opt FuturesOptions
	if s, ok := env.Value(FuturesName).(*FuturesSettings); ok && s != nil {
		opt.Leverage, opt.MarginType = s.Leverage, s.MarginType
	}
	if a.BaseURL != "" {
		var cfg Config
		applyBaseURL(&cfg, a.BaseURL)
		opt.WSBaseURL = cfg.WSBaseURL
		if u, err := url.Parse(a.BaseURL); err == nil && futuresTestnetWS[u.Hostname()] != "" {
			opt.WSBaseURL = futuresTestnetWS[u.Hostname()]
		}
	}
	f, err := c.Futures(opt)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	return f, nil
}
