package session

import (
	"errors"
	"testing"
)

// TestTransitionTable checks every (from, to) pair against an independent
// copy of the intended table.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	legal := map[[2]State]bool{}
	for _, p := range [][2]State{
		{Created, Starting}, {Created, Stopping},
		{Starting, Running}, {Starting, Failed}, {Starting, Stopping}, {Starting, Restarting},
		{Running, Paused}, {Running, Stopping}, {Running, Failed}, {Running, Restarting},
		{Paused, Starting}, {Paused, Stopping}, {Paused, Restarting},
		{Stopping, Stopped}, {Stopping, Failed},
		{Stopped, Starting}, {Stopped, Restarting},
		{Failed, Restarting}, {Failed, Quarantined}, {Failed, Stopping}, {Failed, Starting}, {Failed, Paused},
		{Restarting, Starting}, {Restarting, Stopping}, {Restarting, Failed}, {Restarting, Quarantined}, {Restarting, Paused},
		{Quarantined, Restarting}, {Quarantined, Stopping},
	} {
		legal[p] = true
	}
	n := 0
	for _, from := range States {
		for _, to := range States {
			want := legal[[2]State{from, to}]
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
			err := check("s-1", "move", from, to)
			if want != (err == nil) {
				t.Errorf("check(%s -> %s) = %v", from, to, err)
			}
			if err != nil {
				n++
				var se *StateError
				if !errors.As(err, &se) || !errors.Is(err, ErrIllegalState) || se.State != from || se.To != to {
					t.Errorf("check(%s -> %s): got %#v, want a *StateError naming both states", from, to, err)
				}
			}
		}
	}
	if n != len(States)*len(States)-len(legal) {
		t.Errorf("illegal pairs: got %d, want %d", n, len(States)*len(States)-len(legal))
	}
	if CanTransition("bogus", Running) || State("bogus").Valid() {
		t.Error("unknown state accepted")
	}
}

func TestStateErrorMessage(t *testing.T) {
	t.Parallel()
	err := &StateError{SessionID: "s-1", Action: "pause", State: Stopped}
	if got, want := err.Error(), "cannot pause session s-1 in state stopped"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	err.To = Paused
	if got, want := err.Error(), "cannot pause session s-1 in state stopped (no transition stopped -> paused)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
