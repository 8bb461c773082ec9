package pnl

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func dec(s string) Decimal { return udecimal.MustParse(s) }

// mustTrades reads canonical CSV rows (without header) "side,price,qty,fee,fee_asset"
// as BTCUSDT fills one second apart.
func mustTrades(tb testing.TB, rows ...string) []tradecsv.Trade {
	tb.Helper()
	var b strings.Builder
	b.WriteString("time,symbol,side,price,quantity,fee,fee_asset,trade_id\n")
	for i, r := range rows {
		fmt.Fprintf(&b, "%d,BTCUSDT,%s,%d\n", 1577836800000+int64(i)*1000, r, i+1)
	}
	trades, err := tradecsv.ReadAll(strings.NewReader(b.String()))
	if err != nil {
		tb.Fatalf("read trades: %v", err)
	}
	return trades
}

// want is the hand-checked result of one symbol.
type want struct {
	position, avgEntry, realized, unrealized, fees, net string
	unconverted                                         string // "0.15 BNB" or ""
}

func assertSymbol(tb testing.TB, got SymbolReport, w want) {
	tb.Helper()
	check := func(name string, got Decimal, want string) {
		tb.Helper()
		if !got.Equal(dec(want)) {
			tb.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	check("position", got.Position, w.position)
	check("avg_entry", got.AvgEntry, w.avgEntry)
	check("realized_pnl", got.RealizedPnL, w.realized)
	check("unrealized_pnl", got.UnrealizedPnL, w.unrealized)
	check("fees_quote", got.FeesQuote, w.fees)
	check("net_pnl", got.NetPnL, w.net)
	var unconv []string
	for _, a := range got.FeesUnconverted {
		unconv = append(unconv, a.Amount.String()+" "+a.Asset)
	}
	if g := strings.Join(unconv, ", "); g != w.unconverted {
		tb.Errorf("fees_unconverted = %q, want %q", g, w.unconverted)
	}
	if net, flows := got.Identity(); !net.Equal(flows) {
		tb.Errorf("identity: net %s != flows %s", net, flows)
	}
}

// bnbAt20 prices BNB at 20 USDT.
var bnbAt20 = FixedPrices{{"BNB", "USDT"}: dec("20")}

// TestGolden runs hand-checked examples: every fee case × both methods ×
// long, short and crossing zero. The arithmetic is in the comments.
func TestGolden(t *testing.T) {
	t.Parallel()
	// withFee appends the same fee to every "side,price,qty" row.
	withFee := func(fee string, rows ...string) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = r + "," + fee
		}
		return out
	}
	long := []string{"buy,100,1", "buy,300,1", "sell,250,1"}                   // mark 400
	short := []string{"sell,300,1", "sell,100,1", "buy,150,1"}                 // mark 50
	crossing := []string{"sell,300,1", "buy,200,2", "buy,100,1", "sell,180,1"} // mark 120
	tests := []struct {
		name   string
		rows   []string
		mark   string
		pricer FeePricer
		avg    want
		fifo   want
	}{
		// Long. avg: A = 200 after the buys; sell 1 at 250 realizes 50; Q = 1, C = 200,
		// unrealized = 400 − 200 = 200. FIFO: the sell closes the 100 lot, realizing 150;
		// C = 300, unrealized 100. Flows: 250 − 400 + 400 = 250 before fees.
		{"long/quote fee", withFee("1,USDT", long...), "400", nil,
			want{"1", "200", "50", "200", "3", "247", ""}, want{"1", "300", "150", "100", "3", "247", ""}},
		{"long/BNB converted", withFee("0.05,BNB", long...), "400", bnbAt20, // 0.05 × 20 = 1 per fill
			want{"1", "200", "50", "200", "3", "247", ""}, want{"1", "300", "150", "100", "3", "247", ""}},
		{"long/BNB unconverted", withFee("0.05,BNB", long...), "400", nil,
			want{"1", "200", "50", "200", "0", "250", "0.15 BNB"}, want{"1", "300", "150", "100", "0", "250", "0.15 BNB"}},
		// Base fees, avg: buy 1.01@100 → Q 1.01, C 101; fee 0.01 BTC disposes 0.01 at 100:
		// removed 101×0.01/1.01 = 1, R += 1 − 1 = 0 → Q 1, C 100, F 1. Buy 1@300 → Q 2, C 400;
		// fee 0.02 at 300: removed 400×0.02/2 = 4, R += 6 − 4 = 2 → Q 1.98, C 396, F 7.
		// Sell 0.98@250: removed 396×0.98/1.98 = 196, R += 245 − 196 → 51; Q 1, C 200;
		// fee 0.01 at 250: removed 2, R += 2.5 − 2 → 51.5; Q 0.99, C 198, F 9.5.
		// Unrealized 0.99×400 − 198 = 198; net 51.5 − 9.5 + 198 = 240.
		// FIFO: lots 1.01@100 → 1@100 after the fee (R 0); +1@300; fee 0.02 from the 100 lot:
		// R += 0.02×200 = 4; sell 0.98 from the 100 lot: R += 0.98×150 = 147 → 151; fee 0.01 from
		// the 300 lot: R += 0.01×(250−300) → 150.5; left 0.99@300: C 297, unrealized 99; net 240.
		// Flows: 245 − (101 + 300) + 396 = 240 (base fees are not subtracted).
		{"long/base fee", []string{"buy,100,1.01,0.01,BTC", "buy,300,1,0.02,BTC", "sell,250,0.98,0.01,BTC"}, "400", nil,
			want{"0.99", "200", "51.5", "198", "9.5", "240", ""}, want{"0.99", "300", "150.5", "99", "9.5", "240", ""}},

		// Short. avg: Q −2, C −400, A 200; buy 1@150 removes −200: R += −150 + 200 = 50;
		// Q −1, C −200, unrealized −50 + 200 = 150. FIFO: closes the 300 lot: R 150; C −100,
		// unrealized 50. Flows: 400 − 150 − 50 = 200 before fees.
		{"short/quote fee", withFee("1,USDT", short...), "50", nil,
			want{"-1", "200", "50", "150", "3", "197", ""}, want{"-1", "100", "150", "50", "3", "197", ""}},
		{"short/BNB converted", withFee("0.05,BNB", short...), "50", bnbAt20,
			want{"-1", "200", "50", "150", "3", "197", ""}, want{"-1", "100", "150", "50", "3", "197", ""}},
		{"short/BNB unconverted", withFee("0.05,BNB", short...), "50", nil,
			want{"-1", "200", "50", "150", "0", "200", "0.15 BNB"}, want{"-1", "100", "150", "50", "0", "200", "0.15 BNB"}},
		// Base fees on a short grow it. avg: sell 1@300 + fee 0.01 → Q −1.01, C −303, F 3;
		// sell 1@100 + fee 0.01 → Q −2.02, C −404, F 4; buy 1.01@150 removes −404×1.01/2.02 = −202:
		// R += −151.5 + 202 = 50.5 → Q −1.01, C −202; fee 0.01 at 150 → Q −1.02, C −203.5, F 5.5.
		// A = 203.5/1.02 = 199.50980392156862745098… truncated to 18 places.
		// Unrealized −1.02×50 + 203.5 = 152.5; net 50.5 − 5.5 + 152.5 = 197.5.
		// FIFO: the buy closes 1@300 (R 150) and 0.01@300 (R 1.5): R 151.5; left 1@100,
		// 0.01@100, 0.01@150: C −102.5, unrealized −51 + 102.5 = 51.5; net 197.5.
		// A = 102.5/1.02 = 100.49019607843137254901… truncated.
		{"short/base fee", []string{"sell,300,1,0.01,BTC", "sell,100,1,0.01,BTC", "buy,150,1.01,0.01,BTC"}, "50", nil,
			want{"-1.02", "199.509803921568627450", "50.5", "152.5", "5.5", "197.5", ""},
			want{"-1.02", "100.490196078431372549", "151.5", "51.5", "5.5", "197.5", ""}},

		// Crossing zero. Sell 1@300, then buy 2@200 closes the short (R 100) and opens 1@200;
		// buy 1@100 → Q 2. avg: C 300, A 150; sell 1@180 realizes 30 → R 130, Q 1, C 150,
		// unrealized −30. FIFO: the sell closes the 200 lot: R 100 − 20 = 80, C 100,
		// unrealized 20. Flows: 480 − 500 + 120 = 100 before fees.
		{"crossing/quote fee", withFee("1,USDT", crossing...), "120", nil,
			want{"1", "150", "130", "-30", "4", "96", ""}, want{"1", "100", "80", "20", "4", "96", ""}},
		{"crossing/BNB converted", withFee("0.05,BNB", crossing...), "120", bnbAt20,
			want{"1", "150", "130", "-30", "4", "96", ""}, want{"1", "100", "80", "20", "4", "96", ""}},
		{"crossing/BNB unconverted", withFee("0.05,BNB", crossing...), "120", nil,
			want{"1", "150", "130", "-30", "0", "100", "0.2 BNB"}, want{"1", "100", "80", "20", "0", "100", "0.2 BNB"}},
		// Base fees on the buys. avg: after the crossing buy Q 1, C 200, R 100; fee 0.02 at 200
		// removes 4, R += 4 − 4 → Q 0.98, C 196, F 4. Buy 1.02@100 → Q 2, C 298; fee 0.02 at 100
		// removes 2.98: R += 2 − 2.98 → 99.02; Q 1.98, C 295.02, F 6. Sell 0.98@180 removes
		// 295.02×0.98/1.98 = 146.02: R += 176.4 − 146.02 → 129.4; Q 1, C 149; unrealized −29;
		// net 129.4 − 6 − 29 = 94.4. FIFO: lots 0.98@200 after the first fee; +1.02@100; fee 0.02
		// from the 200 lot: R += −2 → 98; sell 0.98: 0.96@200 (−19.2) and 0.02@100 (+1.6) → 80.4;
		// left 1@100: unrealized 20; net 80.4 − 6 + 20 = 94.4.
		// Flows: (300 + 176.4) − (400 + 102) + 120 = 94.4.
		{"crossing/base fee", []string{"sell,300,1,0,", "buy,200,2,0.02,BTC", "buy,100,1.02,0.02,BTC", "sell,180,0.98,0,"}, "120", nil,
			want{"1", "149", "129.4", "-29", "6", "94.4", ""}, want{"1", "100", "80.4", "20", "6", "94.4", ""}},
	}
	for _, tt := range tests {
		for _, m := range []Method{AvgCost, FIFO} {
			t.Run(tt.name+"/"+string(m), func(t *testing.T) {
				t.Parallel()
				rep, err := Compute(mustTrades(t, tt.rows...), m, map[string]Decimal{"BTC/USDT": dec(tt.mark)}, tt.pricer)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Symbols) != 1 || rep.Method != m {
					t.Fatalf("report = %+v", rep)
				}
				w := tt.avg
				if m == FIFO {
					w = tt.fifo
				}
				s := rep.Symbols[0]
				assertSymbol(t, s, w)
				if s.Trades != len(tt.rows) || !s.Mark.Equal(dec(tt.mark)) || s.Base != "BTC" || s.Quote != "USDT" {
					t.Errorf("trades %d mark %s base %s quote %s", s.Trades, s.Mark, s.Base, s.Quote)
				}
				if !rep.Total.NetPnL.Equal(s.NetPnL) || !rep.Total.RealizedPnL.Equal(s.RealizedPnL) || !rep.Total.FeesQuote.Equal(s.FeesQuote) {
					t.Errorf("total %+v", rep.Total)
				}
			})
		}
	}
}

