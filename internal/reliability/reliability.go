// Package reliability computes the measures a desk judges the system by,
// over a time window: execution success rate per day, failures by class,
// automatic against manual restarts per week, time to recovery, backfill
// accuracy per interval, API latency and the journal's write rate. Each
// figure names the query or metric behind it (Report.Sources), and the
// dashboard's reliability page and `tradeplane report reliability --json`
// show the same Report.
//
// It reads the store (journal, session transitions, backfill points and
// live equity) and, where given, a Prometheus gatherer (latencies); it
// writes nothing.
package reliability

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Report is every measure over [From, To).
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Execution is one row per UTC day with orders.
	Execution []DayExecution `json:"execution_by_day"`
	// ExecutionTotal sums Execution.
	ExecutionTotal DayExecution `json:"execution_total"`
	// Failures counts journal events with an error class, by class, most
	// first.
	Failures []ClassCount `json:"failures_by_class"`
	// Restarts is one row per ISO week (starting Monday, UTC) with any.
	Restarts []WeekRestarts `json:"restarts_by_week"`
	Recovery Recovery       `json:"recovery"`
	// Backfill is the accuracy of each account's backfill against its live
	// equity, per hour.
	Backfill []BackfillAccuracy `json:"backfill_accuracy"`
	// Latency is the API's and the venues' request latency since the
	// process started (from its metrics; empty offline).
	Latency []Latency     `json:"latency"`
	Journal JournalWrites `json:"journal_writes"`
	// Sources names the query or metric behind each section, by its JSON
	// name.
	Sources map[string]string `json:"sources"`
}

// DayExecution is the orders whose intent was recorded on Day (UTC) and
// how they ended. An order succeeded when its last status is a known,
// correct state (filled, canceled, rejected by the venue or refused by
// the allocation check, acknowledged or partly filled and still open,
// reconciled); it failed when its last status is failed or an unsettled
// unknown outcome; it is pending while only its intent or send is
// recorded. SuccessRate is Succeeded / (Succeeded + Failed), 4 decimals,
// "" when both are 0.
type DayExecution struct {
	Day         string `json:"day,omitempty"`
	Orders      int    `json:"orders"`
	Succeeded   int    `json:"succeeded"`
	Failed      int    `json:"failed"`
	Pending     int    `json:"pending"`
	SuccessRate string `json:"success_rate"`
}

// ClassCount is how many journal events carried an error class.
type ClassCount struct {
	Class string `json:"class"`
	Count int    `json:"count"`
}

// WeekRestarts counts restarts in the ISO week starting Week (a Monday).
type WeekRestarts struct {
	Week   string `json:"week"`
	Auto   int    `json:"auto"`
	Manual int    `json:"manual"`
}

// Recovery is the time from a session entering failed to its next
// running, over the failures in the window that recovered; Unrecovered
// counts those that had not (yet). Durations in seconds, 3 decimals.
type Recovery struct {
	Recovered     int    `json:"recovered"`
	Unrecovered   int    `json:"unrecovered"`
	MeanSeconds   string `json:"mean_seconds"`
	MedianSeconds string `json:"median_seconds"`
	MaxSeconds    string `json:"max_seconds"`
}

// BackfillAccuracy summarises backfill.CompareLive for one scope.
type BackfillAccuracy struct {
	Scope    string `json:"scope"`
	Interval string `json:"interval"`
	// Recorded is the source of the equity compared: "live", or "history"
	// (the demo's replayed history) for a scope without live snapshots at
	// the backfill's boundaries.
	Recorded             string `json:"recorded"`
	Intervals            int    `json:"intervals"`
	WithinTolerance      int    `json:"within_tolerance"`
	ShareWithinTolerance string `json:"share_within_tolerance"`
	MeanAbsDiff          string `json:"mean_abs_diff"`
	MaxAbsDiff           string `json:"max_abs_diff"`
	Tolerance            string `json:"tolerance"`
	MeanRelDiff          string `json:"mean_rel_diff"`
	MaxRelDiff           string `json:"max_rel_diff"`
}

// Latency is one histogram: its metric, labels, count, mean and an upper
// bound of its 95th percentile (the bucket it falls in), in milliseconds.
type Latency struct {
	Metric string `json:"metric"`
	Labels string `json:"labels"`
	Count  uint64 `json:"count"`
	MeanMS string `json:"mean_ms"`
	P95MS  string `json:"p95_le_ms"`
}

