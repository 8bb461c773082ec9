package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/replay"
)

// Bad input is an *InputError (or *RowError) that names the place: the
// file and line, the session, the symbol.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const header = "open_time,open,high,low,close,volume\n"
	row := func(min int, px string) string {
		ms := time.Date(2024, 1, 1, 0, min, 0, 0, time.UTC).UnixMilli()
		return strings.Join([]string{itoa(ms), px, px, px, px, "1"}, ",") + "\n"
	}
	good := header + row(0, "100") + row(1, "101") + row(2, "102")
	cases := []struct {
		name  string
		csv   string
		edit  func(*replay.Config)
		wants []string
	}{
		{name: "gap", csv: header + row(0, "100") + row(1, "101") + row(4, "102"),
			wants: []string{"btc.csv line 4", "gap", "2 bars of 1m0s missing"}},
		{name: "unsorted", csv: header + row(0, "100") + row(1, "101") + row(0, "102"),
			wants: []string{"btc.csv line 4", "not after the previous one", "sorted oldest first"}},
		{name: "repeated row", csv: header + row(0, "100") + row(1, "101") + row(1, "101"),
			wants: []string{"btc.csv line 4", "not after the previous one"}},
		{name: "bad decimal", csv: header + row(0, "100") + strings.Replace(row(1, "101"), "101", "1o1", 1),
			wants: []string{"btc.csv line 3, column 2 (open)", "not a decimal"}},
		{name: "symbol without data", csv: good,
			edit: func(c *replay.Config) {
				c.Sessions[0].Symbols = []string{"ETHUSDT"}
			},
			wants: []string{"session btc-dca", "symbol ETHUSDT has no klines"}},
		{name: "params refused", csv: good,
			edit: func(c *replay.Config) {
				c.Sessions[0].Params = json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"-5","interval":"1h"}`)
			},
			wants: []string{"session btc-dca", "quote_amount"}},
		{name: "unknown strategy", csv: good,
			edit:  func(c *replay.Config) { c.Sessions[0].Strategy = "martingale" },
			wants: []string{"session btc-dca", "unknown strategy"}},
		{name: "no data in range", csv: good,
			edit:  func(c *replay.Config) { c.From = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) },
			wants: []string{"klines btc.csv", "no klines for BTCUSDT at or after 2025-01-01"}},
		{name: "unknown account", csv: good,
			edit:  func(c *replay.Config) { c.Sessions[0].Account = "zeta" },
			wants: []string{"session btc-dca", `account "zeta" is not in the desk`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := dcaConfig(nil)
			cfg.Sources[0].Stream = replay.NewCSVStream("btc.csv", strings.NewReader(tc.csv))
			cfg.Sources[0].Name = "btc.csv"
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			_, err := replay.Run(context.Background(), cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if !replay.IsInput(err) {
				t.Errorf("error %v (%T) is not bad input", err, errors.Unwrap(err))
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func itoa(n int64) string { return jsonNum(n) }

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

// Binance's public kline files: 12 columns, no header, open times in
// milliseconds (or microseconds, as in the spot files from 2025 on).
func TestCSVStreamReadsBinanceFiles(t *testing.T) {
	t.Parallel()
	// Rows as data.binance.vision publishes them (BTCUSDT-1m-2024-01.csv and
	// BTCUSDT-1m-2025-01.csv, first rows), the second with microseconds.
	const ms = "1704067200000,42283.58000000,42298.62000000,42261.02000000,42298.61000000,35.92724000,1704067259999,1519032.74584620,1327,17.65560000,746469.09563590,0\n" +
		"1704067260000,42298.62000000,42320.00000000,42298.61000000,42320.00000000,21.37093000,1704067319999,904382.52396860,1112,16.38210000,693229.86689190,0\n"
	const us = "1735689600000000,93576.00000000,93610.93000000,93537.50000000,93610.93000000,8.21827000,1735689659999999,768978.00120860,1947,2.55593000,239163.67233110,0\n"
	for _, in := range []string{ms, us} {
		s := replay.NewCSVStream("binance.csv", strings.NewReader(in))
		k, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if k.OpenTime.Year() < 2024 || k.Open.String() == "" || !k.High.GreaterThanOrEqual(k.Close) {
			t.Errorf("read %+v", k)
		}
	}
	s := replay.NewCSVStream("binance.csv", strings.NewReader(us))
	k, _ := s.Next()
	if want := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC); !k.OpenTime.Equal(want) {
		t.Errorf("microsecond open time read as %s, want %s", k.OpenTime, want)
	}
}
