package tradecsv

import (
	"encoding/csv"
	"fmt"
	"io"
	"time"
)

// Writer writes trades as the canonical CSV with a trade_id column: time as
// RFC 3339 UTC with nanoseconds when needed, symbol as BASE/QUOTE, decimals
// in their shortest exact form. What it writes, Reader reads back to equal
// trades (all fields but Line).
type Writer struct {
	w       *csv.Writer
	started bool
	rec     [8]string
}

// NewWriter returns a Writer to w. The header goes out with the first trade,
// or on Flush if there was none.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one trade.
func (w *Writer) Write(t Trade) error {
	if err := w.header(); err != nil {
		return err
	}
	w.rec = [8]string{
		t.Time.UTC().Format(time.RFC3339Nano), t.Base + "/" + t.Quote, string(t.Side),
		t.Price.String(), t.Quantity.String(), t.Fee.String(), t.FeeAsset, t.ID,
	}
	if err := w.w.Write(w.rec[:]); err != nil {
		return fmt.Errorf("write trade %q: %w", t.ID, err)
	}
	return nil
}

// Flush writes buffered data (and the header if nothing was written) to the
// underlying writer and reports any error so far.
func (w *Writer) Flush() error {
	if err := w.header(); err != nil {
		return err
	}
	w.w.Flush()
	if err := w.w.Error(); err != nil {
		return fmt.Errorf("flush trades: %w", err)
	}
	return nil
}

func (w *Writer) header() error {
	if w.started {
		return nil
	}
	w.started = true
	if err := w.w.Write(canonicalColumns); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	return nil
}
