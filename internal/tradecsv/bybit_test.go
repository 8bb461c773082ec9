package tradecsv

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// The fixtures are Bybit's two observed export layouts with the rows quoted
// in reader.go's bybitColumns comment (the fifo-calc converter's notes and a
// trade-import parser's fixture, copied byte for byte).

func TestReadBybitExport(t *testing.T) {
	t.Parallel()
	rd := NewReader(mustOpen(t, "testdata/bybit-export.csv"))
	if f, err := rd.Format(); err != nil || f != FormatBybit {
		t.Fatalf("format = %v, %v; want bybit", f, err)
	}
	trades, err := ReadAll(mustOpen(t, "testdata/bybit-export.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Trade{
		{Time: time.Date(2024, 11, 16, 14, 35, 0, 0, time.UTC), Symbol: "ICPUSDT", Base: "ICP", Quote: "USDT", Side: venue.Sell,
			Price: dec("9.3234"), Quantity: dec("5.36"), Fee: dec("0.049973424"), FeeAsset: "USDT", ID: "2200000000355489633", Line: 2},
		{Time: time.Date(2024, 11, 15, 3, 18, 0, 0, time.UTC), Symbol: "ICPUSDT", Base: "ICP", Quote: "USDT", Side: venue.Buy,
			Price: dec("8.0203"), Quantity: dec("10"), Fee: dec("0.01"), FeeAsset: "ICP", ID: "2200000000351556764", Line: 3},
	}
	if len(trades) != len(want) {
		t.Fatalf("got %d trades, want %d", len(trades), len(want))
	}
	for i := range want {
		if !equalTrade(trades[i], want[i]) || trades[i].Line != want[i].Line {
			t.Errorf("trade %d = %+v, want %+v", i, trades[i], want[i])
		}
	}
}

func TestReadBybitStatement(t *testing.T) {
	t.Parallel()
	trades, err := ReadAll(mustOpen(t, "testdata/bybit-statement.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(trades) != 2 {
		t.Fatalf("got %d trades, want 2", len(trades))
	}
	btc := trades[0]
	want := Trade{Time: time.Date(2024, 12, 9, 19, 48, 23, 0, time.UTC), Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT",
		Side: venue.Buy, Price: dec("97100"), Quantity: dec("0.046118"), Fee: dec("0.000046118"), FeeAsset: "BTC", ID: "2290000000522832993"}
	if !equalTrade(btc, want) || btc.Line != 3 {
		t.Errorf("first = %+v (line %d), want %+v on line 3", btc, btc.Line, want)
	}
	if trades[1].Symbol != "LTCUSDT" || trades[1].ID != "2200000000570297153" || !trades[1].Fee.Equal(dec("0.000355662")) {
		t.Errorf("second = %+v", trades[1])
	}
}

func TestReadBybitOffsetAndErrors(t *testing.T) {
	t.Parallel()
	const head = "Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC+8)\n"
	trades := mustReadAll(t, head+"BTCUSDT,LIMIT,SELL,10,100,0.1,0.01,7,1,2024-12-10 03:48:23\n")
	if got, want := trades[0].Time, time.Date(2024, 12, 9, 19, 48, 23, 0, time.UTC); !got.Equal(want) {
		t.Errorf("UTC+8 time = %v, want %v", got, want)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"bad price", head + "BTCUSDT,LIMIT,SELL,10,1o0,0.1,0.01,7,1,2024-12-10 03:48:23\n", `line 2, column "Filled Price": "1o0" is not a decimal`},
		{"bad direction", head + "BTCUSDT,LIMIT,HOLD,10,100,0.1,0.01,7,1,2024-12-10 03:48:23\n", `line 2, column "Direction": "HOLD" is not buy or sell`},
		{"no trade id", head + "BTCUSDT,LIMIT,SELL,10,100,0.1,0.01,,1,2024-12-10 03:48:23\n", `column "Transaction ID": "" is empty`},
		{"bad time", head + "BTCUSDT,LIMIT,SELL,10,100,0.1,0.01,7,1,10/12/2024\n", `line 2, column "Timestamp (UTC+8)": "10/12/2024" is not a time`},
		{"bad value", head + "BTCUSDT,LIMIT,SELL,ten,100,0.1,0.01,7,1,2024-12-10 03:48:23\n", `column "Filled Value": "ten" is not a decimal`},
		{"bad offset", strings.Replace(head, "UTC+8", "UTC+x", 1), `"Timestamp (UTC+x)": offset "+x"`},
		{"no timestamp", "Spot Pairs,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID\n", `lacks column "Timestamp (UTC)"`},
		{"unknown column", strings.Replace(head, "Order No.", "Order Colour", 1), `unknown column "Order Colour" in Bybit header`},
		{"uid line only", "UID: 1,Company Name: ,Country:\n", "no header after Bybit's UID line"},
	} {
		_, err := ReadAll(strings.NewReader(tc.file))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a *ParseError containing %q", tc.name, err, tc.want)
		}
	}
}

func FuzzBybit(f *testing.F) {
	for _, name := range []string{"testdata/bybit-export.csv", "testdata/bybit-statement.csv"} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC-5)\nETHBTC,LIMIT,buy,0.5,0.05,10,-0.01,x-1, 2,15:04:05 2024-01-02\n"))
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
