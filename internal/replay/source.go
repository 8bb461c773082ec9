package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Stream yields one symbol's klines, oldest first. Next returns io.EOF after
// the last one. The engine holds one kline per stream at a time, so a year
// of 1 m klines streams from disk in constant memory.
type Stream interface {
	Next() (venue.Kline, error)
}

// Positioner is implemented by streams that can say where their last kline
// came from ("BTCUSDT-1m.csv line 1234"), so an error can name the place.
type Positioner interface {
	Position() string
}

// Source is the klines of one symbol at one interval.
type Source struct {
	Symbol   string
	Interval time.Duration
	Stream   Stream
	// Name names the source in messages (a file path, "store", "demo").
	Name string
}

// SliceStream streams klines held in memory.
type SliceStream struct {
	Klines []venue.Kline
	i      int
}

// Next returns the next kline or io.EOF.
func (s *SliceStream) Next() (venue.Kline, error) {
	if s.i >= len(s.Klines) {
		return venue.Kline{}, io.EOF
	}
	s.i++
	return s.Klines[s.i-1], nil
}

// Position is the 1-based index of the last kline returned.
func (s *SliceStream) Position() string { return fmt.Sprintf("kline %d", s.i) }

// CSVStream reads a kline CSV as it goes: ours (header
// open_time,open,high,low,close,volume; see internal/marketdata) or
// Binance's public kline files (data.binance.vision: 12 columns open_time,
// open, high, low, close, volume, close_time, quote_volume, count,
// taker_buy_volume, taker_buy_quote_volume, ignore; with or without a
// header; open_time in milliseconds, or microseconds as in the spot files
// from 2025 on). Only the first six columns are read. A bad row is a
// *RowError naming the file, line and column.
type CSVStream struct {
	name string
	r    *bufio.Reader
	c    io.Closer
	line int
	cols int // columns of the first row
}

// OpenCSV opens a kline CSV file as a stream; Close it when done.
func OpenCSV(path string) (*CSVStream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{Place: path, Err: err}
	}
	s := NewCSVStream(path, f)
	s.c = f
	return s, nil
}

// NewCSVStream reads a kline CSV from r; name names it in errors.
func NewCSVStream(name string, r io.Reader) *CSVStream {
	return &CSVStream{name: name, r: bufio.NewReaderSize(r, 1<<16)}
}

// Close closes the file OpenCSV opened.
func (s *CSVStream) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}

// Position is "file line N".
func (s *CSVStream) Position() string { return fmt.Sprintf("%s line %d", s.name, s.line) }

var csvFields = [6]string{"open_time", "open", "high", "low", "close", "volume"}

// Next reads the next row.
func (s *CSVStream) Next() (venue.Kline, error) {
	for {
		b, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return venue.Kline{}, s.errf(0, "line longer than 64 KiB")
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return venue.Kline{}, &InputError{Place: s.name, Err: err}
		}
		if len(b) == 0 && errors.Is(err, io.EOF) {
			if s.line == 0 {
				return venue.Kline{}, s.errf(0, "empty file: want klines (header open_time,open,high,low,close,volume, or Binance's 12-column rows)")
			}
			return venue.Kline{}, io.EOF
		}
		s.line++
		b = bytes.TrimRight(b, "\r\n")
		if s.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if len(bytes.TrimSpace(b)) == 0 {
			if errors.Is(err, io.EOF) {
				return venue.Kline{}, io.EOF
			}
			continue
		}
		if s.line == 1 && len(b) > 0 && (b[0] < '0' || b[0] > '9') {
			if !bytes.HasPrefix(b, []byte("open_time,open,high,low,close,volume")) {
				return venue.Kline{}, s.errf(1, "unknown header %q: want open_time,open,high,low,close,volume[,...]", b)
			}
			continue
		}
		return s.parse(b)
	}
}

func (s *CSVStream) errf(col int, format string, args ...any) error {
	return &RowError{File: s.name, Line: s.line, Column: col, Field: fieldName(col), Err: fmt.Errorf(format, args...)}
}

func fieldName(col int) string {
	if col >= 1 && col <= len(csvFields) {
		return csvFields[col-1]
	}
	return ""
}

func (s *CSVStream) parse(b []byte) (venue.Kline, error) {
	var f [6][]byte
	n := 0
	rest := b
	for n < 6 {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			f[n] = rest
			n++
			rest = nil
			break
		}
		f[n] = rest[:i]
		rest = rest[i+1:]
		n++
	}
	if n < 6 {
		return venue.Kline{}, s.errf(n+1, "row has %d columns, want at least 6 (open_time,open,high,low,close,volume)", n)
	}
	cols := 6 + bytes.Count(rest, []byte{','})
	if rest != nil {
		cols++
	}
	if s.cols == 0 {
		s.cols = cols
	} else if cols != s.cols {
		return venue.Kline{}, s.errf(0, "row has %d columns, the first row had %d", cols, s.cols)
	}
	ts, err := strconv.ParseInt(string(bytes.TrimSpace(f[0])), 10, 64)
	if err != nil || ts < 0 {
		return venue.Kline{}, s.errf(1, "open_time %q: want Unix milliseconds (or microseconds)", f[0])
	}
	var t time.Time
	if ts >= 1e14 { // microseconds (Binance spot files from 2025 on)
		t = time.UnixMicro(ts).UTC()
	} else {
		t = time.UnixMilli(ts).UTC()
	}
	k := venue.Kline{OpenTime: t}
	dst := [5]*venue.Decimal{&k.Open, &k.High, &k.Low, &k.Close, &k.Volume}
	for i, d := range dst {
		if err := parseDecimal(d, bytes.TrimSpace(f[i+1])); err != nil {
			return venue.Kline{}, s.errf(i+2, "%q is not a decimal", f[i+1])
		}
		if i < 4 && !d.IsPos() {
			return venue.Kline{}, s.errf(i+2, "price %s is not positive", *d)
		}
	}
	if k.Volume.IsNeg() {
		return venue.Kline{}, s.errf(6, "volume %s is negative", k.Volume)
	}
	if k.Low.GreaterThan(k.Open) || k.Low.GreaterThan(k.Close) || k.Low.GreaterThan(k.High) {
		return venue.Kline{}, s.errf(4, "low %s is above open %s, close %s or high %s", k.Low, k.Open, k.Close, k.High)
	}
	if k.High.LessThan(k.Open) || k.High.LessThan(k.Close) {
		return venue.Kline{}, s.errf(3, "high %s is below open %s or close %s", k.High, k.Open, k.Close)
	}
	return k, nil
}

