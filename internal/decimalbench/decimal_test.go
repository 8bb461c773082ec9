package decimalbench

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/apd/v3"
	govalues "github.com/govalues/decimal"
	"github.com/quagmt/udecimal"
	"github.com/shopspring/decimal"
)

// The exactness requirement: a 1e15-unit amount with 8 decimals times a small
// rate, whose exact product has 16 fraction digits and 27 significant digits.
const (
	bigAmount = "1000000000000000.12345678"
	smallRate = "0.00001234"
	wantExact = "12340000000.0000015234566652"
)

// candidate is one library under test, reduced to what the exactness check needs.
type candidate struct {
	name   string
	chosen bool
	// mulString parses a and b and returns a×b as a string, or an error when
	// the library refuses; it must not hide rounding.
	mulString func(a, b string) (string, error)
}

var candidates = []candidate{
	{name: "quagmt/udecimal", chosen: true, mulString: func(a, b string) (string, error) {
		x, err := udecimal.Parse(a)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", a, err)
		}
		y, err := udecimal.Parse(b)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", b, err)
		}
		return x.Mul(y).String(), nil
	}},
	{name: "cockroachdb/apd/v3 (34 digits)", mulString: func(a, b string) (string, error) {
		x, _, err := apd.NewFromString(a)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", a, err)
		}
		y, _, err := apd.NewFromString(b)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", b, err)
		}
		var z apd.Decimal
		cond, err := apd.BaseContext.WithPrecision(34).Mul(&z, x, y)
		if err != nil {
			return "", fmt.Errorf("mul: %w", err)
		}
		if cond.Inexact() {
			return z.String(), fmt.Errorf("mul: inexact (%s)", cond)
		}
		return z.Text('f'), nil
	}},
	{name: "shopspring/decimal", mulString: func(a, b string) (string, error) {
		x, err := decimal.NewFromString(a)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", a, err)
		}
		y, err := decimal.NewFromString(b)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", b, err)
		}
		return x.Mul(y).String(), nil
	}},
	{name: "govalues/decimal", mulString: func(a, b string) (string, error) {
		x, err := govalues.Parse(a)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", a, err)
		}
		y, err := govalues.Parse(b)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", b, err)
		}
		z, err := x.Mul(y)
		if err != nil {
			return "", fmt.Errorf("mul: %w", err)
		}
		return z.Trim(0).String(), nil
	}},
}

// TestExactProduct requires the chosen library to multiply a 1e15-unit
// amount with 8 decimals exactly, and records how each other candidate fares
// so the reason for the choice stays visible in test output.
func TestExactProduct(t *testing.T) {
	t.Parallel()
	for _, c := range candidates {
		got, err := c.mulString(bigAmount, smallRate)
		exact := err == nil && got == wantExact
		switch {
		case c.chosen && !exact:
			t.Errorf("%s: %s × %s = %q (err %v), want %q", c.name, bigAmount, smallRate, got, err, wantExact)
		case exact:
			t.Logf("%s: exact (%s)", c.name, got)
		default:
			t.Logf("%s: FAILS exactness: got %q, err %v", c.name, got, err)
		}
	}
}

// TestGovaluesRoundsOnParse pins down why govalues is not a candidate: its
// 19-digit coefficient silently rounds the amount when parsing, with no error.
func TestGovaluesRoundsOnParse(t *testing.T) {
	t.Parallel()
	d, err := govalues.Parse(bigAmount)
	if err != nil {
		t.Logf("govalues refuses %q: %v", bigAmount, err)
		return
	}
	if d.String() == bigAmount {
		t.Fatalf("govalues now parses %q exactly; revisit docs/BENCHMARKS.md", bigAmount)
	}
	t.Logf("govalues parses %q as %q without an error", bigAmount, d.String())
}

// n is the number of values every benchmark iteration processes.
const n = 1_000_000

// inputs returns n price-like strings (up to 1e6 with 8 decimals) and n
// quantity-like strings (up to 100 with 8 decimals), seeded so runs compare.
var inputs = sync.OnceValues(func() (prices, qtys []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	prices = make([]string, n)
	qtys = make([]string, n)
	for i := range n {
		prices[i] = fmt.Sprintf("%d.%08d", rng.IntN(1_000_000), rng.IntN(100_000_000))
		qtys[i] = fmt.Sprintf("%d.%08d", rng.IntN(100), rng.IntN(100_000_000))
	}
	return prices, qtys
})

// perValue reports the time and allocations per processed value, the
// figures in BENCHMARKS.md.
func perValue(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/value")
}

func parseAll[T any](b *testing.B, parse func(string) (T, error), ss []string) []T {
	b.Helper()
	out := make([]T, len(ss))
	for i, s := range ss {
		v, err := parse(s)
		if err != nil {
			b.Fatalf("parse %q: %v", s, err)
		}
		out[i] = v
	}
	return out
}

func apdParse(s string) (*apd.Decimal, error) {
	d, _, err := apd.NewFromString(s)
	return d, err
}

// sink keeps results alive so the compiler cannot drop the work; it is
// assigned once per benchmark so boxing costs no allocation per value.
var sink any

