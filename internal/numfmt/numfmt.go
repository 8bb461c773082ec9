// Package numfmt formats decimal amounts for people: CLI tables and
// dashboard pages. Amounts are rounded half away from zero for reading and
// thousands separated; the API, the journal and every --json output keep
// the exact decimal strings and never pass through here.
//
// It owns presentation only: it never parses, and it never turns a decimal
// into a float.
package numfmt

import (
	"strings"

	"github.com/quagmt/udecimal"
)

// Decimal is the money type of tradeplane.
type Decimal = udecimal.Decimal

// cashLike are assets shown like money, to two decimals: fiat currencies
// and the dollar stablecoins a desk counts as cash.
var cashLike = map[string]bool{
	"USD": true, "EUR": true, "GBP": true, "JPY": true, "CHF": true, "TRY": true, "BRL": true,
	"USDT": true, "USDC": true, "FDUSD": true, "BUSD": true, "TUSD": true, "DAI": true, "USDP": true,
}

// Decimals is how many decimals an amount of asset is shown with: 2 for
// cash-like assets (fiat and dollar stablecoins), 8 (Binance's precision
// for crypto balances) for anything else.
func Decimals(asset string) int {
	if cashLike[strings.ToUpper(asset)] {
		return 2
	}
	return 8
}

// Group writes s, a plain decimal ("-1234567.5"), with a comma every three
// integer digits ("-1,234,567.5").
func Group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(fp)
	}
	return b.String()
}

// Fixed rounds d half away from zero to exactly places decimals and groups
// thousands: Fixed(15203.2725, 2) = "15,203.27", Fixed(2500, 2) =
// "2,500.00". A value that rounds to zero is "0.00", never "-0.00".
func Fixed(d Decimal, places int) string {
	r := d.RoundHAZ(uint8(places))
	if r.IsZero() {
		r = udecimal.Zero
	}
	s := r.String()
	if places > 0 {
		ip, fp, _ := strings.Cut(s, ".")
		if len(fp) < places {
			fp += strings.Repeat("0", places-len(fp))
		}
		s = ip + "." + fp
	}
	return Group(s)
}

// Money is an amount of a valuation currency: two decimals, thousands
// separated ("232.85" for 232.8514567322).
func Money(d Decimal) string { return Fixed(d, 2) }

// Amount is a quantity of asset to the asset's precision (see Decimals):
// cash-like assets to exactly two decimals, others to at most eight with
// trailing zeros dropped ("0.75", "1,204.5"). Dust that rounds to nothing
// reads "<0.00000001", never a misleading "0".
func Amount(d Decimal, asset string) string {
	places := Decimals(asset)
	if places == 2 {
		return Fixed(d, 2)
	}
	return Trim(d, places)
}

// Trim rounds d to at most places decimals, drops trailing zeros and
// groups thousands. Dust that rounds to zero is shown as "<0.00000001"
// (at places = 8), signed like d.
func Trim(d Decimal, places int) string {
	r := d.RoundHAZ(uint8(places))
	if r.IsZero() {
		if d.IsZero() {
			return "0"
		}
		dust := "<0." + strings.Repeat("0", places-1) + "1"
		if d.IsNeg() {
			return "-" + dust
		}
		return dust
	}
	s := r.String()
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return Group(s)
}

// Price is a unit price: two decimals from 1 up ("23,140.48"), else up to
// eight decimals with trailing zeros dropped ("0.00001234").
func Price(d Decimal) string {
	if !d.Abs().LessThan(udecimal.One) {
		return Money(d)
	}
	return Trim(d, 8)
}

// PnL is a signed money amount: "+1,234.50", "-12.00", "0.00" (zero has
// no sign).
func PnL(d Decimal) string {
	s := Money(d)
	if d.RoundHAZ(2).IsPos() {
		return "+" + s
	}
	return s
}

// SignedAmount is a signed amount of asset to the asset's precision (see
// Amount): "+0.0012" BTC, "-12.00" USDT; an amount that rounds to zero has
// no sign. For PnL quoted in something other than the valuation currency.
func SignedAmount(d Decimal, asset string) string {
	s := Amount(d, asset)
	if d.IsPos() && s != "0" && s != "0.00" {
		return "+" + s
	}
	return s
}

// Percent shows a ratio as a percentage to at most two decimals:
// Percent(0.9875) = "98.75%", Percent(1) = "100%".
func Percent(ratio Decimal) string {
	return Trim(ratio.Mul(udecimal.MustFromInt64(100, 0)), 2) + "%"
}

// PercentString is Percent of a ratio written as an exact decimal string
// (as reports carry them); "" or anything unparsable reads "-".
func PercentString(ratio string) string {
	d, err := udecimal.Parse(ratio)
	if err != nil {
		return "-"
	}
	return Percent(d)
}

// MoneyString is Money of an amount written as an exact decimal string;
// "" or anything unparsable reads "-".
func MoneyString(s string) string {
	d, err := udecimal.Parse(s)
	if err != nil {
		return "-"
	}
	return Money(d)
}

// Sign is -1, 0 or 1 as d rounds to a negative, zero or positive amount
// of money (two decimals): what colour its PnL is shown in.
func Sign(d Decimal) int {
	r := d.RoundHAZ(2)
	switch {
	case r.IsPos():
		return 1
	case r.IsNeg():
		return -1
	}
	return 0
}

// Class is the CSS class of a PnL cell: "pos", "neg" or "zero".
func Class(d Decimal) string {
	return [...]string{"neg", "zero", "pos"}[Sign(d)+1]
}

// ANSI colours for terminals. All three are five bytes and the reset four,
// so a column of coloured cells stays aligned in a tabwriter.
const (
	ansiGreen = "\x1b[32m"
	ansiRed   = "\x1b[31m"
	ansiPlain = "\x1b[39m"
	ansiReset = "\x1b[0m"
)

// Colour wraps s in green (sign > 0), red (sign < 0) or the default
// colour (0) for a terminal; with on false it returns s unchanged.
func Colour(s string, sign int, on bool) string {
	if !on {
		return s
	}
	c := ansiPlain
	switch {
	case sign > 0:
		c = ansiGreen
	case sign < 0:
		c = ansiRed
	}
	return c + s + ansiReset
}
