package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestTradeAllConformance runs the Trade All suite against every engine.
func TestTradeAllConformance(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			for name, fn := range tradeAllSuite {
				t.Run(name, func(t *testing.T) {
					fn(t, storetest.Open(t, eng.URL(t)))
				})
			}
		})
	}
}

var taT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCreateRun(t *testing.T, db *store.DB, id, key string, n int) {
	t.Helper()
	items := make([]store.TradeAllItem, n)
	for i := range items {
		items[i] = store.TradeAllItem{Seq: int64(i), SessionID: fmt.Sprintf("s%03d", i), Account: "a", Venue: "paper", State: store.TradeAllPending}
	}
	r := store.TradeAllRun{ID: id, Key: key, Selection: `{"all":true}`, State: "running", Actor: "alice", Remote: "10.0.0.1", CreatedAt: taT0}
	if err := db.CreateTradeAllRun(ctx, r, items); err != nil {
		t.Fatal(err)
	}
}

var tradeAllSuite = map[string]func(t *testing.T, db *store.DB){
	"create read and key conflict": func(t *testing.T, db *store.DB) {
		mustCreateRun(t, db, "r1", "k1", 250)
		r, err := db.TradeAllRunByKey(ctx, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if r.ID != "r1" || r.Selection != `{"all":true}` || r.Actor != "alice" || r.Remote != "10.0.0.1" || !r.CreatedAt.Equal(taT0) || r.CancelRequested {
			t.Fatalf("got %+v", r)
		}
		err = db.CreateTradeAllRun(ctx, store.TradeAllRun{ID: "r2", Key: "k1", State: "running", CreatedAt: taT0},
			[]store.TradeAllItem{{SessionID: "x", State: store.TradeAllPending}})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("same key: got %v, want ErrConflict", err)
		}
		if _, err := db.TradeAllRun(ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused run left a row: %v", err)
		}
		items, err := db.TradeAllItems(ctx, "r1")
		if err != nil || len(items) != 250 || items[249].SessionID != "s249" || items[0].Orders != "[]" {
			t.Fatalf("items: %d %v", len(items), err)
		}
		if _, err := db.TradeAllRunByKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing key: got %v", err)
		}
	},
	"guarded item updates": func(t *testing.T, db *store.DB) {
		mustCreateRun(t, db, "r1", "k1", 3)
		start := func(s string) store.TradeAllItemUpdate {
			return store.TradeAllItemUpdate{Item: store.TradeAllItem{RunID: "r1", SessionID: s, State: store.TradeAllRunning, StartedAt: taT0.Add(time.Second)},
				From: []string{store.TradeAllPending}}
		}
		got, err := db.UpdateTradeAllItems(ctx, []store.TradeAllItemUpdate{start("s000"), start("s001"), start("s000")})
		if err != nil || !got[0] || !got[1] || got[2] {
			t.Fatalf("start: got %v %v, want [true true false]", got, err)
		}
		done := store.TradeAllItemUpdate{Item: store.TradeAllItem{RunID: "r1", SessionID: "s000", State: "done",
			Orders: `[{"id":"c1"}]`, Fills: 2, FinishedAt: taT0.Add(2 * time.Second)}, From: []string{store.TradeAllRunning}}
		if got, err := db.UpdateTradeAllItems(ctx, []store.TradeAllItemUpdate{done, done}); err != nil || !got[0] || got[1] {
			t.Fatalf("finish: got %v %v", got, err)
		}
		items, _ := db.TradeAllItems(ctx, "r1")
		it := items[0]
		if it.State != "done" || it.Fills != 2 || it.Orders != `[{"id":"c1"}]` || !it.StartedAt.Equal(taT0.Add(time.Second)) || !it.FinishedAt.Equal(taT0.Add(2*time.Second)) {
			t.Fatalf("item: %+v", it)
		}
	},
	"claims by node": func(t *testing.T, db *store.DB) {
		mustCreateRun(t, db, "r1", "k1", 1)
		claim := func(node string) store.TradeAllItemUpdate {
			return store.TradeAllItemUpdate{Item: store.TradeAllItem{RunID: "r1", SessionID: "s000", State: store.TradeAllRunning, Node: node},
				From: []string{store.TradeAllPending}}
		}
		// Two nodes claim one pending item: one wins.
		got, err := db.UpdateTradeAllItems(ctx, []store.TradeAllItemUpdate{claim("a"), claim("b")})
		if err != nil || !got[0] || got[1] {
			t.Fatalf("claims: got %v %v, want [true false]", got, err)
		}
		// Taking over a running item checks the node it was claimed by.
		takeover := func(from, to string) store.TradeAllItemUpdate {
			return store.TradeAllItemUpdate{Item: store.TradeAllItem{RunID: "r1", SessionID: "s000", State: store.TradeAllRunning, Node: to},
				From: []string{store.TradeAllRunning}, CheckNode: true, FromNode: from}
		}
		got, err = db.UpdateTradeAllItems(ctx, []store.TradeAllItemUpdate{takeover("b", "c"), takeover("a", "c"), takeover("a", "d")})
		if err != nil || got[0] || !got[1] || got[2] {
			t.Fatalf("takeovers: got %v %v, want [false true false]", got, err)
		}
		items, _ := db.TradeAllItems(ctx, "r1")
		if items[0].Node != "c" || items[0].State != store.TradeAllRunning {
			t.Fatalf("item: %+v", items[0])
		}
	},
	"cancel and finish": func(t *testing.T, db *store.DB) {
		mustCreateRun(t, db, "r1", "k1", 4)
		db.UpdateTradeAllItems(ctx, []store.TradeAllItemUpdate{{Item: store.TradeAllItem{RunID: "r1", SessionID: "s000", State: store.TradeAllRunning}, From: []string{store.TradeAllPending}}})
		n, err := db.RequestTradeAllCancel(ctx, "r1", taT0)
		if err != nil || n != 3 {
			t.Fatalf("cancel: got %d %v, want 3", n, err)
		}
		if _, err := db.RequestTradeAllCancel(ctx, "nope", taT0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cancel missing: %v", err)
		}
		r, _ := db.TradeAllRun(ctx, "r1")
		if !r.CancelRequested {
			t.Fatal("cancel not recorded")
		}
		items, _ := db.TradeAllItems(ctx, "r1")
		if items[0].State != store.TradeAllRunning || items[3].State != store.TradeAllCanceled {
			t.Fatalf("items: %+v", items)
		}
		if runs, err := db.TradeAllRuns(ctx, "running", 0); err != nil || len(runs) != 1 {
			t.Fatalf("running runs: %v %v", runs, err)
		}
		if err := db.FinishTradeAllRun(ctx, "r1", "running", "canceled", "by bob", taT0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishTradeAllRun(ctx, "r1", "running", "done", "", taT0); !errors.Is(err, store.ErrStale) {
			t.Fatalf("second finish: got %v, want ErrStale", err)
		}
		if err := db.FinishTradeAllRun(ctx, "nope", "running", "done", "", taT0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("finish missing: got %v, want ErrNotFound", err)
		}
		r, _ = db.TradeAllRun(ctx, "r1")
		if r.State != "canceled" || r.Message != "by bob" || !r.FinishedAt.Equal(taT0.Add(time.Minute)) {
			t.Fatalf("run: %+v", r)
		}
		if runs, _ := db.TradeAllRuns(ctx, "", 0); len(runs) != 1 {
			t.Fatalf("all runs: %d", len(runs))
		}
	},
	"concurrent creates with one key": func(t *testing.T, db *store.DB) {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				errs[i] = db.CreateTradeAllRun(ctx, store.TradeAllRun{ID: fmt.Sprintf("r%d", i), Key: "same", State: "running", CreatedAt: taT0},
					[]store.TradeAllItem{{SessionID: "s", State: store.TradeAllPending}})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("got %v, want nil or ErrConflict", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d creates succeeded, want 1", ok)
		}
	},
}
