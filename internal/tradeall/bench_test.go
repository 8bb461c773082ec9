package tradeall

import (
	"context"
	"testing"
	"time"
)

// TestBenchSmall runs Bench at a small size: the run completes, every
// session trades once and the wall time stays near the pacing bound.
func TestBenchSmall(t *testing.T) {
	t.Parallel()
	res, err := Bench(context.Background(), BenchConfig{Sessions: 200, VenueLatency: 10 * time.Millisecond, OrderRate: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Done != 200 || res.Orders != 200 || res.MaxSends != 1 || res.State != RunDone {
		t.Fatalf("got %v", res)
	}
	if res.Ratio < 0.9 || res.Ratio > 1.5 {
		t.Fatalf("wall %s against bound %s: ratio %.2f", res.Wall, res.Bound, res.Ratio)
	}
}

// BenchmarkTradeAll reports the wall-to-bound ratio of a 1000-session run.
func BenchmarkTradeAll(b *testing.B) {
	for range b.N {
		res, err := Bench(context.Background(), BenchConfig{Sessions: 1000})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Ratio, "wall/bound")
		b.ReportMetric(res.Wall.Seconds(), "wall-s")
	}
}
