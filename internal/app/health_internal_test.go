package app

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJournalHealthCheck(t *testing.T) {
	t.Parallel()
	var h health
	now := time.Now()
	if err := h.journalCheck(now); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	h.journalWritten()
	h.journalFailed(errors.New("disk I/O error"))
	if err := h.journalCheck(time.Now()); err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("after a failed write: %v, want the failure", err)
	}
	if err := h.journalCheck(time.Now().Add(journalFailureHold + time.Second)); err != nil {
		t.Errorf("a minute after the last failure with nothing written since: %v, want healthy", err)
	}
	time.Sleep(time.Millisecond)
	h.journalWritten()
	if err := h.journalCheck(time.Now()); err != nil {
		t.Errorf("after a write committed: %v", err)
	}
}
