package app

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// TestRecvWindowReachesTheVenue: Config.RecvWindow is what the journal's
// certainty rule assumes a late order request is refused after, so the
// node's Binance requests must carry it: a request stamped, then held at
// the venue past it, is refused, not executed. (The adapters stamped their
// own 5 s whatever the setting, so a node set to 300 ms could call an order
// never executed while its request could still land.)
func TestRecvWindowReachesTheVenue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := New(ctx, Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "rw.db"), MasterKey: bytes.Repeat([]byte{7}, 32),
		RecvWindow: 300 * time.Millisecond, NoDemoLogin: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.alerts.Close(); a.db.Close() }) // the node never ran: stop what New started
	fake := binancetest.Start(t, binancetest.Config{})
	fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
	fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("1000"))
	fake.SetPlacePlan(func(string) binancetest.PlaceFault {
		ch := make(chan struct{})
		time.AfterFunc(time.Second, func() { close(ch) })
		return binancetest.PlaceFault{Wait: ch}
	})
	sealed, err := a.factory.Box.Seal([]byte(fake.APISecret()))
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.factory.Open(store.Account{Name: "rw", Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: "late-1", Symbol: "BTCUSDT", Side: venue.Buy, Type: venue.Market,
		QuoteQuantity: udecimal.MustParse("20")})
	if n := len(fake.Orders()); n != 0 || err == nil {
		t.Fatalf("a request held 1 s past a 300 ms recvWindow: %d orders executed (err %v), want it refused", n, err)
	}
	if as := fake.Arrivals(); len(as) != 1 || as[0].Code != -1021 {
		t.Fatalf("arrivals %+v, want one refused -1021", as)
	}
}
