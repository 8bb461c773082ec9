package store_test

import (
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestSetSessionDesired checks that only desired and updated_at change.
func TestSetSessionDesired(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, eng.URL(t))
			a := &store.Account{Name: "main", Venue: "paper"}
			if err := db.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			before := mustCreateSession(t, db, "s-a", a.ID)
			if err := db.SetSessionDesired(ctx, "s-a", "running", t0); err != nil {
				t.Fatal(err)
			}
			got, err := db.Session(ctx, "s-a")
			if err != nil {
				t.Fatal(err)
			}
			if got.Desired != "running" || got.State != before.State || !got.UpdatedAt.After(before.UpdatedAt) {
				t.Fatalf("after: desired %q state %q updated %s (before %s)", got.Desired, got.State, got.UpdatedAt, before.UpdatedAt)
			}
			if tr, _ := db.SessionTransitions(ctx, "s-a"); len(tr) != 1 {
				t.Fatalf("transitions: got %d, want 1 (creation only)", len(tr))
			}
			if err := db.SetSessionDesired(ctx, "nope", "running", t0); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("missing session: got %v, want ErrNotFound", err)
			}
		})
	}
}
