package tradecsv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/quagmt/udecimal"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Column names of the canonical CSV, in the order Writer writes them.
var canonicalColumns = []string{"time", "symbol", "side", "price", "quantity", "fee", "fee_asset", "trade_id"}

// Column names of Binance's trade-history export.
var binanceColumns = []string{"Date(UTC)", "Pair", "Side", "Price", "Executed", "Amount", "Fee"}

// Column names of Bybit's spot trade-history export (Orders > Unified
// Trading Account > Spot Orders > Order History, "Export"). The layout is
// not in Bybit's API documentation; it is taken from exports seen in the
// wild, two variants:
//
//	Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)
//	ICPUSDT,MARKET,SELL,49.97342400000000000000,9.32340000000000000000,5.36000000000000000000,0.04997342400000000000,2200000000355489633, 53982208,14:35 2024-11-16
//
// and the statement export, after a "UID: ...,Company Name: ,Country:" line:
//
//	Uid,Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC+0)
//	281915315,BTCUSDT,LIMIT,BUY,4478.05780000000000000000,97100.00000000000000000000,0.04611800000000000000,0.00004611800000000000,2290000000522832993,1836393090823494400,2024-12-09 19:48:23
//
// (sources: the fifo-calc converter's "Exchange Data Files" notes and a
// trade-import parser's fixture; see testdata/bybit-export.csv). The fee has
// no unit: in every observed row a buy pays it in the base asset (0.1% of
// Filled Quantity) and a sell in the quote asset (0.1% of Filled Value),
// Bybit's spot fee rule, so the reader derives the fee asset from Direction.
// Transaction ID is the trade id; Order Type, Order No., Uid and Filled Time
// (Local Time) are read past.
var bybitColumns = []string{"Spot Pairs", "Direction", "Filled Price", "Filled Quantity", "Fees", "Transaction ID", "Filled Value"}

// bybitCol maps a Bybit column to its slot.
var bybitCol = [...]int{colSymbol, colSide, colPrice, colQty, colFee, colTradeID, colAmount}

// bybitIgnored are Bybit columns the reader reads past.
var bybitIgnored = []string{"Order Type", "Order No.", "Uid", "Filled Time (Local Time)"}

// Column indexes into colIdx, shared by both formats where they mean the same.
const (
	colTime = iota
	colSymbol
	colSide
	colPrice
	colQty
	colFee
	colFeeAsset // canonical only
	colTradeID  // canonical only, optional
	colAmount   // binance only
	numCols
)

// binanceCol maps a Binance column to its slot.
var binanceCol = [...]int{colTime, colSymbol, colSide, colPrice, colQty, colAmount, colFee}

// DefaultProgressEvery is how many rows pass between progress reports when
// OnProgress is given zero.
const DefaultProgressEvery = 10_000

// Progress is how far a Reader has got.
type Progress struct {
	Bytes int64 // bytes taken from the underlying reader (read ahead by up to one buffer)
	Rows  int64 // data rows parsed, header excluded
	Done  bool  // true on the final report, at the end of the file
}

// Reader reads trades from a trade file, one record at a time. Create it with
// NewReader; it is not safe for concurrent use.
type Reader struct {
	src      *countingReader
	csv      *csv.Reader
	format   Format
	header   []string // column names as written in the file, by slot
	colIdx   [numCols]int
	nfields  int
	rows     int64
	err      error // sticky: io.EOF or the first error
	every    int
	progress func(Progress)
	symbols  map[string]symbolParts
	lastHash string
	hashRun  int
	tzOffset time.Duration // Bybit: the offset of its "Timestamp (UTC+N)" column
}

type symbolParts struct{ symbol, base, quote string }

// maxSymbolCache bounds the symbol cache so memory stays constant on
// adversarial files.
const maxSymbolCache = 4096

// NewReader returns a Reader of r. The format is detected from the header on
// the first call to Next or Format.
func NewReader(r io.Reader) *Reader {
	src := &countingReader{r: r}
	c := csv.NewReader(src)
	c.FieldsPerRecord = -1 // checked per row for a better message
	c.ReuseRecord = true
	c.TrimLeadingSpace = true
	return &Reader{src: src, csv: c, symbols: make(map[string]symbolParts)}
}

