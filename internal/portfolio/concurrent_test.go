package portfolio_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestConcurrentUse runs ticks, balance events, snapshots and a subscriber
// at once (meant for -race) and checks the last change seen matches the
// final state.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	tb := setupDesk(t)
	ch, cancel := tb.p.Subscribe()
	var wg sync.WaitGroup
	var last uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := range ch {
			last = c.Version
		}
	}()
	var writers sync.WaitGroup
	for g := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			at := t0.Add(time.Hour)
			for i := range 500 {
				at = at.Add(time.Millisecond)
				if err := tb.p.Tick(venue.PriceTick{Symbol: "BTCUSDT", Price: d("60000"), Time: at}); err != nil {
					t.Error(err)
				}
				if err := tb.p.AddBalance("a1", venue.Balance{Wallet: venue.WalletSpot, Asset: "USDT", Free: d("1")}); err != nil {
					t.Error(err)
				}
				if i%100 == g {
					_ = tb.p.Snapshot()
				}
			}
		}()
	}
	writers.Wait()
	want := tb.p.Snapshot()
	cancel()
	wg.Wait()
	if last != want.Version {
		t.Errorf("subscriber ended at version %d, want %d", last, want.Version)
	}
	eq(t, "USDT added", want.Total.Value, expect(func(refLine) bool { return true }, defaultRatio).Value.Add(d("1000")))
}
