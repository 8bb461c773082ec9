// Package marketdata provides market data for the demo and for tests: a
// reader for the klines CSV files of /work/shared/data (and any file in that
// format) and a price Feed that replays klines, or walks at random, as a
// stream of venue.PriceTick.
//
// It owns the file format and the replay, not the market: the ticks go to
// whoever runs the feed (usually paper.Exchange.ApplyTick).
package marketdata

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Header is the klines CSV header, exactly.
var Header = []string{"open_time", "open", "high", "low", "close", "volume"}

// ParseError is a bad klines file: it names the line (1-based, the header is
// line 1) and the column (1-based) of the problem.
type ParseError struct {
	File   string // may be empty
	Line   int
	Column int
	Field  string // column name, when known
	Err    error
}

// Error reads "file: line L, column C (field): problem".
func (e *ParseError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "line %d", e.Line)
	if e.Column > 0 {
		fmt.Fprintf(&b, ", column %d", e.Column)
		if e.Field != "" {
			fmt.Fprintf(&b, " (%s)", e.Field)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying problem.
func (e *ParseError) Unwrap() error { return e.Err }

// ReadKlines reads a klines CSV: header `open_time,open,high,low,close,volume`,
// one candle per row, oldest first, open_time in Unix milliseconds. It
// checks that prices are positive, volume is not negative, low and high bound
// open and close, and open times strictly increase. The first bad row ends
// the read with a *ParseError.
func ReadKlines(r io.Reader) ([]venue.Kline, error) {
	lim := &lineLimit{r: r, line: 1}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	rec, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{Line: 1, Err: errors.New("empty file: want the header " + strings.Join(Header, ","))}
	}
	if err != nil {
		return nil, csvError(err)
	}
	if len(rec) > 0 {
		rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
	}
	for i, h := range Header {
		if i >= len(rec) || strings.TrimSpace(rec[i]) != h {
			got := ""
			if i < len(rec) {
				got = rec[i]
			}
			return nil, &ParseError{Line: 1, Column: i + 1, Field: h, Err: fmt.Errorf("header: got %q, want %q", got, h)}
		}
	}
	if len(rec) != len(Header) {
		return nil, &ParseError{Line: 1, Column: len(Header) + 1, Err: fmt.Errorf("header: got %d columns, want %d", len(rec), len(Header))}
	}
	var out []venue.Kline
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var tl *lineTooLong
		if errors.As(err, &tl) {
			return nil, &ParseError{Line: tl.line, Err: fmt.Errorf("the row is longer than %d bytes, the most a klines row may be", MaxKlineRowBytes)}
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(out) == MaxKlineRows {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("more than %d candles; split the file", MaxKlineRows)}
		}
		if len(rec) != len(Header) {
			return nil, &ParseError{Line: line, Column: min(len(rec), len(Header)) + 1, Err: fmt.Errorf("got %d columns, want %d", len(rec), len(Header))}
		}
		k, col, err := parseRow(rec)
		if err != nil {
			return nil, &ParseError{Line: line, Column: col + 1, Field: Header[col], Err: err}
		}
		if n := len(out); n > 0 && !k.OpenTime.After(out[n-1].OpenTime) {
			return nil, &ParseError{Line: line, Column: 1, Field: Header[0],
				Err: fmt.Errorf("open_time %d is not after the previous row's %d", k.OpenTime.UnixMilli(), out[n-1].OpenTime.UnixMilli())}
		}
		out = append(out, k)
	}
}

// parseRow parses one record; on error it returns the 0-based column.
func parseRow(rec []string) (venue.Kline, int, error) {
	var k venue.Kline
	ms, err := strconv.ParseInt(strings.TrimSpace(rec[0]), 10, 64)
	if err != nil {
		return k, 0, fmt.Errorf("open_time %q is not Unix milliseconds", rec[0])
	}
	if ms < 0 {
		return k, 0, fmt.Errorf("open_time %d is negative", ms)
	}
	k.OpenTime = time.UnixMilli(ms).UTC()
	dst := []*venue.Decimal{&k.Open, &k.High, &k.Low, &k.Close, &k.Volume}
	for i, p := range dst {
		s := strings.TrimSpace(rec[i+1])
		d, err := parseDecimal(s)
		if err != nil {
			return k, i + 1, fmt.Errorf("%s %q is not a decimal", Header[i+1], s)
		}
		if i < 4 && !d.IsPos() {
			return k, i + 1, fmt.Errorf("%s %s is not positive", Header[i+1], s)
		}
		if i == 4 && d.IsNeg() {
			return k, i + 1, fmt.Errorf("volume %s is negative", s)
		}
		*p = d
	}
	if k.Low.GreaterThan(udecimal.Min(k.Open, k.Close)) {
		return k, 3, fmt.Errorf("low %s is above open %s or close %s", k.Low, k.Open, k.Close)
	}
	if k.High.LessThan(udecimal.Max(k.Open, k.Close)) {
		return k, 2, fmt.Errorf("high %s is below open %s or close %s", k.High, k.Open, k.Close)
	}
	return k, 0, nil
}