// OnProgress makes the Reader call fn every `every` rows (DefaultProgressEvery
// if zero or less) and once more with Done set at the end of the file. Call it
// before the first Next; fn runs on the reading goroutine.
func (r *Reader) OnProgress(every int, fn func(Progress)) {
	if every <= 0 {
		every = DefaultProgressEvery
	}
	r.every, r.progress = every, fn
}

// Format reads the header if it has not been read yet and returns the
// detected format.
func (r *Reader) Format() (Format, error) {
	if r.format == FormatUnknown && r.err == nil {
		r.err = r.readHeader()
	}
	if r.format == FormatUnknown {
		return FormatUnknown, r.err
	}
	return r.format, nil
}

// Next returns the next trade, or io.EOF after the last one. Any other error
// is a *ParseError or a read error from the underlying reader (wrapped); it is
// sticky: every later call returns it again.
func (r *Reader) Next() (Trade, error) {
	if _, err := r.Format(); err != nil {
		return Trade{}, err
	}
	if r.err != nil {
		return Trade{}, r.err
	}
	rec, err := r.csv.Read()
	if err != nil {
		r.err = r.readError(err)
		if r.err == io.EOF && r.progress != nil {
			r.progress(Progress{Bytes: r.src.n, Rows: r.rows, Done: true})
		}
		return Trade{}, r.err
	}
	line, _ := r.csv.FieldPos(0)
	t, err := r.parseRecord(rec, line)
	if err != nil {
		r.err = err
		return Trade{}, err
	}
	r.rows++
	if r.progress != nil && r.rows%int64(r.every) == 0 {
		r.progress(Progress{Bytes: r.src.n, Rows: r.rows})
	}
	return t, nil
}

