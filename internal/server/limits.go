package server

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// Limits on what one request may ask of the server. A PnL report (JSON, the
// PnL page and both charts) walks its range one interval at a time and
// answers one average per interval, so an unbounded range is an unbounded
// amount of work and memory: the range is capped in intervals, the equity
// series is thinned to a fixed number of points, and only a few reports are
// built at once (the rest wait their turn or give up with their request).

// MaxPnLIntervals is the most intervals (hours or days) one PnL request may
// span: about 11 years of days or 5.5 months of hours.
const MaxPnLIntervals = 4000

// MaxPnLEquityPoints is the most equity points one PnL answer carries; a
// longer series is thinned to the last point of each of this many equal
// slices of the range.
const MaxPnLEquityPoints = 2000

// maxPnLReports is how many PnL reports one node builds at once: half its
// CPUs (at least one), so that reports, each CPU-bound while it reads its
// series, leave the other half to trading steps and /healthz (with two
// slots on two CPUs, 50 viewers kept both busy and /healthz missed 100 ms:
// bench viewers). It stays below the SQLite store's 4 read connections,
// so that reports alone never hold them all: with 4, /healthz (which
// pinged through that pool) waited past its 2 s deadline and answered 503.
func maxPnLReports() int { return max(1, min(3, runtime.GOMAXPROCS(0)/2)) }

// pnlIntervals is the number of UTC-aligned intervals of length d that
// [from, to) touches, saturating at MaxPnLIntervals+1 so that no range (not
// even year 1 to year 9999, which overflows a time.Duration) is counted
// one interval at a time.
func pnlIntervals(from, to time.Time, d time.Duration) int64 {
	start := from.Truncate(d)
	// Whole days first: a Duration overflows past 292 years.
	days := to.Sub(start) / (24 * time.Hour)
	if to.Year()-start.Year() > 200 || int64(days)*int64(24*time.Hour/d) > MaxPnLIntervals {
		return MaxPnLIntervals + 1
	}
	span := to.Sub(start)
	return int64((span + d - 1) / d)
}

// checkPnLRange refuses a range of more than MaxPnLIntervals intervals
// with an error that names the limit and what to do.
func checkPnLRange(q PnLQuery) error {
	d := time.Hour
	if q.Interval == "1d" {
		d = 24 * time.Hour
	}
	if pnlIntervals(q.From, q.To, d) > MaxPnLIntervals {
		hint := "narrow from/to"
		if q.Interval != "1d" {
			hint += " or use interval=1d"
		}
		return invalidf("from %s to %s spans more than %d %s intervals, the most one request may span: %s",
			q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), MaxPnLIntervals, q.Interval, hint)
	}
	return nil
}

// pnlReport builds the report of a checked query: it waits for one of
// maxPnLReports slots (or for the request to end) and bounds the equity
// series it answers.
func (s *Server) pnlReport(ctx context.Context, q PnLQuery) (PnLReport, error) {
	if err := checkPnLRange(q); err != nil {
		return PnLReport{}, err
	}
	select {
	case s.reports <- struct{}{}:
	case <-ctx.Done():
		return PnLReport{}, fmt.Errorf("pnl report %s: waiting for a slot: %w", q.Scope, ctx.Err())
	}
	defer func() { <-s.reports }()
	// The report runs to its end even when the client leaves (the PnL
	// page's refresh is canceled on every navigation): on SQLite a canceled
	// query interrupts its read connection under the next statement, and
	// the next page failed with "context canceled". It is bounded by the
	// request timeout instead, and its size by the caps above.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
	defer cancel()
	q.MaxEquityPoints = MaxPnLEquityPoints
	rep, err := s.deps.PnL.Report(rctx, q)
	if err != nil {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return PnLReport{}, fmt.Errorf("pnl report %s: %w", q.Scope, err)
	}
	rep.Equity = thinEquity(rep.Equity, q.From, q.To, MaxPnLEquityPoints)
	if len(rep.Averages) > MaxPnLIntervals {
		rep.Averages = rep.Averages[len(rep.Averages)-MaxPnLIntervals:]
	}
	return rep, nil
}

// thinEquity keeps at most max points of a time-ordered series: the last
// point of each of max equal slices of [from, to), plus the first point
// overall so the series starts where it did. It is EquityThinner over a
// slice.
func thinEquity(pts []EquityPoint, from, to time.Time, max int) []EquityPoint {
	if len(pts) <= max {
		return pts
	}
	t := NewEquityThinner(from, to, max)
	for _, p := range pts {
		t.Add(p)
	}
	return t.Points()
}

// EquityThinner thins a time-ordered equity series given one point at a
// time to what thinEquity keeps, holding at most about 2×max points
// whatever the series' length, so a PnL report can stream its equity
// (PnLQuery.MaxEquityPoints) instead of holding it whole.
type EquityThinner struct {
	from  time.Time
	max   int
	slice time.Duration
	n     int           // points added
	all   []EquityPoint // every point while n <= max
	out   []EquityPoint // the points kept but the pending one
	last  EquityPoint   // the latest point: kept or not by its successor
}

// NewEquityThinner thins to at most max points over [from, to); max < 2
// or an empty range keeps every point.
func NewEquityThinner(from, to time.Time, max int) *EquityThinner {
	t := &EquityThinner{from: from, max: max}
	if max < 2 || !from.Before(to) {
		t.max = -1 // keep all
		return t
	}
	t.slice = to.Sub(from) / time.Duration(max-1)
	if t.slice <= 0 {
		t.slice = 1
	}
	return t
}

func (t *EquityThinner) slot(at time.Time) int64 { return int64(at.Sub(t.from) / t.slice) }

// Add takes the next point (in time order).
func (t *EquityThinner) Add(p EquityPoint) {
	t.n++
	if t.max < 0 || t.n <= t.max {
		t.all = append(t.all, p)
	} else {
		t.all = nil
	}
	if t.max < 0 {
		return
	}
	switch {
	case t.n == 1:
		t.out = append(t.out, p) // the first point overall
	case t.n > 2 && (t.slot(p.At) != t.slot(t.last.At) || p.Source != t.last.Source):
		t.out = append(t.out, t.last) // the last of its slice or source run
	}
	t.last = p
	if len(t.out) > 2*t.max { // only the newest max-1 after the first can stay
		t.out = append(t.out[:1], t.out[len(t.out)-t.max+1:]...)
	}
}

// Points returns the kept points: all of them when there were at most max,
// else as thinEquity keeps them.
func (t *EquityThinner) Points() []EquityPoint {
	if t.max < 0 || t.n <= t.max {
		return t.all
	}
	out := append(t.out, t.last)
	if len(out) > t.max { // sources interleaving: keep the newest
		out = append(out[:1], out[len(out)-t.max+1:]...)
	}
	return out
}