func TestMarkDefaultsToLastPrice(t *testing.T) {
	t.Parallel()
	rep, err := Compute(mustTrades(t, "buy,100,1,0,", "buy,110,1,0,"), AvgCost, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Symbols[0]
	if !s.Mark.Equal(dec("110")) || !s.UnrealizedPnL.Equal(dec("10")) || !s.AvgEntry.Equal(dec("105")) {
		t.Errorf("mark %s unrealized %s avg %s", s.Mark, s.UnrealizedPnL, s.AvgEntry)
	}
}

// TestAvgEntryRounding pins the documented rounding: A = C/Q truncated to 18
// places, while unrealized uses the exact C.
func TestAvgEntryRounding(t *testing.T) {
	t.Parallel()
	rep, err := Compute(mustTrades(t, "buy,1,1,0,", "buy,2,1,0,", "buy,2,1,0,"), AvgCost, map[string]Decimal{"BTCUSDT": dec("2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Symbols[0]
	if got, want := s.AvgEntry.String(), "1.666666666666666666"; got != want {
		t.Errorf("avg_entry = %s, want %s", got, want)
	}
	if !s.UnrealizedPnL.Equal(dec("1")) {
		t.Errorf("unrealized = %s, want exactly 1 (6 − 5)", s.UnrealizedPnL)
	}
}

// TestPartialReductionRounding: cost removed = C × closed / |Q| truncated to
// 19 places (udecimal's division), and R − C stays exact.
func TestPartialReductionRounding(t *testing.T) {
	t.Parallel()
	rep, err := Compute(mustTrades(t, "buy,1,1,0,", "buy,2,2,0,", "sell,3,1,0,"), AvgCost, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Symbols[0]
	// C = 5, Q = 3: removed = 5/3 = 1.6666666666666666666 (truncated); R = 3 − removed.
	if got, want := s.RealizedPnL.String(), "1.3333333333333333334"; got != want {
		t.Errorf("realized = %s, want %s", got, want)
	}
	// Unrealized = 2×3 − (5 − 1.6666666666666666666) = 2.6666666666666666666; net = 4 exactly.
	if !s.NetPnL.Equal(dec("4")) {
		t.Errorf("net = %s, want 4", s.NetPnL)
	}
}

func TestEngineErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewEngine("lifo", nil); !errors.Is(err, ErrInput) {
		t.Errorf("NewEngine(lifo) error = %v, want ErrInput", err)
	}
	e, err := NewEngine(AvgCost, nil)
	if err != nil {
		t.Fatal(err)
	}
	trades := mustTrades(t, "buy,1,1,0,", "buy,1,1,0,")
	if err := e.Add(&trades[1]); err != nil {
		t.Fatal(err)
	}
	err = e.Add(&trades[0])
	if !errors.Is(err, ErrOutOfOrder) || !errors.Is(err, ErrInput) {
		t.Errorf("out of order error = %v", err)
	}
	if !strings.Contains(err.Error(), `add fill "1" of BTCUSDT at 2020-01-01T00:00:00Z after "2" at 2020-01-01T00:00:01Z`) {
		t.Errorf("message %q", err)
	}
	// Same time, same id: a duplicate.
	if err := e.Add(&trades[1]); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("duplicate error = %v", err)
	}
	// Products beyond 19 decimals are refused, not rounded.
	tr := trades[0]
	tr.Time = tr.Time.Add(time.Hour)
	tr.Price, tr.Quantity = dec("1.0000000001"), dec("0.0000000001") // 10 + 10 decimals
	if err := e.Add(&tr); !errors.Is(err, ErrPrecision) || !errors.Is(err, ErrInput) {
		t.Errorf("precision error = %v", err)
	}
	if _, err := ParseMethod("x"); !errors.Is(err, ErrInput) {
		t.Errorf("ParseMethod(x) = %v", err)
	}
}

func TestIDOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		less bool
	}{
		{"9", "10", true}, {"10", "9", false}, {"0010", "9", false}, {"199025959", "199025961", true},
		{"1", "a", true}, {"a", "1", false}, {"a", "b", true}, {"h1", "h1-2", true}, {"5", "5", false},
	}
	for _, tt := range tests {
		if got := idLess(tt.a, tt.b); got != tt.less {
			t.Errorf("idLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.less)
		}
	}
	// Compute orders same-time fills by numeric id.
	trades := mustTrades(t, "sell,200,1,0,", "buy,100,1,0,")
	trades[0].Time, trades[0].ID = trades[1].Time, "10"
	trades[1].ID = "9"
	rep, err := Compute(trades, FIFO, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Symbols[0]; !s.RealizedPnL.Equal(dec("100")) || !s.Position.IsZero() {
		t.Errorf("buy 9 then sell 10: realized %s position %s, want 100 and 0", s.RealizedPnL, s.Position)
	}
}

func TestKlinePrices(t *testing.T) {
	t.Parallel()
	h := time.Date(2021, 4, 4, 21, 0, 0, 0, time.UTC)
	k := NewKlinePrices(time.Hour)
	k.Add("BNB", "USDT", []venue.Kline{
		{OpenTime: h.Add(2 * time.Hour), Open: dec("352")}, // a gap before it
		{OpenTime: h, Open: dec("351.7912")},
	})
	tests := []struct {
		at   time.Time
		want string
		ok   bool
	}{
		{h.Add(-time.Second), "", false},
		{h, "351.7912", true},
		{h.Add(59 * time.Minute), "351.7912", true},
		{h.Add(90 * time.Minute), "", false},
		{h.Add(2*time.Hour + time.Minute), "352", true},
		{h.Add(3 * time.Hour), "", false},
	}
	for _, tt := range tests {
		got, ok := k.FeePrice("BNB", "USDT", tt.at)
		if ok != tt.ok || ok && !got.Equal(dec(tt.want)) {
			t.Errorf("FeePrice at %s = %s, %v; want %s, %v", tt.at, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := k.FeePrice("BNB", "BTC", h); ok {
		t.Error("BNB/BTC priced from BNB/USDT candles")
	}
}