// ReadAll reads every trade of a trade file, or none: on the first bad row it
// returns nil and the error.
func ReadAll(r io.Reader) ([]Trade, error) {
	rd := NewReader(r)
	var out []Trade
	for {
		t, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
}

// readError turns a csv or I/O error into the Reader's error.
func (r *Reader) readError(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	var tl *recordTooLong
	if errors.As(err, &tl) {
		return &ParseError{Line: tl.line, Reason: fmt.Sprintf("the row is longer than %d bytes, the most a trade file row may be", MaxRecordBytes), Err: err}
	}
	var ce *csv.ParseError
	if errors.As(err, &ce) {
		return &ParseError{Line: ce.Line, Reason: ce.Err.Error(), Err: err}
	}
	return fmt.Errorf("read trades: %w", err)
}

const wantHeaders = "want time,symbol,side,price,quantity,fee,fee_asset[,trade_id], Date(UTC),Pair,Side,Price,Executed,Amount,Fee " +
	"or Bybit's Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)"

func (r *Reader) readHeader() error {
	rec, err := r.csv.Read()
	if err == io.EOF {
		return &ParseError{Line: 1, Reason: "empty file: " + wantHeaders}
	}
	if err != nil {
		return r.readError(err)
	}
	// Bybit's statement export starts with "UID: 123,Company Name: ,Country:".
	if len(rec) > 0 && strings.HasPrefix(strings.ToLower(strings.TrimPrefix(strings.TrimSpace(rec[0]), "\ufeff")), "uid:") {
		rec, err = r.csv.Read()
		if err == io.EOF {
			return &ParseError{Line: 2, Reason: "no header after Bybit's UID line: " + wantHeaders}
		}
		if err != nil {
			return r.readError(err)
		}
	}
	names := make([]string, len(rec))
	for i, f := range rec {
		f = strings.TrimSpace(f)
		if i == 0 {
			f = strings.TrimPrefix(f, "\ufeff") // Excel and Binance write a byte order mark
		}
		names[i] = strings.ToLower(f)
	}
	for i := range r.colIdx {
		r.colIdx[i] = -1
	}
	r.header = make([]string, numCols)
	switch {
	case contains(names, "time"):
		r.format = FormatCanonical
		for i, name := range names {
			slot := indexOf(canonicalColumns, name)
			if slot < 0 {
				return &ParseError{Line: 1, Reason: fmt.Sprintf("unknown column %q in header: %s", rec[i], wantHeaders)}
			}
			if r.colIdx[slot] >= 0 {
				return &ParseError{Line: 1, Reason: fmt.Sprintf("column %q appears twice in header", rec[i])}
			}
			r.colIdx[slot], r.header[slot] = i, canonicalColumns[slot]
		}
		for slot, name := range canonicalColumns[:colTradeID] {
			if r.colIdx[slot] < 0 {
				return &ParseError{Line: 1, Reason: fmt.Sprintf("header lacks column %q: %s", name, wantHeaders)}
			}
		}
	case contains(names, "date(utc)"):
		r.format = FormatBinance
		for i, name := range names {
			j := indexOf(binanceColumns, name)
			if j < 0 {
				return &ParseError{Line: 1, Reason: fmt.Sprintf("unknown column %q in Binance header: %s", rec[i], wantHeaders)}
			}
			slot := binanceCol[j]
			if r.colIdx[slot] >= 0 {
				return &ParseError{Line: 1, Reason: fmt.Sprintf("column %q appears twice in header", rec[i])}
			}
			r.colIdx[slot], r.header[slot] = i, binanceColumns[j]
		}
		for j, name := range binanceColumns {
			if r.colIdx[binanceCol[j]] < 0 {
				return &ParseError{Line: 1, Reason: fmt.Sprintf("header lacks column %q: %s", name, wantHeaders)}
			}
		}
	case contains(names, "spot pairs"):
		r.format = FormatBybit
		line, _ := r.csv.FieldPos(0)
		for i, name := range names {
			if off, ok, err := bybitTimestampColumn(name); ok {
				if err != nil {
					return &ParseError{Line: line, Reason: fmt.Sprintf("column %q: %v", rec[i], err)}
				}
				if r.colIdx[colTime] >= 0 {
					return &ParseError{Line: line, Reason: fmt.Sprintf("column %q appears twice in header", rec[i])}
				}
				r.colIdx[colTime], r.header[colTime], r.tzOffset = i, strings.TrimSpace(rec[i]), off
				continue
			}
			if contains(bybitIgnored, name) {
				continue
			}
			j := indexOf(bybitColumns, name)
			if j < 0 {
				return &ParseError{Line: line, Reason: fmt.Sprintf("unknown column %q in Bybit header: %s", rec[i], wantHeaders)}
			}
			slot := bybitCol[j]
			if r.colIdx[slot] >= 0 {
				return &ParseError{Line: line, Reason: fmt.Sprintf("column %q appears twice in header", rec[i])}
			}
			r.colIdx[slot], r.header[slot] = i, bybitColumns[j]
		}
		if r.colIdx[colTime] < 0 {
			return &ParseError{Line: line, Reason: `Bybit header lacks column "Timestamp (UTC)": ` + wantHeaders}
		}
		for j, name := range bybitColumns {
			if r.colIdx[bybitCol[j]] < 0 {
				return &ParseError{Line: line, Reason: fmt.Sprintf("header lacks column %q: %s", name, wantHeaders)}
			}
		}
	default:
		return &ParseError{Line: 1, Reason: fmt.Sprintf("unrecognized header %q: %s", strings.Join(rec, ","), wantHeaders)}
	}
	r.nfields = len(rec)
	return nil
}

func contains(names []string, name string) bool { return indexOf(names, name) >= 0 }

// indexOf finds name among names, ignoring case.
func indexOf(names []string, name string) int {
	for i, n := range names {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

// parseRecord turns one data record into a Trade.
func (r *Reader) parseRecord(rec []string, line int) (Trade, error) {
	if len(rec) != r.nfields {
		return Trade{}, &ParseError{Line: line, Reason: fmt.Sprintf("%d fields, want %d as in the header", len(rec), r.nfields)}
	}
	field := func(slot int) string { return strings.TrimSpace(rec[r.colIdx[slot]]) }
	bad := func(slot int, reason string, err error) error {
		l, _ := r.csv.FieldPos(r.colIdx[slot])
		return &ParseError{Line: l, Column: r.header[slot], Value: clipValue(rec[r.colIdx[slot]]), Reason: reason, Err: err}
	}
	for slot, idx := range r.colIdx {
		if idx >= 0 && len(rec[idx]) > MaxFieldBytes {
			return Trade{}, bad(slot, fmt.Sprintf("is %d bytes long; a field may be at most %d", len(rec[idx]), MaxFieldBytes), nil)
		}
	}
	t := Trade{Line: line}
	var err error

	// Time.
	switch r.format {
	case FormatCanonical:
		t.Time, err = parseCanonicalTime(field(colTime))
		if err != nil {
			return Trade{}, bad(colTime, "is not an RFC 3339 time or Unix milliseconds", err)
		}
	case FormatBinance:
		t.Time, err = parseBinanceTime(field(colTime))
		if err != nil {
			return Trade{}, bad(colTime, `is not a UTC time like "2020-08-04 10:11:12"`, err)
		}
	case FormatBybit:
		t.Time, err = parseBybitTime(field(colTime), r.tzOffset)
		if err != nil {
			return Trade{}, bad(colTime, `is not a time like "2024-12-09 19:48:23" or "14:35 2024-11-16"`, err)
		}
	}

	// Side.
	switch s := field(colSide); {
	case strings.EqualFold(s, "buy"):
		t.Side = venue.Buy
	case strings.EqualFold(s, "sell"):
		t.Side = venue.Sell
	default:
		return Trade{}, bad(colSide, "is not buy or sell", nil)
	}

	// Price.
	price := field(colPrice)
	switch r.format {
	case FormatBinance:
		price = stripGrouping(price)
	case FormatBybit:
		price = trimZeros(price)
	}
	if t.Price, err = parseDecimal(price); err != nil {
		return Trade{}, bad(colPrice, decimalReason(err), err)
	}
	if !t.Price.IsPos() {
		return Trade{}, bad(colPrice, "must be positive", nil)
	}

	switch r.format {
	case FormatCanonical:
		if err := r.canonicalRest(&t, field, bad); err != nil {
			return Trade{}, err
		}
	case FormatBinance:
		if err := r.binanceRest(&t, field, bad); err != nil {
			return Trade{}, err
		}
	case FormatBybit:
		if err := r.bybitRest(&t, field, bad); err != nil {
			return Trade{}, err
		}
	}
	if !t.Quantity.IsPos() {
		return Trade{}, bad(colQty, "must be positive", nil)
	}
	if t.ID == "" {
		t.ID = r.hashID(t)
	}
	return t, nil
}

type fieldFunc func(slot int) string
type badFunc func(slot int, reason string, err error) error

func (r *Reader) canonicalRest(t *Trade, field fieldFunc, bad badFunc) error {
	var err error
	sp, err := r.splitSymbol(field(colSymbol))
	if err != nil {
		return bad(colSymbol, symbolReason, err)
	}
	t.Symbol, t.Base, t.Quote = sp.symbol, sp.base, sp.quote
	if t.Quantity, err = parseDecimal(field(colQty)); err != nil {
		return bad(colQty, decimalReason(err), err)
	}
	if t.Fee, err = parseDecimal(field(colFee)); err != nil {
		return bad(colFee, decimalReason(err), err)
	}
	asset := strings.ToUpper(field(colFeeAsset))
	switch {
	case asset == "" && !t.Fee.IsZero():
		return bad(colFeeAsset, "is empty but the fee is not zero", nil)
	case asset != "" && !isAsset(asset):
		return bad(colFeeAsset, "is not an asset code (letters and digits)", nil)
	}
	t.FeeAsset = asset
	if r.colIdx[colTradeID] >= 0 {
		t.ID = field(colTradeID)
		if strings.ContainsFunc(t.ID, unicode.IsControl) {
			return bad(colTradeID, "contains control characters", nil)
		}
	}
	return nil
}

const symbolReason = "is not a symbol like BTC/USDT or BTCUSDT with a known quote asset"

func (r *Reader) binanceRest(t *Trade, field fieldFunc, bad badFunc) error {
	qty, base, err := parseAmount(field(colQty))
	if err != nil {
		return bad(colQty, "is not a decimal followed by the base asset, like 0.00100000BTC", err)
	}
	amount, quote, err := parseAmount(field(colAmount))
	if err != nil {
		return bad(colAmount, "is not a decimal followed by the quote asset, like 12.3USDT", err)
	}
	_ = amount // Binance rounds Amount; PnL uses price × quantity
	fee, feeAsset, err := parseAmount(field(colFee))
	if err != nil {
		return bad(colFee, "is not a decimal followed by the fee asset, like 0.00000100BTC", err)
	}
	pair := strings.ToUpper(field(colSymbol))
	if pair != base+quote && pair != base+"/"+quote {
		return bad(colSymbol, fmt.Sprintf("does not match the units of Executed (%s) and Amount (%s)", base, quote), nil)
	}
	t.Symbol, t.Base, t.Quote = base+quote, base, quote
	t.Quantity, t.Fee, t.FeeAsset = qty, fee, feeAsset
	return nil
}

func (r *Reader) bybitRest(t *Trade, field fieldFunc, bad badFunc) error {
	sp, err := r.splitSymbol(field(colSymbol))
	if err != nil {
		return bad(colSymbol, symbolReason, err)
	}
	t.Symbol, t.Base, t.Quote = sp.symbol, sp.base, sp.quote
	if t.Quantity, err = parseDecimal(trimZeros(field(colQty))); err != nil {
		return bad(colQty, decimalReason(err), err)
	}
	if _, err = parseDecimal(trimZeros(field(colAmount))); err != nil {
		return bad(colAmount, decimalReason(err), err) // PnL uses price × quantity, but a broken row is refused
	}
	if t.Fee, err = parseDecimal(trimZeros(field(colFee))); err != nil {
		return bad(colFee, decimalReason(err), err)
	}
	// The export has no fee unit: a buy pays in base, a sell in quote.
	t.FeeAsset = t.Base
	if t.Side == venue.Sell {
		t.FeeAsset = t.Quote
	}
	t.ID = field(colTradeID)
	if t.ID == "" {
		return bad(colTradeID, "is empty; Bybit's export names every trade", nil)
	}
	if strings.ContainsFunc(t.ID, unicode.IsControl) {
		return bad(colTradeID, "contains control characters", nil)
	}
	return nil
}

// trimZeros drops trailing zeros after a decimal point: Bybit writes 20
// decimals ("9.32340000000000000000"), one more than a Decimal holds, and the
// zeros change no value. Non-zero digits beyond 19 decimals are still refused.
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// bybitTimestampColumn reports whether a (lower-case) header name is Bybit's
// "Timestamp (UTC)" / "Timestamp (UTC+0)" / "Timestamp (UTC-5)" column, and
// the offset it names.
func bybitTimestampColumn(name string) (time.Duration, bool, error) {
	rest, ok := strings.CutPrefix(name, "timestamp (utc")
	if !ok {
		return 0, false, nil
	}
	rest, ok = strings.CutSuffix(rest, ")")
	if !ok {
		return 0, true, errors.New(`want "Timestamp (UTC)" or "Timestamp (UTC+N)"`)
	}
	if rest == "" {
		return 0, true, nil
	}
	h, err := strconv.Atoi(rest)
	if err != nil || h < -12 || h > 14 || (rest[0] != '+' && rest[0] != '-') {
		return 0, true, fmt.Errorf("offset %q is not +N or -N hours", rest)
	}
	return time.Duration(h) * time.Hour, true, nil
}

// parseBybitTime reads Bybit's "2024-12-09 19:48:23" or "14:35 2024-11-16"
// in the column's offset and returns it in UTC, in the canonical range.
func parseBybitTime(s string, offset time.Duration) (time.Time, error) {
	var t time.Time
	var err error
	for _, layout := range [...]string{"2006-01-02 15:04:05.999999999", "15:04 2006-01-02", "15:04:05 2006-01-02", "2006-01-02 15:04"} {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time: %w", err)
	}
	t = t.Add(-offset)
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("time %q out of range", s)
	}
	return t, nil
}

// hashID returns HashID(t), with "-N" appended to the N-th of a run of
// identical trades so that two equal fills in a row stay two trades.
func (r *Reader) hashID(t Trade) string {
	h := HashID(t)
	if h == r.lastHash {
		r.hashRun++
		return h + "-" + strconv.Itoa(r.hashRun)
	}
	r.lastHash, r.hashRun = h, 1
	return h
}

func (r *Reader) splitSymbol(s string) (symbolParts, error) {
	if sp, ok := r.symbols[s]; ok {
		return sp, nil
	}
	base, quote, err := SplitSymbol(s)
	if err != nil {
		return symbolParts{}, err
	}
	sp := symbolParts{symbol: base + quote, base: base, quote: quote}
	if len(r.symbols) < maxSymbolCache {
		r.symbols[strings.Clone(s)] = sp
	}
	return sp, nil
}

// parseDecimal parses a plain decimal ("-12.345"); no exponent, no grouping.
func parseDecimal(s string) (venue.Decimal, error) {
	if s == "" {
		return venue.Decimal{}, errEmpty
	}
	d, err := udecimal.Parse(s)
	if err != nil {
		return venue.Decimal{}, fmt.Errorf("parse decimal: %w", err)
	}
	return d, nil
}

var errEmpty = errors.New("empty")

// decimalReason phrases a parseDecimal error for a ParseError.
func decimalReason(err error) string {
	switch {
	case errors.Is(err, errEmpty):
		return "is empty, want a decimal"
	case errors.Is(err, udecimal.ErrPrecOutOfRange):
		return "has more than 19 decimals"
	}
	return "is not a decimal"
}

// parseAmount splits Binance's "0.00100000BTC" into the decimal and its unit.
func parseAmount(s string) (venue.Decimal, string, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != '-' && r != '+' && r != ',' })
	if i <= 0 {
		return venue.Decimal{}, "", errors.New("want a number followed by an asset")
	}
	unit := strings.ToUpper(strings.TrimSpace(s[i:]))
	if !isAsset(unit) {
		return venue.Decimal{}, "", fmt.Errorf("unit %q is not an asset code", s[i:])
	}
	d, err := parseDecimal(stripGrouping(s[:i]))
	if err != nil {
		return venue.Decimal{}, "", err
	}
	return d, unit, nil
}

