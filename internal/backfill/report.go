package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
)

// SourceLive is the source of equity snapshots the live feed records.
const SourceLive = "live"

// SourceHistory is the source of the equity snapshots the demo's replayed
// history records (hour by hour, what the replayed holdings were worth).
const SourceHistory = "history"

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
	// Accuracy compares the change of backfilled net PnL with the change of
	// live equity per interval where both exist (see Accuracy), or, without
	// live equity, of the demo's replayed history (Accuracy.Recorded); nil
	// when there is nothing to compare.
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
	Funding    Decimal `json:"funding,omitzero"` // perpetual funding, received +, paid −; in Net
	Net        Decimal `json:"net_pnl"`
	Equity     Decimal `json:"equity"`

	AvgRealized   Decimal `json:"avg_realized_pnl"`
	AvgUnrealized Decimal `json:"avg_unrealized_pnl"`
	AvgNet        Decimal `json:"avg_net_pnl"`
	AvgEquity     Decimal `json:"avg_equity"`

	CoveredSeconds int64 `json:"covered_seconds"`
	Partial        bool  `json:"partial"` // a fee could not be priced or a symbol had no mark

	// LiveAvgEquity is the time-weighted mean of live equity snapshots, when
	// there are any in the interval. It is the holdings' value, not opening
	// equity plus net PnL, so it is not comparable with AvgEquity as a level;
	// History.Accuracy compares changes.
	LiveAvgEquity *Decimal `json:"live_avg_equity,omitempty"`
}

// DefaultTolerance is the absolute difference (in the valuation asset) up to
// which an interval of an accuracy report counts as agreeing.
var DefaultTolerance = udecimal.MustParse("0.01")

// AccuracyOptions tune CompareLive. The zero value takes the defaults.
type AccuracyOptions struct {
	// Tolerance: an interval agrees when its absolute difference is at most
	// this; zero means DefaultTolerance.
	Tolerance Decimal
	// MaxLiveAge: a live snapshot stands for boundary b when it was taken in
	// (b − MaxLiveAge, b]; zero means the interval / 12 (5 minutes for 1h).
	MaxLiveAge time.Duration
	// Recorded is the source of the equity snapshots the backfill is
	// compared with; "" means SourceLive. The demo's replayed history
	// records its accounts' equity as source "history" (what the replayed
	// holdings were worth at the replay's prices, hour by hour).
	Recorded string
}

// Compared names what an accuracy report compares.
const Compared = "change over each interval: live equity vs backfilled net PnL"

// Accuracy is how closely the backfill matches what was recorded live,
// comparing the same quantity on both sides.
//
// Live equity snapshots are the account's holdings valued at live prices;
// backfilled equity is an opening equity plus net PnL. Their levels differ by
// whatever the opening equity does not know (holdings before the first fill,
// other wallets), so levels are not compared. Their changes are: over each
// interval [Start, End] the change of live equity (the snapshots in force at
// the two boundaries) against the change of backfilled net PnL (the points at
// the two boundaries). Where the same fills are seen at the same prices they
// agree exactly; Notes lists what makes them differ otherwise.
type Accuracy struct {
	Compared string `json:"compared"`
	// Recorded is the source of the equity snapshots compared ("live", or
	// "history" for the demo's replayed history).
	Recorded   string        `json:"recorded"`
	Tolerance  Decimal       `json:"tolerance"`
	MaxLiveAge time.Duration `json:"max_live_age_ns"`
	// Intervals are the intervals both sides cover, in time order.
	Intervals   []IntervalDiff `json:"intervals"`
	MeanAbsDiff Decimal        `json:"mean_abs_diff"` // truncated to pnl.Scale places
	MaxAbsDiff  Decimal        `json:"max_abs_diff"`
	MeanRelDiff Decimal        `json:"mean_rel_diff"` // over intervals with RelDefined, truncated to pnl.Scale places
	MaxRelDiff  Decimal        `json:"max_rel_diff"`
	// WithinTolerance counts the intervals whose AbsDiff ≤ Tolerance;
	// ShareWithinTolerance is it over len(Intervals) (truncated to pnl.Scale
	// places; 0 when there are none).
	WithinTolerance      int            `json:"within_tolerance"`
	ShareWithinTolerance Decimal        `json:"share_within_tolerance"`
	Worst                []IntervalDiff `json:"worst"` // the largest AbsDiff first, at most WorstIntervals
	// OnlyBackfilled and OnlyLive are interval starts only one side covers
	// (a point or a recent enough snapshot missing at a boundary).
	OnlyBackfilled []time.Time `json:"only_backfilled"`
	OnlyLive       []time.Time `json:"only_live"`
	// FirstDisagreement is the start of the earliest interval outside the
	// tolerance; nil when every interval is within it.
	FirstDisagreement *time.Time `json:"first_disagreement"`
	// OpeningOffset is live equity minus backfilled equity at the first
	// compared boundary: what the backfill's opening equity leaves out. It
	// does not enter the differences.
	OpeningOffset Decimal `json:"opening_offset"`
	// Drift is Σ (backfilled − live) change over Intervals: how far the
	// backfilled equity, aligned to live equity at the first boundary, ends
	// from it at the last.
	Drift Decimal  `json:"drift"`
	Notes []string `json:"notes"`
}

