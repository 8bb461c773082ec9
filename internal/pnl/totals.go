package pnl

// ScopeTotals is the PnL of several sessions together (a scope).
type ScopeTotals struct {
	Realized, Unrealized, Fees, Net Decimal
}

// SumTotals adds the totals of a scope's sessions' reports: realized, fees
// and net add up; unrealized is what net leaves (net = realized − fees +
// unrealized).
func SumTotals(totals ...Total) ScopeTotals {
	var sum ScopeTotals
	for _, t := range totals {
		sum.Realized = sum.Realized.Add(t.RealizedPnL)
		sum.Fees = sum.Fees.Add(t.FeesQuote)
		sum.Net = sum.Net.Add(t.NetPnL)
	}
	sum.Unrealized = sum.Net.Sub(sum.Realized).Add(sum.Fees)
	return sum
}
