package pnl

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/quagmt/udecimal"
)

// Point is one observation of a step series: Value holds from Time until the
// next point's Time (an equity snapshot, a reconstructed mark).
type Point struct {
	Time  time.Time
	Value Decimal
}

// IntervalMean is the time-weighted mean of a series over one interval.
type IntervalMean struct {
	Start   time.Time     `json:"start"`   // UTC, aligned to the interval
	Mean    Decimal       `json:"mean"`    // over the covered part only
	Covered time.Duration `json:"covered"` // how much of the interval the series covers (nanoseconds in JSON)
}

// IntervalMeans returns the time-weighted mean of the step series points over
// each interval of length `interval` that overlaps [from, to). Intervals are
// aligned to UTC (time.Truncate: midnight for 24h, the hour for 1h), so
// `interval` must divide 24 hours. points must be in time order; the last
// point holds until `to`. The series is undefined before its first point:
// that part of an interval is not covered, and an interval with no coverage
// is left out.
//
// Mean = Σ value × duration / Σ duration with durations in nanoseconds; the
// sum is exact and the division is truncated toward zero to Scale (18)
// decimal places.
func IntervalMeans(points []Point, interval time.Duration, from, to time.Time) ([]IntervalMean, error) {
	return IntervalMeansContext(context.Background(), points, interval, from, to)
}

// IntervalMeansContext is IntervalMeans that gives up with ctx's error once
// ctx is done: the walk is one step per interval of [from, to), which a
// caller that serves requests must be able to stop.
func IntervalMeansContext(ctx context.Context, points []Point, interval time.Duration, from, to time.Time) ([]IntervalMean, error) {
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

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// IntervalDiff compares one interval of two series.
type IntervalDiff struct {
	Start      time.Time `json:"start"`
	Backfilled Decimal   `json:"backfilled"`
	Live       Decimal   `json:"live"`
	AbsDiff    Decimal   `json:"abs_diff"` // |backfilled − live|, exact
	// RelDiff is AbsDiff / |live| truncated to Scale places; meaningful only
	// when RelDefined (live is not zero).
	RelDiff    Decimal `json:"rel_diff"`
	RelDefined bool    `json:"rel_defined"`
}

// Accuracy is how closely a backfilled interval series matches a live one.
type Accuracy struct {
	Intervals      []IntervalDiff `json:"intervals"`       // intervals in both series, in time order
	MeanAbsDiff    Decimal        `json:"mean_abs_diff"`   // over Intervals, truncated to Scale places
	MaxAbsDiff     Decimal        `json:"max_abs_diff"`    //
	MeanRelDiff    Decimal        `json:"mean_rel_diff"`   // over intervals with RelDefined, truncated to Scale places
	MaxRelDiff     Decimal        `json:"max_rel_diff"`    //
	Worst          []IntervalDiff `json:"worst"`           // the largest AbsDiff first, ties by time
	OnlyBackfilled []time.Time    `json:"only_backfilled"` // interval starts missing from live
	OnlyLive       []time.Time    `json:"only_live"`       // interval starts missing from backfilled
}

// CompareIntervals matches the intervals of backfilled and live by start
// time and reports per-interval absolute and relative differences (relative
// to live), their means and maxima, and the worstN intervals by absolute
// difference. Both inputs must be in time order (as IntervalMeans returns
// them). Means are truncated toward zero to Scale places.
func CompareIntervals(backfilled, live []IntervalMean, worstN int) (Accuracy, error) {
	for _, s := range [][]IntervalMean{backfilled, live} {
		for i := 1; i < len(s); i++ {
			if !s[i-1].Start.Before(s[i].Start) {
				return Accuracy{}, fmt.Errorf("compare intervals: interval %d at %s not after %s: %w",
					i, s[i].Start.Format(time.RFC3339), s[i-1].Start.Format(time.RFC3339), ErrOutOfOrder)
			}
		}
	}
	acc := Accuracy{Intervals: []IntervalDiff{}, OnlyBackfilled: []time.Time{}, OnlyLive: []time.Time{}, Worst: []IntervalDiff{}}
	var sumAbs, sumRel Decimal
	var nRel uint64
	i, j := 0, 0
	for i < len(backfilled) || j < len(live) {
		switch {
		case j == len(live) || i < len(backfilled) && backfilled[i].Start.Before(live[j].Start):
			acc.OnlyBackfilled = append(acc.OnlyBackfilled, backfilled[i].Start)
			i++
			continue
		case i == len(backfilled) || live[j].Start.Before(backfilled[i].Start):
			acc.OnlyLive = append(acc.OnlyLive, live[j].Start)
			j++
			continue
		}
		b, l := backfilled[i].Mean, live[j].Mean
		d := IntervalDiff{Start: live[j].Start, Backfilled: b, Live: l, AbsDiff: b.Sub(l).Abs()}
		if !l.IsZero() {
			rel, err := d.AbsDiff.Div(l.Abs())
			if err != nil {
				return Accuracy{}, fmt.Errorf("compare intervals at %s: %w", d.Start.Format(time.RFC3339), err)
			}
			d.RelDiff, d.RelDefined = rel.Trunc(Scale), true
			sumRel = sumRel.Add(d.RelDiff)
			nRel++
			acc.MaxRelDiff = udecimal.Max(acc.MaxRelDiff, d.RelDiff)
		}
		sumAbs = sumAbs.Add(d.AbsDiff)
		acc.MaxAbsDiff = udecimal.Max(acc.MaxAbsDiff, d.AbsDiff)
		acc.Intervals = append(acc.Intervals, d)
		i++
		j++
	}
	if n := uint64(len(acc.Intervals)); n > 0 {
		m, err := sumAbs.Div64(n)
		if err != nil {
			return Accuracy{}, fmt.Errorf("compare intervals: %w", err)
		}
		acc.MeanAbsDiff = m.Trunc(Scale)
	}
	if nRel > 0 {
		m, err := sumRel.Div64(nRel)
		if err != nil {
			return Accuracy{}, fmt.Errorf("compare intervals: %w", err)
		}
		acc.MeanRelDiff = m.Trunc(Scale)
	}
	worst := slices.Clone(acc.Intervals)
	slices.SortStableFunc(worst, func(a, b IntervalDiff) int { return -a.AbsDiff.Cmp(b.AbsDiff) })
	acc.Worst = append(acc.Worst, worst[:min(max(worstN, 0), len(worst))]...)
	return acc, nil
}
