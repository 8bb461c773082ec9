package journal_test

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func TestClientOrderID(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 40)
	tests := []struct {
		session string
		step    int64
		n       int
		want    string
	}{
		{"grid-btc", 1, 0, "grid-btc-1-0"},
		{"grid-btc", 36, 11, "grid-btc-10-b"},
		{"sess_1", 1 << 40, 3, "sess_1-e13wu1og-3"},
		{"has space", 1, 0, ""},                         // hashed
		{long, 1, 0, ""},                                // hashed
		{"_starts", 1, 0, ""},                           // hashed: only hashes start with _
		{strings.Repeat("y", 20), 1 << 62, 1 << 40, ""}, // too long for any prefix: full hash
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := journal.ClientOrderID(tt.session, tt.step, tt.n)
		if !venue.ClientOrderIDPattern.MatchString(got) {
			t.Errorf("ClientOrderID(%q, %d, %d) = %q, not a valid client order id", tt.session, tt.step, tt.n, got)
		}
		if got != journal.ClientOrderID(tt.session, tt.step, tt.n) {
			t.Errorf("ClientOrderID(%q) not deterministic", tt.session)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("ClientOrderID(%q, %d, %d) = %q, want %q", tt.session, tt.step, tt.n, got, tt.want)
		}
		if tt.want == "" && !strings.HasPrefix(got, "_") {
			t.Errorf("ClientOrderID(%q) = %q, want a hashed id", tt.session, got)
		}
		if seen[got] {
			t.Errorf("collision %q", got)
		}
		seen[got] = true
	}
	// Distinct steps and indexes of one long session never collide.
	for step := int64(100); step < 150; step++ {
		for n := range 20 {
			id := journal.ClientOrderID(long, step, n)
			if seen[id] {
				t.Fatalf("collision at %d/%d", step, n)
			}
			seen[id] = true
		}
	}
}

