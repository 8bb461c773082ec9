package store_test

import (
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// BenchmarkEachEquitySample streams the largest PnL range's series (4,000
// hours of minute snapshots, 240,000 rows) from SQLite, as a report over
// it reads it.
func BenchmarkEachEquitySample(b *testing.B) {
	db := storetest.Open(b, storetest.SQLiteURL(b))
	const n = 240_000
	ss := make([]store.EquitySnapshot, 0, 10_000)
	for i := range n {
		v := udecimal.MustFromInt64(int64(100_000_00+(i%997)*13), 2)
		ss = append(ss, store.EquitySnapshot{Scope: "total", Source: "live", At: pnlT0.Add(time.Duration(i) * time.Minute),
			Equity: v, Collateral: v})
		if len(ss) == cap(ss) {
			if err := db.UpsertEquitySnapshots(ctx, ss); err != nil {
				b.Fatal(err)
			}
			ss = ss[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		rows := 0
		err := db.EachEquitySample(ctx, "total", []string{"history", "live", "backfill"}, pnlT0, pnlT0.Add(n*time.Minute),
			func(store.EquitySample) error { rows++; return nil })
		if err != nil || rows != n {
			b.Fatalf("%d rows, %v", rows, err)
		}
	}
}
