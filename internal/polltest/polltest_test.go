package polltest_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/polltest"
)

// recorder is a testing.TB whose Fatalf records instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	r := &recorder{TB: t}
	polltest.Until(r, 10*time.Second, "third call", func() bool { return calls.Add(1) >= 3 })
	if r.failed != "" || calls.Load() != 3 {
		t.Fatalf("failed %q after %d calls, want success on the third", r.failed, calls.Load())
	}
}

func TestUntilFailsWithWhatAfterTheDeadline(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	start := time.Now()
	polltest.Until(r, 50*time.Millisecond, "never", func() bool { return false })
	if !strings.Contains(r.failed, "never: not within 50ms") {
		t.Fatalf("failure %q, want it to name the condition and the time", r.failed)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("gave up after %s, before the deadline", took)
	}
}
