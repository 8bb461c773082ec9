package marketdata_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/marketdata"
)

func TestReadKlinesFile(t *testing.T) {
	t.Parallel()
	ks, err := marketdata.ReadKlinesFile("testdata/BTCUSDT-1m.csv")
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(ks) != 5 {
		t.Fatalf("got %d candles, want 5", len(ks))
	}
	k := ks[0]
	if want := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC); !k.OpenTime.Equal(want) {
		t.Errorf("open time: got %s, want %s", k.OpenTime, want)
	}
	if k.Open.String() != "23140.48" || k.High.String() != "23150.77" || k.Low.String() != "23128.52" ||
		k.Close.String() != "23142.31" || k.Volume.String() != "2.131777" {
		t.Errorf("first candle: got %+v", k)
	}
}

func TestReadKlinesErrors(t *testing.T) {
	t.Parallel()
	const hdr = "open_time,open,high,low,close,volume\n"
	tests := []struct {
		name     string
		in       string
		line     int
		column   int
		contains string
	}{
		{"empty", "", 1, 0, "empty file"},
		{"bad header", "time,open,high,low,close,volume\n", 1, 1, `got "time"`},
		{"extra header column", "open_time,open,high,low,close,volume,trades\n", 1, 7, "7 columns"},
		{"short row", hdr + "1677628800000,1,2,1\n", 2, 5, "4 columns"},
		{"bad time", hdr + "2023-03-01,1,2,1,1,1\n", 2, 1, "Unix milliseconds"},
		{"bad decimal", hdr + "1677628800000,1,2,x,1,1\n", 2, 4, `low "x"`},
		{"zero price", hdr + "1677628800000,0,2,1,1,1\n", 2, 2, "not positive"},
		{"negative volume", hdr + "1677628800000,1,2,1,1,-1\n", 2, 6, "negative"},
		{"low above close", hdr + "1677628800000,2,3,1.5,1,1\n", 2, 4, "low 1.5"},
		{"high below open", hdr + "1677628800000,2,1.5,1,1,1\n", 2, 3, "high 1.5"},
		{"not increasing", hdr + "1677628860000,1,2,1,1,1\n1677628800000,1,2,1,1,1\n", 3, 1, "not after"},
		{"bad quoting", hdr + "1677628800000,\"1,2,1,1,1\n", 2, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := marketdata.ReadKlines(strings.NewReader(tc.in))
			var pe *marketdata.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *ParseError", err)
			}
			if pe.Line != tc.line || (tc.column > 0 && pe.Column != tc.column) {
				t.Errorf("got line %d column %d, want line %d column %d (%v)", pe.Line, pe.Column, tc.line, tc.column, err)
			}
			if !strings.Contains(err.Error(), tc.contains) || !strings.Contains(err.Error(), "line ") {
				t.Errorf("message %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestReadKlinesExponent(t *testing.T) {
	t.Parallel()
	in := "open_time,open,high,low,close,volume\n1677628800000,1,2,1,1.5,9e-05\n1677628860000,1,2,1,1.5,1.5E2\n"
	ks, err := marketdata.ReadKlines(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if ks[0].Volume.String() != "0.00009" || ks[1].Volume.String() != "150" {
		t.Errorf("got volumes %s and %s, want 0.00009 and 150", ks[0].Volume, ks[1].Volume)
	}
	if _, err := marketdata.ReadKlines(strings.NewReader("open_time,open,high,low,close,volume\n1,1,1,1,1,1e99\n")); err == nil {
		t.Error("exponent 99: got nil error")
	}
}

func TestReadKlinesToleratesBOMAndCRLF(t *testing.T) {
	t.Parallel()
	in := "\ufeffopen_time,open,high,low,close,volume\r\n1677628800000,1,2,1,1.5,3\r\n"
	ks, err := marketdata.ReadKlines(strings.NewReader(in))
	if err != nil || len(ks) != 1 {
		t.Fatalf("got %d candles, %v; want 1", len(ks), err)
	}
}

func TestReadKlinesFileNamesFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "X-1m.csv")
	if err := os.WriteFile(p, []byte("open_time,open,high,low,close,volume\n1,a,1,1,1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := marketdata.ReadKlinesFile(p)
	if err == nil || !strings.Contains(err.Error(), p+": line 2, column 2 (open)") {
		t.Fatalf("got %v, want the file, line and column named", err)
	}
}

func TestParseInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1m", time.Minute, true}, {"15m", 15 * time.Minute, true}, {"1h", time.Hour, true},
		{"1d", 24 * time.Hour, true}, {"1w", 7 * 24 * time.Hour, true},
		{"0m", 0, false}, {"1y", 0, false}, {"m", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		got, err := marketdata.ParseInterval(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseInterval(%q): got %s, %v; want %s ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	srcs, err := marketdata.LoadDir("testdata")
	if err != nil {
		t.Fatalf("load dir: %v", err)
	}
	if len(srcs) != 2 || srcs[0].Symbol != "BTCUSDT" || srcs[0].Interval != time.Minute ||
		srcs[1].Symbol != "ETHUSDT" || srcs[1].Interval != time.Hour || len(srcs[1].Klines) != 3 {
		t.Fatalf("got %+v", srcs)
	}
}

// TestSharedData reads the real files when the shared data directory exists.
func TestSharedData(t *testing.T) {
	t.Parallel()
	const dir = "/work/shared/data"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s absent", dir)
	}
	for name, rows := range map[string]int{"BTCUSDT-1m.csv": 30240, "ETHUSDT-1h.csv": 17519, "BNBUSDT-1h.csv": 23987} {
		s, err := marketdata.LoadSource(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(s.Klines) != rows {
			t.Errorf("%s: got %d rows, want %d", name, len(s.Klines), rows)
		}
	}
}

func FuzzReadKlines(f *testing.F) {
	f.Add("open_time,open,high,low,close,volume\n1677628800000,23140.48,23150.77,23128.52,23142.31,2.131777\n")
	f.Add("open_time,open,high,low,close,volume\n1,1,1,1,1,0\n2,1,2,1,2,1\n")
	f.Add("open_time,open,high,low,close,volume\n1,\"1\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		ks, err := marketdata.ReadKlines(strings.NewReader(in))
		if err != nil {
			var pe *marketdata.ParseError
			if errors.As(err, &pe) && pe.Line < 1 {
				t.Fatalf("parse error with line %d: %v", pe.Line, err)
			}
			return
		}
		for i, k := range ks {
			if k.Low.GreaterThan(udecimal.Min(k.Open, k.Close)) || k.High.LessThan(udecimal.Max(k.Open, k.Close)) || k.Volume.IsNeg() {
				t.Fatalf("row %d accepted with bad bounds: %+v", i, k)
			}
			if i > 0 && !k.OpenTime.After(ks[i-1].OpenTime) {
				t.Fatalf("row %d accepted out of order", i)
			}
		}
	})
}

// endlessRow is a klines file whose second row never ends.
type endlessRow struct {
	prefix []byte
	read   int64
}

func (e *endlessRow) Read(p []byte) (int, error) {
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = '7'
	}
	e.read += int64(len(p))
	return len(p), nil
}

// A row longer than MaxKlineRowBytes ends the read with a ParseError naming
// its line, after reading about that much: the old reader buffered it whole.
func TestReadKlinesRowCap(t *testing.T) {
	t.Parallel()
	src := &endlessRow{prefix: []byte("open_time,open,high,low,close,volume\n1700000000000,1,1,1,1,1\n1700000060000,")}
	_, err := marketdata.ReadKlines(src)
	var pe *marketdata.ParseError
	if !errors.As(err, &pe) || pe.Line != 3 {
		t.Fatalf("endless row: %v, want a ParseError at line 3", err)
	}
	if src.read > 1<<20 {
		t.Errorf("read %d bytes before refusing", src.read)
	}
}
