package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
)

// SourceLive is the source of equity snapshots the live feed records.
const SourceLive = "live"

// WorstIntervals is how many disagreeing intervals an accuracy report lists.
const WorstIntervals = 5

// History is the PnL of one scope per interval: the JSON of
// `tradeplane pnl report --json` (decimals as strings, times RFC 3339 UTC).
type History struct {
	Scope    string    `json:"scope"`
	Interval string    `json:"interval"` // "1h" or "1d"
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rows     []Row     `json:"rows"`
	// Accuracy compares backfilled with live equity where both exist; nil
	// when either series is missing.
	Accuracy *Accuracy `json:"accuracy"`
}

// Row is one interval. Close values are the series at the end of the
// interval (the last point in force); Avg values are time-weighted means over
// the part of the interval the series covers (pnl.IntervalMeans).
type Row struct {
	Start  time.Time `json:"start"`
	Source string    `json:"source"` // "backfill", or "live" when only live snapshots cover the interval

	Realized   Decimal `json:"realized_pnl"`
	Fees       Decimal `json:"fees"`
	Unrealized Decimal `json:"unrealized_pnl"`
	Net        Decimal `json:"net_pnl"`
	Equity     Decimal `json:"equity"`

	AvgRealized   Decimal `json:"avg_realized_pnl"`
	AvgUnrealized Decimal `json:"avg_unrealized_pnl"`
	AvgNet        Decimal `json:"avg_net_pnl"`
	AvgEquity     Decimal `json:"avg_equity"`

	CoveredSeconds int64 `json:"covered_seconds"`
	Partial        bool  `json:"partial"` // a fee could not be priced or a symbol had no mark

	// LiveAvgEquity is the time-weighted mean of live equity snapshots, when
	// there are any in the interval.
	LiveAvgEquity *Decimal `json:"live_avg_equity,omitempty"`
}

// Accuracy is pnl.Accuracy of backfilled against live equity, plus the
// first interval that disagrees (where a difference starts).
type Accuracy struct {
	pnl.Accuracy
	// FirstDisagreement is the start of the earliest interval whose
	// backfilled and live means differ; nil when all agree exactly.
	FirstDisagreement *time.Time `json:"first_disagreement"`
}

// series is a step series of every field.
type series struct {
	realized, fees, unrealized, net, equity []pnl.Point
	partial                                 []time.Time // times of partial points
}

// backfilledSeries reads a scope's stored points: the last before from and
// every one in [from, to).
func backfilledSeries(ctx context.Context, db *store.DB, scope string, from, to time.Time) (series, error) {
	ps, err := db.PnLPoints(ctx, store.PnLPointQuery{Scope: scope, Source: SourceBackfill, From: from, To: to, WithPrior: true})
	if err != nil {
		return series{}, err
	}
	var s series
	for _, p := range ps {
		s.realized = append(s.realized, pnl.Point{Time: p.At, Value: p.Realized})
		s.fees = append(s.fees, pnl.Point{Time: p.At, Value: p.Fees})
		s.unrealized = append(s.unrealized, pnl.Point{Time: p.At, Value: p.Unrealized})
		s.net = append(s.net, pnl.Point{Time: p.At, Value: p.Net})
		s.equity = append(s.equity, pnl.Point{Time: p.At, Value: p.Equity})
		if p.Partial {
			s.partial = append(s.partial, p.At)
		}
	}
	return s, nil
}

// equitySeries reads a scope's equity snapshots from source: the last before
// from and every one in [from, to), as a series (net = realized +
// unrealized as recorded; fees are not recorded and read as zero).
func equitySeries(ctx context.Context, db *store.DB, scope, source string, from, to time.Time) (series, error) {
	ss, err := db.EquitySnapshots(ctx, scope, source, from, to)
	if err != nil {
		return series{}, err
	}
	prior, err := db.EquitySnapshotBefore(ctx, scope, source, from)
	switch {
	case err == nil:
		ss = append([]store.EquitySnapshot{prior}, ss...)
	case !errors.Is(err, store.ErrNotFound):
		return series{}, err
	}
	var s series
	for _, e := range ss {
		s.realized = append(s.realized, pnl.Point{Time: e.At, Value: e.Realized})
		s.fees = append(s.fees, pnl.Point{Time: e.At})
		s.unrealized = append(s.unrealized, pnl.Point{Time: e.At, Value: e.Unrealized})
		s.net = append(s.net, pnl.Point{Time: e.At, Value: e.Realized.Add(e.Unrealized)})
		s.equity = append(s.equity, pnl.Point{Time: e.At, Value: e.Equity})
		if e.Partial {
			s.partial = append(s.partial, e.At)
		}
	}
	return s, nil
}

