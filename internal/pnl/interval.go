package pnl

import (
	"context"
	"errors"
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
	b, err := NewMeansBuilder(ctx, interval, from, to)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(points); i++ {
		if points[i].Time.Before(points[i-1].Time) {
			return nil, fmt.Errorf("interval means: point %d at %s before point %d at %s: %w",
				i, points[i].Time.Format(time.RFC3339Nano), i-1, points[i-1].Time.Format(time.RFC3339Nano), ErrOutOfOrder)
		}
	}
	for _, p := range points {
		if err := b.Add(p); err != nil {
			return nil, err
		}
	}
	return b.Means()
}

// MeansBuilder computes what IntervalMeans does from points given one at a
// time, in time order, so that a series read from storage is averaged as
// it streams by and never held whole: its memory is the answer (one
// IntervalMean per covered interval) and nothing more. Build it with
// NewMeansBuilder, Add every point, then call Means once.
type MeansBuilder struct {
	ctx      context.Context
	interval time.Duration
	from, to time.Time

	started bool      // a point is in force
	prev    Point     // the point in force: the last one added
	at      time.Time // the series is summed up to here
	cur     time.Time // start of the interval being summed
	sum     Decimal   // Σ value × nanoseconds of cur so far
	covered time.Duration
	out     []IntervalMean
	err     error
}

// NewMeansBuilder starts the time-weighted means of a series over each
// interval of length interval (which must divide 24h) that overlaps
// [from, to); see IntervalMeans for the rules. The walk gives up with
// ctx's error once ctx is done.
func NewMeansBuilder(ctx context.Context, interval time.Duration, from, to time.Time) (*MeansBuilder, error) {
	if interval <= 0 || (24*time.Hour)%interval != 0 {
		return nil, fmt.Errorf("interval means: interval %s does not divide 24h: %w", interval, ErrInput)
	}
	from, to = from.UTC(), to.UTC()
	return &MeansBuilder{ctx: ctx, interval: interval, from: from, to: to, at: from, cur: from.Truncate(interval)}, nil
}

// Add takes the next point of the series; it holds until the next one (the
// last until to). A point before the previous one fails with ErrOutOfOrder.
func (b *MeansBuilder) Add(p Point) error {
	if b.err != nil {
		return b.err
	}
	if b.started && p.Time.Before(b.prev.Time) {
		b.err = fmt.Errorf("interval means: point at %s before point at %s: %w",
			p.Time.Format(time.RFC3339Nano), b.prev.Time.Format(time.RFC3339Nano), ErrOutOfOrder)
		return b.err
	}
	if !b.started {
		// The series is undefined before its first point.
		b.started = true
		if p.Time.After(b.at) {
			b.at = p.Time.UTC()
			b.cur = b.at.Truncate(b.interval)
		}
	} else if err := b.advance(p.Time); err != nil {
		return err
	}
	b.prev = p
	return nil
}

// advance sums the point in force from b.at until t (at most to), closing
// every interval it passes the end of.
func (b *MeansBuilder) advance(t time.Time) error {
	t = minTime(t, b.to)
	for b.at.Before(t) {
		end := b.cur.Add(b.interval)
		next := minTime(end, t)
		d := next.Sub(b.at)
		b.sum = b.sum.Add(b.prev.Value.Mul64(uint64(d)))
		b.covered += d
		b.at = next
		if b.at.Equal(end) {
			if err := b.close(); err != nil {
				return err
			}
			b.cur = end
		}
	}
	return nil
}

// close appends the mean of interval cur when the series covers some of it.
func (b *MeansBuilder) close() error {
	if err := b.ctx.Err(); err != nil {
		b.err = fmt.Errorf("interval means at %s: %w", b.cur.Format(time.RFC3339), err)
		return b.err
	}
	if b.covered == 0 {
		return nil
	}
	mean, err := b.sum.Div64(uint64(b.covered))
	if err != nil {
		b.err = fmt.Errorf("interval means at %s: %w", b.cur.Format(time.RFC3339), err)
		return b.err
	}
	b.out = append(b.out, IntervalMean{Start: b.cur, Mean: mean.Trunc(Scale), Covered: b.covered})
	b.sum, b.covered = Decimal{}, 0
	return nil
}

// Means ends the series (the last point holds until to) and returns the
// means of the covered intervals in time order; nil when no point was
// added or from is not before to.
func (b *MeansBuilder) Means() ([]IntervalMean, error) {
	if b.err != nil {
		return nil, b.err
	}
	if !b.started || !b.from.Before(b.to) {
		return nil, nil
	}
	if err := b.advance(b.to); err != nil {
		return nil, err
	}
	if b.covered > 0 {
		if err := b.close(); err != nil {
			return nil, err
		}
	}
	b.err = errors.New("interval means: Means called twice")
	return b.out, nil
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