// RowError is a bad row of a kline file.
type RowError struct {
	File   string
	Line   int
	Column int // 1-based; 0 when the whole row is wrong
	Field  string
	Err    error
}

func (e *RowError) Error() string {
	s := fmt.Sprintf("%s line %d", e.File, e.Line)
	if e.Column > 0 {
		s += fmt.Sprintf(", column %d", e.Column)
		if e.Field != "" {
			s += " (" + e.Field + ")"
		}
	}
	return s + ": " + e.Err.Error()
}

func (e *RowError) Unwrap() error { return e.Err }

// InputError is bad input to a replay: a kline gap or disorder, a symbol
// without data, a session whose strategy refuses its parameters, a bad desk
// file. Place names where (a file and line, a session, a field). The CLI
// exits 2 on it.
type InputError struct {
	Place string
	Err   error
}

func (e *InputError) Error() string { return e.Place + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// IsInput reports whether err is bad input (an *InputError or *RowError).
func IsInput(err error) bool {
	var ie *InputError
	var re *RowError
	return errors.As(err, &ie) || errors.As(err, &re)
}

// BadInput marks the error for the CLI's exit code 2.
func (e *InputError) BadInput() bool { return true }

// BadInput marks the error for the CLI's exit code 2.
func (e *RowError) BadInput() bool { return true }

// Chain streams several streams one after the other (monthly files of one
// symbol, in order).
func Chain(streams ...Stream) Stream { return &chain{s: streams} }

type chain struct {
	s []Stream
	i int
}

func (c *chain) Next() (venue.Kline, error) {
	for c.i < len(c.s) {
		k, err := c.s[c.i].Next()
		if errors.Is(err, io.EOF) {
			c.i++
			continue
		}
		return k, err
	}
	return venue.Kline{}, io.EOF
}

func (c *chain) Position() string {
	i := min(c.i, len(c.s)-1)
	if p, ok := c.s[i].(Positioner); ok {
		return p.Position()
	}
	return fmt.Sprintf("stream %d", i+1)
}

// LastOpenTime reads the open time of the last row of a kline CSV file
// without reading the whole file, to place "the last N days".
func LastOpenTime(path string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return time.Time{}, err
	}
	off := max(st.Size()-4096, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return time.Time{}, err
	}
	lines := bytes.Split(bytes.TrimRight(buf, "\r\n"), []byte("\n"))
	last := bytes.TrimSpace(lines[len(lines)-1])
	s := NewCSVStream(path, bytes.NewReader(last))
	s.line = 1 // not a header
	k, err := s.parse(last)
	if err != nil {
		return time.Time{}, err
	}
	return k.OpenTime, nil
}

// parseDecimal parses a plain decimal, or one in exponent notation ("9e-05",
// as some recorders write small volumes) exactly.
func parseDecimal(d *venue.Decimal, b []byte) error {
	i := bytes.IndexAny(b, "eE")
	if i < 0 {
		return d.UnmarshalText(b)
	}
	var m venue.Decimal
	if err := m.UnmarshalText(b[:i]); err != nil {
		return err
	}
	exp, err := strconv.Atoi(string(b[i+1:]))
	if err != nil || exp < -19 || exp > 19 {
		return fmt.Errorf("bad exponent in %q", b)
	}
	p := udecimal.One
	for range max(exp, -exp) {
		p = p.Mul64(10)
	}
	if exp >= 0 {
		*d = m.Mul(p)
		return nil
	}
	*d, err = m.Div(p)
	return err
}

// Mirror streams n bars at interval starting at start from the pattern ks:
// the pattern forward, then backward (each bar with its open and close
// swapped), and so on. Prices stay continuous at every turn, so a short
// recording yields a long series with real bar-to-bar moves; the benchmark
// uses it to make a year of 1 m bars from three weeks.
func Mirror(ks []venue.Kline, n int, start time.Time, interval time.Duration) Stream {
	return &mirror{ks: ks, n: n, t: start, iv: interval}
}

type mirror struct {
	ks []venue.Kline
	n  int
	i  int
	t  time.Time
	iv time.Duration
}

func (m *mirror) Next() (venue.Kline, error) {
	if m.i >= m.n || len(m.ks) == 0 {
		return venue.Kline{}, io.EOF
	}
	l := len(m.ks)
	pass, j := m.i/l, m.i%l
	k := m.ks[j]
	if pass%2 == 1 {
		k = m.ks[l-1-j]
		k.Open, k.Close = k.Close, k.Open
	}
	k.OpenTime = m.t.Add(time.Duration(m.i) * m.iv)
	m.i++
	return k, nil
}

func (m *mirror) Position() string { return fmt.Sprintf("synthesized bar %d", m.i) }
