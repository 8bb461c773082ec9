package pnl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// referenceIntervalMeans is IntervalMeansContext as it was before
// MeansBuilder (a walk over a slice held whole), kept to prove that the
// streaming builder answers exactly the same means.
func referenceIntervalMeans(ctx context.Context, points []Point, interval time.Duration, from, to time.Time) ([]IntervalMean, error) {
	if interval <= 0 || (24*time.Hour)%interval != 0 {
		return nil, fmt.Errorf("interval means: interval %s does not divide 24h: %w", interval, ErrInput)
	}
	for i := 1; i < len(points); i++ {
		if points[i].Time.Before(points[i-1].Time) {
			return nil, fmt.Errorf("interval means: point %d at %s before point %d at %s: %w",
				i, points[i].Time.Format(time.RFC3339Nano), i-1, points[i-1].Time.Format(time.RFC3339Nano), ErrOutOfOrder)
		}
	}
	var out []IntervalMean
	if len(points) == 0 || !from.Before(to) {
		return out, nil
	}
	j := 0 // points[j] is the first point after the segment start
	for start := from.UTC().Truncate(interval); start.Before(to); start = start.Add(interval) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("interval means at %s: %w", start.Format(time.RFC3339), err)
		}
		end := start.Add(interval)
		lo, hi := maxTime(start, from), minTime(end, to)
		var sum Decimal
		var covered time.Duration
		// Skip to the last point at or before lo.
		for j < len(points) && !points[j].Time.After(lo) {
			j++
		}
		// Segments [t, next) within [lo, hi), each holding the value of the
		// point in force at t, points[k-1].
		k, t := j, lo
		if k == 0 { // nothing in force before the first point
			k, t = 1, minTime(points[0].Time, hi)
		}
		for ; t.Before(hi); k++ {
			next := hi
			if k < len(points) && points[k].Time.Before(hi) {
				next = points[k].Time
			}
			if d := next.Sub(t); d > 0 {
				sum = sum.Add(points[k-1].Value.Mul64(uint64(d)))
				covered += d
			}
			t = next
		}
		if covered == 0 {
			continue
		}
		mean, err := sum.Div64(uint64(covered))
		if err != nil {
			return nil, fmt.Errorf("interval means at %s: %w", start.Format(time.RFC3339), err)
		}
		out = append(out, IntervalMean{Start: start, Mean: mean.Trunc(Scale), Covered: covered})
	}
	return out, nil
}

// TestMeansBuilderMatchesReference: random step series (ties, points
// before from and after to, gaps of many intervals, sub-second times)
// give the same means, bit for bit, from the streaming builder as from
// the slice walk it replaced.
func TestMeansBuilderMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(18, 18))
	base := time.Date(2024, 5, 13, 0, 0, 0, 0, time.UTC)
	for iter := range 2000 {
		interval := []time.Duration{time.Hour, 24 * time.Hour, 15 * time.Minute}[rng.IntN(3)]
		from := base.Add(time.Duration(rng.Int64N(int64(72 * time.Hour))))
		to := from.Add(time.Duration(rng.Int64N(int64(120*time.Hour))) - time.Hour)
		n := rng.IntN(40)
		t0 := from.Add(-time.Duration(rng.Int64N(int64(5 * time.Hour))))
		points := make([]Point, 0, n)
		for range n {
			switch rng.IntN(8) {
			case 0: // same time as the previous point
			case 4: // on an interval boundary
				t0 = t0.Add(interval).Truncate(interval)
			case 5: // at from or to, or a nanosecond after
				t0 = maxTime(t0, []time.Time{from, to}[rng.IntN(2)].Add(time.Duration(rng.IntN(2))))
			case 1:
				t0 = t0.Add(time.Duration(rng.Int64N(int64(30 * time.Hour))))
			default:
				t0 = t0.Add(time.Duration(rng.Int64N(int64(time.Hour))))
			}
			v := randDec(rng, 7, 8)
			if rng.IntN(5) == 0 {
				v = v.Neg()
			}
			points = append(points, Point{Time: t0, Value: v})
		}
		want, werr := referenceIntervalMeans(context.Background(), points, interval, from, to)
		got, gerr := IntervalMeans(points, interval, from, to)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("iteration %d: error %v, reference %v", iter, gerr, werr)
		}
		if len(got) != len(want) || (got == nil) != (want == nil) {
			t.Fatalf("iteration %d (%s, %s..%s, %d points): %d means, reference %d", iter, interval, from, to, n, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if !g.Start.Equal(w.Start) || g.Start.Location() != w.Start.Location() || g.Mean != w.Mean || g.Covered != w.Covered {
				t.Fatalf("iteration %d, mean %d: got %+v, reference %+v", iter, i, g, w)
			}
		}
	}
}

// TestMeansBuilderOutOfOrder: a point before the previous one is refused.
func TestMeansBuilderOutOfOrder(t *testing.T) {
	t.Parallel()
	d0 := time.Date(2024, 5, 13, 0, 0, 0, 0, time.UTC)
	b, err := NewMeansBuilder(context.Background(), time.Hour, d0, d0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(Point{Time: d0.Add(time.Hour), Value: dec("1")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(Point{Time: d0, Value: dec("2")}); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("got %v, want ErrOutOfOrder", err)
	}
	if _, err := b.Means(); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("Means after a refused point: got %v, want ErrOutOfOrder", err)
	}
}
