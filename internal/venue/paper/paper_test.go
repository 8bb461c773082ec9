package paper_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

var t0 = time.Date(2024, 5, 13, 16, 0, 0, 0, time.UTC)

type testBundle struct {
	ex   *paper.Exchange
	acct *paper.Account
	clk  *clock.Fake
	ctx  context.Context
}

func setup(t *testing.T, cfg paper.Config) *testBundle {
	t.Helper()
	clk := clock.NewFake(t0)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	ex, err := paper.New(cfg)
	if err != nil {
		t.Fatalf("new exchange: %v", err)
	}
	mustFund(t, ex, "a", "USDT", "100000")
	mustFund(t, ex, "a", "BTC", "1")
	mustSetPrice(t, ex, "BTCUSDT", "20000")
	return &testBundle{ex: ex, acct: ex.Account("a"), clk: clk, ctx: t.Context()}
}

func mustFund(t testing.TB, ex *paper.Exchange, acct, asset, amount string) {
	t.Helper()
	if err := ex.Fund(acct, venue.WalletSpot, asset, dec(amount)); err != nil {
		t.Fatalf("fund: %v", err)
	}
}

func mustSetPrice(t testing.TB, ex *paper.Exchange, sym, px string) {
	t.Helper()
	if err := ex.SetPrice(sym, dec(px), time.Time{}); err != nil {
		t.Fatalf("set price: %v", err)
	}
}

func limitReq(id string, side venue.Side, qty, px string, tif venue.TimeInForce) venue.OrderRequest {
	return venue.OrderRequest{ClientOrderID: id, Symbol: "BTCUSDT", Side: side, Type: venue.Limit,
		Quantity: dec(qty), Price: dec(px), TimeInForce: tif}
}

func balance(t *testing.T, b *testBundle, asset string) venue.Balance {
	t.Helper()
	bs, err := b.acct.Balances(b.ctx)
	if err != nil {
		t.Fatalf("balances: %v", err)
	}
	for _, x := range bs {
		if x.Wallet == venue.WalletSpot && x.Asset == asset {
			return x
		}
	}
	return venue.Balance{Wallet: venue.WalletSpot, Asset: asset}
}

func TestPartialFills(t *testing.T) {
	t.Parallel()
	b := setup(t, paper.Config{FillShare: dec("0.5")})
	o, err := b.acct.PlaceOrder(b.ctx, limitReq("pf-1", venue.Buy, "0.1", "19000", venue.GTC))
	if err != nil {
		t.Fatalf("place: %v", err)
	}
	// Each crossing tick fills half of what remains, rounded down to the
	// step; the last piece below the minimum fills whole.
	want := []string{"0.05", "0.075", "0.0875", "0.09375"}
	for i, w := range want {
		mustSetPrice(t, b.ex, "BTCUSDT", "18990")
		q, err := b.acct.QueryOrder(b.ctx, "BTCUSDT", "pf-1")
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		if !q.ExecutedQty.Equal(dec(w)) || q.Status != venue.StatusPartiallyFilled {
			t.Fatalf("tick %d: got executed %s status %s, want %s partially_filled", i, q.ExecutedQty, q.Status, w)
		}
	}
	for range 20 {
		mustSetPrice(t, b.ex, "BTCUSDT", "18990")
	}
	q, _ := b.acct.QueryOrder(b.ctx, "BTCUSDT", "pf-1")
	if q.Status != venue.StatusFilled || !q.ExecutedQty.Equal(dec("0.1")) {
		t.Fatalf("after many ticks: got %s %s, want filled 0.1", q.Status, q.ExecutedQty)
	}
	trades, _ := b.acct.OrderTrades(b.ctx, "BTCUSDT", o.VenueOrderID)
	if len(trades) < 5 {
		t.Errorf("fills: got %d, want several", len(trades))
	}
	for _, tr := range trades {
		if !tr.Maker || !tr.Price.Equal(dec("19000")) || tr.FeeAsset != "BTC" || !tr.Fee.Equal(tr.Quantity.Mul(dec("0.001"))) {
			t.Errorf("fill %+v: want maker at 19000 with 0.1%% fee in BTC", tr)
		}
	}
	// Fees in base: received 0.1 BTC less 0.0001 fee; paid 1900 USDT.
	if got := balance(t, b, "BTC").Free; !got.Equal(dec("1.0999")) {
		t.Errorf("BTC: got %s, want 1.0999", got)
	}
	if got := balance(t, b, "USDT"); !got.Free.Equal(dec("98100")) || !got.Locked.IsZero() {
		t.Errorf("USDT: got free %s locked %s, want 98100 and 0", got.Free, got.Locked)
	}
}

