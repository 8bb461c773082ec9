package store_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
)

// TestJournalConformance runs the journal, order and fill suite against
// every engine.
func TestJournalConformance(t *testing.T) {
	t.Parallel()
	runAccountSuite(t, journalSuite)
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testOrder(acct int64, id string) store.Order {
	return store.Order{ClientOrderID: id, SessionID: "s1", AccountID: acct, Symbol: "BTCUSDT", Side: "buy", Type: "limit",
		Price: dec("42000.5"), Quantity: dec("0.001"), QuoteQuantity: dec("0"), Status: store.OrderIntent,
		ExecutedQty: dec("0"), QuoteQty: dec("0"), Fence: 3, CreatedAt: t0}
}

var journalSuite = map[string]func(t *testing.T, db *store.DB, acct int64){
	"orders intent update and non-terminal": func(t *testing.T, db *store.DB, acct int64) {
		if err := db.InsertOrder(ctx, testOrder(acct, "a-1-0")); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertOrder(ctx, testOrder(acct, "a-1-0")); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second insert: got %v, want ErrConflict", err)
		}
		if err := db.InsertOrder(ctx, testOrder(acct, "a-1-1")); err != nil {
			t.Fatal(err)
		}
		open, err := db.NonTerminalOrders(ctx, acct)
		if err != nil || len(open) != 2 {
			t.Fatalf("non-terminal %+v %v", open, err)
		}
		u := store.OrderUpdate{ClientOrderID: "a-1-0", Status: "filled", VenueOrderID: "v9", ExecutedQty: dec("0.001"),
			QuoteQty: dec("42.0005"), Fence: 3, At: t0.Add(time.Second)}
		if err := db.UpdateOrder(ctx, u); err != nil {
			t.Fatal(err)
		}
		// A stale fence is refused; an unknown id is not found.
		u.Fence = 2
		if err := db.UpdateOrder(ctx, u); !errors.Is(err, store.ErrStaleFence) {
			t.Fatalf("stale fence: got %v", err)
		}
		u.ClientOrderID = "nope"
		if err := db.UpdateOrder(ctx, u); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing order: got %v", err)
		}
		// An empty venue id keeps the stored one.
		if err := db.UpdateOrder(ctx, store.OrderUpdate{ClientOrderID: "a-1-0", Status: "filled", ExecutedQty: dec("0.001"),
			QuoteQty: dec("42.0005"), Fence: 4, At: t0.Add(2 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		o, err := db.OrderByClientID(ctx, "a-1-0")
		if err != nil || o.Status != "filled" || o.VenueOrderID != "v9" || !o.QuoteQty.Equal(dec("42.0005")) ||
			o.Fence != 4 || !o.CreatedAt.Equal(t0) || !o.UpdatedAt.Equal(t0.Add(2*time.Second)) || !o.Price.Equal(dec("42000.5")) {
			t.Fatalf("order %+v %v", o, err)
		}
		open, _ = db.NonTerminalOrders(ctx, acct)
		if len(open) != 1 || open[0].ClientOrderID != "a-1-1" {
			t.Fatalf("non-terminal after fill %+v", open)
		}
		if open, _ := db.NonTerminalOrders(ctx, acct+1000); len(open) != 0 {
			t.Fatalf("other account sees %+v", open)
		}
		if _, err := db.OrderByClientID(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	},
	"order outcomes by last event": func(t *testing.T, db *store.DB, acct int64) {
		ev := func(kind, id, class string) store.JournalEvent {
			return store.JournalEvent{At: t0, Kind: kind, AccountID: acct, ClientOrderID: id, ErrorClass: class}
		}
		// o1 filled; o2 failed (timeout) then corrected to filled; o3
		// rejected for its allocation; o4 still open; o5 failed; an error
		// without an order id counts for none.
		evs := []store.JournalEvent{ev("intent", "o1", ""), ev("filled", "o1", ""), ev("fill", "o1", ""),
			ev("intent", "o2", ""), ev("failed", "o2", "timeout"), ev("corrected", "o2", ""), ev("filled", "o2", ""),
			ev("intent", "o3", ""), ev("rejected", "o3", "allocation"),
			ev("intent", "o4", ""), ev("acknowledged", "o4", ""),
			ev("intent", "o5", ""), ev("failed", "o5", "timeout"),
			ev("failed", "", "journal")}
		if err := db.AppendJournalEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		got, err := db.LastEventOutcomes(ctx, []string{"filled", "canceled", "rejected", "failed"})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.EventOutcome{{Kind: "failed", ErrorClass: "timeout", Orders: 1}, {Kind: "filled", Orders: 2},
			{Kind: "rejected", ErrorClass: "allocation", Orders: 1}}
		if !slices.Equal(got, want) {
			t.Fatalf("outcomes %+v, want %+v", got, want)
		}
		if n, err := db.CountEvents(ctx, "intent"); err != nil || n != 5 {
			t.Fatalf("intents %d, %v; want 5", n, err)
		}
		if got, err := db.LastEventOutcomes(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("no kinds: %+v, %v", got, err)
		}
	},
	"a terminal order keeps its status against a late answer": func(t *testing.T, db *store.DB, acct int64) {
		if err := db.InsertOrder(ctx, testOrder(acct, "k-1-0")); err != nil {
			t.Fatal(err)
		}
		status := func() store.Order {
			t.Helper()
			o, err := db.OrderByClientID(ctx, "k-1-0")
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		update := func(u store.OrderUpdate) error {
			u.ClientOrderID, u.Fence = "k-1-0", 3
			return db.UpdateOrder(ctx, u)
		}
		// The stream's fill closes the row; the placement's NEW, handled
		// after it, must not reopen it.
		if err := update(store.OrderUpdate{Status: "new", VenueOrderID: "v1", At: t0}); err != nil {
			t.Fatal(err)
		}
		if err := update(store.OrderUpdate{Status: "filled", ExecutedQty: dec("0.001"), QuoteQty: dec("42.0005"), At: t0.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		for _, late := range []string{"new", "partially_filled", store.OrderUnknown, store.OrderIntent} {
			if err := update(store.OrderUpdate{Status: late, At: t0.Add(2 * time.Second)}); err != nil {
				t.Fatalf("late %s: %v, want no error", late, err)
			}
			if o := status(); o.Status != "filled" || !o.ExecutedQty.Equal(dec("0.001")) || !o.UpdatedAt.Equal(t0.Add(time.Second)) {
				t.Fatalf("after a late %s: %+v, want the filled row unchanged", late, o)
			}
		}
		// A stale fence is still refused as such.
		if err := db.UpdateOrder(ctx, store.OrderUpdate{ClientOrderID: "k-1-0", Status: "new", Fence: 2, At: t0}); !errors.Is(err, store.ErrStaleFence) {
			t.Fatalf("stale fence on a terminal row: %v", err)
		}
		// Terminal to terminal is the venue's later word (canceled after
		// an assumed fill is a correction's business, but not refused).
		if err := update(store.OrderUpdate{Status: "canceled", ExecutedQty: dec("0.001"), At: t0.Add(3 * time.Second)}); err != nil || status().Status != "canceled" {
			t.Fatalf("terminal to terminal: %v, %+v", err, status())
		}
		// A correction reopens it.
		if err := update(store.OrderUpdate{Status: "partially_filled", ExecutedQty: dec("0.0005"), At: t0.Add(4 * time.Second), Reopen: true}); err != nil {
			t.Fatal(err)
		}
		if o := status(); o.Status != "partially_filled" || !o.ExecutedQty.Equal(dec("0.0005")) {
			t.Fatalf("after the correction: %+v", o)
		}
	},
	"journal batch is atomic and idempotent": func(t *testing.T, db *store.DB, acct int64) {
		o := testOrder(acct, "b-1-0")
		w := &store.JournalWrite{NewOrder: &o, Events: []store.JournalEvent{
			{At: t0, Kind: "intent", SessionID: "s1", AccountID: acct, ClientOrderID: "b-1-0", Quantity: dec("0.001")},
		}}
		if err := db.WriteJournal(ctx, []*store.JournalWrite{w}); err != nil {
			t.Fatal(err)
		}
		if !w.OrderInserted || w.Events[0].Seq == 0 {
			t.Fatalf("write %+v", w)
		}
		// Replaying the same write changes nothing.
		w2 := &store.JournalWrite{NewOrder: &o, Events: []store.JournalEvent{{At: t0, Kind: "intent", ClientOrderID: "b-1-0"}}}
		if err := db.WriteJournal(ctx, []*store.JournalWrite{w2}); err != nil || w2.OrderInserted {
			t.Fatalf("replay %+v %v", w2, err)
		}
		// A stale update sinks the whole batch, events of other writes included.
		bad := &store.JournalWrite{Update: &store.OrderUpdate{ClientOrderID: "b-1-0", Status: "filled", Fence: 1, At: t0},
			Events: []store.JournalEvent{{At: t0, Kind: "filled", ClientOrderID: "b-1-0"}}}
		good := &store.JournalWrite{Events: []store.JournalEvent{{At: t0, Kind: "drift"}}}
		if err := db.WriteJournal(ctx, []*store.JournalWrite{good, bad}); !errors.Is(err, store.ErrStaleFence) {
			t.Fatalf("stale batch: %v", err)
		}
		evs, err := db.JournalEvents(ctx, store.EventQuery{})
		if err != nil || len(evs) != 1 || evs[0].Kind != "intent" || !evs[0].Quantity.Equal(dec("0.001")) || !evs[0].At.Equal(t0) {
			t.Fatalf("events %+v %v", evs, err)
		}
		// Fills: a duplicate trade id is ignored, and so are its events.
		f := store.Fill{AccountID: acct, Symbol: "BTCUSDT", TradeID: "t1", ClientOrderID: "b-1-0", SessionID: "s1", Side: "buy",
			Price: dec("42000.5"), Quantity: dec("0.001"), QuoteQty: dec("42.0005"), Fee: dec("0.0000001"), FeeAsset: "BTC",
			Maker: true, Source: "order_trades", At: t0}
		fw := &store.JournalWrite{Fill: &f, Events: []store.JournalEvent{{At: t0, Kind: "fill", ClientOrderID: "b-1-0"}}}
		if err := db.WriteJournal(ctx, []*store.JournalWrite{fw}); err != nil || !fw.FillInserted {
			t.Fatalf("fill write %+v %v", fw, err)
		}
		firstID := f.ID // set by the write; checked against the stored row below
		fw2 := &store.JournalWrite{Fill: &f, Events: []store.JournalEvent{{At: t0, Kind: "fill", ClientOrderID: "b-1-0"}}}
		if err := db.WriteJournal(ctx, []*store.JournalWrite{fw2}); err != nil || fw2.FillInserted {
			t.Fatalf("dup fill write %+v %v", fw2, err)
		}
		if n, _ := db.JournalEvents(ctx, store.EventQuery{Kind: "fill"}); len(n) != 1 {
			t.Fatalf("fill events %+v", n)
		}
		isNew, err := db.InsertFill(ctx, f)
		if err != nil || isNew {
			t.Fatalf("InsertFill dup: %v %v", isNew, err)
		}
		f.TradeID = "t2"
		f.At = t0.Add(time.Minute)
		if isNew, err := db.InsertFill(ctx, f); err != nil || !isNew {
			t.Fatalf("InsertFill new: %v %v", isNew, err)
		}
		fs, err := db.Fills(ctx, store.FillQuery{AccountID: acct, SessionID: "s1"})
		if err != nil || len(fs) != 2 || fs[0].TradeID != "t1" || !fs[0].Maker || !fs[0].Fee.Equal(dec("0.0000001")) || !fs[1].At.Equal(t0.Add(time.Minute)) {
			t.Fatalf("fills %+v %v", fs, err)
		}
		if firstID <= 0 || fs[0].ID != firstID || fs[1].ID == firstID {
			t.Fatalf("fill ids: the write set %d, stored %d and %d", firstID, fs[0].ID, fs[1].ID)
		}
		fs, _ = db.Fills(ctx, store.FillQuery{AccountID: acct, AfterAt: fs[0].At, AfterID: fs[0].ID})
		if len(fs) != 1 || fs[0].TradeID != "t2" {
			t.Fatalf("fills page 2 %+v", fs)
		}
		if fs, _ := db.Fills(ctx, store.FillQuery{From: t0, To: t0.Add(time.Second)}); len(fs) != 1 {
			t.Fatalf("fills by time %+v", fs)
		}
	},
	"journal queries and keyset pages": func(t *testing.T, db *store.DB, acct int64) {
		var evs []store.JournalEvent
		for i := range 250 {
			e := store.JournalEvent{At: t0.Add(time.Duration(i) * time.Second), Kind: "sent", SessionID: fmt.Sprintf("s%d", i%3),
				AccountID: acct, ClientOrderID: fmt.Sprintf("c%d", i%50), Quantity: dec("1"), Price: dec("2"), FilledQty: dec("0"), Fee: dec("0")}
			if i%10 == 0 {
				e.Kind, e.ErrorClass, e.ErrorCode, e.Message = "rejected", "rejected", -1013, "filter"
			}
			evs = append(evs, e)
		}
		// More than one chunk of the multi-row insert: seqs in append order.
		big := make([]store.JournalEvent, 0, 1200)
		for range 4 {
			big = append(big, evs...)
		}
		big = append(big, evs[:200]...)
		if err := db.AppendJournalEvents(ctx, big); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(big); i++ {
			if big[i].Seq != big[i-1].Seq+1 {
				t.Fatalf("seq %d after %d at %d", big[i].Seq, big[i-1].Seq, i)
			}
		}
		// Each Seq names the stored row of its own event.
		back, err := db.JournalEvents(ctx, store.EventQuery{AfterSeq: big[0].Seq - 1, Ascending: true, Limit: len(big)})
		if err != nil || len(back) != len(big) {
			t.Fatalf("read back %d of %d: %v", len(back), len(big), err)
		}
		for i, e := range back {
			if e.Seq != big[i].Seq || !e.At.Equal(big[i].At) || e.ClientOrderID != big[i].ClientOrderID || e.Kind != big[i].Kind {
				t.Fatalf("row %d: stored %d %s %s %s, appended as %d %s %s %s", i, e.Seq, e.At, e.ClientOrderID, e.Kind,
					big[i].Seq, big[i].At, big[i].ClientOrderID, big[i].Kind)
			}
		}
		got, err := db.JournalEvents(ctx, store.EventQuery{SessionID: "s1", Limit: 7})
		if err != nil || len(got) != 7 || got[0].Seq != big[len(big)-1].Seq-1 && got[0].SessionID != "s1" {
			t.Fatalf("by session %+v %v", got, err)
		}
		// Walk every page of session s1 newest first.
		var n int
		before := int64(0)
		last := int64(1 << 62)
		for {
			page, err := db.JournalEvents(ctx, store.EventQuery{SessionID: "s1", BeforeSeq: before, Limit: 64})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if e.SessionID != "s1" || e.Seq >= last {
					t.Fatalf("page order: %+v after %d", e, last)
				}
				last = e.Seq
				n++
			}
			before = page[len(page)-1].Seq
		}
		want := 0
		for _, e := range big {
			if e.SessionID == "s1" {
				want++
			}
		}
		if n != want {
			t.Fatalf("paged %d events of s1, want %d", n, want)
		}
		fails, _ := db.JournalEvents(ctx, store.EventQuery{FailuresOnly: true, Limit: 10000})
		if len(fails) != 25*4+20 {
			t.Fatalf("failures: %d", len(fails))
		}
		if fails[0].ErrorCode != -1013 || fails[0].Message != "filter" || fails[0].Kind != "rejected" {
			t.Fatalf("failure %+v", fails[0])
		}
		byTime, _ := db.JournalEvents(ctx, store.EventQuery{From: t0.Add(10 * time.Second), To: t0.Add(20 * time.Second), Limit: 10000})
		if len(byTime) != 10*5 {
			t.Fatalf("by time: %d", len(byTime))
		}
		byID, _ := db.JournalEvents(ctx, store.EventQuery{ClientOrderID: "c7", Limit: 10000})
		if len(byID) != 5*4+4 {
			t.Fatalf("by client order id: %d", len(byID))
		}
		follow, _ := db.JournalEvents(ctx, store.EventQuery{AfterSeq: big[len(big)-3].Seq})
		if len(follow) != 2 || follow[0].Seq != big[len(big)-2].Seq || follow[1].Seq != big[len(big)-1].Seq {
			t.Fatalf("follow %+v", follow)
		}
	},
	"time range pages by at then seq": func(t *testing.T, db *store.DB, acct int64) {
		// at is not monotonic in seq and has ties, as when writers stamp
		// events before queueing them: 300 events over 100 distinct seconds.
		evs := make([]store.JournalEvent, 300)
		for i := range evs {
			evs[i] = store.JournalEvent{At: t0.Add(time.Duration((i*37)%100) * time.Second), Kind: "sent", SessionID: fmt.Sprintf("s%d", i%2),
				AccountID: acct, Quantity: dec("1"), Price: dec("2"), FilledQty: dec("0"), Fee: dec("0")}
			if i%3 == 0 {
				evs[i].ErrorClass = "rejected"
			}
		}
		if err := db.AppendJournalEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		from, to := t0.Add(10*time.Second), t0.Add(80*time.Second)
		// want returns the events matching keep in time order, newest first.
		want := func(keep func(store.JournalEvent) bool, asc bool) []int64 {
			var out []store.JournalEvent
			for _, e := range evs {
				if !e.At.Before(from) && e.At.Before(to) && keep(e) {
					out = append(out, e)
				}
			}
			slices.SortFunc(out, func(a, b store.JournalEvent) int {
				c := cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Seq, b.Seq))
				if asc {
					return c
				}
				return -c
			})
			seqs := make([]int64, len(out))
			for i, e := range out {
				seqs[i] = e.Seq
			}
			return seqs
		}
		all := func(store.JournalEvent) bool { return true }
		tests := []struct {
			name string
			q    store.EventQuery
			keep func(store.JournalEvent) bool
		}{
			{"newest first", store.EventQuery{From: from, To: to}, all},
			{"oldest first", store.EventQuery{From: from, To: to, Ascending: true}, all},
			{"failures", store.EventQuery{From: from, To: to, FailuresOnly: true}, func(e store.JournalEvent) bool { return e.ErrorClass != "" }},
			{"session", store.EventQuery{From: from, To: to, SessionID: "s1"}, func(e store.JournalEvent) bool { return e.SessionID == "s1" }},
		}
		for _, tt := range tests {
			asc := tt.q.Ascending
			var got []int64
			q := tt.q
			q.Limit = 7
			for range 100 {
				page, err := db.JournalEvents(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					got = append(got, e.Seq)
				}
				last := page[len(page)-1]
				if asc {
					q.AfterAt, q.AfterSeq = last.At, last.Seq
				} else {
					q.BeforeAt, q.BeforeSeq = last.At, last.Seq
				}
			}
			if w := want(tt.keep, asc); !slices.Equal(got, w) || len(w) == 0 {
				t.Errorf("%s: paged seqs\n got %v\nwant %v", tt.name, got, w)
			}
		}
		// A cursor time alone is strict: at < BeforeAt, at > AfterAt.
		mid := t0.Add(40 * time.Second)
		got, err := db.JournalEvents(ctx, store.EventQuery{From: from, To: to, BeforeAt: mid, Limit: 1000})
		if w := want(func(e store.JournalEvent) bool { return e.At.Before(mid) }, false); err != nil || len(got) != len(w) || got[0].Seq != w[0] {
			t.Fatalf("before %s: %d events %v, want %d", mid, len(got), err, len(w))
		}
		got, err = db.JournalEvents(ctx, store.EventQuery{From: from, To: to, AfterAt: mid, Limit: 1000})
		if w := want(func(e store.JournalEvent) bool { return e.At.After(mid) }, true); err != nil || len(got) != len(w) || got[0].Seq != w[0] {
			t.Fatalf("after %s: %d events %v, want %d", mid, len(got), err, len(w))
		}
	},
	"concurrent batches keep seqs": func(t *testing.T, db *store.DB, acct int64) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 10 {
					evs := []store.JournalEvent{{At: t0, Kind: "sent", SessionID: fmt.Sprintf("g%d", g), Message: fmt.Sprint(i)},
						{At: t0, Kind: "acknowledged", SessionID: fmt.Sprintf("g%d", g), Message: fmt.Sprint(i)}}
					if err := db.AppendJournalEvents(ctx, evs); err != nil {
						errs <- err
						return
					}
					if evs[1].Seq <= evs[0].Seq {
						errs <- fmt.Errorf("seqs %d %d", evs[0].Seq, evs[1].Seq)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		all, _ := db.JournalEvents(ctx, store.EventQuery{Limit: 1000})
		if len(all) != 160 {
			t.Fatalf("%d events", len(all))
		}
	},
}
