package main

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// futuresSymbolPattern is what a USDⓈ-M symbol may look like.
var futuresSymbolPattern = regexp.MustCompile(`^[A-Z0-9]{2,20}$`)

// parseFuturesLeverage reads the --futures-leverage SYMBOL=N values of
// serve and of accounts add (1 to 125, Binance's range).
func parseFuturesLeverage(vals []string) (map[string]int, error) {
	out := map[string]int{}
	for _, v := range vals {
		sym, n, ok := strings.Cut(v, "=")
		sym = strings.ToUpper(strings.TrimSpace(sym))
		l, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || !futuresSymbolPattern.MatchString(sym) || err != nil || l < 1 || l > 125 {
			return nil, usagef("--futures-leverage %q: want SYMBOL=N with N from 1 to 125, e.g. BTCUSDT=5", v)
		}
		out[sym] = l
	}
	return out, nil
}

// parseFuturesMarginType reads the --futures-margin-type
// SYMBOL=cross|isolated values of serve and of accounts add.
func parseFuturesMarginType(vals []string) (map[string]venue.MarginMode, error) {
	out := map[string]venue.MarginMode{}
	for _, v := range vals {
		sym, m, ok := strings.Cut(v, "=")
		sym = strings.ToUpper(strings.TrimSpace(sym))
		mode := venue.MarginMode(strings.ToLower(strings.TrimSpace(m)))
		if !ok || !futuresSymbolPattern.MatchString(sym) || (mode != venue.MarginCross && mode != venue.MarginIsolated) {
			return nil, usagef("--futures-margin-type %q: want SYMBOL=cross or SYMBOL=isolated, e.g. BTCUSDT=isolated", v)
		}
		out[sym] = mode
	}
	return out, nil
}