func TestTimeInForce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		req        venue.OrderRequest
		wantStatus venue.OrderStatus
		wantExec   string
	}{
		{"GTC rests", limitReq("tif-1", venue.Buy, "0.01", "19000", venue.GTC), venue.StatusNew, "0"},
		{"empty TIF is GTC", limitReq("tif-2", venue.Buy, "0.01", "19000", ""), venue.StatusNew, "0"},
		{"IOC not marketable expires", limitReq("tif-3", venue.Buy, "0.01", "19000", venue.IOC), venue.StatusExpired, "0"},
		{"FOK not marketable expires", limitReq("tif-4", venue.Sell, "0.01", "21000", venue.FOK), venue.StatusExpired, "0"},
		{"IOC marketable fills", limitReq("tif-5", venue.Buy, "0.01", "20100", venue.IOC), venue.StatusFilled, "0.01"},
		{"FOK marketable fills", limitReq("tif-6", venue.Sell, "0.01", "19900", venue.FOK), venue.StatusFilled, "0.01"},
		{"GTC marketable fills as taker", limitReq("tif-7", venue.Buy, "0.01", "25000", venue.GTC), venue.StatusFilled, "0.01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, paper.Config{})
			o, err := b.acct.PlaceOrder(b.ctx, tc.req)
			if err != nil {
				t.Fatalf("place: %v", err)
			}
			if o.Status != tc.wantStatus || !o.ExecutedQty.Equal(dec(tc.wantExec)) {
				t.Fatalf("got %s executed %s, want %s executed %s", o.Status, o.ExecutedQty, tc.wantStatus, tc.wantExec)
			}
			if o.Status == venue.StatusFilled && !o.QuoteQty.Equal(dec("200")) {
				t.Errorf("taker fill: quote %s, want 200 (at the current price, not the limit)", o.QuoteQty)
			}
			if o.Status.Terminal() {
				if l := balance(t, b, "USDT").Locked; !l.IsZero() {
					t.Errorf("USDT locked after a terminal order: %s", l)
				}
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op    string
		fault paper.Fault
		class venue.Class
		code  int
	}{
		{paper.OpPlace, paper.FaultRateLimited, venue.ClassRateLimited, paper.CodeTooManyRequests},
		{paper.OpPlace, paper.FaultBanned, venue.ClassBanned, paper.CodeTooManyRequests},
		{paper.OpPlace, paper.FaultInsufficientFunds, venue.ClassInsufficientFunds, paper.CodeNewOrderRejected},
		{paper.OpPlace, paper.FaultFilterReject, venue.ClassRejected, paper.CodeFilterFailure},
		{paper.OpPlace, paper.FaultTimeoutBeforeExecution, venue.ClassUnknown, 0},
		{paper.OpPlace, paper.FaultTimeoutAfterExecution, venue.ClassUnknown, 0},
		{paper.OpPlace, paper.FaultServerError, venue.ClassUnknown, paper.CodeUnknownExecution},
		{paper.OpPlace, paper.FaultTimestamp, venue.ClassTimestamp, paper.CodeTimestamp},
		{paper.OpPlace, paper.FaultAuth, venue.ClassAuth, paper.CodeInvalidAPIKeyPerm},
		{paper.OpQuery, paper.FaultServerError, venue.ClassUnavailable, 0},
		{paper.OpQuery, paper.FaultTimeoutBeforeExecution, venue.ClassUnavailable, 0},
		{paper.OpCancel, paper.FaultServerError, venue.ClassUnknown, paper.CodeUnknownExecution},
	}
	for _, tc := range tests {
		t.Run(tc.op+"/"+string(tc.fault), func(t *testing.T) {
			t.Parallel()
			b := setup(t, paper.Config{})
			if _, err := b.acct.PlaceOrder(b.ctx, limitReq("f-0", venue.Buy, "0.01", "19000", venue.GTC)); err != nil {
				t.Fatalf("place: %v", err)
			}
			b.acct.Faults().Next(tc.op, tc.fault)
			var err error
			switch tc.op {
			case paper.OpPlace:
				_, err = b.acct.PlaceOrder(b.ctx, limitReq("f-1", venue.Buy, "0.01", "19000", venue.GTC))
			case paper.OpQuery:
				_, err = b.acct.QueryOrder(b.ctx, "BTCUSDT", "f-0")
			case paper.OpCancel:
				_, err = b.acct.CancelOrder(b.ctx, "BTCUSDT", "f-0")
			}
			var ve *venue.Error
			if !errors.As(err, &ve) || ve.Class != tc.class || ve.Code != tc.code {
				t.Fatalf("got %v, want class %s code %d", err, tc.class, tc.code)
			}
			// One request only: the next one succeeds.
			if _, err := b.acct.QueryOrder(b.ctx, "BTCUSDT", "f-0"); err != nil {
				t.Errorf("request after the fault: %v", err)
			}
			_, qerr := b.acct.QueryOrder(b.ctx, "BTCUSDT", "f-1")
			placed := qerr == nil
			if want := tc.op == paper.OpPlace && tc.fault == paper.FaultTimeoutAfterExecution; placed != want {
				t.Errorf("order placed despite the fault = %v, want %v", placed, want)
			}
		})
	}
}

// run is a fixed scenario driven by random faults; it returns a transcript
// of every outcome.
func run(t *testing.T, seed uint64) []string {
	t.Helper()
	b := setup(t, paper.Config{Seed: seed, FillShare: dec("0.4"), Latency: 0, FaultRates: paper.FaultRates{
		RateLimited: 0.05, ServerError: 0.05, TimeoutAfterExecution: 0.05, TimeoutBeforeExecution: 0.05,
		InsufficientFunds: 0.03, FilterReject: 0.03, Timestamp: 0.02, Auth: 0.02, Banned: 0.01,
	}})
	var out []string
	for i := range 200 {
		side := venue.Buy
		px := fmt.Sprintf("%d", 19900-i%7*10)
		if i%2 == 1 {
			side, px = venue.Sell, fmt.Sprintf("%d", 20100+i%5*10)
		}
		o, err := b.acct.PlaceOrder(b.ctx, limitReq(fmt.Sprintf("d-%d", i), side, "0.001", px, venue.GTC))
		out = append(out, fmt.Sprintf("place %d: %s %s %v", i, o.Status, o.VenueOrderID, venue.ClassOf(err)))
		b.clk.Advance(time.Second)
		mustSetPrice(t, b.ex, "BTCUSDT", fmt.Sprintf("%d", 19850+(i*37)%300))
	}
	page, _ := b.acct.Trades(b.ctx, venue.TradeQuery{Symbol: "BTCUSDT", Limit: 1000})
	for _, tr := range page.Trades {
		out = append(out, fmt.Sprintf("trade %s %s %s %s %s", tr.ID, tr.ClientOrderID, tr.Price, tr.Quantity, tr.Time))
	}
	return out
}

func TestDeterministicUnderSeed(t *testing.T) {
	t.Parallel()
	a, b, c := run(t, 42), run(t, 42), run(t, 43)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("same seed, same calls: different outcomes")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("different seeds: identical outcomes (faults not drawn from the seed?)")
	}
	faults := 0
	for _, l := range a {
		if len(l) > 5 && l[:5] == "place" && !endsWith(l, " ") {
			faults++
		}
	}
	if faults == 0 {
		t.Fatal("no faults drawn at 26% total rate")
	}
}

