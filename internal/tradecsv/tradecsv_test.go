package tradecsv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// realFile is one account's real BTCUSDT fills (3,432 rows, canonical CSV).
const realFile = "/work/shared/data/binance-btcusdt-trades-2019-2020.csv"

func mustReadAll(tb testing.TB, s string) []Trade {
	tb.Helper()
	trades, err := ReadAll(strings.NewReader(s))
	if err != nil {
		tb.Fatalf("ReadAll: %v", err)
	}
	return trades
}

func mustOpen(tb testing.TB, path string) *os.File {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

func dec(s string) venue.Decimal { return udecimal.MustParse(s) }

func TestReadCanonicalExcerpt(t *testing.T) {
	t.Parallel()
	rd := NewReader(mustOpen(t, "testdata/excerpt-canonical.csv"))
	if f, err := rd.Format(); err != nil || f != FormatCanonical {
		t.Fatalf("Format() = %v, %v; want canonical", f, err)
	}
	var trades []Trade
	for {
		tr, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		trades = append(trades, tr)
	}
	if len(trades) != 18 {
		t.Fatalf("got %d trades, want 18", len(trades))
	}
	want := Trade{
		Time: time.Date(2019, 10, 31, 15, 48, 51, 803e6, time.UTC), Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT",
		Side: venue.Buy, Price: dec("9200"), Quantity: dec("0.060187"), Fee: dec("0.00006019"), FeeAsset: "BTC",
		ID: "199025959", Line: 2,
	}
	if !equalTrade(trades[0], want) || trades[0].Line != 2 {
		t.Errorf("first trade = %+v, want %+v", trades[0], want)
	}
	if got := trades[11]; got.FeeAsset != "BNB" || got.ID != "251435272" || got.Line != 13 {
		t.Errorf("BNB trade = %+v", got)
	}
	if got := trades[3]; got.Side != venue.Sell || got.FeeAsset != "USDT" {
		t.Errorf("sell trade = %+v", got)
	}
}

func TestReadBinanceExport(t *testing.T) {
	t.Parallel()
	trades, err := ReadAll(mustOpen(t, "testdata/binance-export.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(trades) != 7 {
		t.Fatalf("got %d trades, want 7", len(trades))
	}
	first := Trade{
		Time: time.Date(2020, 2, 24, 1, 18, 43, 0, time.UTC), Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT",
		Side: venue.Buy, Price: dec("9901.54"), Quantity: dec("0.000004"), Fee: dec("0.00000321"), FeeAsset: "BNB",
	}
	first.ID = HashID(first)
	if !equalTrade(trades[0], first) {
		t.Errorf("first = %+v, want %+v", trades[0], first)
	}
	if trades[3].FeeAsset != "USDT" || !trades[3].Fee.Equal(dec("0.923076")) || trades[3].Side != venue.Sell {
		t.Errorf("USDT fee trade = %+v", trades[3])
	}
	eth := trades[4]
	if eth.Base != "ETH" || eth.Quote != "BTC" || eth.FeeAsset != "ETH" {
		t.Errorf("ETHBTC = %+v", eth)
	}
	// Two identical fills in a row stay two trades with distinct, stable ids.
	if trades[5].ID != eth.ID+"-2" {
		t.Errorf("duplicate id = %q, want %q", trades[5].ID, eth.ID+"-2")
	}
	last := trades[6]
	if last.Base != "BNB" || last.Quote != "FDUSD" || !last.Price.Equal(dec("1234.5")) || last.Side != venue.Sell {
		t.Errorf("grouped price trade = %+v", last)
	}
	// Reading again gives the same ids: import is idempotent.
	again, err := ReadAll(mustOpen(t, "testdata/binance-export.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range trades {
		if again[i].ID != trades[i].ID {
			t.Errorf("trade %d: id %q then %q", i, trades[i].ID, again[i].ID)
		}
	}
}

func TestHashIDIgnoresFormatting(t *testing.T) {
	t.Parallel()
	a := mustReadAll(t, "time,symbol,side,price,quantity,fee,fee_asset\n1572536931803,BTCUSDT,buy,9200.00,0.0601870,0.00006019,btc\n")
	b := mustReadAll(t, "time,symbol,side,price,quantity,fee,fee_asset\n2019-10-31T16:48:51.803+01:00,btc/usdt,BUY,9200,0.060187,0.00006019,BTC\n")
	if a[0].ID != b[0].ID || !strings.HasPrefix(a[0].ID, "h") || len(a[0].ID) != 33 {
		t.Errorf("ids %q and %q, want one 33-character hash", a[0].ID, b[0].ID)
	}
}

func TestSplitSymbol(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, base, quote, err string }{
		{"BTCUSDT", "BTC", "USDT", ""},
		{"btc/usdt", "BTC", "USDT", ""},
		{"BTCFDUSD", "BTC", "FDUSD", ""},
		{"BTCTUSD", "BTC", "TUSD", ""},
		{"ETHBTC", "ETH", "BTC", ""},
		{"USDTTRY", "USDT", "TRY", ""},
		{"BNBETH", "BNB", "ETH", ""},
		{"EURUSDT", "EUR", "USDT", ""},
		{"1000SHIBUSDC", "1000SHIB", "USDC", ""},
		{"XYZ/ABC", "XYZ", "ABC", ""},
		{"USDT", "", "", `split symbol "USDT": no known quote asset`},
		{"FOOBAR", "", "", `split symbol "FOOBAR": no known quote asset`},
		{"BTC/", "", "", `split symbol "BTC/": want BASE/QUOTE`},
		{"BTC-USDT", "", "", `split symbol "BTC-USDT": want letters and digits only`},
	}
	for _, tt := range tests {
		base, quote, err := SplitSymbol(tt.in)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("SplitSymbol(%q) error = %v, want prefix %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || base != tt.base || quote != tt.quote {
			t.Errorf("SplitSymbol(%q) = %q, %q, %v; want %q, %q", tt.in, base, quote, err, tt.base, tt.quote)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const h = "time,symbol,side,price,quantity,fee,fee_asset,trade_id\n"
	const ok = "2020-01-01T00:00:00Z,BTCUSDT,buy,100,1,0.1,USDT,1\n"
	const bh = "Date(UTC),Pair,Side,Price,Executed,Amount,Fee\n"
	tests := []struct {
		name, in, want string
		line           int
		column         string
	}{
		{"comma decimal", h + ok + "2020-01-01T00:00:00Z,BTCUSDT,buy,\"12,5\",1,0,USDT,2\n", `line 3, column "price": "12,5" is not a decimal`, 3, "price"},
		{"empty file", "", `line 1: empty file: want time,symbol,side,price,quantity,fee,fee_asset[,trade_id], Date(UTC),Pair,Side,Price,Executed,Amount,Fee or Bybit's Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)`, 1, ""},
		{"unknown header", "when,what\n", `line 1: unrecognized header "when,what": want time,symbol,side,price,quantity,fee,fee_asset[,trade_id], Date(UTC),Pair,Side,Price,Executed,Amount,Fee or Bybit's Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)`, 1, ""},
		{"missing column", "time,symbol,side,price,quantity,fee\n", `line 1: header lacks column "fee_asset": want time,symbol,side,price,quantity,fee,fee_asset[,trade_id], Date(UTC),Pair,Side,Price,Executed,Amount,Fee or Bybit's Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)`, 1, ""},
		{"extra column", "time,symbol,side,price,quantity,fee,fee_asset,note\n", `line 1: unknown column "note" in header: want time,symbol,side,price,quantity,fee,fee_asset[,trade_id], Date(UTC),Pair,Side,Price,Executed,Amount,Fee or Bybit's Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)`, 1, ""},
		{"twice", "time,symbol,side,price,quantity,fee,fee_asset,time\n", `line 1: column "time" appears twice in header`, 1, ""},
		{"field count", h + ok + "2020-01-01T00:00:00Z,BTCUSDT,buy,100,1\n", `line 3: 5 fields, want 8 as in the header`, 3, ""},
		{"bad time", h + "yesterday,BTCUSDT,buy,100,1,0,USDT,1\n", `line 2, column "time": "yesterday" is not an RFC 3339 time or Unix milliseconds`, 2, "time"},
		{"huge unix ms", h + "99999999999999999999,BTCUSDT,buy,100,1,0,USDT,1\n", `line 2, column "time": "99999999999999999999" is not an RFC 3339 time or Unix milliseconds`, 2, "time"},
		{"bad symbol", h + "1577836800000,FOOBAR,buy,100,1,0,USDT,1\n", `line 2, column "symbol": "FOOBAR" is not a symbol like BTC/USDT or BTCUSDT with a known quote asset`, 2, "symbol"},
		{"bad side", h + "1577836800000,BTCUSDT,hold,100,1,0,USDT,1\n", `line 2, column "side": "hold" is not buy or sell`, 2, "side"},
		{"zero price", h + "1577836800000,BTCUSDT,buy,0,1,0,USDT,1\n", `line 2, column "price": "0" must be positive`, 2, "price"},
		{"negative qty", h + "1577836800000,BTCUSDT,buy,1,-1,0,USDT,1\n", `line 2, column "quantity": "-1" must be positive`, 2, "quantity"},
		{"empty qty", h + "1577836800000,BTCUSDT,buy,1,,0,USDT,1\n", `line 2, column "quantity": "" is empty, want a decimal`, 2, "quantity"},
		{"too precise", h + "1577836800000,BTCUSDT,buy,1.12345678901234567890,1,0,USDT,1\n", `line 2, column "price": "1.12345678901234567890" has more than 19 decimals`, 2, "price"},
		{"exponent", h + "1577836800000,BTCUSDT,buy,1e3,1,0,USDT,1\n", `line 2, column "price": "1e3" is not a decimal`, 2, "price"},
		{"fee without asset", h + "1577836800000,BTCUSDT,buy,1,1,0.1,,1\n", `line 2, column "fee_asset": "" is empty but the fee is not zero`, 2, "fee_asset"},
		{"bad fee asset", h + "1577836800000,BTCUSDT,buy,1,1,0.1,B-NB,1\n", `line 2, column "fee_asset": "B-NB" is not an asset code (letters and digits)`, 2, "fee_asset"},
		{"control id", h + "1577836800000,BTCUSDT,buy,1,1,0,USDT,\"a\x01\"\n", `line 2, column "trade_id": "a\x01" contains control characters`, 2, "trade_id"},
		{"bare quote", h + "1577836800000,BTC\"USDT,buy,1,1,0,USDT,1\n", `line 2: bare " in non-quoted-field`, 2, ""},
		{"blank lines counted", h + ok + "\n\n1577836800000,BTCUSDT,buy,x,1,0,USDT,1\n", `line 5, column "price": "x" is not a decimal`, 5, "price"},
		{"newline in id", h + "1577836800000,BTCUSDT,buy,1,1,0,USDT,\"a\nb\"\n", `line 2, column "trade_id": "a\nb" contains control characters`, 2, "trade_id"},
		{"binance date", bh + "2020/08/04,BTCUSDT,BUY,1,1BTC,1USDT,0BNB\n", `line 2, column "Date(UTC)": "2020/08/04" is not a UTC time like "2020-08-04 10:11:12"`, 2, "Date(UTC)"},
		{"binance executed", bh + "2020-08-04 10:11:12,BTCUSDT,BUY,1,1,1USDT,0BNB\n", `line 2, column "Executed": "1" is not a decimal followed by the base asset, like 0.00100000BTC`, 2, "Executed"},
		{"binance amount", bh + "2020-08-04 10:11:12,BTCUSDT,BUY,1,1BTC,USDT,0BNB\n", `line 2, column "Amount": "USDT" is not a decimal followed by the quote asset, like 12.3USDT`, 2, "Amount"},
		{"binance fee", bh + "2020-08-04 10:11:12,BTCUSDT,BUY,1,1BTC,1USDT,0.1\n", `line 2, column "Fee": "0.1" is not a decimal followed by the fee asset, like 0.00000100BTC`, 2, "Fee"},
		{"binance pair", bh + "2020-08-04 10:11:12,ETHUSDT,BUY,1,1BTC,1USDT,0BNB\n", `line 2, column "Pair": "ETHUSDT" does not match the units of Executed (BTC) and Amount (USDT)`, 2, "Pair"},
		{"binance bad grouping", bh + "2020-08-04 10:11:12,BTCUSDT,BUY,\"12,5\",1BTC,1USDT,0BNB\n", `line 2, column "Price": "12,5" is not a decimal`, 2, "Price"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			trades, err := ReadAll(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("got %d trades and no error, want %q", len(trades), tt.want)
			}
			if trades != nil {
				t.Errorf("got %d trades with the error, want none", len(trades))
			}
			if err.Error() != tt.want {
				t.Errorf("got  %q\nwant %q", err.Error(), tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Line != tt.line || pe.Column != tt.column {
				t.Errorf("line %d column %q, want %d %q", pe.Line, pe.Column, tt.line, tt.column)
			}
		})
	}
}

func TestErrorIsSticky(t *testing.T) {
	t.Parallel()
	rd := NewReader(strings.NewReader("time,symbol,side,price,quantity,fee,fee_asset\n1,BTCUSDT,buy,x,1,0,USDT\n1,BTCUSDT,buy,1,1,0,USDT\n"))
	_, err1 := rd.Next()
	_, err2 := rd.Next()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v then %v, want the same error twice", err1, err2)
	}
}

func TestTimes(t *testing.T) {
	t.Parallel()
	want := time.Date(2020, 8, 4, 10, 11, 12, 345e6, time.UTC)
	for _, s := range []string{"1596535872345", "2020-08-04T10:11:12.345Z", "2020-08-04T12:11:12.345+02:00"} {
		got := mustReadAll(t, "time,symbol,side,price,quantity,fee,fee_asset\n"+s+",BTCUSDT,buy,1,1,0,\n")[0].Time
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("time %q = %v, want %v", s, got, want)
		}
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("time,symbol,side,price,quantity,fee,fee_asset\n")
	for range 25 {
		b.WriteString("1596535872345,BTCUSDT,buy,1,1,0,\n")
	}
	rd := NewReader(strings.NewReader(b.String()))
	var got []Progress
	rd.OnProgress(10, func(p Progress) { got = append(got, p) })
	for {
		if _, err := rd.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 || got[0].Rows != 10 || got[1].Rows != 20 || got[2].Rows != 25 || !got[2].Done || got[2].Bytes != int64(b.Len()) {
		t.Errorf("progress = %+v", got)
	}
}

func TestRealFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(realFile)
	if err != nil {
		t.Skipf("real trade file absent (%v); testdata/excerpt-canonical.csv covers its format", err)
	}
	defer f.Close()
	trades, err := ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(trades) != 3432 {
		t.Fatalf("got %d trades, want 3432", len(trades))
	}
	fees := map[string]int{}
	for _, tr := range trades {
		fees[tr.FeeAsset]++
		if tr.Symbol != "BTCUSDT" {
			t.Fatalf("line %d: symbol %q", tr.Line, tr.Symbol)
		}
	}
	if fees["BNB"] != 1049 || fees["BTC"] != 1413 || fees["USDT"] != 970 {
		t.Errorf("fee assets = %v, want BNB 1049, BTC 1413, USDT 970", fees)
	}
	assertRoundTrip(t, trades)
}

func TestWriterEmpty(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := NewWriter(&buf).Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "time,symbol,side,price,quantity,fee,fee_asset,trade_id\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// equalTrade compares all fields but Line, decimals by value.
func equalTrade(a, b Trade) bool {
	return a.Time.Equal(b.Time) && a.Symbol == b.Symbol && a.Base == b.Base && a.Quote == b.Quote && a.Side == b.Side &&
		a.Price.Equal(b.Price) && a.Quantity.Equal(b.Quantity) && a.Fee.Equal(b.Fee) && a.FeeAsset == b.FeeAsset && a.ID == b.ID
}

// assertRoundTrip writes trades with Writer, reads them back and requires
// equal trades.
func assertRoundTrip(tb testing.TB, trades []Trade) {
	tb.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, tr := range trades {
		if err := w.Write(tr); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	back, err := ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		tb.Fatalf("reading back what Writer wrote: %v\n%s", err, buf.String())
	}
	if len(back) != len(trades) {
		tb.Fatalf("round trip: %d trades, then %d", len(trades), len(back))
	}
	for i := range trades {
		if !equalTrade(trades[i], back[i]) {
			tb.Fatalf("round trip of trade %d:\n got %+v\nwant %+v", i, back[i], trades[i])
		}
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add([]byte("time,symbol,side,price,quantity,fee,fee_asset,trade_id\n2019-10-31T15:48:51.803Z,BTCUSDT,buy,9200,0.060187,0.00006019,BTC,199025959\n"))
	f.Add([]byte("time,symbol,side,price,quantity,fee,fee_asset\n1596535872345,eth/btc,SELL,0.032,1.5,-0.001,bnb\n1596535872345,eth/btc,SELL,0.032,1.5,-0.001,bnb\n"))
	f.Add([]byte("fee_asset,fee,quantity,price,side,symbol,time\n,0,1,1,buy,BTCFDUSD,2020-08-04T12:11:12.345678901+02:00\n"))
	f.Add([]byte("\ufefftime,symbol,side,price,quantity,fee,fee_asset,trade_id\n\"1\",\"BTC/USDT\",buy,+1.0,2.00,0,,\" x \"\n"))
	if data, err := os.ReadFile("testdata/excerpt-canonical.csv"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		trades, err := ReadAll(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			return
		}
		assertRoundTrip(t, trades)
	})
}

func FuzzBinance(f *testing.F) {
	if data, err := os.ReadFile("testdata/binance-export.csv"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("Date(UTC),Pair,Side,Price,Executed,Amount,Fee\n2020-08-04 10:11:12,BTCUSDT,buy,\"11,200.00\",0.00100000BTC,11.2USDT,0.0000010BTC\n"))
	f.Add([]byte("Date(UTC),Pair,Side,Price,Executed,Amount,Fee\n2020-08-04T10:11:12.5Z,ETH/BTC,Sell,0.5,+1ETH,0.5btc,-0.001 BNB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		trades, err := ReadAll(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			return
		}
		assertRoundTrip(t, trades)
	})
}

func TestIsHashID(t *testing.T) {
	t.Parallel()
	h := HashID(Trade{Base: "BTC", Quote: "USDT", Side: "buy"})
	for id, want := range map[string]bool{h: true, h + "-2": true, h + "-17": true, h + "-1": false, h + "-02": false,
		h + "-x": false, "12345": false, "": false, "H" + h[1:]: false, h[:32]: false, "sess-1": false} {
		if got := IsHashID(id); got != want {
			t.Errorf("IsHashID(%q) = %v, want %v", id, got, want)
		}
	}
}

// endless is a field that never ends: the reader must refuse the row after
// MaxRecordBytes instead of buffering it (one 300 MB field took 2.45 GB).
type endless struct {
	prefix []byte
	read   int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = '9'
	}
	e.read += int64(len(p))
	return len(p), nil
}

func TestRecordAndFieldCaps(t *testing.T) {
	t.Parallel()
	src := &endless{prefix: []byte("time,symbol,side,price,quantity,fee,fee_asset\n2025-03-01T00:00:00Z,BTCUSDT,buy,90000,0.01,0.9,USDT\n2025-03-01T00:00:00Z,BTCUSDT,buy,")}
	_, err := ReadAll(src)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 || !strings.Contains(pe.Error(), "longer than") {
		t.Fatalf("endless field: %v, want a ParseError at line 3", err)
	}
	if src.read > 4*MaxRecordBytes {
		t.Errorf("read %d bytes before refusing, want about %d", src.read, MaxRecordBytes)
	}
	long := strings.Repeat("1", MaxFieldBytes+1)
	_, err = ReadAll(strings.NewReader("time,symbol,side,price,quantity,fee,fee_asset\n2025-03-01T00:00:00Z,BTCUSDT,buy," + long + ",0.01,0.9,USDT\n"))
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Column != "price" || len(pe.Error()) > 300 {
		t.Fatalf("long field: %v, want a short ParseError naming line 2, column price", err)
	}
	// A quoted field may hold line breaks; the record counts as one.
	_, err = ReadAll(strings.NewReader("time,symbol,side,price,quantity,fee,fee_asset\n2025-03-01T00:00:00Z,\"BTC\nUSDT\",buy,1,0.01,0.9,USDT\n"))
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("multi-line record: %v, want a ParseError at line 2 (bad symbol)", err)
	}
}