// JournalWrites is the journal's write rate: events in the window, per
// UTC day, and over the last hour before To.
type JournalWrites struct {
	Events           int        `json:"events"`
	LastHour         int        `json:"last_hour"`
	PerMinuteLastHr  string     `json:"per_minute_last_hour"`
	PerDay           []DayCount `json:"per_day"`
	PerSecondInRange string     `json:"per_second_in_range"`
	// ReplayedHistory counts the demo's replayed history rows (kind
	// "history"), left out of every other figure.
	ReplayedHistory int `json:"replayed_history"`
}

// DayCount is a count on one UTC day.
type DayCount struct {
	Day   string `json:"day"`
	Count int    `json:"count"`
}

// Options are the window and what to read. Zero To means now; zero From
// means To − 30 days.
type Options struct {
	From, To time.Time
	// Gatherer supplies the latency histograms; nil leaves Latency empty.
	Gatherer prometheus.Gatherer
	// LatencyMetrics are the histogram names read from Gatherer; nil
	// means DefaultLatencyMetrics.
	LatencyMetrics []string
}

// DefaultLatencyMetrics are the API's and the venues' latency histograms.
var DefaultLatencyMetrics = []string{"tradeplane_http_request_duration_seconds", "tradeplane_execution_latency_seconds"}

// Sources are the queries and metrics behind each section.
var Sources = map[string]string{
	"execution_by_day":  "journal: per client_order_id, the day of its intent event and its last status event (SELECT ... FROM journal WHERE at >= from AND at < to ORDER BY seq); filled, canceled, rejected, acknowledged, partially_filled, reconciled = succeeded; failed, unknown_outcome = failed; intent, sent, retry = pending",
	"failures_by_class": "journal: SELECT error_class, count(*) FROM journal WHERE error_class <> '' AND at >= from AND at < to GROUP BY error_class",
	"restarts_by_week":  "session_transitions into restarting: from failed by the supervisor = auto, reason 'manual restart…' = manual (as metric tradeplane_session_restarts_total{kind})",
	"recovery":          "session_transitions: for each transition into failed at t in the window, the first later transition of that session into running",
	"backfill_accuracy": "backfill.CompareLive(scope=account:NAME, 1h): change of backfilled net PnL (pnl_points source=backfill) against change of live equity (equity_snapshots source=live) per hour, as `pnl report --accuracy`; where an account has none, against the equity its replayed history recorded (equity_snapshots source=history, the demo)",
	"latency":           "Prometheus histograms tradeplane_http_request_duration_seconds{kind,route} (every API and page request) and tradeplane_execution_latency_seconds{op} (venue round trips), since the process started",
	"journal_writes":    "journal: count(*) of events by day (at), and in [to − 1h, to), kind 'history' (the demo's replayed history) left out and counted apart",
}