// parseDecimal parses a plain decimal or one in exponent notation ("9e-05",
// as some recorders write small volumes), exactly.
func parseDecimal(s string) (venue.Decimal, error) {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return udecimal.Parse(s)
	}
	m, err := udecimal.Parse(s[:i])
	if err != nil {
		return m, err
	}
	exp, err := strconv.Atoi(s[i+1:])
	if err != nil || exp < -19 || exp > 19 {
		return m, fmt.Errorf("bad exponent in %q", s)
	}
	p := udecimal.MustFromUint64(1, 0)
	for range max(exp, -exp) {
		p = p.Mul64(10)
	}
	if exp >= 0 {
		return m.Mul(p), nil
	}
	return m.Div(p)
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Column: pe.Column, Err: pe.Err}
	}
	return fmt.Errorf("read klines: %w", err)
}

// Limits of a klines file: a row is about 60 bytes; the caps keep a
// hostile or mistaken file from being read into memory whole.
const (
	// MaxKlineRowBytes is the longest row.
	MaxKlineRowBytes = 1024
	// MaxKlineRows is the most candles one file may hold (9.5 years of
	// minutes).
	MaxKlineRows = 5_000_000
	// MaxKlinesFileBytes is the largest file ReadKlinesFile opens.
	MaxKlinesFileBytes = 512 << 20
)

// lineTooLong is lineLimit's refusal of a row over MaxKlineRowBytes.
type lineTooLong struct{ line int }

func (e *lineTooLong) Error() string { return fmt.Sprintf("line %d is too long", e.line) }

// lineLimit passes r through and fails once a line passes
// MaxKlineRowBytes, before the csv reader buffers it (klines have no quoted
// fields, so a line is a row).
type lineLimit struct {
	r    io.Reader
	line int
	run  int
	err  error
}

func (l *lineLimit) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			l.line++
			l.run = 0
			continue
		}
		if l.run++; l.run > MaxKlineRowBytes {
			l.err = &lineTooLong{line: l.line}
			return i, l.err
		}
	}
	return n, err
}

// ReadKlinesFile reads a klines CSV file of at most MaxKlinesFileBytes;
// errors name the file.
func ReadKlinesFile(path string) ([]venue.Kline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read klines: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxKlinesFileBytes {
		return nil, fmt.Errorf("read klines %s: %d bytes, more than the %d a klines file may have; split it", path, st.Size(), MaxKlinesFileBytes)
	}
	ks, err := ReadKlines(bufio.NewReaderSize(io.LimitReader(f, MaxKlinesFileBytes+1), 64<<10))
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.File = path
		return nil, pe
	}
	if err != nil {
		return nil, fmt.Errorf("read klines %s: %w", path, err)
	}
	return ks, nil
}

var intervalRE = regexp.MustCompile(`^([1-9][0-9]*)([smhdw])$`)

// ParseInterval reads a Binance interval name ("1m", "15m", "1h", "1d",
// "1w") as a duration.
func ParseInterval(s string) (time.Duration, error) {
	m := intervalRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("interval %q: want a number and one of s m h d w", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("interval %q: %w", s, err)
	}
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

// Source is one symbol's klines at one interval, ready to replay.
type Source struct {
	Symbol   string
	Interval time.Duration
	Klines   []venue.Kline
}

var fileRE = regexp.MustCompile(`^([A-Z0-9]+)-([1-9][0-9]*[smhdw])\.csv$`)

// LoadSource reads a klines file named SYMBOL-INTERVAL.csv (BTCUSDT-1m.csv);
// the name gives the symbol and the interval.
func LoadSource(path string) (Source, error) {
	m := fileRE.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return Source{}, fmt.Errorf("load source %s: file name is not SYMBOL-INTERVAL.csv", path)
	}
	iv, err := ParseInterval(m[2])
	if err != nil {
		return Source{}, fmt.Errorf("load source %s: %w", path, err)
	}
	ks, err := ReadKlinesFile(path)
	if err != nil {
		return Source{}, err
	}
	if len(ks) == 0 {
		return Source{}, fmt.Errorf("load source %s: no candles", path)
	}
	return Source{Symbol: m[1], Interval: iv, Klines: ks}, nil
}

// LoadDir loads every SYMBOL-INTERVAL.csv file of dir, sorted by file name;
// other files are ignored.
func LoadDir(dir string) ([]Source, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load sources: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && fileRE.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []Source
	for _, n := range names {
		s, err := LoadSource(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