// IntervalDiff is one interval of an accuracy report.
type IntervalDiff struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Backfilled Decimal   `json:"backfilled"` // backfilled net PnL at End − at Start
	Live       Decimal   `json:"live"`       // live equity at End − at Start
	AbsDiff    Decimal   `json:"abs_diff"`   // |Backfilled − Live|, exact
	// RelDiff is AbsDiff / |live equity at Start|, truncated to pnl.Scale
	// places; meaningful only when RelDefined (that equity is not zero).
	RelDiff    Decimal `json:"rel_diff"`
	RelDefined bool    `json:"rel_defined"`
	Within     bool    `json:"within_tolerance"`
	Partial    bool    `json:"partial"` // a point or snapshot at either end was partial
	// LiveFrom and LiveTo are the times of the live snapshots used.
	LiveFrom time.Time `json:"live_from"`
	LiveTo   time.Time `json:"live_to"`
}

// accuracyNotes explain the differences that remain when both sides see the
// same fills.
var accuracyNotes = []string{
	"opening equity cancels out: changes are compared, not levels (opening_offset is the level gap at the first boundary)",
	"marks: the backfill marks at the open of the 1h candle holding the boundary; a live snapshot values at the last live price before it (up to max_live_age earlier): position × (candle open − live price), which reverses in the next interval",
	"fees in a third asset (BNB): the backfill converts each at its fill's 1h candle open, once; live equity holds the BNB spent at the live BNB price of each snapshot",
	"live equity also moves with what the backfill does not replay: holdings from before its first fill (unless given as opening holdings) or in assets it did not trade, other wallets, deposits, withdrawals and transfers (a jump in one interval)",
	"a fill the backfill lacks or counts twice shows from the interval it falls in on, through the position it leaves",
}

// series is a step series of every field.
type series struct {
	realized, fees, unrealized, net, equity []pnl.Point
	funding                                 []pnl.Point // backfilled series only
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
		s.funding = append(s.funding, pnl.Point{Time: p.At, Value: p.Funding})
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
	if len(bf.equity) > 0 {
		// Against live equity; where there is none, against the equity the
		// demo's replayed history recorded.
		recorded := SourceLive
		if len(live.equity) == 0 {
			recorded = SourceHistory
		}
		acc, err := CompareLive(ctx, db, scope, interval, from, to, AccuracyOptions{Recorded: recorded})
		if err != nil {
			return h, fmt.Errorf("pnl report %s: %w", scope, err)
		}
		if len(live.equity) > 0 || len(acc.Intervals) > 0 {
			h.Accuracy = &acc
		}
	}
	return h, nil
}

// CompareLive is the accuracy report of scope over [from, to] (see
// Accuracy): at every boundary of interval (UTC multiples in [from, to]) it
// takes the backfilled sum row at exactly that time and the last live equity
// snapshot taken at most opts.MaxLiveAge before it, and compares the change
// of each over every interval between two boundaries both sides know. A bad
// interval or range wraps ErrInput.
func CompareLive(ctx context.Context, db *store.DB, scope string, interval time.Duration, from, to time.Time,
	opts AccuracyOptions) (Accuracy, error) {
	if interval != time.Hour && interval != 24*time.Hour {
		return Accuracy{}, fmt.Errorf("accuracy of %s: interval %s: want 1h or 1d: %w", scope, interval, ErrInput)
	}
	if !from.Before(to) {
		return Accuracy{}, fmt.Errorf("accuracy of %s: from %s is not before to %s: %w", scope, from.Format(time.RFC3339),
			to.Format(time.RFC3339), ErrInput)
	}
	if opts.Tolerance.IsZero() {
		opts.Tolerance = DefaultTolerance
	}
	opts.Tolerance = opts.Tolerance.Abs()
	if opts.MaxLiveAge <= 0 {
		opts.MaxLiveAge = interval / 12
	}
	if opts.Recorded == "" {
		opts.Recorded = SourceLive
	}
	from, to = from.UTC(), to.UTC()
	// Boundaries: multiples of interval in [from, to].
	var bounds []time.Time
	for b := from.Truncate(interval); !b.After(to); b = b.Add(interval) {
		if !b.Before(from) {
			bounds = append(bounds, b)
		}
	}
	if len(bounds) == 0 {
		return newAccuracy(opts), nil
	}
	end := bounds[len(bounds)-1].Add(time.Microsecond) // include a point or snapshot at the last boundary
	pts, err := db.PnLPoints(ctx, store.PnLPointQuery{Scope: scope, Source: SourceBackfill, From: bounds[0], To: end})
	if err != nil {
		return Accuracy{}, fmt.Errorf("accuracy of %s: %w", scope, err)
	}
	snaps, err := db.EquitySnapshots(ctx, scope, opts.Recorded, bounds[0].Add(-opts.MaxLiveAge), end)
	if err != nil {
		return Accuracy{}, fmt.Errorf("accuracy of %s: %w", scope, err)
	}
	bf := make([]*store.PnLPoint, len(bounds))
	for i := range pts {
		if k := slices.IndexFunc(bounds, pts[i].At.Equal); k >= 0 {
			bf[k] = &pts[i]
		}
	}
	live := make([]*store.EquitySnapshot, len(bounds))
	j := 0
	for k, b := range bounds {
		for j < len(snaps) && !snaps[j].At.After(b) {
			j++
		}
		if j > 0 && snaps[j-1].At.After(b.Add(-opts.MaxLiveAge)) {
			live[k] = &snaps[j-1]
		}
	}
	return compare(bounds, bf, live, opts)
}

