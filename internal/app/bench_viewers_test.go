package app_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
)

// TestBenchViewerLoadSmall runs the viewers load test small: both kinds of
// query are answered (200 for the largest allowed range, 400 naming the
// cap for year 1 to 9999), /healthz answered throughout (the bench fails
// on any other status) and sessions stepped.
// Latency and memory goals are the full run's (docs/BENCHMARKS.md), not
// asserted here.
func TestBenchViewerLoadSmall(t *testing.T) {
	t.Parallel()
	// The viewers run through LoadProcess, as --load-process runs them
	// in a child; here in this process.
	var ran atomic.Bool
	res, err := app.BenchViewerLoad(context.Background(), app.ViewerLoadBench{Viewers: 4, Sessions: 2,
		Duration: 2 * time.Second, Snapshots: 5000,
		LoadProcess: func(ctx context.Context, c app.ViewerClients) (app.ViewerClientStats, error) {
			ran.Store(true)
			return app.RunViewerClients(ctx, c)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !ran.Load() {
		t.Error("LoadProcess was not used")
	}
	if res.Status[200] == 0 || res.Status[400] == 0 || len(res.Status) != 2 {
		t.Errorf("statuses %v, want some 200 and some 400 and nothing else", res.Status)
	}
	if res.HealthzChecks == 0 || res.Steps == 0 {
		t.Errorf("%d /healthz checks, %d steps; want both", res.HealthzChecks, res.Steps)
	}
}
