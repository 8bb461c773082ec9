package strategy_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/strategy"
	_ "github.com/tradeplane/tradeplane/internal/strategy/builtin"
)

// Every strategy has a minimum step interval (default 1 s): "1ns" ran 10k
// steps in 5 s. A shorter interval is a ParamsError naming "interval".
func TestStrategyMinimumInterval(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, params string
		ok           bool
	}{
		{"dca", `{"symbol":"BTCUSDT","quote_amount":"10","interval":"1ns"}`, false},
		{"dca", `{"symbol":"BTCUSDT","quote_amount":"10","interval":"999ms"}`, false},
		{"dca", `{"symbol":"BTCUSDT","quote_amount":"10","interval":"1s"}`, true},
		{"grid", `{"symbol":"BTCUSDT","lower":"45000","upper":"55000","levels":3,"quantity":"0.001","interval":"1ns"}`, false},
		{"twap", `{"symbol":"BTCUSDT","side":"buy","quantity":"0.01","duration":"1s","slices":100}`, false},
		{"twap", `{"symbol":"BTCUSDT","side":"buy","quantity":"0.01","duration":"10h","slices":10}`, true},
	} {
		_, err := strategy.New(c.name, json.RawMessage(c.params))
		var pe *strategy.ParamsError
		switch {
		case c.ok && err != nil:
			t.Errorf("%s %s: %v, want accepted", c.name, c.params, err)
		case !c.ok && (!errors.As(err, &pe) || pe.Field != "interval"):
			t.Errorf("%s %s: %v, want a ParamsError naming interval", c.name, c.params, err)
		}
	}
}

type every time.Duration

func (e every) Interval() time.Duration { return time.Duration(e) }
func (every) Step(context.Context, strategy.Env) (strategy.StepResult, error) {
	return strategy.StepResult{}, nil
}

// A strategy may declare a shorter minimum than the default.
func TestStrategyDeclaredMinimum(t *testing.T) {
	t.Parallel()
	strategy.Register(strategy.Info{Name: "test-fast", MinInterval: 10 * time.Millisecond,
		Factory: func(raw json.RawMessage) (strategy.Strategy, error) {
			d, err := time.ParseDuration(string(raw))
			return every(d), err
		}})
	if _, err := strategy.New("test-fast", json.RawMessage("20ms")); err != nil {
		t.Errorf("20ms over a 10ms minimum: %v", err)
	}
	if _, err := strategy.New("test-fast", json.RawMessage("5ms")); err == nil {
		t.Errorf("5ms under a 10ms minimum was accepted")
	}
}