func endsWith(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func TestLatencyHonoursContext(t *testing.T) {
	t.Parallel()
	b := setup(t, paper.Config{Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(b.ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := b.acct.PlaceOrder(ctx, limitReq("lat-1", venue.Buy, "0.01", "19000", venue.GTC))
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("place returned before the fake clock moved: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := b.acct.PlaceOrder(b.ctx, limitReq("lat-2", venue.Buy, "0.01", "19000", venue.GTC))
		done <- err
	}()
	for {
		b.clk.Advance(10 * time.Millisecond)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("place after latency: %v", err)
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
}

func TestStreamFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault paper.Fault
		check func(t *testing.T, kinds []venue.UserEventKind, closed bool)
	}{
		{paper.FaultStreamDrop, func(t *testing.T, kinds []venue.UserEventKind, closed bool) {
			if len(kinds) == 0 || kinds[0] != venue.EventReconnected {
				t.Errorf("drop: got %v, want reconnected first", kinds)
			}
		}},
		{paper.FaultStreamClose, func(t *testing.T, kinds []venue.UserEventKind, closed bool) {
			if !closed || len(kinds) != 0 {
				t.Errorf("close: got %v closed=%v, want closed with no events", kinds, closed)
			}
		}},
		{paper.FaultStreamDuplicate, func(t *testing.T, kinds []venue.UserEventKind, closed bool) {
			if len(kinds) < 2 || kinds[0] != kinds[1] {
				t.Errorf("duplicate: got %v, want the first event twice", kinds)
			}
		}},
		{paper.FaultStreamReorder, func(t *testing.T, kinds []venue.UserEventKind, closed bool) {
			// Placing emits order(new) then balance(lock); reordered: balance first.
			if len(kinds) < 2 || kinds[0] != venue.EventBalance || kinds[1] != venue.EventOrder {
				t.Errorf("reorder: got %v, want balance before order", kinds)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			b := setup(t, paper.Config{})
			ctx, cancel := context.WithCancel(b.ctx)
			defer cancel()
			ch, err := b.acct.SubscribeUser(ctx)
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			b.acct.Faults().Next(paper.OpStream, tc.fault)
			if _, err := b.acct.PlaceOrder(b.ctx, limitReq("s-1", venue.Buy, "0.01", "19000", venue.GTC)); err != nil {
				t.Fatalf("place: %v", err)
			}
			var kinds []venue.UserEventKind
			closed := false
		drain:
			for {
				select {
				case ev, ok := <-ch:
					if !ok {
						closed = true
						break drain
					}
					kinds = append(kinds, ev.Kind)
				default:
					break drain
				}
			}
			tc.check(t, kinds, closed)
		})
	}
}

func TestSlowUserReaderGetsReconnected(t *testing.T) {
	t.Parallel()
	b := setup(t, paper.Config{StreamBuffer: 4})
	ch, _ := b.acct.SubscribeUser(b.ctx)
	for i := range 10 {
		if _, err := b.acct.PlaceOrder(b.ctx, limitReq(fmt.Sprintf("slow-%d", i), venue.Buy, "0.001", "19000", venue.GTC)); err != nil {
			t.Fatalf("place: %v", err)
		}
	}
	for range 4 {
		<-ch
	}
	if _, err := b.acct.PlaceOrder(b.ctx, limitReq("slow-x", venue.Buy, "0.001", "19000", venue.GTC)); err != nil {
		t.Fatalf("place: %v", err)
	}
	if ev := <-ch; ev.Kind != venue.EventReconnected {
		t.Fatalf("after overflow: got %s, want reconnected", ev.Kind)
	}
}

func TestStreamsCloseWithoutLeaks(t *testing.T) {
	b := setup(t, paper.Config{})
	before := runtime.NumGoroutine()
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		uc, _ := b.acct.SubscribeUser(ctx)
		pc, _ := b.acct.SubscribePrices(ctx, nil)
		mustSetPrice(t, b.ex, "BTCUSDT", "20001")
		cancel()
		for range uc {
		}
		for range pc {
		}
	}
	polltest.Until(t, 10*time.Second, fmt.Sprintf("goroutines back to %d + 2 after 100 closed subscriptions", before),
		func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestKlinesFromTicksAndLoaded(t *testing.T) {
	t.Parallel()
	b := setup(t, paper.Config{})
	loaded := []venue.Kline{
		{OpenTime: t0.Add(-2 * time.Hour), Open: dec("100"), High: dec("110"), Low: dec("90"), Close: dec("105"), Volume: dec("1")},
		{OpenTime: t0.Add(-time.Hour), Open: dec("105"), High: dec("120"), Low: dec("100"), Close: dec("115"), Volume: dec("2")},
	}
	if err := b.ex.LoadKlines("BTCUSDT", time.Hour, loaded); err != nil {
		t.Fatalf("load: %v", err)
	}
	for i, px := range []string{"20010", "19990", "20050"} {
		if err := b.ex.SetPrice("BTCUSDT", dec(px), t0.Add(time.Duration(i)*20*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := b.acct.Klines(b.ctx, "BTCUSDT", "1h", t0.Add(-3*time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("klines: %v", err)
	}
	if len(ks) != 3 {
		t.Fatalf("got %d klines, want 3: %+v", len(ks), ks)
	}
	last := ks[2]
	if !last.Open.Equal(dec("20000")) || !last.High.Equal(dec("20050")) || !last.Low.Equal(dec("19990")) || !last.Close.Equal(dec("20050")) {
		t.Errorf("live candle: got %+v", last)
	}
	if m, _ := b.acct.Klines(b.ctx, "BTCUSDT", "1m", t0, t0.Add(time.Minute)); len(m) != 1 {
		t.Errorf("1m: got %d candles, want 1", len(m))
	}
	if _, err := b.acct.Klines(b.ctx, "BTCUSDT", "7m", t0, t0.Add(time.Hour)); !errors.Is(err, venue.ErrInvalid) {
		t.Errorf("bad interval: got %v, want invalid", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	t.Parallel()
	ex := paper.MustNew(paper.Config{FillShare: dec("0.5")})
	mustSetPrice(t, ex, "BTCUSDT", "20000")
	var wg sync.WaitGroup
	for s := range 50 {
		name := fmt.Sprintf("s%d", s)
		mustFund(t, ex, name, "USDT", "10000")
		wg.Go(func() {
			acct := ex.Account(name)
			for i := range 40 {
				_, err := acct.PlaceOrder(t.Context(), limitReq(fmt.Sprintf("%s-%d", name, i), venue.Buy, "0.001", fmt.Sprintf("%d", 19990-i), venue.GTC))
				if err != nil {
					t.Errorf("place: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			_ = ex.SetPrice("BTCUSDT", dec(fmt.Sprintf("%d", 19900+i%150)), time.Time{})
		}
	})
	wg.Wait()
	for s := range 50 {
		bs, _ := ex.Account(fmt.Sprintf("s%d", s)).Balances(t.Context())
		for _, b := range bs {
			if b.Free.IsNeg() || b.Locked.IsNeg() {
				t.Fatalf("negative balance %+v", b)
			}
		}
	}
}

func BenchmarkPlaceOrder(b *testing.B) {
	ex := paper.MustNew(paper.Config{})
	_ = ex.SetPrice("BTCUSDT", dec("20000"), time.Time{})
	_ = ex.Fund("bench", venue.WalletSpot, "USDT", dec("1000000000"))
	_ = ex.Fund("bench", venue.WalletSpot, "BTC", dec("1000000"))
	acct := ex.Account("bench")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		side, px := venue.Buy, "19000"
		if i%2 == 0 {
			side = venue.Sell
			px = "20000" // marketable: fills as taker
		}
		if _, err := acct.PlaceOrder(ctx, limitReq(fmt.Sprintf("b-%d", i), side, "0.001", px, venue.GTC)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlaceOrderParallel(b *testing.B) {
	ex := paper.MustNew(paper.Config{})
	_ = ex.SetPrice("BTCUSDT", dec("20000"), time.Time{})
	var mu sync.Mutex
	n := 0
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		n++
		name := fmt.Sprintf("p%d", n)
		mu.Unlock()
		_ = ex.Fund(name, venue.WalletSpot, "USDT", dec("1000000000"))
		acct := ex.Account(name)
		i := 0
		for pb.Next() {
			i++
			if _, err := acct.PlaceOrder(context.Background(), limitReq(fmt.Sprintf("b-%d", i), venue.Buy, "0.001", "19000", venue.GTC)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
