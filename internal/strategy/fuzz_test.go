package strategy_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/fieldcheck"
	"github.com/tradeplane/tradeplane/internal/strategy"
)

// FuzzSessionParams feeds arbitrary parameter objects to the API's params
// check and to every built-in strategy's factory, as session creation and
// PATCH params do: nothing panics, a refusal is a *fieldcheck.Error or a
// *strategy.ParamsError with a reason, and an accepted strategy steps no faster than its
// minimum. The seed corpus is in testdata/fuzz/FuzzSessionParams.
func FuzzSessionParams(f *testing.F) {
	f.Add([]byte(`{"symbol":"BTCUSDT","quote_amount":"10","interval":"1h"}`))
	f.Add([]byte(`{"symbol":"BTCUSDT","lower":"45000","upper":"55000","levels":3,"quantity":"0.001","interval":"1h"}`))
	f.Add([]byte(`{"symbol":"BTCUSDT","side":"buy","quantity":"0.01","duration":"10h","slices":10}`))
	f.Add([]byte(`{"targets":{"BTC":"0.5","USDT":"0.5"},"threshold":"0.02","interval":"1h"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := fieldcheck.Params("params", raw); err != nil {
			var fe *fieldcheck.Error
			if !errors.As(err, &fe) {
				t.Fatalf("params check: %T %v is not a *fieldcheck.Error", err, err)
			}
			return
		}
		for _, name := range []string{"dca", "grid", "rebalance", "twap"} { // the built-in ones, not the tests'
			info, err := strategy.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			s, err := strategy.New(info.Name, json.RawMessage(raw))
			if err != nil {
				var pe *strategy.ParamsError
				if !errors.As(err, &pe) || pe.Reason == "" {
					t.Fatalf("%s: %T %v is not a *strategy.ParamsError with a reason", info.Name, err, err)
				}
				continue
			}
			min := info.MinInterval
			if min <= 0 {
				min = strategy.DefaultMinInterval
			}
			if s.Interval() < min {
				t.Fatalf("%s accepted an interval of %s, under its minimum %s", info.Name, s.Interval(), min)
			}
		}
	})
}
