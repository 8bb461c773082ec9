// Package builtin registers tradeplane's built-in strategies (dca, grid,
// rebalance, twap) by importing them; the server imports it for that side
// effect. A new built-in is one package plus one import line here.
package builtin

import (
	_ "github.com/tradeplane/tradeplane/internal/strategy/dca"       // registers dca
	_ "github.com/tradeplane/tradeplane/internal/strategy/grid"      // registers grid
	_ "github.com/tradeplane/tradeplane/internal/strategy/rebalance" // registers rebalance
	_ "github.com/tradeplane/tradeplane/internal/strategy/twap"      // registers twap
)
