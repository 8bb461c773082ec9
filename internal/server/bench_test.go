package server_test

import (
	"context"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// BenchmarkAPILoad measures p50/p99 of GET /api/v1/portfolio and GET
// /api/v1/journal at 1,000 requests/s over 1,000 accounts and 1,000
// sessions, and SSE fan-out to 200 clients. One iteration is the whole
// scenario (~15 s); run it with
//
//	go test -run '^$' -bench APILoad -benchtime 1x ./internal/server
func BenchmarkAPILoad(b *testing.B) {
	for range b.N {
		res, err := servertest.Bench(context.Background(), servertest.BenchConfig{})
		if err != nil {
			b.Fatal(err)
		}
		b.Log("\n" + res.String())
		for i, l := range res.Endpoints {
			name := []string{"portfolio", "journal"}[i]
			b.ReportMetric(float64(l.P50.Microseconds()), name+"-p50-µs")
			b.ReportMetric(float64(l.P99.Microseconds()), name+"-p99-µs")
		}
		b.ReportMetric(float64(res.SSE.P99.Microseconds()), "sse-p99-µs")
	}
}
