package backfill_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// A range longer than MaxSpan is refused before anything is stored; year
// 1 to 9999 was accepted (3.65 M windows, resumed on every start).
func TestJobSpanCapped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.Open(t, storetest.SQLiteURL(t))
	mustAccount(t, db, "acc", "mem")
	j := backfill.NewJobs(backfill.JobsConfig{DB: db})
	defer j.Close()
	_, err := j.Start(ctx, backfill.JobArgs{Account: "acc", Interval: "1h",
		From: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)})
	if !errors.Is(err, backfill.ErrInput) || !strings.Contains(err.Error(), "1096 days") {
		t.Fatalf("year 1..9999: got %v, want ErrInput naming 1096 days", err)
	}
	if q, _ := db.JobsInState(ctx, backfill.JobQueued); len(q) != 0 {
		t.Errorf("a refused job was stored: %v", q)
	}
}

// A job canceled in the store (the API of any node) stops on the node that
// runs it at its next renewal, and that node writes nothing more to it.
func TestJobCanceledElsewhereStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := storetest.Open(t, storetest.SQLiteURL(t))
	mustAccount(t, db, "acc", "mem")
	from := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	v := historyVenue(from, 72)
	stall := &stallingVenue{memVenue: v, after: 2, gate: make(chan struct{}), stalled: make(chan struct{})}
	const ttl = 3 * time.Second
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := backfill.NewJobs(backfill.JobsConfig{DB: db, Owner: "node-a", LeaseTTL: ttl, Clock: clk,
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Venue: func(context.Context, store.Account) (venue.Venue, error) { return stall, nil }})
	defer a.Close()
	job, err := a.Start(ctx, backfill.JobArgs{Account: "acc", Symbols: []string{"BTCUSDT"}, From: from,
		To: from.Add(72 * time.Hour), Interval: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stall.stalled:
	case <-ctx.Done():
		t.Fatal("the job never reached the stall")
	}
	if _, err := db.CancelJob(ctx, job.ID, "canceled by test", clk.Now()); err != nil {
		t.Fatal(err)
	}
	waited := make(chan store.Job, 1)
	go func() {
		j, _ := a.Wait(ctx, job.ID)
		waited <- j
	}()
	for {
		clk.Advance(ttl / 3)
		select {
		case got := <-waited:
			if got.State != backfill.JobCanceled || got.Message != "canceled by test" {
				t.Fatalf("after the stop: %+v, want the canceled row unchanged", got)
			}
			return
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the job did not stop after its row was canceled")
		}
	}
}
