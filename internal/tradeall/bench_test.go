package tradeall

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestBenchSmall runs Bench at a small size and checks what does not
// depend on the machine's speed: the run completes, every session trades
// exactly once and no client order id is sent twice. How close the wall
// time stays to the pacing bound is BenchmarkTradeAll's to report.
func TestBenchSmall(t *testing.T) {
	t.Parallel()
	res, err := Bench(context.Background(), BenchConfig{Sessions: 200, VenueLatency: time.Millisecond, OrderRate: 100000})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Done != 200 || res.Orders != 200 || res.Failed != 0 || res.MaxSends != 1 || res.State != RunDone {
		t.Fatalf("got %v, want 200 sessions done with one order each, each client id sent once", res)
	}
}

// BenchmarkTradeAll reports the wall-to-bound ratio of a 1000-session run
// (goal: at most 1.5, the pacing bound being orders ÷ the order rate).
func BenchmarkTradeAll(b *testing.B) {
	for range b.N {
		res, err := Bench(context.Background(), BenchConfig{Sessions: 1000})
		if err == nil && (res.Done != res.Sessions || res.MaxSends != 1) {
			err = fmt.Errorf("got %v, want every session done, each client id sent once", res)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Ratio, "wall/bound")
		b.ReportMetric(res.Wall.Seconds(), "wall-s")
	}
}
