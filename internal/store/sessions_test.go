package store_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
)

// TestSessionsConformance runs the session suite against every engine.
func TestSessionsConformance(t *testing.T) {
	t.Parallel()
	runAccountSuite(t, sessionSuite)
}

func mustCreateSession(t *testing.T, db *store.DB, id string, account int64, tags ...string) store.Session {
	t.Helper()
	s := &store.Session{ID: id, Name: "n-" + id, Strategy: "dca", AccountID: account, Symbols: []string{"BTCUSDT"},
		Params: json.RawMessage(`{"amount":"10"}`), Allocation: dec("1000.5"), Tags: tags, State: "created"}
	if err := db.CreateSession(ctx, s, "alice"); err != nil {
		t.Fatal(err)
	}
	got, err := db.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

var sessionSuite = map[string]func(t *testing.T, db *store.DB, account int64){
	"create get list delete": func(t *testing.T, db *store.DB, account int64) {
		s := mustCreateSession(t, db, "s-a", account, "desk", "btc")
		if s.Strategy != "dca" || s.AllocationKind != "fixed" || s.Allocation.String() != "1000.5" || s.Desired != "stopped" ||
			string(s.Params) != `{"amount":"10"}` || len(s.Tags) != 2 || s.State != "created" || s.CreatedAt.IsZero() {
			t.Fatalf("got %+v", s)
		}
		if err := db.CreateSession(ctx, &store.Session{ID: "s-a", AccountID: account, State: "created"}, "x"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate: got %v, want ErrConflict", err)
		}
		mustCreateSession(t, db, "s-b", account, "desk")
		mustCreateSession(t, db, "s-c", account)
		for _, tc := range []struct {
			f    store.SessionFilter
			want int
		}{
			{store.SessionFilter{}, 3},
			{store.SessionFilter{Tag: "desk"}, 2},
			{store.SessionFilter{Tag: "btc"}, 1},
			{store.SessionFilter{AccountID: account, State: "created"}, 3},
			{store.SessionFilter{State: "running"}, 0},
			{store.SessionFilter{AccountID: account + 99}, 0},
			{store.SessionFilter{IDs: []string{"s-c", "s-a"}}, 2},
		} {
			got, err := db.Sessions(ctx, tc.f)
			if err != nil || len(got) != tc.want {
				t.Errorf("filter %+v: got %d sessions (%v), want %d", tc.f, len(got), err, tc.want)
			}
		}
		if err := db.DeleteSession(ctx, "s-a"); err != nil {
			t.Fatal(err)
		}
		if st, err := db.SessionState(ctx, "s-b"); err != nil || st != "created" {
			t.Fatalf("state of s-b: %q, %v", st, err)
		}
		if _, err := db.Session(ctx, "s-a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: got %v, want ErrNotFound", err)
		}
		if _, err := db.SessionState(ctx, "s-a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("state after delete: got %v, want ErrNotFound", err)
		}
		if err := db.DeleteSession(ctx, "s-a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: got %v", err)
		}
	},
	"transitions are atomic and optimistic": func(t *testing.T, db *store.DB, account int64) {
		mustCreateSession(t, db, "s-t", account)
		at := time.Now().UTC().Truncate(time.Microsecond)
		msg := "boom"
		if err := db.TransitionSession(ctx, "s-t", store.StateChange{From: "created", To: "starting", Reason: "start", Actor: "bob", At: at, Desired: "running"}); err != nil {
			t.Fatal(err)
		}
		if err := db.TransitionSession(ctx, "s-t", store.StateChange{From: "starting", To: "failed", Reason: "panic", Actor: "supervisor", At: at, LastError: &msg}); err != nil {
			t.Fatal(err)
		}
		// A writer that read the old state loses.
		if err := db.TransitionSession(ctx, "s-t", store.StateChange{From: "starting", To: "running"}); !errors.Is(err, store.ErrStale) {
			t.Fatalf("stale transition: got %v, want ErrStale", err)
		}
		if err := db.TransitionSession(ctx, "nope", store.StateChange{From: "created", To: "starting"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing session: got %v, want ErrNotFound", err)
		}
		s, _ := db.Session(ctx, "s-t")
		if s.State != "failed" || s.StateReason != "panic" || s.Desired != "running" || s.LastError != "boom" {
			t.Fatalf("got %+v", s)
		}
		tr, err := db.SessionTransitions(ctx, "s-t")
		if err != nil {
			t.Fatal(err)
		}
		if len(tr) != 3 || tr[0].From != "" || tr[0].To != "created" || tr[0].Actor != "alice" ||
			tr[1].From != "created" || tr[1].To != "starting" || tr[1].Actor != "bob" || !tr[1].At.Equal(at) ||
			tr[2].To != "failed" || tr[2].Reason != "panic" {
			t.Fatalf("transitions %+v", tr)
		}
	},
	"params update is optimistic": func(t *testing.T, db *store.DB, account int64) {
		s := mustCreateSession(t, db, "s-p", account)
		u1, err := db.UpdateSessionParams(ctx, "s-p", json.RawMessage(`{"amount":"20"}`), nil, s.UpdatedAt)
		if err != nil {
			t.Fatal(err)
		}
		if !u1.After(s.UpdatedAt) {
			t.Fatalf("updated_at did not move: %v then %v", s.UpdatedAt, u1)
		}
		if _, err := db.UpdateSessionParams(ctx, "s-p", json.RawMessage(`{"amount":"30"}`), nil, s.UpdatedAt); !errors.Is(err, store.ErrStale) {
			t.Fatalf("stale update: got %v, want ErrStale", err)
		}
		if _, err := db.UpdateSessionParams(ctx, "s-p", json.RawMessage(`{"amount":"40"}`), []string{"x"}, u1); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Session(ctx, "s-p")
		if string(got.Params) != `{"amount":"40"}` || len(got.Tags) != 1 || got.Tags[0] != "x" {
			t.Fatalf("got %s %v", got.Params, got.Tags)
		}
		if _, err := db.UpdateSessionParams(ctx, "nope", nil, nil, u1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: got %v", err)
		}
	},
	"step state and counters": func(t *testing.T, db *store.DB, account int64) {
		mustCreateSession(t, db, "s-c", account)
		at := time.Now().UTC().Truncate(time.Microsecond)
		for want := int64(1); want <= 3; want++ {
			got, replay, err := db.OpenSessionStep(ctx, "s-c")
			if err != nil || got != want || replay {
				t.Fatalf("step seq: got %d replay %v %v, want %d fresh", got, replay, err, want)
			}
			if want == 3 {
				break // left open
			}
			if err := db.SaveSessionStep(ctx, "s-c", store.StepOutcome{At: at, Close: got}); err != nil {
				t.Fatal(err)
			}
		}
		// Step 3 is open: it is handed out again until closed; closing
		// another number does nothing.
		for range 2 {
			if got, replay, err := db.OpenSessionStep(ctx, "s-c"); err != nil || got != 3 || !replay {
				t.Fatalf("open step: got %d replay %v %v, want 3 replayed", got, replay, err)
			}
		}
		if err := db.SaveSessionStep(ctx, "s-c", store.StepOutcome{At: at, Close: 2}); err != nil {
			t.Fatal(err)
		}
		if got, replay, _ := db.OpenSessionStep(ctx, "s-c"); got != 3 || !replay {
			t.Fatalf("closing step 2 closed step 3: got %d replay %v", got, replay)
		}
		if s, _ := db.Session(ctx, "s-c"); s.StepOpen != 3 {
			t.Fatalf("stored open step %d, want 3", s.StepOpen)
		}
		if err := db.SaveSessionStep(ctx, "s-c", store.StepOutcome{State: json.RawMessage(`{"bought":"3"}`), At: at}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveSessionStep(ctx, "s-c", store.StepOutcome{At: at, LastError: "oops"}); err != nil {
			t.Fatal(err)
		}
		a, m, err := db.IncrementSessionRestarts(ctx, "s-c", false)
		if err != nil || a != 1 || m != 0 {
			t.Fatalf("auto restart: %d %d %v", a, m, err)
		}
		a, m, _ = db.IncrementSessionRestarts(ctx, "s-c", true)
		if a != 1 || m != 1 {
			t.Fatalf("manual restart: %d %d", a, m)
		}
		if err := db.SetSessionRestartPolicy(ctx, "s-c", json.RawMessage(`{"max_restarts":2}`)); err != nil {
			t.Fatal(err)
		}
		s, _ := db.Session(ctx, "s-c")
		if string(s.StrategyState) != `{"bought":"3"}` || s.StepSeq != 3 || s.LastError != "oops" || !s.LastStepAt.Equal(at) ||
			s.RestartsAuto != 1 || s.RestartsManual != 1 || string(s.RestartPolicy) != `{"max_restarts":2}` {
			t.Fatalf("got %+v", s)
		}
		// Saving step 3's outcome with close 3 closes it.
		if err := db.SaveSessionStep(ctx, "s-c", store.StepOutcome{At: at, LastError: "oops", Close: 3, ClosedStep: "tabc-0"}); err != nil {
			t.Fatal(err)
		}
		if s, _ := db.Session(ctx, "s-c"); s.ClosedStep != "tabc-0" || string(s.StrategyState) != `{"bought":"3"}` {
			t.Fatalf("closed step %q state %s, want tabc-0 and the saved state kept", s.ClosedStep, s.StrategyState)
		}
		if got, replay, _ := db.OpenSessionStep(ctx, "s-c"); got != 4 || replay {
			t.Fatalf("after closing step 3: got %d replay %v, want 4 fresh", got, replay)
		}
		if _, _, err := db.OpenSessionStep(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: got %v", err)
		}
	},
	"session fills": func(t *testing.T, db *store.DB, account int64) {
		mustCreateSession(t, db, "s-f", account)
		for i, f := range []struct{ side, qty, fee, asset string }{{"buy", "0.5", "0.0005", "BTC"}, {"sell", "0.2", "1.5", "USDT"}} {
			if err := db.ExecForTest(ctx, `INSERT INTO fills (account_id, symbol, trade_id, session_id, side, price, quantity, quote_qty, fee, fee_asset, source, at)
				VALUES ($1, 'BTCUSDT', $2, 's-f', $3, '100', $4, '0', $5, $6, 'live', $7)`, account, string(rune('a'+i)), f.side, f.qty, f.fee, f.asset, int64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		fs, err := db.SessionFills(ctx, "s-f")
		if err != nil || len(fs) != 2 || fs[0].Quantity.String() != "0.5" || fs[0].Fee.String() != "0.0005" || fs[1].Side != "sell" {
			t.Fatalf("got %+v %v", fs, err)
		}
	},
}
