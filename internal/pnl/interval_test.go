package pnl

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestIntervalMeans(t *testing.T) {
	t.Parallel()
	d0 := time.Date(2024, 5, 13, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return d0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	points := []Point{
		{at(0, 30), dec("100")}, // first point mid-hour: 00:00-00:30 is not covered
		{at(1, 0), dec("200")},
		{at(1, 15), dec("-100")},
		{at(1, 15), dec("400")}, // same time: the later point wins
		{at(3, 40), dec("1")},
	}
	got, err := IntervalMeans(points, time.Hour, d0, at(4, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		start   time.Time
		mean    string
		covered time.Duration
	}{
		{at(0, 0), "100", 30 * time.Minute}, // 100 for 30 min
		{at(1, 0), "350", time.Hour},        // 200×15 + 400×45 over 60 = 350
		{at(2, 0), "400", time.Hour},        // held
		{at(3, 0), "267", time.Hour},        // 400×40 + 1×20 over 60 = 16020/60 = 267
		// 04:00 is past `to`.
	}
	if len(got) != len(want) {
		t.Fatalf("got %d intervals %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if !g.Start.Equal(w.start) || !g.Mean.Equal(dec(w.mean)) || g.Covered != w.covered {
			t.Errorf("interval %d = %s %s %s, want %s %s %s", i, g.Start, g.Mean, g.Covered, w.start, w.mean, w.covered)
		}
	}

	// A day, starting mid-day: from 00:00 UTC, covered from the first point
	// to `to`; a non-UTC `from` is aligned to UTC.
	day, err := IntervalMeans(points, 24*time.Hour, at(0, 45).In(time.FixedZone("X", 5*3600)), at(2, 15))
	if err != nil {
		t.Fatal(err)
	}
	// 00:45-01:00 100, 01:00-01:15 200, 01:15-02:15 400: (1500 + 3000 + 24000)/90 = 316.666…
	if len(day) != 1 || !day[0].Start.Equal(d0) || day[0].Mean.String() != "316.666666666666666666" || day[0].Covered != 90*time.Minute {
		t.Errorf("day = %+v", day)
	}

	// Truncation toward zero for negative means too.
	neg, err := IntervalMeans([]Point{{d0, dec("-1")}, {d0.Add(20 * time.Minute), dec("-2")}, {d0.Add(40 * time.Minute), dec("-2")}}, time.Hour, d0, d0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if neg[0].Mean.String() != "-1.666666666666666666" {
		t.Errorf("negative mean %s", neg[0].Mean)
	}
}

func TestIntervalMeansErrors(t *testing.T) {
	t.Parallel()
	d0 := time.Date(2024, 5, 13, 0, 0, 0, 0, time.UTC)
	if _, err := IntervalMeans(nil, 7*time.Hour, d0, d0); !errors.Is(err, ErrInput) {
		t.Errorf("7h interval: %v", err)
	}
	if _, err := IntervalMeans([]Point{{d0.Add(time.Hour), dec("1")}, {d0, dec("1")}}, time.Hour, d0, d0); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("unordered: %v", err)
	}
	if got, err := IntervalMeans(nil, time.Hour, d0, d0.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestCompareIntervals(t *testing.T) {
	t.Parallel()
	h := func(i int) time.Time { return time.Date(2024, 5, 13, i, 0, 0, 0, time.UTC) }
	backfilled := []IntervalMean{{Start: h(0), Mean: dec("100")}, {Start: h(1), Mean: dec("103")}, {Start: h(2), Mean: dec("5")}, {Start: h(3), Mean: dec("300")}}
	live := []IntervalMean{{Start: h(1), Mean: dec("100")}, {Start: h(2), Mean: dec("0")}, {Start: h(3), Mean: dec("-300")}, {Start: h(4), Mean: dec("1")}}
	acc, err := CompareIntervals(backfilled, live, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Matched: 01:00 |103−100| = 3, rel 0.03; 02:00 |5−0| = 5, rel undefined; 03:00 600, rel 2.
	if len(acc.Intervals) != 3 || len(acc.OnlyBackfilled) != 1 || !acc.OnlyBackfilled[0].Equal(h(0)) || len(acc.OnlyLive) != 1 || !acc.OnlyLive[0].Equal(h(4)) {
		t.Fatalf("matching: %+v", acc)
	}
	check := func(name string, got Decimal, want string) {
		t.Helper()
		if !got.Equal(dec(want)) {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	check("mean abs", acc.MeanAbsDiff, "202.666666666666666666") // 608/3 truncated
	check("max abs", acc.MaxAbsDiff, "600")
	check("mean rel", acc.MeanRelDiff, "1.015") // (0.03 + 2)/2
	check("max rel", acc.MaxRelDiff, "2")
	if acc.Intervals[1].RelDefined || !acc.Intervals[0].RelDefined {
		t.Errorf("rel defined: %+v", acc.Intervals)
	}
	if len(acc.Worst) != 2 || !acc.Worst[0].Start.Equal(h(3)) || !acc.Worst[1].Start.Equal(h(2)) {
		t.Errorf("worst = %+v", acc.Worst)
	}
	if _, err := CompareIntervals(live[1:2], append(live[:1:1], live[0]), 1); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("duplicate start: %v", err)
	}
}

// A canceled context stops the walk over intervals: year 1 to year 9999
// in hours would otherwise run (and allocate) for minutes.
func TestIntervalMeansContextCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	from := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	pts := []Point{{Time: from, Value: dec("1")}}
	_, err := IntervalMeansContext(ctx, pts, time.Hour, from, to)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
