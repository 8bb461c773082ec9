package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/strategy"
)

type noop struct{ every time.Duration }

func (n noop) Interval() time.Duration { return n.every }
func (noop) Step(context.Context, strategy.Env) (strategy.StepResult, error) {
	return strategy.StepResult{Skip: "noop"}, nil
}

func init() {
	strategy.Register(strategy.Info{Name: "bench-noop", MinInterval: time.Millisecond, Factory: func(raw json.RawMessage) (strategy.Strategy, error) {
		var p struct{ Interval strategy.Duration }
		json.Unmarshal(raw, &p)
		return noop{every: time.Duration(p.Interval)}, nil
	}})
}

// BenchmarkSupervisor runs 1,000 sessions on the wall clock, stepping every
// 200ms for 3s, and reports the heap and goroutines each running session
// costs and the scheduling lag of its steps (tick to step start).
//
//	go test ./internal/session -run '^$' -bench Supervisor -benchtime 1x
func BenchmarkSupervisor(b *testing.B) {
	const n = 1000
	const every = 200 * time.Millisecond
	ctx := context.Background()
	for range b.N {
		db := storetest.MustOpenSQLite(b)
		a := &store.Account{Name: "main", Venue: "paper"}
		if err := db.CreateAccount(ctx, a); err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var lags []time.Duration
		steps := 0
		m, err := session.New(session.Options{Store: db,
			Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) { return session.Account{}, nil }),
			OnStep: func(r session.StepReport) {
				if r.Scheduled.IsZero() {
					return
				}
				mu.Lock()
				lags = append(lags, r.Started.Sub(r.Scheduled))
				steps++
				mu.Unlock()
			}})
		if err != nil {
			b.Fatal(err)
		}
		var ids []string
		for i := range n {
			s, err := m.Create(ctx, session.Spec{Name: fmt.Sprint("s", i), Strategy: "bench-noop", AccountID: a.ID,
				Symbols: []string{"BTCUSDT"}, Params: json.RawMessage(fmt.Sprintf(`{"Interval":%q}`, every)),
				Allocation: session.Allocation{Amount: udecimal.MustParse("100")}}, "bench")
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, s.ID)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		startAt := time.Now()
		for _, id := range ids {
			if _, err := m.Start(ctx, id, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		startDur := time.Since(startAt)
		runtime.GC()
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		mu.Lock()
		lags = lags[:0]
		steps = 0
		mu.Unlock()
		time.Sleep(3 * time.Second)
		// After steps: each stepped session also holds its step worker.
		var stepped runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&stepped)
		g2 := runtime.NumGoroutine()
		mu.Lock()
		got := slices.Clone(lags)
		nsteps := steps
		mu.Unlock()
		m.Close()
		slices.Sort(got)
		q := func(p float64) time.Duration {
			if len(got) == 0 {
				return 0
			}
			return got[int(float64(len(got)-1)*p)]
		}
		heap := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
		b.ReportMetric(heap/n, "bytes/session")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/session")
		b.ReportMetric((float64(stepped.HeapInuse+stepped.StackInuse)-float64(before.HeapInuse+before.StackInuse))/n, "bytes/session-stepping")
		b.ReportMetric(float64(g2-g0)/n, "goroutines/session-stepping")
		b.ReportMetric(float64(startDur.Microseconds())/n, "µs-start/session")
		b.ReportMetric(float64(nsteps)/3, "steps/s")
		b.ReportMetric(float64(q(0.5).Microseconds()), "lag-p50-µs")
		b.ReportMetric(float64(q(0.99).Microseconds()), "lag-p99-µs")
		b.ReportMetric(float64(q(1).Microseconds()), "lag-max-µs")
	}
}
