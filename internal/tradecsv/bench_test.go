package tradecsv

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeBenchFile writes a canonical CSV of n seeded rows (a mix of fee
// assets, RFC 3339 times, with trade ids) and returns its path.
func writeBenchFile(tb testing.TB, n int) string {
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
			formatMilli(ms), side, 9000+rng.IntN(3000), rng.IntN(100), 1+rng.IntN(999_999), rng.IntN(100_000), feeAssets[rng.IntN(3)], 199025959+i)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func formatMilli(ms int64) string {
	return unixMilli(ms).Format("2006-01-02T15:04:05.000Z")
}

// BenchmarkRead1M parses a 1,000,000-row canonical CSV from disk; rows/s is
// the figure in docs/BENCHMARKS.md.
func BenchmarkRead1M(b *testing.B) {
	const rows = 1_000_000
	path := writeBenchFile(b, rows)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rd := NewReader(f)
		n := 0
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		f.Close()
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows*b.N), "cpu-ns/row")
	}
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// BenchmarkReadBybit1M parses a 1,000,000-row Bybit spot export (its
// 20-decimal numbers, "2006-01-02 15:04:05" times, the statement's UID line)
// from disk: the cost of trimming Bybit's zeros and deriving the fee asset
// against the canonical BenchmarkRead1M.
func BenchmarkReadBybit1M(b *testing.B) {
	const rows = 1_000_000
	path := filepath.Join(b.TempDir(), "bybit.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "UID: 281915315,Company Name: ,Country:")
	fmt.Fprintln(w, "Uid,Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC+0)")
	rng := rand.New(rand.NewPCG(7, 8))
	ms := int64(1733773703000)
	for i := range rows {
		ms += 1000 * (1 + rng.Int64N(5))
		side := "BUY"
		if rng.IntN(2) == 0 {
			side = "SELL"
		}
		fmt.Fprintf(w, "281915315,BTCUSDT,LIMIT,%s,%d.%02d000000000000000000,%d.%02d000000000000000000,0.%06d00000000000000,0.%08d000000000000,%d,%d,%s\n",
			side, 4000+rng.IntN(1000), rng.IntN(100), 90000+rng.IntN(10000), rng.IntN(100), 1+rng.IntN(999_999), rng.IntN(100_000),
			2290000000522832993+i, 1836393090823494400+i, unixMilli(ms).Format("2006-01-02 15:04:05"))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rd := NewReader(f)
		n := 0
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		f.Close()
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows*b.N), "cpu-ns/row")
	}
}
