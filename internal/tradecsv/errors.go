package tradecsv

import "fmt"

// ParseError is a bad header or row. Its message names the line and, for a
// bad value, the column and the value:
//
//	line 17, column "price": "12,5" is not a decimal
//
// Callers branch on it with errors.As (the CLI exits 2 on it: bad input).
type ParseError struct {
	Line   int    // 1-based line in the file
	Column string // column name as in the header; empty when the whole record is bad
	Value  string // the offending value; only with Column
	Reason string // what is wrong, phrased to follow the value: "is not a decimal"
	Err    error  // underlying cause, if any
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d, column %q: %q %s", e.Line, e.Column, e.Value, e.Reason)
}

// Unwrap returns the underlying cause, if any.
func (e *ParseError) Unwrap() error { return e.Err }