// stripGrouping removes thousands separators from a Binance number
// ("11,200.5"), but only where they group exactly three digits, so "12,5"
// stays invalid rather than becoming 125.
func stripGrouping(s string) string {
	if !strings.Contains(s, ",") {
		return s
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	groups := strings.Split(strings.TrimLeft(intPart, "+-"), ",")
	if len(groups[0]) == 0 || len(groups[0]) > 3 {
		return s
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return s
		}
	}
	out := strings.ReplaceAll(intPart, ",", "")
	if hasFrac {
		out += "." + frac
	}
	return out
}

// parseCanonicalTime reads RFC 3339 (any offset, converted to UTC) or Unix
// milliseconds.
func parseCanonicalTime(s string) (time.Time, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms > maxUnixMilli {
			return time.Time{}, fmt.Errorf("unix milliseconds %q out of range", s)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time: %w", err)
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("time %q out of range", s)
	}
	return t.UTC(), nil
}

// maxUnixMilli is 9999-12-31T23:59:59.999Z, the last time RFC 3339 can write.
const maxUnixMilli = 253402300799999

// parseBinanceTime reads "2020-08-04 10:11:12" (UTC, optional fraction) or
// RFC 3339, in the same range as the canonical format, so that every trade
// read from an export can be written out and read back.
func parseBinanceTime(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		t2, err2 := time.Parse(time.RFC3339Nano, s)
		if err2 != nil {
			return time.Time{}, fmt.Errorf("parse time: %w", err)
		}
		t = t2.UTC()
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("time %q out of range", s)
	}
	return t, nil
}

