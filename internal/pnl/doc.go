// Package pnl is the PnL engine: it turns fills into realized and unrealized
// PnL, fees and net PnL per symbol, exactly as "PnL definitions (contract)"
// in ARCHITECTURE.md says, and computes interval averages and the accuracy of
// one interval series against another.
//
// Everything here is pure: no database, no clock, no network. Money is
// venue.Decimal (udecimal); no float64 touches an amount.
//
// # State and exactness
//
// Per symbol the engine keeps the signed position Q, the exact cost basis C
// (the signed notional of the open position: what the open lots cost, negative
// for a short), realized R and fees F in the quote asset. The average entry is
// A = C / Q. Keeping C instead of A makes PnL exact: on a reduction the cost
// removed is moved from C to R as one amount, so R − C changes by exactly the
// fill's signed notional and
//
//	net_pnl = R − F + Q×mark − C = Σ sell notional − Σ buy notional − (fees not paid in base) + Q×mark
//
// holds to the last decimal for both methods, whatever the rounding below.
// unrealized_pnl is Q×mark − C, which is Q×(mark − A) with the exact A.
//
// # Rounding
//
// Sums and products are exact (udecimal keeps up to 19 fraction digits; the
// engine refuses a fill or mark whose products would need more, see
// ErrPrecision). Divisions round toward zero (truncate):
//   - avg_entry = C / Q, truncated to Scale (18) places. It is reported, never
//     fed back: unrealized uses C.
//   - average cost, partial reduction of `closed` out of |Q|: the cost removed
//     is C × closed / |Q|, computed as udecimal's (C × closed) / |Q|, each
//     step truncated toward zero at 19 fraction digits (its limit). A
//     reduction that closes the whole position removes exactly C, so a flat
//     position always has C = 0 and no residue.
//   - FIFO divides nothing: each lot keeps its price and the cost removed is
//     quantity × lot price, exact.
//   - interval means and relative differences: truncated to Scale places, see
//     IntervalMeans and CompareIntervals.
//
// # Fees
//
// A fee in the quote asset adds to F. A fee in the base asset is an implicit
// disposal of the fee quantity at the fill price (it moves Q and R like a
// sell, or like a buy for a negative fee) and then adds fee × price to F. A fee
// in any other asset is converted with a FeePricer at the fill's time; when no
// price is known it is reported in fees_unconverted and left out of F and net
// PnL, never dropped.
//
// # Totals
//
// Every amount of a SymbolReport is in that symbol's quote asset. Amounts in
// different assets are never added: Report.TotalsByQuote sums the symbols of
// each quote asset, and Report.Total exists (JSON "total" not null) only when
// every symbol shares one quote asset.
//
// It does not own storage (package store), live prices (package portfolio),
// or reading trade files (package tradecsv).
package pnl
