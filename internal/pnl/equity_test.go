package pnl

import (
	"context"
	"testing"
	"time"
)

func TestBuildEquityReport(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return day.Add(time.Duration(n) * time.Hour) }
	backfill := EquitySeries{Source: SourceBackfill, Points: []Point{{h(0), dec("50")}, {h(1), dec("70")}}}
	live := EquitySeries{Source: "live", Points: []Point{{h(2), dec("100")}, {h(3), dec("200")}}}

	t.Run("measured equity is averaged alone", func(t *testing.T) {
		rep, err := BuildEquityReport(context.Background(), []EquitySeries{live, backfill}, time.Hour, h(0), h(4))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Samples) != 4 || rep.Samples[0].Source != SourceBackfill || rep.Samples[3].Source != "live" || !rep.Samples[3].Time.Equal(h(3)) {
			t.Fatalf("samples %+v, want all four in time order with their sources", rep.Samples)
		}
		if len(rep.Backfills) != 1 || !rep.Backfills[0].From.Equal(h(0)) || !rep.Backfills[0].To.Equal(h(1)) {
			t.Fatalf("backfills %+v, want [00:00, 01:00]", rep.Backfills)
		}
		// Only the live points: hours 2 and 3 (100, 200); 0 and 1 are not covered.
		if len(rep.Means) != 2 || !rep.Means[0].Start.Equal(h(2)) || rep.Means[0].Mean.String() != "100" || rep.Means[1].Mean.String() != "200" {
			t.Fatalf("means %+v, want 100 at 02:00 and 200 at 03:00", rep.Means)
		}
		if rep.Means[0].Backfilled {
			t.Fatal("a live interval marked backfilled")
		}
	})
	t.Run("backfill alone is averaged and marked", func(t *testing.T) {
		rep, err := BuildEquityReport(context.Background(), []EquitySeries{{Source: "live"}, backfill}, time.Hour, h(0), h(2))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Means) != 2 || rep.Means[0].Mean.String() != "50" || rep.Means[1].Mean.String() != "70" || !rep.Means[0].Backfilled || !rep.Means[1].Backfilled {
			t.Fatalf("means %+v, want 50 and 70, both backfilled", rep.Means)
		}
	})
	t.Run("no data", func(t *testing.T) {
		rep, err := BuildEquityReport(context.Background(), nil, time.Hour, h(0), h(2))
		if err != nil || rep.Samples == nil || rep.Means == nil || rep.Backfills == nil || len(rep.Samples)+len(rep.Means)+len(rep.Backfills) != 0 {
			t.Fatalf("got %+v %v, want empty non-nil lists", rep, err)
		}
	})
	t.Run("a canceled context is an error", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		many := EquitySeries{Source: "live"}
		for i := range 100000 {
			many.Points = append(many.Points, Point{day.Add(time.Duration(i) * time.Minute), dec("1")})
		}
		if _, err := BuildEquityReport(ctx, []EquitySeries{many}, time.Hour, day, day.Add(100000*time.Minute)); err == nil {
			t.Fatal("got no error")
		}
	})
}

func TestSumTotals(t *testing.T) {
	t.Parallel()
	sum := SumTotals(
		Total{RealizedPnL: dec("10"), FeesQuote: dec("1"), NetPnL: dec("12")},
		Total{RealizedPnL: dec("-4"), FeesQuote: dec("0.5"), NetPnL: dec("-5.5")},
	)
	// net = realized − fees + unrealized: 6.5 = 6 − 1.5 + 2
	if sum.Realized.String() != "6" || sum.Fees.String() != "1.5" || sum.Net.String() != "6.5" || sum.Unrealized.String() != "2" {
		t.Fatalf("got %+v", sum)
	}
}