// MaxRecordBytes is the longest record (row) a trade file may have, and
// MaxFieldBytes the longest field. A real row is under 200 bytes; the caps
// keep a hostile file (one 300 MB field took 2.45 GB) from being read
// into memory: a longer record stops the read with a *ParseError naming
// its line before it is buffered.
const (
	MaxRecordBytes = 64 << 10
	MaxFieldBytes  = 256
)

// recordTooLong is the countingReader's refusal of a record over
// MaxRecordBytes; readError turns it into a *ParseError.
type recordTooLong struct{ line int }

func (e *recordTooLong) Error() string {
	return fmt.Sprintf("line %d: record longer than %d bytes", e.line, MaxRecordBytes)
}

// countingReader counts the bytes taken from r and refuses a record of
// more than MaxRecordBytes: it counts the bytes since the last line break
// outside quotes (a doubled quote inside a quoted field toggles twice, so
// it keeps the state right).
type countingReader struct {
	r       io.Reader
	n       int64
	line    int // physical line of the byte last read, 1-based
	run     int // bytes of the current record so far
	inQuote bool
	err     error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if c.line == 0 {
		c.line = 1
	}
	for i := 0; i < n; i++ {
		switch p[i] {
		case '"':
			c.inQuote = !c.inQuote
		case '\n':
			c.line++
			if !c.inQuote {
				c.run = 0
				continue
			}
		}
		c.run++
		if c.run > MaxRecordBytes {
			c.err = &recordTooLong{line: c.line}
			c.n += int64(i)
			return i, c.err
		}
	}
	c.n += int64(n)
	return n, err
}

// clipValue shortens a value quoted in a message to 40 bytes.
func clipValue(v string) string {
	if len(v) <= 40 {
		return v
	}
	i := 40
	for i > 0 && !utf8.RuneStart(v[i]) {
		i--
	}
	return v[:i] + "…"
}
