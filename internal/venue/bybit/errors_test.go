package bybit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/sjson"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/bybit"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestErrorCodes answers a place order and a balance read with Bybit's
// documented error envelope (or HTTP status) and checks the class each
// maps to.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status, code int
		reset        time.Duration // X-Bapi-Limit-Reset-Timestamp from now
		place, read  venue.Class
	}{
		{200, 10001, 0, venue.ClassInvalid, venue.ClassInvalid},
		{200, 10002, 0, venue.ClassTimestamp, venue.ClassTimestamp},
		{200, 10003, 0, venue.ClassAuth, venue.ClassAuth},
		{200, 10004, 0, venue.ClassAuth, venue.ClassAuth},
		{200, 10005, 0, venue.ClassAuth, venue.ClassAuth},
		{200, 10010, 0, venue.ClassAuth, venue.ClassAuth},
		{200, 10006, 3 * time.Second, venue.ClassRateLimited, venue.ClassRateLimited},
		{200, 10018, 0, venue.ClassBanned, venue.ClassBanned},
		{200, 10000, 0, venue.ClassUnknown, venue.ClassUnavailable},
		{200, 10016, 0, venue.ClassUnknown, venue.ClassUnavailable},
		{200, 170131, 0, venue.ClassInsufficientFunds, venue.ClassInsufficientFunds},
		{200, 110007, 0, venue.ClassInsufficientFunds, venue.ClassInsufficientFunds},
		{200, 170141, 0, venue.ClassDuplicate, venue.ClassDuplicate},
		{200, 110072, 0, venue.ClassDuplicate, venue.ClassDuplicate},
		{200, 170213, 0, venue.ClassNotFound, venue.ClassNotFound},
		{200, 110001, 0, venue.ClassNotFound, venue.ClassNotFound},
		{200, 170134, 0, venue.ClassRejected, venue.ClassRejected},
		{200, 170140, 0, venue.ClassRejected, venue.ClassRejected},
		{401, 0, 0, venue.ClassAuth, venue.ClassAuth},
		{403, 0, 0, venue.ClassBanned, venue.ClassBanned},
		{500, 0, 0, venue.ClassUnknown, venue.ClassUnavailable},
		{504, 0, 0, venue.ClassUnknown, venue.ClassUnavailable},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status)+"/"+strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			for _, write := range []bool{true, false} {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/v5/market/time" {
						b := bybittest.Fixture("market-time.json")
						b, _ = sjson.SetBytes(b, "result.timeNano", strconv.FormatInt(time.Now().UnixNano(), 10))
						_, _ = w.Write(b)
						return
					}
					if tc.reset > 0 {
						w.Header().Set("X-Bapi-Limit-Status", "0")
						w.Header().Set("X-Bapi-Limit", "10")
						w.Header().Set("X-Bapi-Limit-Reset-Timestamp", strconv.FormatInt(time.Now().Add(tc.reset).UnixMilli(), 10))
					}
					if tc.code == 0 {
						http.Error(w, "failure", tc.status)
						return
					}
					b, _ := sjson.SetBytes(bybittest.Fixture("error.json"), "retCode", tc.code)
					w.WriteHeader(tc.status)
					_, _ = w.Write(b)
				}))
				c, err := bybit.New(bybit.Config{APIKey: "k", APISecret: "s", BaseURL: srv.URL})
				if err != nil {
					t.Fatal(err)
				}
				want := tc.read
				if write {
					want = tc.place
					_, err = c.PlaceOrder(t.Context(), venue.OrderRequest{ClientOrderID: "e-1", Symbol: "BTCUSDT", Side: venue.Buy,
						Type: venue.Limit, Quantity: dec("0.01"), Price: dec("20000")})
				} else {
					_, err = c.Balances(t.Context())
				}
				srv.Close()
				var ve *venue.Error
				if !errors.As(err, &ve) || ve.Class != want {
					t.Fatalf("write %v: got %v (class %q), want class %q", write, err, venue.ClassOf(err), want)
				}
				if tc.code != 0 && ve.Code != tc.code {
					t.Errorf("write %v: code %d, want %d", write, ve.Code, tc.code)
				}
				switch want {
				case venue.ClassRateLimited:
					// The reset is read on Bybit's clock as we estimate it; the estimate may be
					// off by the sync round trip, which is slow under -race.
					if ve.RetryAfter < 2*time.Second || ve.RetryAfter > 3500*time.Millisecond {
						t.Errorf("retry after %s, want the ~3s to X-Bapi-Limit-Reset-Timestamp", ve.RetryAfter)
					}
				case venue.ClassBanned:
					if time.Until(ve.Until) < 9*time.Minute {
						t.Errorf("banned until %s, want ~10 minutes from now", ve.Until)
					}
				}
			}
		})
	}
}