// Report returns the PnL history of scope ("account:NAME" or "session:ID")
// per interval (time.Hour or 24 hours, aligned to UTC) over [from, to):
// close values and time-weighted means of realized, unrealized and net PnL
// and equity from the backfilled series, falling back to live equity
// snapshots for intervals no backfill covers, with live equity means beside
// them and the accuracy of backfilled against live where both exist. A bad
// interval or range wraps ErrInput.
func Report(ctx context.Context, db *store.DB, scope string, interval time.Duration, from, to time.Time) (History, error) {
	h := History{Scope: scope, Interval: IntervalName(interval), From: from.UTC(), To: to.UTC(), Rows: []Row{}}
	if interval != time.Hour && interval != 24*time.Hour {
		return h, fmt.Errorf("pnl report %s: interval %s: want 1h or 1d: %w", scope, interval, ErrInput)
	}
	if !from.Before(to) {
		return h, fmt.Errorf("pnl report %s: from %s is not before to %s: %w", scope, from.Format(time.RFC3339), to.Format(time.RFC3339), ErrInput)
	}
	bf, err := backfilledSeries(ctx, db, scope, from, to)
	if err != nil {
		return h, fmt.Errorf("pnl report %s: %w", scope, err)
	}
	live, err := equitySeries(ctx, db, scope, SourceLive, from, to)
	if err != nil {
		return h, fmt.Errorf("pnl report %s: %w", scope, err)
	}
	bfRows, err := rows(bf, interval, from, to, SourceBackfill)
	if err != nil {
		return h, fmt.Errorf("pnl report %s: %w", scope, err)
	}
	liveRows, err := rows(live, interval, from, to, SourceLive)
	if err != nil {
		return h, fmt.Errorf("pnl report %s: %w", scope, err)
	}
	// Merge by interval start: backfill first, live where it alone covers.
	i, j := 0, 0
	for i < len(bfRows) || j < len(liveRows) {
		switch {
		case j == len(liveRows) || i < len(bfRows) && bfRows[i].Start.Before(liveRows[j].Start):
			h.Rows = append(h.Rows, bfRows[i])
			i++
		case i == len(bfRows) || liveRows[j].Start.Before(bfRows[i].Start):
			h.Rows = append(h.Rows, liveRows[j])
			j++
		default:
			r := bfRows[i]
			eq := liveRows[j].AvgEquity
			r.LiveAvgEquity = &eq
			h.Rows = append(h.Rows, r)
			i++
			j++
		}
	}
	if len(bf.equity) > 0 && len(live.equity) > 0 {
		acc, err := compare(bf.equity, live.equity, interval, from, to)
		if err != nil {
			return h, fmt.Errorf("pnl report %s: %w", scope, err)
		}
		h.Accuracy = &acc
	}
	return h, nil
}

// CompareLive is the accuracy report of scope over [from, to): the
// time-weighted mean equity per interval of the backfilled series against the
// live snapshots', with mean and maximum absolute and relative differences,
// the WorstIntervals intervals that disagree most, and the first interval that
// disagrees. Intervals only one series covers are listed in OnlyBackfilled
// and OnlyLive.
func CompareLive(ctx context.Context, db *store.DB, scope string, interval time.Duration, from, to time.Time) (Accuracy, error) {
	if interval != time.Hour && interval != 24*time.Hour {
		return Accuracy{}, fmt.Errorf("accuracy of %s: interval %s: want 1h or 1d: %w", scope, interval, ErrInput)
	}
	bf, err := backfilledSeries(ctx, db, scope, from, to)
	if err != nil {
		return Accuracy{}, fmt.Errorf("accuracy of %s: %w", scope, err)
	}
	live, err := equitySeries(ctx, db, scope, SourceLive, from, to)
	if err != nil {
		return Accuracy{}, fmt.Errorf("accuracy of %s: %w", scope, err)
	}
	acc, err := compare(bf.equity, live.equity, interval, from, to)
	if err != nil {
		return Accuracy{}, fmt.Errorf("accuracy of %s: %w", scope, err)
	}
	return acc, nil
}

