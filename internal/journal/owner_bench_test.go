package journal_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// BenchmarkPositionOwner is the cost of attributing one new funding
// payment (or liquidation) to a session: a fresh PositionOwners reads the
// account's fills of the symbol (SQLite) and sums them per session. Fills
// alternate buy and sell of one session, 0.001 each, so the session holds
// a position at the end. The node pays this once per new payment (a
// settlement every 8 h per symbol), not per poll: a poll that finds
// nothing new reads only the keys of the window's stored payments.
func BenchmarkPositionOwner(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("fills=%d", n), func(b *testing.B) {
			db := storetest.MustOpenSQLite(b)
			a := &store.Account{Name: "bench", Venue: "paper"}
			if err := db.CreateAccount(ctx, a); err != nil {
				b.Fatal(err)
			}
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			fills := make([]store.Fill, n)
			for i := range fills {
				side := venue.Buy
				if i%2 == 1 && i != n-1 {
					side = venue.Sell
				}
				fills[i] = store.Fill{AccountID: a.ID, Symbol: "ETHUSDT", TradeID: strconv.Itoa(i), SessionID: "s1", Side: string(side),
					Price: dec("2000"), Quantity: dec("0.001"), QuoteQty: dec("2"), Fee: dec("0.002"), FeeAsset: "USDT", Source: "live",
					At: t0.Add(time.Duration(i) * time.Second)}
			}
			if _, err := db.InsertFills(ctx, fills); err != nil {
				b.Fatal(err)
			}
			at := t0.Add(time.Duration(n+1) * time.Second)
			b.ResetTimer()
			for range b.N {
				sid, err := journal.NewPositionOwners(db, a.ID).Owner(ctx, "ETHUSDT", at, venue.Decimal{})
				if err != nil || sid != "s1" {
					b.Fatalf("owner %q, %v; want s1", sid, err)
				}
			}
		})
	}
}
