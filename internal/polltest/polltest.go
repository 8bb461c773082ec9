// Package polltest waits in tests for a condition to hold, instead of
// sleeping a fixed time and hoping the system got there: a fixed sleep is
// too long on a quiet machine and too short on a loaded one. It owns
// nothing else; a test that needs an event (not a state) to happen should
// wait on that event.
package polltest

import (
	"testing"
	"time"
)

// Until polls cond, soon at first and then at most every 100 ms, until it
// holds; if it does not within the given time, it fails tb with what.
func Until(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, within)
			return // a tb whose Fatalf returns
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}
