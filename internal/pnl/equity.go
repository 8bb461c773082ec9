package pnl

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// SourceBackfill names reconstructed equity (package backfill); every
// other source is measured (live snapshots, the demo's replayed history).
const SourceBackfill = "backfill"

// EquitySeries is one source's equity snapshots of a scope, in time order.
type EquitySeries struct {
	Source string
	Points []Point
}

// EquitySample is one snapshot with its source.
type EquitySample struct {
	Point
	Source string
}

// EquityMean is the time-weighted mean equity of one UTC-aligned interval.
type EquityMean struct {
	Start      time.Time
	Mean       Decimal
	Backfilled bool // the interval lies in a backfilled range
}

// TimeRange is [From, To].
type TimeRange struct{ From, To time.Time }

// EquityReport is a scope's equity over a range: every sample, the
// interval means and the ranges that were reconstructed.
type EquityReport struct {
	Samples   []EquitySample // in time order
	Means     []EquityMean   // intervals with data only
	Backfills []TimeRange
}

// BuildEquityReport assembles a scope's equity report over [from, to) from
// its series. Samples of every source are listed. The means come from the
// measured sources; a backfilled series counts only where no measured one
// has data, so reconstructed equity never blends with measured equity. A
// series that cannot be averaged leaves the means empty; only ctx ending
// is an error.
func BuildEquityReport(ctx context.Context, series []EquitySeries, interval time.Duration, from, to time.Time) (EquityReport, error) {
	rep := EquityReport{Samples: []EquitySample{}, Means: []EquityMean{}, Backfills: []TimeRange{}}
	var points, backfilled []Point
	for _, s := range series {
		for _, p := range s.Points {
			rep.Samples = append(rep.Samples, EquitySample{Point: p, Source: s.Source})
		}
		if s.Source != SourceBackfill {
			points = append(points, s.Points...)
			continue
		}
		if len(s.Points) > 0 {
			rep.Backfills = append(rep.Backfills, TimeRange{From: s.Points[0].Time, To: s.Points[len(s.Points)-1].Time})
		}
		backfilled = append(backfilled, s.Points...)
	}
	if len(points) == 0 {
		points = backfilled
	}
	sort.SliceStable(rep.Samples, func(i, j int) bool { return rep.Samples[i].Time.Before(rep.Samples[j].Time) })
	sort.SliceStable(points, func(i, j int) bool { return points[i].Time.Before(points[j].Time) })
	if len(points) == 0 {
		return rep, nil
	}
	means, err := IntervalMeansContext(ctx, points, interval, from, to)
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("equity means: %w", err)
		}
		return rep, nil
	}
	for _, m := range means {
		if m.Covered > 0 {
			rep.Means = append(rep.Means, EquityMean{Start: m.Start, Mean: m.Mean, Backfilled: inRanges(m.Start, rep.Backfills)})
		}
	}
	return rep, nil
}

func inRanges(t time.Time, rs []TimeRange) bool {
	for _, r := range rs {
		if !t.Before(r.From) && !t.After(r.To) {
			return true
		}
	}
	return false
}

// ScopeTotals is the PnL of several sessions together (a scope).
type ScopeTotals struct {
	Realized, Unrealized, Fees, Net Decimal
}

// SumTotals adds the totals of a scope's sessions' reports: realized, fees
// and net add up; unrealized is what net leaves (net = realized − fees +
// unrealized).
func SumTotals(totals ...Total) ScopeTotals {
	var sum ScopeTotals
	for _, t := range totals {
		sum.Realized = sum.Realized.Add(t.RealizedPnL)
		sum.Fees = sum.Fees.Add(t.FeesQuote)
		sum.Net = sum.Net.Add(t.NetPnL)
	}
	sum.Unrealized = sum.Net.Sub(sum.Realized).Add(sum.Fees)
	return sum
}