// Compute builds the Report from db and opts.
func Compute(ctx context.Context, db *store.DB, opts Options) (Report, error) {
	if opts.To.IsZero() {
		opts.To = time.Now()
	}
	if opts.From.IsZero() {
		opts.From = opts.To.Add(-30 * 24 * time.Hour)
	}
	from, to := opts.From.UTC(), opts.To.UTC()
	if !from.Before(to) {
		return Report{}, fmt.Errorf("reliability: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	rep := Report{From: from, To: to, Sources: Sources, Execution: []DayExecution{}, Failures: []ClassCount{},
		Restarts: []WeekRestarts{}, Backfill: []BackfillAccuracy{}, Latency: []Latency{}, Journal: JournalWrites{PerDay: []DayCount{}}}
	if err := rep.journal(ctx, db); err != nil {
		return Report{}, err
	}
	if err := rep.sessions(ctx, db); err != nil {
		return Report{}, err
	}
	if err := rep.backfill(ctx, db); err != nil {
		return Report{}, err
	}
	if opts.Gatherer != nil {
		names := opts.LatencyMetrics
		if names == nil {
			names = DefaultLatencyMetrics
		}
		if err := rep.latency(opts.Gatherer, names); err != nil {
			return Report{}, err
		}
	}
	return rep, nil
}

// ratio is a / b to places decimals, "" when b is 0.
func ratio(a, b int64, places uint8) string {
	if b == 0 {
		return ""
	}
	q, err := udecimal.MustFromInt64(a, 0).Div(udecimal.MustFromInt64(b, 0))
	if err != nil {
		return ""
	}
	return q.RoundHAZ(places).String()
}

const dayFormat = "2006-01-02"

// outcome classes of a journal kind for the success rate.
func outcomeOf(kind string) (status int, ok bool) {
	switch kind {
	case "filled", "canceled", "rejected", "acknowledged", "partially_filled", "reconciled":
		return succeeded, true
	case "failed", "unknown_outcome":
		return failed, true
	case "intent", "sent", "retry":
		return pending, true
	}
	return 0, false
}

const (
	pending = iota
	succeeded
	failed
)

func (rep *Report) journal(ctx context.Context, db *store.DB) error {
	type order struct {
		day    string
		status int
	}
	orders := map[string]*order{}
	perDay := map[string]int{}
	classes := map[string]int{}
	hourAgo := rep.To.Add(-time.Hour)
	var after int64
	for {
		evs, err := db.JournalEvents(ctx, store.EventQuery{From: rep.From, To: rep.To, AfterSeq: after, Ascending: true, Limit: 10000})
		if err != nil {
			return fmt.Errorf("reliability: read journal: %w", err)
		}
		for _, e := range evs {
			after = max(after, e.Seq)
			if e.Kind == "history" {
				// The demo's replayed history: stamped at simulated
				// times, written all at once; not this journal's writes.
				rep.Journal.ReplayedHistory++
				continue
			}
			day := e.At.UTC().Format(dayFormat)
			rep.Journal.Events++
			perDay[day]++
			if !e.At.Before(hourAgo) {
				rep.Journal.LastHour++
			}
			if e.ErrorClass != "" {
				classes[e.ErrorClass]++
			}
			if e.ClientOrderID == "" {
				continue
			}
			st, ok := outcomeOf(e.Kind)
			if !ok {
				continue
			}
			o := orders[e.ClientOrderID]
			if o == nil {
				if e.Kind != "intent" {
					continue // its intent is before the window
				}
				o = &order{day: day}
				orders[e.ClientOrderID] = o
			}
			o.status = st
		}
		if len(evs) < 10000 {
			break
		}
	}
	days := map[string]*DayExecution{}
	for _, o := range orders {
		d := days[o.day]
		if d == nil {
			d = &DayExecution{Day: o.day}
			days[o.day] = d
		}
		d.Orders++
		switch o.status {
		case succeeded:
			d.Succeeded++
		case failed:
			d.Failed++
		default:
			d.Pending++
		}
	}
	for _, d := range days {
		d.SuccessRate = ratio(int64(d.Succeeded), int64(d.Succeeded+d.Failed), 4)
		rep.Execution = append(rep.Execution, *d)
		rep.ExecutionTotal.Orders += d.Orders
		rep.ExecutionTotal.Succeeded += d.Succeeded
		rep.ExecutionTotal.Failed += d.Failed
		rep.ExecutionTotal.Pending += d.Pending
	}
	slices.SortFunc(rep.Execution, func(a, b DayExecution) int { return strings.Compare(a.Day, b.Day) })
	rep.ExecutionTotal.SuccessRate = ratio(int64(rep.ExecutionTotal.Succeeded), int64(rep.ExecutionTotal.Succeeded+rep.ExecutionTotal.Failed), 4)
	for c, n := range classes {
		rep.Failures = append(rep.Failures, ClassCount{Class: c, Count: n})
	}
	slices.SortFunc(rep.Failures, func(a, b ClassCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Class, b.Class))
	})
	for d, n := range perDay {
		rep.Journal.PerDay = append(rep.Journal.PerDay, DayCount{Day: d, Count: n})
	}
	slices.SortFunc(rep.Journal.PerDay, func(a, b DayCount) int { return strings.Compare(a.Day, b.Day) })
	rep.Journal.PerMinuteLastHr = ratio(int64(rep.Journal.LastHour), 60, 2)
	rep.Journal.PerSecondInRange = ratio(int64(rep.Journal.Events), int64(rep.To.Sub(rep.From)/time.Second), 4)
	return nil
}

// RestartKind classifies a recorded transition: "auto" for the
// supervisor's failed → restarting, "manual" for an operator's restart
// (reason "manual restart…", into restarting), "" for anything else.
func RestartKind(t store.SessionTransition) string {
	if t.To != "restarting" || t.From == "restarting" {
		return ""
	}
	switch {
	case strings.HasPrefix(t.Reason, "manual restart"):
		return "manual"
	case t.From == "failed" && t.Actor == "supervisor":
		return "auto"
	}
	return ""
}

// weekOf is the Monday (UTC) starting t's ISO week.
func weekOf(t time.Time) string {
	t = t.UTC()
	d := (int(t.Weekday()) + 6) % 7 // days since Monday
	return time.Date(t.Year(), t.Month(), t.Day()-d, 0, 0, 0, 0, time.UTC).Format(dayFormat)
}

