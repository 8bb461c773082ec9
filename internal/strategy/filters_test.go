package strategy_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

var d = strategy.MustDecimal

func TestRounding(t *testing.T) {
	t.Parallel()
	sym := venue.Symbol{Name: "BTCUSDT", TickSize: d("0.01"), StepSize: d("0.00001"), MinQty: d("0.00001"), MaxQty: d("9000"), MinNotional: d("5")}
	for _, tc := range []struct{ name, got, want string }{
		{"floor step", strategy.FloorStep(d("0.123456789"), d("0.00001")).String(), "0.12345"},
		{"floor exact", strategy.FloorStep(d("0.12"), d("0.01")).String(), "0.12"},
		{"floor step 5", strategy.FloorStep(d("17"), d("5")).String(), "15"},
		{"floor zero step", strategy.FloorStep(d("1.23456"), d("0")).String(), "1.23456"},
		{"ceil step", strategy.CeilStep(d("100.001"), d("0.01")).String(), "100.01"},
		{"ceil exact", strategy.CeilStep(d("100.01"), d("0.01")).String(), "100.01"},
		{"buy price down", strategy.RoundPrice(sym, venue.Buy, d("33333.339")).String(), "33333.33"},
		{"sell price up", strategy.RoundPrice(sym, venue.Sell, d("33333.331")).String(), "33333.34"},
		{"max qty cap", strategy.FloorQty(sym, d("12345.678901")).String(), "9000"},
		{"qty for quote", strategy.QtyForQuote(sym, d("100"), d("33333.33")).String(), "0.003"},
		{"qty for quote tiny", strategy.QtyForQuote(sym, d("0.0001"), d("50000")).String(), "0"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	for _, tc := range []struct {
		p, q string
		ok   bool
	}{{"50000", "0.0001", true}, {"50000", "0.00009", false}, {"50000", "0", false}, {"1", "0.000001", false}} {
		if ok, why := strategy.Tradable(sym, d(tc.p), d(tc.q)); ok != tc.ok {
			t.Errorf("Tradable(%s, %s) = %v (%s), want %v", tc.p, tc.q, ok, why, tc.ok)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	var v struct{ D strategy.Duration }
	for in, want := range map[string]time.Duration{`{"D":"1m30s"}`: 90 * time.Second, `{"D":2.5}`: 2500 * time.Millisecond} {
		if err := json.Unmarshal([]byte(in), &v); err != nil || time.Duration(v.D) != want {
			t.Errorf("%s: got %v %v, want %v", in, time.Duration(v.D), err, want)
		}
	}
	if b, _ := json.Marshal(strategy.Duration(time.Hour)); string(b) != `"1h0m0s"` {
		t.Errorf("marshal: %s", b)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	if _, err := strategy.New("no-such", nil); !errors.Is(err, strategy.ErrUnknown) {
		t.Fatalf("got %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate registration did not panic")
		}
	}()
	f := func(json.RawMessage) (strategy.Strategy, error) { return nil, nil }
	strategy.Register(strategy.Info{Name: "dup-test", Factory: f})
	strategy.Register(strategy.Info{Name: "dup-test", Factory: f})
}

func TestDecodeParamsIsStrict(t *testing.T) {
	t.Parallel()
	var p struct{ A int }
	var pe *strategy.ParamsError
	if err := strategy.DecodeParams("x", json.RawMessage(`{"A":1,"B":2}`), &p); !errors.As(err, &pe) {
		t.Fatalf("unknown field: got %v", err)
	}
}
