package backfill_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

// A different fill that reuses a trade id (in the file, or against what is
// stored) is an error naming its line, and nothing is imported; it was
// silently dropped as "already imported". The same fill again is still a
// duplicate, and the same id on another symbol is another fill.
func TestImportConflictingTradeID(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.Open(t, eng.URL(t))
			acct := mustAccount(t, db, "main", "binance")
			first := "time,symbol,side,price,quantity,fee,fee_asset,trade_id\n" +
				"2025-03-01T00:00:00Z,BTCUSDT,buy,90000,0.01,0.9,USDT,11\n" +
				"2025-03-01T00:00:00Z,ETHUSDT,buy,2000,1,0.9,USDT,11\n"
			res, err := backfill.ImportTrades(ctx, db, "main", strings.NewReader(first), int64(len(first)), nil)
			if err != nil || res.New != 2 {
				t.Fatalf("first import: %+v %v", res, err)
			}
			for name, c := range map[string]struct {
				file string
				line int
			}{
				"in the file": {"time,symbol,side,price,quantity,fee,fee_asset,trade_id\n" +
					"2025-03-02T00:00:00Z,BTCUSDT,buy,90000,0.01,0.9,USDT,20\n" +
					"2025-03-02T00:00:00Z,BTCUSDT,sell,91000,0.02,0.9,USDT,20\n", 3},
				"against the store": {"time,symbol,side,price,quantity,fee,fee_asset,trade_id\n" +
					"2025-03-03T00:00:00Z,BTCUSDT,buy,1,1,0,USDT,30\n" +
					"2025-03-01T00:00:00Z,BTCUSDT,buy,95000,0.01,0.9,USDT,11\n", 3},
			} {
				_, err := backfill.ImportTrades(ctx, db, "main", strings.NewReader(c.file), int64(len(c.file)), nil)
				var pe *tradecsv.ParseError
				if !errors.Is(err, backfill.ErrInput) || !errors.As(err, &pe) || pe.Line != c.line || pe.Column != "trade_id" {
					t.Errorf("%s: got %v, want ErrInput naming line %d, column trade_id", name, err, c.line)
				}
			}
			if n, _ := db.CountFills(ctx, acct.ID); n != 2 {
				t.Errorf("%d fills stored after refused imports, want the first 2 only", n)
			}
			res, err = backfill.ImportTrades(ctx, db, "main", strings.NewReader(first), int64(len(first)), nil)
			if err != nil || res.New != 0 || res.Duplicates != 2 {
				t.Errorf("same file again: %+v %v, want 2 duplicates", res, err)
			}
		})
	}
}