// TestBanStopsRequests: after HTTP 403 the client sends nothing until the
// ban ends, answering ClassBanned itself.
func TestBanStopsRequests(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	c := newClient(t, fake)
	fake.FailNext(bybittest.OpBalances, bybittest.FaultBanned)
	if _, err := c.Balances(t.Context()); !errors.Is(err, venue.ErrBanned) {
		t.Fatalf("first balances: got %v, want banned", err)
	}
	n := fake.Calls("/v5/account/wallet-balance")
	_, err := c.Balances(t.Context())
	if !errors.Is(err, venue.ErrBanned) {
		t.Fatalf("balances during the ban: got %v, want banned", err)
	}
	if got := fake.Calls("/v5/account/wallet-balance"); got != n {
		t.Errorf("requests during the ban: %d reached Bybit, want 0", got-n)
	}
}

// TestEndpointWindowWaits: the client reads X-Bapi-Limit-Status and waits
// for X-Bapi-Limit-Reset-Timestamp instead of spending a request on 10006.
func TestEndpointWindowWaits(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{EndpointLimit: 2})
	c := newClient(t, fake)
	for i := range 5 {
		if _, err := c.Balances(t.Context()); err != nil {
			t.Fatalf("balances %d: %v", i, err)
		}
	}
	st := c.Stats()
	if st.RateLimited != 0 {
		t.Errorf("answers with 10006: %d, want 0 (the client should have waited)", st.RateLimited)
	}
	if st.Waits == 0 {
		t.Error("waits: 0, want at least one for a spent window of 2 per second")
	}
}

// skewed is a clock an hour behind.
type skewed struct{ clock.Real }

func (skewed) Now() time.Time { return time.Now().Add(-time.Hour).UTC() }

// TestServerTimeSync: a local clock an hour off still signs requests the
// fake accepts (it refuses timestamps outside recvWindow with 10002),
// because the client stamps them with Bybit's time.
func TestServerTimeSync(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	c, err := bybit.New(bybit.Config{APIKey: bybittest.APIKey, APISecret: bybittest.APISecret, BaseURL: fake.BaseURL(), Clock: skewed{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := fake.Fund(venue.WalletSpot, "USDT", dec("10")); err != nil {
		t.Fatal(err)
	}
	bs, err := c.Balances(ctx)
	if err != nil {
		t.Fatalf("balances with a clock an hour behind: %v", err)
	}
	if len(bs) != 1 || !bs[0].Free.Equal(dec("10")) {
		t.Errorf("balances: got %+v, want USDT 10", bs)
	}
}

// TestTimestampFaultResyncs: a 10002 resyncs the clock so that the retry
// goes through.
func TestTimestampFaultResyncs(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	c := newClient(t, fake)
	fake.FailNext(bybittest.OpBalances, bybittest.FaultTimestamp)
	if _, err := c.Balances(t.Context()); !errors.Is(err, venue.ErrTimestamp) {
		t.Fatalf("got %v, want timestamp", err)
	}
	before := fake.Calls("/v5/market/time")
	if before < 2 {
		t.Errorf("/v5/market/time calls: %d, want the first sync and a resync after 10002", before)
	}
	if _, err := c.Balances(t.Context()); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

// TestUserStreamReconnects: when Bybit drops the private stream the client
// reconnects (authenticating again), says venue.EventReconnected, and
// events flow again.
func TestUserStreamReconnects(t *testing.T) {
	t.Parallel()
	fake := bybittest.New(t, bybittest.Config{})
	c := newClient(t, fake)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := fake.SetPrice("BTCUSDT", dec("20000")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Fund(venue.WalletSpot, "USDT", dec("1000")); err != nil {
		t.Fatal(err)
	}
	events, err := c.SubscribeUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fake.DropStreams()
	for ev := range events {
		if ev.Kind == venue.EventReconnected {
			break
		}
	}
	if _, err := c.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "after-drop", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Market, QuoteQuantity: dec("50")}); err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.Kind == venue.EventTrade && ev.Trade.ClientOrderID == "after-drop" {
			return
		}
	}
	t.Fatal("user stream closed before the fill after the reconnect")
}
