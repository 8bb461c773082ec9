package numfmt_test

import (
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/numfmt"
)

func TestFormats(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"money rounds", numfmt.Money(d("232.8514567322")), "232.85"},
		{"money pads", numfmt.Money(d("2500")), "2,500.00"},
		{"money groups", numfmt.Money(d("15203.2725")), "15,203.27"},
		{"money half away", numfmt.Money(d("-0.005")), "-0.01"},
		{"money no minus zero", numfmt.Money(d("-0.004")), "0.00"},
		{"money millions", numfmt.Money(d("-1234567.891")), "-1,234,567.89"},
		{"amount cash", numfmt.Amount(d("5000"), "USDT"), "5,000.00"},
		{"amount crypto trims", numfmt.Amount(d("0.75000000"), "BTC"), "0.75"},
		{"amount crypto 8", numfmt.Amount(d("0.123456789"), "ETH"), "0.12345679"},
		{"amount crypto whole", numfmt.Amount(d("1204"), "BNB"), "1,204"},
		{"amount dust", numfmt.Amount(d("0.000000001"), "BTC"), "<0.00000001"},
		{"amount neg dust", numfmt.Amount(d("-0.000000001"), "BTC"), "-<0.00000001"},
		{"amount zero", numfmt.Amount(d("0"), "BTC"), "0"},
		{"price large", numfmt.Price(d("23140.4812")), "23,140.48"},
		{"price small", numfmt.Price(d("0.0000123400")), "0.00001234"},
		{"pnl positive", numfmt.PnL(d("1234.5")), "+1,234.50"},
		{"pnl negative", numfmt.PnL(d("-12")), "-12.00"},
		{"pnl zero", numfmt.PnL(d("0.001")), "0.00"},
		{"signed crypto", numfmt.SignedAmount(d("0.00123"), "BTC"), "+0.00123"},
		{"signed cash", numfmt.SignedAmount(d("-12"), "USDT"), "-12.00"},
		{"signed zero", numfmt.SignedAmount(d("0.001"), "USDT"), "0.00"},
		{"percent", numfmt.Percent(d("0.98754")), "98.75%"},
		{"percent whole", numfmt.Percent(d("1")), "100%"},
		{"percent string", numfmt.PercentString("0.5"), "50%"},
		{"percent string empty", numfmt.PercentString(""), "-"},
		{"money string", numfmt.MoneyString("1234.5678"), "1,234.57"},
		{"money string empty", numfmt.MoneyString(""), "-"},
		{"class", numfmt.Class(d("-3")) + numfmt.Class(d("0.004")) + numfmt.Class(d("7")), "negzeropos"},
		{"colour off", numfmt.Colour("+1.00", 1, false), "+1.00"},
		{"colour green", numfmt.Colour("+1.00", 1, true), "\x1b[32m+1.00\x1b[0m"},
		{"colour red", numfmt.Colour("-1.00", -1, true), "\x1b[31m-1.00\x1b[0m"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestColourWidthsAlign(t *testing.T) {
	t.Parallel()
	a, b, c := numfmt.Colour("x", 1, true), numfmt.Colour("x", -1, true), numfmt.Colour("x", 0, true)
	if len(a) != len(b) || len(b) != len(c) {
		t.Fatalf("coloured cells differ in bytes (%d, %d, %d): a tabwriter column would misalign", len(a), len(b), len(c))
	}
}
