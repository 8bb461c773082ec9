package rebalance_test

import (
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/strategy/strategytest"
)

func strategytestNew(b *strategytest.Bundle) (strategy.Strategy, error) {
	return strategy.New("rebalance", b.Env.ParamsJSON)
}