func newAccuracy(opts AccuracyOptions) Accuracy {
	return Accuracy{Compared: Compared, Recorded: opts.Recorded, Tolerance: opts.Tolerance, MaxLiveAge: opts.MaxLiveAge, Intervals: []IntervalDiff{},
		Worst: []IntervalDiff{}, OnlyBackfilled: []time.Time{}, OnlyLive: []time.Time{}, Notes: accuracyNotes}
}

// compare builds the report from the values at each boundary (nil: unknown).
func compare(bounds []time.Time, bf []*store.PnLPoint, live []*store.EquitySnapshot, opts AccuracyOptions) (Accuracy, error) {
	acc := newAccuracy(opts)
	var sumAbs, sumRel Decimal
	var nRel uint64
	aligned := false
	for k := 0; k+1 < len(bounds); k++ {
		haveBF := bf[k] != nil && bf[k+1] != nil
		haveLive := live[k] != nil && live[k+1] != nil
		switch {
		case haveBF && !haveLive:
			acc.OnlyBackfilled = append(acc.OnlyBackfilled, bounds[k])
			continue
		case haveLive && !haveBF:
			acc.OnlyLive = append(acc.OnlyLive, bounds[k])
			continue
		case !haveBF:
			continue
		}
		if !aligned {
			acc.OpeningOffset = live[k].Equity.Sub(bf[k].Equity)
			aligned = true
		}
		d := IntervalDiff{Start: bounds[k], End: bounds[k+1], Backfilled: bf[k+1].Net.Sub(bf[k].Net),
			Live: live[k+1].Equity.Sub(live[k].Equity), LiveFrom: live[k].At, LiveTo: live[k+1].At,
			Partial: bf[k].Partial || bf[k+1].Partial || live[k].Partial || live[k+1].Partial}
		signed := d.Backfilled.Sub(d.Live)
		d.AbsDiff = signed.Abs()
		acc.Drift = acc.Drift.Add(signed)
		if eq := live[k].Equity; !eq.IsZero() {
			rel, err := d.AbsDiff.Div(eq.Abs())
			if err != nil {
				return Accuracy{}, fmt.Errorf("accuracy at %s: %w", d.Start.Format(time.RFC3339), err)
			}
			d.RelDiff, d.RelDefined = rel.Trunc(pnl.Scale), true
			sumRel = sumRel.Add(d.RelDiff)
			nRel++
			acc.MaxRelDiff = udecimal.Max(acc.MaxRelDiff, d.RelDiff)
		}
		d.Within = d.AbsDiff.LessThanOrEqual(opts.Tolerance)
		if d.Within {
			acc.WithinTolerance++
		} else if acc.FirstDisagreement == nil {
			t := d.Start
			acc.FirstDisagreement = &t
		}
		sumAbs = sumAbs.Add(d.AbsDiff)
		acc.MaxAbsDiff = udecimal.Max(acc.MaxAbsDiff, d.AbsDiff)
		acc.Intervals = append(acc.Intervals, d)
	}
	if n := uint64(len(acc.Intervals)); n > 0 {
		m, err := sumAbs.Div64(n)
		if err != nil {
			return Accuracy{}, fmt.Errorf("accuracy: %w", err)
		}
		acc.MeanAbsDiff = m.Trunc(pnl.Scale)
		share, err := udecimal.MustFromInt64(int64(acc.WithinTolerance), 0).Div64(n)
		if err != nil {
			return Accuracy{}, fmt.Errorf("accuracy: %w", err)
		}
		acc.ShareWithinTolerance = share.Trunc(pnl.Scale)
	}
	if nRel > 0 {
		m, err := sumRel.Div64(nRel)
		if err != nil {
			return Accuracy{}, fmt.Errorf("accuracy: %w", err)
		}
		acc.MeanRelDiff = m.Trunc(pnl.Scale)
	}
	worst := slices.Clone(acc.Intervals)
	slices.SortStableFunc(worst, func(a, b IntervalDiff) int { return -a.AbsDiff.Cmp(b.AbsDiff) })
	acc.Worst = append(acc.Worst, worst[:min(WorstIntervals, len(worst))]...)
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
		if k < len(s.funding) {
			r.Funding = s.funding[k].Value
		}
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
// interval, then the accuracy summary when there is one. Amounts are for
// people (package numfmt: cents, thousands separated, PnL signed); the
// JSON report keeps every digit.
func (h History) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "START\tREALIZED\tFEES\tUNREALIZED\tNET\tEQUITY\tAVG NET\tAVG EQUITY\tLIVE AVG EQUITY\tSOURCE\t\n")
	for _, r := range h.Rows {
		live := "-"
		if r.LiveAvgEquity != nil {
			live = numfmt.Money(*r.LiveAvgEquity)
		}
		src := r.Source
		if r.Partial {
			src += " (partial)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Start.Format(time.RFC3339),
			numfmt.PnL(r.Realized), numfmt.Money(r.Fees), numfmt.PnL(r.Unrealized), numfmt.PnL(r.Net), numfmt.Money(r.Equity),
			numfmt.PnL(r.AvgNet), numfmt.Money(r.AvgEquity), live, src)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if h.Accuracy == nil {
		_, err := fmt.Fprintf(w, "%d intervals of %s, %s to %s\n", len(h.Rows), h.Interval,
			h.From.Format(time.RFC3339), h.To.Format(time.RFC3339))
		if err == nil && len(h.Rows) == 0 {
			_, err = fmt.Fprintf(w, "no PnL series of %s in this range: 'tradeplane pnl backfill' builds one from the venue's trade history and the stored fills (imports too); a running server records live equity\n", h.Scope)
		}
		return err
	}
	return h.Accuracy.WriteTable(w)
}

