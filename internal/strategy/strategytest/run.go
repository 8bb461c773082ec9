package strategytest

import (
	"testing"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Step builds a fresh strategy (as after a restart: only Env state
// carries over) and runs one step, failing tb on error. It returns the
// result and the orders placed in the step.
func (b *Bundle) Step(tb testing.TB, name string) (strategy.StepResult, []venue.Order) {
	tb.Helper()
	s, err := strategy.New(name, b.Env.ParamsJSON)
	if err != nil {
		tb.Fatal(err)
	}
	b.Env.NextStep()
	before := len(b.Env.Placed)
	res, err := s.Step(tb.Context(), b.Env)
	if err != nil {
		tb.Fatalf("step: %v", err)
	}
	return res, b.Env.Placed[before:]
}