// appendConcurrently appends per events from each of writers goroutines
// and fails the test unless every append committed and got its Seq.
func appendConcurrently(t *testing.T, j *journal.Journal, writers, per int) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range writers {
		wg.Go(func() {
			for i := range per {
				e := &journal.Event{Kind: journal.KindDrift, SessionID: fmt.Sprintf("g%d", g), Message: fmt.Sprint(i)}
				if err := j.Append(ctx, e); err != nil || e.Seq == 0 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d appends failed", failed.Load())
	}
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	var mu sync.Mutex
	var live []int64
	j := journal.Open(db, journal.Options{Node: "n1", Logger: slog.New(slog.DiscardHandler),
		OnEvent: func(e journal.Event) { mu.Lock(); live = append(live, e.Seq); mu.Unlock() }})
	const writers, per = 64, 20
	appendConcurrently(t, j, writers, per)
	batches, writes := j.Stats()
	j.Close()
	// Durable: a fresh connection to the file sees them all.
	evs, err := db.JournalEvents(ctx, store.EventQuery{Limit: 10000})
	if err != nil || len(evs) != writers*per || evs[0].Node != "n1" {
		t.Fatalf("%d events %v", len(evs), err)
	}
	if writes != writers*per || batches >= writes/2 {
		t.Fatalf("%d writes in %d transactions: no group commit", writes, batches)
	}
	t.Logf("%d appends in %d transactions", writes, batches)
	if !sort.SliceIsSorted(live, func(a, b int) bool { return live[a] < live[b] }) || len(live) != writers*per {
		t.Fatalf("OnEvent saw %d events, sorted %v", len(live), sort.SliceIsSorted(live, func(a, b int) bool { return live[a] < live[b] }))
	}
	if err := j.Append(ctx, &journal.Event{Kind: journal.KindDrift}); !errors.Is(err, journal.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

// Inline commits on the caller's goroutine: concurrent callers are
// serialized, each write is its own transaction, and OnEvent still sees
// the events in commit order.
func TestInlineCommit(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	var live []int64 // appended under the journal's lock: no mutex of its own
	j := journal.Open(db, journal.Options{Node: "n1", Logger: slog.New(slog.DiscardHandler), Inline: true,
		OnEvent: func(e journal.Event) { live = append(live, e.Seq) }})
	const writers, per = 8, 25
	appendConcurrently(t, j, writers, per)
	batches, writes := j.Stats()
	j.Close()
	if writes != writers*per || batches != writes {
		t.Fatalf("%d writes in %d transactions, want one each", writes, batches)
	}
	evs, err := db.JournalEvents(ctx, store.EventQuery{Limit: 10000})
	if err != nil || len(evs) != writers*per {
		t.Fatalf("%d events %v", len(evs), err)
	}
	if !slices.IsSorted(live) || len(live) != writers*per {
		t.Fatalf("OnEvent saw %d events, sorted %v", len(live), slices.IsSorted(live))
	}
	if err := j.Append(ctx, &journal.Event{Kind: journal.KindDrift}); !errors.Is(err, journal.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestWriteFailureIsReported(t *testing.T) {
	t.Parallel()
	u := storetest.SQLiteURL(t)
	db := storetest.Open(t, u)
	m, _ := journal.NewMetrics(nil)
	var reported atomic.Int64
	j := journal.Open(db, journal.Options{Metrics: m, Logger: slog.New(slog.DiscardHandler),
		OnWriteError: func(error) { reported.Add(1) }})
	defer j.Close()
	raw, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(u, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DROP TABLE journal_events`); err != nil {
		t.Fatal(err)
	}
	err = j.Append(ctx, &journal.Event{Kind: journal.KindDrift})
	var we *journal.WriteError
	if !errors.As(err, &we) || reported.Load() != 1 {
		t.Fatalf("err %v reported %d", err, reported.Load())
	}
}

// BenchmarkJournalAppend measures durable journal events per second with
// many concurrent appenders (b.SetParallelism) against a raw batched INSERT
// of the same rows into the same kind of database.
//
//	go test -run '^$' -bench 'Journal' -benchtime 20000x ./internal/journal
func BenchmarkJournalAppend(b *testing.B) {
	for _, eng := range storetest.Engines(b) {
		b.Run(eng.Name+"/journal", func(b *testing.B) {
			db := storetest.Open(b, eng.URL(b))
			j := journal.Open(db, journal.Options{Logger: slog.New(slog.DiscardHandler)})
			defer j.Close()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := benchEvent()
					if err := j.Append(ctx, &e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			batches, writes := j.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(writes)/float64(max(batches, 1)), "events/txn")
		})
		b.Run(eng.Name+"/raw-batched-insert", func(b *testing.B) {
			db := storetest.Open(b, eng.URL(b))
			const batch = 256
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				evs := make([]store.JournalEvent, min(batch, b.N-done))
				for i := range evs {
					evs[i] = rowOf(benchEvent())
				}
				if err := db.AppendJournalEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func benchEvent() journal.Event {
	return journal.Event{Kind: journal.KindSent, SessionID: "bench", AccountID: 1, Symbol: "BTCUSDT", ClientOrderID: "bench-1-0",
		Side: venue.Buy, Type: venue.Limit, Quantity: dec("0.001"), Price: dec("42000.01"), Latency: 3 * time.Millisecond, Fence: 1}
}

func rowOf(e journal.Event) store.JournalEvent {
	return store.JournalEvent{At: time.Now(), Kind: string(e.Kind), SessionID: e.SessionID, AccountID: e.AccountID, Symbol: e.Symbol,
		ClientOrderID: e.ClientOrderID, Side: string(e.Side), OrderType: string(e.Type), Quantity: e.Quantity, Price: e.Price,
		LatencyUS: e.Latency.Microseconds(), Fence: e.Fence}
}

// BenchmarkJournalQuery builds a large journal (TRADEPLANE_BENCH_EVENTS,
// default 200000) and reports p50/p99 latency of the dashboard's queries
// over 300 runs each: newest page of one session, a one-hour time range (its
// first page and a keyset page inside it), failures only (first page and a
// deep keyset page), one session's failures, one client order id.
//
// The table is bulk-loaded by the database itself (a recursive CTE on
// SQLite, generate_series on PostgreSQL) in chunks of benchLoadChunk rows
// with every index in place: 1,000 sessions, 1 % failures, 10 events/s of
// event time with up to 50 ms of writer jitter, so at is not monotonic in
// seq. SQLite gets no ANALYZE (the store never runs one); PostgreSQL gets the
// VACUUM ANALYZE autovacuum would have done.
//
//	TRADEPLANE_BENCH_EVENTS=10000000 TRADEPLANE_TEST_POSTGRES=... \
//	  go test -run '^$' -bench JournalQuery -benchtime 1x -timeout 60m ./internal/journal
func BenchmarkJournalQuery(b *testing.B) {
	total := 200000
	if s := os.Getenv("TRADEPLANE_BENCH_EVENTS"); s != "" {
		fmt.Sscan(s, &total)
	}
	for _, eng := range storetest.Engines(b) {
		b.Run(eng.Name, func(b *testing.B) {
			url := eng.URL(b)
			db := storetest.Open(b, url)
			t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			const sessions = 1000
			start := time.Now()
			bulkLoadJournal(b, eng.Name, url, t0, total)
			b.Logf("%s: built %d events in %s", eng.Name, total, time.Since(start).Round(time.Millisecond))
			end := t0.Add(time.Duration(total) * 100 * time.Millisecond)
			hours := max(1, int(end.Sub(t0)/time.Hour))
			queries := map[string]func(i int) store.EventQuery{
				"session newest 100": func(i int) store.EventQuery {
					return store.EventQuery{SessionID: fmt.Sprintf("s%d", i%sessions), Limit: 100}
				},
				"time range 1h": func(i int) store.EventQuery {
					from := t0.Add(time.Duration(i%hours) * time.Hour)
					return store.EventQuery{From: from, To: from.Add(time.Hour), Limit: 100}
				},
				"time range 1h, keyset page": func(i int) store.EventQuery {
					from := t0.Add(time.Duration(i%hours) * time.Hour)
					return store.EventQuery{From: from, To: from.Add(time.Hour), BeforeAt: from.Add(30 * time.Minute), BeforeSeq: 1 << 62, Limit: 100}
				},
				"failures only": func(i int) store.EventQuery { return store.EventQuery{FailuresOnly: true, Limit: 100} },
				"failures page 5": func(i int) store.EventQuery {
					return store.EventQuery{FailuresOnly: true, Limit: 100, BeforeSeq: int64(total - 40000)}
				},
				"session failures": func(i int) store.EventQuery {
					return store.EventQuery{SessionID: fmt.Sprintf("s%d", i%sessions), FailuresOnly: true, Limit: 100}
				},
				"client order id": func(i int) store.EventQuery {
					return store.EventQuery{ClientOrderID: fmt.Sprintf("s%d-%d-0", i%sessions, (i*7)%max(1, total/sessions))}
				},
			}
			names := make([]string, 0, len(queries))
			for n := range queries {
				names = append(names, n)
			}
			slices.Sort(names)
			b.ResetTimer()
			for range b.N {
				for _, name := range names {
					var lat []time.Duration
					for i := range 300 {
						s := time.Now()
						if _, err := db.JournalEvents(ctx, queries[name](i)); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(s))
					}
					slices.Sort(lat)
					b.Logf("%s %d events, %-26s p50 %8s p99 %8s", eng.Name, total, name,
						lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
				}
			}
		})
	}
}

// benchLoadChunk is the rows of one bulk INSERT ... SELECT, each its own
// transaction.
const benchLoadChunk = 250000

// bulkLoadJournal fills the journal_events table of the store at url with
// total synthetic events (see BenchmarkJournalQuery), generated by the
// database itself: the store's 50-row inserts would take most of an hour
// for 10 M rows on the dev VM.
func bulkLoadJournal(b *testing.B, engine, url string, t0 time.Time, total int) {
	b.Helper()
	const cols = `at, kind, session_id, account_id, symbol, client_order_id, venue_order_id, side, order_type,
		quantity, price, filled_qty, fee, fee_asset, latency_us, error_class, error_code, message, fence, node`
	// Row i: session s(i mod 1000), its (i div 1000)-th order, every 100th a
	// failure; at is 100 ms apart, minus 0-49 ms of writer jitter.
	const row = `$3 + i*100000 - ((i*7919) % 50)*1000,
		CASE WHEN i % 100 = 0 THEN 'failed' ELSE 'sent' END, 's' || (i % 1000), 1, 'BTCUSDT',
		's' || (i % 1000) || '-' || (i / 1000) || '-0', '', 'buy', 'limit', '0.001', '42000.01', '0', '0', '', 3000,
		CASE WHEN i % 100 = 0 THEN 'rate_limited' ELSE '' END, 0,
		CASE WHEN i % 100 = 0 THEN 'too many requests' ELSE '' END, 1, ''`
	var driver, dsn, insert string
	switch engine {
	case "sqlite":
		driver = "sqlite"
		dsn = "file:" + strings.TrimPrefix(url, "sqlite:") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-1000000)"
		insert = `WITH RECURSIVE c(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < $2)
			INSERT INTO journal_events (` + cols + `) SELECT ` + row + ` FROM c`
	case "postgres":
		driver, dsn = "pgx", url
		insert = `INSERT INTO journal_events (` + cols + `) SELECT ` + row + `
			FROM generate_series($1::bigint, $2::bigint - 1) AS g(i)`
	default:
		b.Fatalf("bulk load: unknown engine %q", engine)
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	t0us := t0.UnixMicro()
	for lo := 0; lo < total; lo += benchLoadChunk {
		hi := min(total, lo+benchLoadChunk)
		if _, err := raw.ExecContext(ctx, insert, int64(lo), int64(hi), t0us); err != nil {
			b.Fatalf("bulk load rows %d-%d: %v", lo, hi, err)
		}
	}
	switch engine {
	case "sqlite":
		_, err = raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	case "postgres":
		_, err = raw.ExecContext(ctx, `VACUUM ANALYZE journal_events`)
	}
	if err != nil {
		b.Fatalf("bulk load: %v", err)
	}
}

// TestCheckFollowsTheLastWrite: the journal is unhealthy while its last
// write failed and none committed since, for FailureHold at most.
func TestCheckFollowsTheLastWrite(t *testing.T) {
	t.Parallel()
	u := storetest.SQLiteURL(t)
	db := storetest.Open(t, u)
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	j := journal.Open(db, journal.Options{Clock: fc, Logger: slog.New(slog.DiscardHandler)})
	defer j.Close()
	raw, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(u, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := j.Check(); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	if err := j.Append(ctx, &journal.Event{Kind: journal.KindDrift}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`ALTER TABLE journal_events RENAME TO journal_events_gone`); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(ctx, &journal.Event{Kind: journal.KindDrift}); err == nil {
		t.Fatal("append without its table succeeded")
	}
	if err := j.Check(); err == nil || !strings.Contains(err.Error(), "journal write") {
		t.Fatalf("after a failed write: %v, want the failure", err)
	}
	fc.Advance(journal.FailureHold - time.Second)
	if err := j.Check(); err == nil {
		t.Fatal("healthy within FailureHold of the failure")
	}
	fc.Advance(time.Second)
	if err := j.Check(); err != nil {
		t.Fatalf("FailureHold after the last failure with nothing written since: %v, want healthy", err)
	}
	if err := j.Append(ctx, &journal.Event{Kind: journal.KindDrift}); err == nil {
		t.Fatal("append without its table succeeded")
	}
	if _, err := raw.Exec(`ALTER TABLE journal_events_gone RENAME TO journal_events`); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(ctx, &journal.Event{Kind: journal.KindDrift}); err != nil {
		t.Fatal(err)
	}
	if err := j.Check(); err != nil {
		t.Fatalf("after a write committed: %v", err)
	}
}
