package backfill_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

const realFile = "/work/shared/data/binance-btcusdt-trades-2019-2020.csv"

const canonicalCSV = `time,symbol,side,price,quantity,fee,fee_asset,trade_id
2025-03-01T00:00:00Z,BTC/USDT,buy,90000,0.01,0.9,USDT,11
2025-03-01T01:00:00Z,BTCUSDT,sell,91000.5,0.005,0.00000500,BTC,12
1740794400000,ETHUSDT,buy,2000,1,0.001,BNB,
`

const binanceCSV = "\ufeffDate(UTC),Pair,Side,Price,Executed,Amount,Fee\n" +
	"2020-02-24 01:18:43,BTCUSDT,BUY,9901.54,0.00000400BTC,0.03960616USDT,0.00000321BNB\n" +
	"2020-02-25 02:44:42,BTCUSDT,SELL,9601.35,0.00002600BTC,0.2496351USDT,0.00000859BNB\n"

// bybitCSV is Bybit's spot order-history export (tradecsv's
// testdata/bybit-export.csv names its source); its rows are deduplicated by
// Transaction ID.
const bybitCSV = "Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)\n" +
	"ICPUSDT,MARKET,SELL,49.97342400000000000000,9.32340000000000000000,5.36000000000000000000,0.04997342400000000000,2200000000355489633, 53982208,14:35 2024-11-16\n" +
	"ICPUSDT,LIMIT,BUY,80.20300000000000000000,8.02030000000000000000,10.00000000000000000000,0.01000000000000000000,2200000000351556764, 87307520,03:18 2024-11-15\n"

// mustAccount creates an account named name.
func mustAccount(tb testing.TB, db *store.DB, name, venueName string) store.Account {
	tb.Helper()
	a := &store.Account{Name: name, Venue: venueName}
	if err := db.CreateAccount(context.Background(), a); err != nil {
		tb.Fatal(err)
	}
	return *a
}

// onlyReader hides Seek, so ImportTrades spools.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestImportFormats(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.Open(t, eng.URL(t))
			acct := mustAccount(t, db, "main", "binance")
			for _, tc := range []struct {
				name, file, format string
				rows               int64
				seek               bool
			}{
				{"canonical", canonicalCSV, "canonical", 3, true},
				{"binance", binanceCSV, "binance", 2, false},
				{"bybit", bybitCSV, "bybit", 2, true},
			} {
				var r io.Reader = strings.NewReader(tc.file)
				if !tc.seek {
					r = onlyReader{r}
				}
				res, err := backfill.ImportTrades(ctx, db, "main", r, int64(len(tc.file)), nil)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				want := backfill.ImportResult{Format: tc.format, Rows: tc.rows, New: tc.rows}
				if res != want {
					t.Fatalf("%s: got %+v, want %+v", tc.name, res, want)
				}
				// Importing the same file again adds nothing.
				r = strings.NewReader(tc.file)
				if !tc.seek {
					r = onlyReader{r}
				}
				res, err = backfill.ImportTrades(ctx, db, "main", r, 0, nil)
				want.New, want.Duplicates = 0, tc.rows
				if err != nil || res != want {
					t.Fatalf("%s reimport: got %+v, %v; want %+v", tc.name, res, err, want)
				}
			}
			fills, err := db.Fills(ctx, store.FillQuery{AccountID: acct.ID})
			if err != nil || len(fills) != 7 {
				t.Fatalf("got %d fills, %v; want 7", len(fills), err)
			}
			var eth store.Fill
			for _, f := range fills {
				if f.Symbol == "ETHUSDT" {
					eth = f
				}
				if f.Source != backfill.SourceImport || f.SessionID != "" {
					t.Fatalf("fill %+v: want source import, no session", f)
				}
			}
			// No trade id: keyed by the content hash.
			if !strings.HasPrefix(eth.TradeID, "h") || eth.FeeAsset != "BNB" || !eth.At.Equal(time.UnixMilli(1740794400000)) ||
				!eth.QuoteQty.Equal(dec("2000")) {
				t.Fatalf("ETH fill: got %+v", eth)
			}
		})
	}
}

func TestImportBadRowImportsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(t)
	mustAccount(t, db, "main", "paper")
	// A good first batch's worth of rows, then a bad price far down.
	var sb strings.Builder
	sb.WriteString("time,symbol,side,price,quantity,fee,fee_asset,trade_id\n")
	for i := range backfill.ImportBatch + 10 {
		fmt.Fprintf(&sb, "%d,BTCUSDT,buy,100,0.01,0,,%d\n", 1740787200000+int64(i), i+1)
	}
	sb.WriteString("1740900000000,BTCUSDT,buy,12;5,0.01,0,,x\n")
	line := backfill.ImportBatch + 12
	_, err := backfill.ImportTrades(ctx, db, "main", strings.NewReader(sb.String()), int64(sb.Len()), nil)
	var pe *tradecsv.ParseError
	if !errors.Is(err, backfill.ErrInput) || !errors.As(err, &pe) {
		t.Fatalf("got %v, want ErrInput with a *tradecsv.ParseError", err)
	}
	if pe.Line != line || pe.Column != "price" || !strings.Contains(err.Error(), fmt.Sprintf("line %d", line)) {
		t.Fatalf("got line %d column %q (%v), want line %d column price", pe.Line, pe.Column, err, line)
	}
	if n, _ := db.CountFills(ctx, 0); n != 0 {
		t.Fatalf("a refused file stored %d fills", n)
	}
	_, err = backfill.ImportTrades(ctx, db, "nobody", strings.NewReader(canonicalCSV), 0, nil)
	if !errors.Is(err, backfill.ErrInput) || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("unknown account: got %v", err)
	}
}

func TestImportRealFile(t *testing.T) {
	t.Parallel()
	f, err := os.Open(realFile)
	if err != nil {
		t.Skipf("real trade file absent (%v): skipping", err)
	}
	defer f.Close()
	st, _ := f.Stat()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(t)
	acct := mustAccount(t, db, "real", "binance")
	var calls int
	var lastDone, lastTotal int64
	res, err := backfill.ImportTrades(ctx, db, "real", f, st.Size(), func(done, total int64) {
		if done < lastDone {
			t.Errorf("progress went back from %d to %d", lastDone, done)
		}
		calls++
		lastDone, lastTotal = done, total
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3432 || res.New != 3432 || res.Format != "canonical" {
		t.Fatalf("got %+v, want 3432 new canonical rows", res)
	}
	if calls == 0 || lastDone != 2*st.Size() || lastTotal != 2*st.Size() {
		t.Fatalf("progress: %d calls, last %d/%d, want ending at %d", calls, lastDone, lastTotal, 2*st.Size())
	}
	f.Seek(0, io.SeekStart)
	res, err = backfill.ImportTrades(ctx, db, "real", f, st.Size(), nil)
	if err != nil || res.New != 0 || res.Duplicates != 3432 {
		t.Fatalf("reimport: got %+v, %v", res, err)
	}
	if n, _ := db.CountFills(ctx, acct.ID); n != 3432 {
		t.Fatalf("got %d fills, want 3432", n)
	}
}

// writeTradeFile writes a canonical CSV of n seeded rows and returns its path.
func writeTradeFile(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "trades.csv")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "time,symbol,side,price,quantity,fee,fee_asset,trade_id")
	rng := rand.New(rand.NewPCG(7, 8))
	ms := int64(1572536931803)
	feeAssets := [...]string{"BTC", "USDT", "BNB"}
	for i := range n {
		ms += rng.Int64N(5000)
		side := "buy"
		if rng.IntN(2) == 0 {
			side = "sell"
		}
		fmt.Fprintf(w, "%s,BTCUSDT,%s,%d.%02d,0.%06d,0.%08d,%s,%d\n",
			time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), side, 9000+rng.IntN(3000), rng.IntN(100),
			1+rng.IntN(999_999), rng.IntN(100_000), feeAssets[rng.IntN(3)], 199025959+i)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkImport1M imports a 1,000,000-row canonical CSV into a fresh
// SQLite store; rows/s is the figure in docs/BENCHMARKS.md.
func BenchmarkImport1M(b *testing.B) {
	const rows = 1_000_000
	path := writeTradeFile(b, rows)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for b.Loop() {
		b.StopTimer()
		db := storetest.MustOpenSQLite(b)
		mustAccount(b, db, "bench", "binance")
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := backfill.ImportTrades(context.Background(), db, "bench", f, st.Size(), nil)
		if err != nil || res.New != rows {
			b.Fatalf("got %+v, %v", res, err)
		}
		f.Close()
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