// WriteTable writes the accuracy summary, the worst intervals and the notes
// on what differences remain. Differences and relative differences keep up
// to 8 decimals (they are judged against a tolerance of cents), thousands
// separated; the share within tolerance is a percentage.
func (a Accuracy) WriteTable(w io.Writer) error {
	if a.Recorded != "" && a.Recorded != SourceLive {
		fmt.Fprintf(w, "compared with recorded equity of source %q, not live snapshots\n", a.Recorded)
	}
	fmt.Fprintf(w, "accuracy (%s; %d intervals): mean abs %s, max abs %s, mean rel %s, max rel %s, within %s: %d (%s)\n",
		a.Compared, len(a.Intervals), diff(a.MeanAbsDiff), diff(a.MaxAbsDiff), diff(a.MeanRelDiff), diff(a.MaxRelDiff),
		diff(a.Tolerance), a.WithinTolerance, numfmt.Percent(a.ShareWithinTolerance))
	fmt.Fprintf(w, "opening offset (live − backfilled equity at the first boundary, not in the differences): %s; drift: %s\n",
		diff(a.OpeningOffset), diff(a.Drift))
	if len(a.OnlyBackfilled)+len(a.OnlyLive) > 0 {
		fmt.Fprintf(w, "not compared: %d intervals without live snapshots at both ends, %d without backfilled points\n",
			len(a.OnlyBackfilled), len(a.OnlyLive))
	}
	if a.FirstDisagreement == nil {
		if a.MaxAbsDiff.IsZero() {
			fmt.Fprintln(w, "every interval agrees exactly")
		} else {
			fmt.Fprintln(w, "every interval agrees within the tolerance")
		}
	} else {
		fmt.Fprintf(w, "first disagreement: %s\n", a.FirstDisagreement.Format(time.RFC3339))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "WORST\tBACKFILLED CHANGE\tLIVE CHANGE\tABS DIFF\tREL DIFF\t\n")
		for _, d := range a.Worst {
			rel := "-"
			if d.RelDefined {
				rel = diff(d.RelDiff)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", d.Start.Format(time.RFC3339), numfmt.PnL(d.Backfilled), numfmt.PnL(d.Live),
				diff(d.AbsDiff), rel)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range a.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

// diff shows a difference of equity to at most 8 decimals, thousands
// separated.
func diff(d Decimal) string { return numfmt.Trim(d, 8) }