func (rep *Report) sessions(ctx context.Context, db *store.DB) error {
	ss, err := db.Sessions(ctx, store.SessionFilter{})
	if err != nil {
		return fmt.Errorf("reliability: list sessions: %w", err)
	}
	weeks := map[string]*WeekRestarts{}
	var recoveries []time.Duration
	for _, s := range ss {
		ts, err := db.SessionTransitions(ctx, s.ID)
		if err != nil {
			return fmt.Errorf("reliability: %w", err)
		}
		for i, t := range ts {
			if t.At.Before(rep.From) || !t.At.Before(rep.To) {
				continue
			}
			if k := RestartKind(t); k != "" {
				w := weeks[weekOf(t.At)]
				if w == nil {
					w = &WeekRestarts{Week: weekOf(t.At)}
					weeks[w.Week] = w
				}
				if k == "auto" {
					w.Auto++
				} else {
					w.Manual++
				}
			}
			if t.To != "failed" {
				continue
			}
			recovered := false
			for _, u := range ts[i+1:] {
				if u.To == "running" {
					recoveries = append(recoveries, u.At.Sub(t.At))
					recovered = true
					break
				}
			}
			if !recovered {
				rep.Recovery.Unrecovered++
			}
		}
	}
	for _, w := range weeks {
		rep.Restarts = append(rep.Restarts, *w)
	}
	slices.SortFunc(rep.Restarts, func(a, b WeekRestarts) int { return strings.Compare(a.Week, b.Week) })
	rep.Recovery.Recovered = len(recoveries)
	if len(recoveries) > 0 {
		slices.Sort(recoveries)
		var sum time.Duration
		for _, d := range recoveries {
			sum += d
		}
		secs := func(d time.Duration) string {
			return udecimal.MustFromInt64(d.Microseconds(), 6).RoundHAZ(3).String()
		}
		rep.Recovery.MeanSeconds = secs(sum / time.Duration(len(recoveries)))
		n := len(recoveries)
		med := recoveries[n/2]
		if n%2 == 0 {
			med = (recoveries[n/2-1] + recoveries[n/2]) / 2
		}
		rep.Recovery.MedianSeconds = secs(med)
		rep.Recovery.MaxSeconds = secs(recoveries[n-1])
	}
	return nil
}

func (rep *Report) backfill(ctx context.Context, db *store.DB) error {
	accts, err := db.Accounts(ctx)
	if err != nil {
		return fmt.Errorf("reliability: list accounts: %w", err)
	}
	for _, a := range accts {
		scope := "account:" + a.Name
		// Live equity first; the demo's replayed history where no live
		// snapshot meets the backfill.
		for _, recorded := range []string{backfill.SourceLive, backfill.SourceHistory} {
			acc, err := backfill.CompareLive(ctx, db, scope, time.Hour, rep.From, rep.To, backfill.AccuracyOptions{Recorded: recorded})
			if err != nil {
				return fmt.Errorf("reliability: %w", err)
			}
			if len(acc.Intervals) == 0 {
				continue
			}
			rep.Backfill = append(rep.Backfill, BackfillAccuracy{Scope: scope, Interval: "1h", Recorded: recorded,
				Intervals: len(acc.Intervals), WithinTolerance: acc.WithinTolerance,
				ShareWithinTolerance: acc.ShareWithinTolerance.String(), MeanAbsDiff: acc.MeanAbsDiff.String(),
				MaxAbsDiff: acc.MaxAbsDiff.String(), Tolerance: acc.Tolerance.String(),
				MeanRelDiff: acc.MeanRelDiff.String(), MaxRelDiff: acc.MaxRelDiff.String()})
			break
		}
	}
	return nil
}

func (rep *Report) latency(g prometheus.Gatherer, names []string) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("reliability: gather metrics: %w", err)
	}
	for _, mf := range mfs {
		if !slices.Contains(names, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil || h.GetSampleCount() == 0 {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			l := Latency{Metric: mf.GetName(), Labels: strings.Join(labels, ","), Count: h.GetSampleCount(),
				MeanMS: ms(h.GetSampleSum() / float64(h.GetSampleCount()))}
			target := uint64(math.Ceil(0.95 * float64(h.GetSampleCount())))
			l.P95MS = "+Inf"
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() >= target {
					l.P95MS = ms(b.GetUpperBound())
					break
				}
			}
			rep.Latency = append(rep.Latency, l)
		}
	}
	slices.SortFunc(rep.Latency, func(a, b Latency) int {
		return cmp.Or(strings.Compare(a.Metric, b.Metric), cmp.Compare(b.Count, a.Count), strings.Compare(a.Labels, b.Labels))
	})
	return nil
}

// ms writes seconds as milliseconds with 3 decimals (latency is measured
// in float seconds by Prometheus; this is not money).
func ms(sec float64) string {
	if math.IsInf(sec, 0) || math.IsNaN(sec) {
		return "+Inf"
	}
	d, err := udecimal.NewFromFloat64(sec * 1000)
	if err != nil {
		return "?"
	}
	return d.RoundHAZ(3).String()
}
