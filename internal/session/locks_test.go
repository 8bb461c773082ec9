package session_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tradeplane/tradeplane/internal/session"
)

// TestSessionLocksAreFreed: commands on ids that do not exist, and on a
// session after it is deleted, leave no per-session lock behind, also when
// they run concurrently.
func TestSessionLocksAreFreed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.manager(t, nil)
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("s-missing-%d", i%50)
			if _, err := m.Stop(ctx, id, "alice"); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("stop %s: got %v, want ErrNotFound", id, err)
			}
		}()
	}
	wg.Wait()
	if n := session.LockCount(m); n != 0 {
		t.Fatalf("%d locks held after commands on missing sessions, want 0", n)
	}
	s := b.create(t, m, "x", "dca", dcaParams)
	if _, err := m.Pause(ctx, s.ID, "alice"); err == nil {
		t.Fatal("pause of a created session succeeded")
	}
	if err := m.Delete(ctx, s.ID, false, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := session.LockCount(m); n != 0 {
		t.Fatalf("%d locks held after the session was deleted, want 0", n)
	}
}