func BenchmarkParse(b *testing.B) {
	prices, _ := inputs()
	b.Run("udecimal", func(b *testing.B) {
		var d udecimal.Decimal
		for b.Loop() {
			for _, s := range prices {
				var err error
				if d, err = udecimal.Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		}
		sink = d
		perValue(b)
	})
	b.Run("apd", func(b *testing.B) {
		var d apd.Decimal
		for b.Loop() {
			for _, s := range prices {
				if _, _, err := d.SetString(s); err != nil {
					b.Fatal(err)
				}
			}
		}
		sink = d
		perValue(b)
	})
	b.Run("shopspring", func(b *testing.B) {
		var d decimal.Decimal
		for b.Loop() {
			for _, s := range prices {
				var err error
				if d, err = decimal.NewFromString(s); err != nil {
					b.Fatal(err)
				}
			}
		}
		sink = d
		perValue(b)
	})
	b.Run("govalues", func(b *testing.B) {
		var d govalues.Decimal
		for b.Loop() {
			for _, s := range prices {
				var err error
				if d, err = govalues.Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		}
		sink = d
		perValue(b)
	})
}

func BenchmarkAdd(b *testing.B) {
	prices, _ := inputs()
	b.Run("udecimal", func(b *testing.B) {
		xs := parseAll(b, udecimal.Parse, prices)
		for b.Loop() {
			var sum udecimal.Decimal
			for _, x := range xs {
				sum = sum.Add(x)
			}
			sink = sum
		}
		perValue(b)
	})
	b.Run("apd", func(b *testing.B) {
		xs := parseAll(b, apdParse, prices)
		ctx := apd.BaseContext.WithPrecision(34)
		for b.Loop() {
			var sum apd.Decimal
			for _, x := range xs {
				if _, err := ctx.Add(&sum, &sum, x); err != nil {
					b.Fatal(err)
				}
			}
			sink = sum
		}
		perValue(b)
	})
	b.Run("shopspring", func(b *testing.B) {
		xs := parseAll(b, decimal.NewFromString, prices)
		for b.Loop() {
			sum := decimal.Zero
			for _, x := range xs {
				sum = sum.Add(x)
			}
			sink = sum
		}
		perValue(b)
	})
	b.Run("govalues", func(b *testing.B) {
		xs := parseAll(b, govalues.Parse, prices)
		for b.Loop() {
			var sum govalues.Decimal
			for _, x := range xs {
				var err error
				if sum, err = sum.Add(x); err != nil {
					b.Fatal(err)
				}
			}
			sink = sum
		}
		perValue(b)
	})
}

func BenchmarkMul(b *testing.B) {
	prices, qtys := inputs()
	b.Run("udecimal", func(b *testing.B) {
		xs, ys := parseAll(b, udecimal.Parse, prices), parseAll(b, udecimal.Parse, qtys)
		var z udecimal.Decimal
		for b.Loop() {
			for i := range xs {
				z = xs[i].Mul(ys[i])
			}
		}
		sink = z
		perValue(b)
	})
	b.Run("apd", func(b *testing.B) {
		xs, ys := parseAll(b, apdParse, prices), parseAll(b, apdParse, qtys)
		ctx := apd.BaseContext.WithPrecision(34)
		var z apd.Decimal
		for b.Loop() {
			for i := range xs {
				if _, err := ctx.Mul(&z, xs[i], ys[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		sink = z
		perValue(b)
	})
	b.Run("shopspring", func(b *testing.B) {
		xs, ys := parseAll(b, decimal.NewFromString, prices), parseAll(b, decimal.NewFromString, qtys)
		var z decimal.Decimal
		for b.Loop() {
			for i := range xs {
				z = xs[i].Mul(ys[i])
			}
		}
		sink = z
		perValue(b)
	})
	b.Run("govalues", func(b *testing.B) {
		xs, ys := parseAll(b, govalues.Parse, prices), parseAll(b, govalues.Parse, qtys)
		var z govalues.Decimal
		for b.Loop() {
			for i := range xs {
				var err error
				if z, err = xs[i].Mul(ys[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		sink = z
		perValue(b)
	})
}

// TestUdecimalLimit records the chosen library's known limit so callers
// design around it: at most 19 fraction digits, and a product that needs more
// is truncated toward zero (pnl checks operand precision before multiplying).
func TestUdecimalLimit(t *testing.T) {
	t.Parallel()
	x := udecimal.MustParse("0.1234567890123")
	got := x.Mul(x).String()
	const exact = "0.01524157875322755800955129" // 26 fraction digits
	if got == exact {
		t.Fatalf("udecimal now keeps %d fraction digits; update the note in docs/BENCHMARKS.md", len(exact)-2)
	}
	if want := "0.015241578753227558"; got != want { // 19 digits, trailing zero trimmed
		t.Fatalf("0.1234567890123² = %q, want truncation to %q", got, want)
	}
	if _, err := udecimal.Parse("0.12345678901234567890"); err == nil {
		t.Fatal("udecimal accepted 20 fraction digits; update the note in docs/BENCHMARKS.md")
	}
}
