// Package decimalbench holds the measurement behind the project's choice of
// decimal library (github.com/quagmt/udecimal, aliased as venue.Decimal).
//
// It is test-only: decimal_test.go benchmarks add, multiply and parse over
// 1,000,000 values for udecimal, cockroachdb/apd/v3, shopspring/decimal and
// govalues/decimal, and checks the exactness requirement every candidate must
// meet: 1e15 units with 8 decimals (1000000000000000.12345678) times
// 0.00001234 must be exact. The results are recorded in docs/BENCHMARKS.md
// under "Decimals". Nothing imports this package; it is a module of its own
// (go.mod here) so that the candidates it measures stay out of the
// product's go.mod. Run it from this directory: go test -bench . .
package decimalbench
