// Package builtin registers tradeplane's built-in venues (binance, bybit,
// paper) in the venue registry by importing them; the server and the CLI
// import it for that side effect. A new venue is one package that calls
// venue.Register in its init, plus one import line here.
package builtin

import (
	_ "github.com/tradeplane/tradeplane/internal/venue/binance" // registers binance
	_ "github.com/tradeplane/tradeplane/internal/venue/bybit"   // registers bybit
	_ "github.com/tradeplane/tradeplane/internal/venue/paper"   // registers paper
)