func compare(bf, live []pnl.Point, interval time.Duration, from, to time.Time) (Accuracy, error) {
	bm, err := pnl.IntervalMeans(bf, interval, from, to)
	if err != nil {
		return Accuracy{}, err
	}
	lm, err := pnl.IntervalMeans(live, interval, from, to)
	if err != nil {
		return Accuracy{}, err
	}
	a, err := pnl.CompareIntervals(bm, lm, WorstIntervals)
	if err != nil {
		return Accuracy{}, err
	}
	acc := Accuracy{Accuracy: a}
	for _, d := range a.Intervals {
		if !d.AbsDiff.IsZero() {
			t := d.Start
			acc.FirstDisagreement = &t
			break
		}
	}
	return acc, nil
}

// rows turns a series into per-interval rows.
func rows(s series, interval time.Duration, from, to time.Time, source string) ([]Row, error) {
	if len(s.equity) == 0 {
		return nil, nil
	}
	means := func(ps []pnl.Point) ([]pnl.IntervalMean, error) { return pnl.IntervalMeans(ps, interval, from, to) }
	re, err := means(s.realized)
	if err != nil {
		return nil, err
	}
	un, err := means(s.unrealized)
	if err != nil {
		return nil, err
	}
	ne, err := means(s.net)
	if err != nil {
		return nil, err
	}
	eq, err := means(s.equity)
	if err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(eq))
	k, pi := 0, 0
	for i, m := range eq {
		end := m.Start.Add(interval)
		// The last point in force at the end of the interval (or at `to`).
		stop := minTime(end, to)
		for k+1 < len(s.equity) && s.equity[k+1].Time.Before(stop) {
			k++
		}
		r := Row{Start: m.Start, Source: source,
			Realized: s.realized[k].Value, Fees: s.fees[k].Value, Unrealized: s.unrealized[k].Value,
			Net: s.net[k].Value, Equity: s.equity[k].Value,
			AvgRealized: re[i].Mean, AvgUnrealized: un[i].Mean, AvgNet: ne[i].Mean, AvgEquity: m.Mean,
			CoveredSeconds: int64(m.Covered / time.Second)}
		for pi < len(s.partial) && s.partial[pi].Before(m.Start) {
			pi++
		}
		if pi < len(s.partial) && s.partial[pi].Before(end) {
			r.Partial = true
		}
		out = append(out, r)
	}
	return out, nil
}

// WriteTable writes h as an aligned text table for the CLI: one line per
// interval, then the accuracy summary when there is one.
func (h History) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "START\tREALIZED\tFEES\tUNREALIZED\tNET\tEQUITY\tAVG NET\tAVG EQUITY\tLIVE AVG EQUITY\tSOURCE\t\n")
	for _, r := range h.Rows {
		live := "-"
		if r.LiveAvgEquity != nil {
			live = r.LiveAvgEquity.Trunc(8).String()
		}
		src := r.Source
		if r.Partial {
			src += " (partial)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Start.Format(time.RFC3339),
			r.Realized.Trunc(8), r.Fees.Trunc(8), r.Unrealized.Trunc(8), r.Net.Trunc(8), r.Equity.Trunc(8),
			r.AvgNet.Trunc(8), r.AvgEquity.Trunc(8), live, src)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if h.Accuracy == nil {
		_, err := fmt.Fprintf(w, "%d intervals of %s, %s to %s\n", len(h.Rows), h.Interval,
			h.From.Format(time.RFC3339), h.To.Format(time.RFC3339))
		return err
	}
	return h.Accuracy.WriteTable(w)
}

// WriteTable writes the accuracy summary and the worst intervals.
func (a Accuracy) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "accuracy (backfilled vs live equity, %d intervals): mean abs %s, max abs %s, mean rel %s, max rel %s\n",
		len(a.Intervals), a.MeanAbsDiff.Trunc(8), a.MaxAbsDiff.Trunc(8), a.MeanRelDiff.Trunc(8), a.MaxRelDiff.Trunc(8))
	if a.FirstDisagreement == nil {
		_, err := fmt.Fprintln(w, "every interval agrees exactly")
		return err
	}
	fmt.Fprintf(w, "first disagreement: %s\n", a.FirstDisagreement.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "WORST\tBACKFILLED\tLIVE\tABS DIFF\tREL DIFF\t\n")
	for _, d := range a.Worst {
		rel := "-"
		if d.RelDefined {
			rel = d.RelDiff.Trunc(8).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", d.Start.Format(time.RFC3339), d.Backfilled.Trunc(8), d.Live.Trunc(8),
			d.AbsDiff.Trunc(8), rel)
	}
	return tw.Flush()
}
