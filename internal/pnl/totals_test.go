package pnl

import "testing"

func TestSumTotals(t *testing.T) {
	t.Parallel()
	sum := SumTotals(
		Total{RealizedPnL: dec("10"), FeesQuote: dec("1"), NetPnL: dec("12")},
		Total{RealizedPnL: dec("-4"), FeesQuote: dec("0.5"), NetPnL: dec("-5.5")},
	)
	// net = realized − fees + unrealized: 6.5 = 6 − 1.5 + 2
	if sum.Realized.String() != "6" || sum.Fees.String() != "1.5" || sum.Net.String() != "6.5" || sum.Unrealized.String() != "2" {
		t.Fatalf("got %+v", sum)
	}
}
