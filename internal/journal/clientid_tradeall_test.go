package journal_test

import (
	"testing"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func TestTradeAllOrderIDRoundTrips(t *testing.T) {
	t.Parallel()
	const ref = "t0123456789ab" // tradeall.StepKey.Ref's 13 characters
	for _, tc := range []struct {
		attempt, n int
		want       string
	}{
		{0, 0, "t0123456789ab-0"},
		{0, 12, "t0123456789ab-12"},
		{1, 0, "t0123456789ab-r1-0"},
		{37, 4, "t0123456789ab-r37-4"},
	} {
		id := journal.TradeAllOrderID(ref, tc.attempt, tc.n)
		if id != tc.want {
			t.Errorf("TradeAllOrderID(%d, %d): got %q, want %q", tc.attempt, tc.n, id, tc.want)
		}
		if !venue.ClientOrderIDPattern.MatchString(id) {
			t.Errorf("%q does not match %s", id, venue.ClientOrderIDPattern)
		}
		if got, ok := journal.TradeAllAttempt(ref, id); !ok || got != tc.attempt {
			t.Errorf("TradeAllAttempt(%q): got %d %v, want %d", id, got, ok, tc.attempt)
		}
		if got, ok := journal.TradeAllRef(id); !ok || got != ref {
			t.Errorf("TradeAllRef(%q): got %q %v, want %q", id, got, ok, ref)
		}
	}
	for _, id := range []string{"t0123456789ab", "t0123456789ab-", "-0", "t0123456789ab-rx-0", "s-abc-1-0", "_0123456789abcdef-1-0"} {
		if got, ok := journal.TradeAllRef(id); ok {
			t.Errorf("TradeAllRef(%q): got %q, want not a Trade All id", id, got)
		}
	}
	for _, id := range []string{"t0123456789ac-0", "t0123456789ab-", "t0123456789ab-rx-0", "t0123456789ab-r0-1", "t0123456789ab-r2", "s-abc-1-0"} {
		if k, ok := journal.TradeAllAttempt(ref, id); ok {
			t.Errorf("TradeAllAttempt(%q): got attempt %d, want not the step's", id, k)
		}
	}
}
