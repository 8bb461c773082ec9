package strategy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// FloorStep rounds q down to a multiple of step; a zero step leaves q.
func FloorStep(q, step Decimal) Decimal {
	if !step.IsPos() {
		return q
	}
	r, err := q.Mod(step)
	if err != nil {
		return q
	}
	if r.IsNeg() {
		r = r.Add(step)
	}
	return q.Sub(r)
}

// CeilStep rounds q up to a multiple of step; a zero step leaves q.
func CeilStep(q, step Decimal) Decimal {
	f := FloorStep(q, step)
	if f.Equal(q) {
		return q
	}
	return f.Add(step)
}

// FloorQty rounds a base quantity down to the symbol's step size and caps
// it at MaxQty.
func FloorQty(s venue.Symbol, q Decimal) Decimal {
	q = FloorStep(q, s.StepSize)
	if s.MaxQty.IsPos() && q.GreaterThan(s.MaxQty) {
		q = FloorStep(s.MaxQty, s.StepSize)
	}
	return q
}

// RoundPrice rounds a price to the symbol's tick: down for a buy, up for a
// sell, so rounding never makes the order more aggressive.
func RoundPrice(s venue.Symbol, side venue.Side, p Decimal) Decimal {
	if side == venue.Sell {
		return CeilStep(p, s.TickSize)
	}
	return FloorStep(p, s.TickSize)
}

// Tradable reports whether quantity q at price p passes the symbol's
// minimum quantity and minimum notional, and says why not.
func Tradable(s venue.Symbol, p, q Decimal) (bool, string) {
	if !q.IsPos() {
		return false, "quantity rounds to zero"
	}
	if s.MinQty.IsPos() && q.LessThan(s.MinQty) {
		return false, fmt.Sprintf("quantity %s below minimum %s", q, s.MinQty)
	}
	if n := p.Mul(q); s.MinNotional.IsPos() && n.LessThan(s.MinNotional) {
		return false, fmt.Sprintf("notional %s below minimum %s", n, s.MinNotional)
	}
	return true, ""
}

// QtyForQuote is the largest tradable base quantity costing at most quote
// at price p, rounded down to the step; zero when p is not positive.
func QtyForQuote(s venue.Symbol, quote, p Decimal) Decimal {
	if !p.IsPos() {
		return Decimal{}
	}
	q, err := quote.Div(p)
	if err != nil {
		return Decimal{}
	}
	return FloorQty(s, q)
}

// Duration is a time.Duration that reads and writes JSON as "90s" or a
// number of seconds, for strategy parameters.
type Duration time.Duration

// MarshalJSON writes a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1m30s" or seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration: want \"1m\" or seconds, got %s", b)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// DecodeParams decodes params strictly (unknown fields are errors) into v,
// reporting failures as *ParamsError for strategy name.
func DecodeParams(name string, params json.RawMessage, v any) error {
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	if err := decodeStrict(params, v); err != nil {
		return &ParamsError{Strategy: name, Field: "", Reason: err.Error()}
	}
	return nil
}

// MustDecimal parses a decimal literal; for tests and constants.
func MustDecimal(s string) Decimal { return udecimal.MustParse(s) }

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
