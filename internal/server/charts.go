package server

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/numfmt"
)

// Charts are SVG written here by hand and placed inline in the pages, so
// they use the page's font and colours, and every point carries a <title>
// (a tooltip on hover). The same SVG is served alone under /charts/ for
// links and live redraws. Every text goes through template.HTMLEscapeString,
// so a scope or session name can never inject markup. Float64 is used for
// drawing positions only: the numbers shown (axis labels, tooltips, the
// latest value) are formatted from the decimals by package numfmt.

// chartPoint is one value at one time.
type chartPoint struct {
	T time.Time
	V udecimal.Decimal
}

// chartSeries is one line (or one set of bars) of a chart.
type chartSeries struct {
	Name   string // shown in tooltips and the legend: "live", "backfill"
	Class  string // CSS class: "live", "backfill", "pnl"
	Points []chartPoint
}

// chartSpec is a whole chart. Empty is what the chart says when no series
// has a point: why there is no data and when there will be.
type chartSpec struct {
	ID     string
	Title  string
	Unit   string // valuation currency, shown with values
	Series []chartSeries
	Shade  []TimeRange   // backfilled ranges, shaded
	Bars   time.Duration // >0: draw bars this wide (interval averages) instead of lines
	Empty  string
	Signed bool // values are PnL: tooltips and the latest label carry a sign
}

const (
	chartW, chartH         = 900.0, 280.0
	padL, padR, padT, padB = 78.0, 96.0, 30.0, 34.0
	maxChartPoints         = 1500
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	chartFont              = `system-ui, sans-serif` // as app.css's body, for the SVG served alone
	timeTitle              = "2006-01-02 15:04 UTC"
)

// renderChart writes spec as an SVG document fragment (also valid alone).
func renderChart(spec chartSpec) []byte {
	var b bytes.Buffer
	esc := template.HTMLEscapeString
	var pts []chartPoint
	for i := range spec.Series {
		spec.Series[i].Points = thin(spec.Series[i].Points, maxChartPoints)
		pts = append(pts, spec.Series[i].Points...)
	}
	attrs := fmt.Sprintf(` data-points="%d"`, len(pts))
	if len(pts) > 0 {
		lo, hi := pts[0].T, pts[0].T
		for _, p := range pts {
			lo, hi = minTime(lo, p.T), maxTime(hi, p.T)
		}
		attrs += fmt.Sprintf(` data-first="%s" data-last="%s"`, lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339))
	} else {
		attrs += ` data-empty="` + esc(spec.Empty) + `"`
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="tpc" id="%s" viewBox="0 0 %g %g" width="100%%" font-family="%s" font-size="12" fill="#1d2430" role="img" aria-label="%s"%s>`,
		esc(spec.ID), chartW, chartH, chartFont, esc(spec.Title), attrs)
	fmt.Fprintf(&b, `<rect class="fr" x="0.5" y="0.5" width="%g" height="%g" rx="6" fill="#fff" stroke="#dde3ea"/>`, chartW-1, chartH-1)
	title := spec.Title
	if spec.Unit != "" {
		title += " (" + spec.Unit + ")"
	}
	fmt.Fprintf(&b, `<text class="t" x="%g" y="20" font-weight="600" font-size="13">%s</text>`, padL, esc(title))
	if len(pts) == 0 {
		// No data: say why, on as many lines as it takes; no empty axes.
		lines := wrapWords(spec.Empty, 95)
		y0 := chartH/2 - float64(len(lines)-1)*10
		fmt.Fprintf(&b, `<text class="empty" fill="#5a6675" font-size="14" text-anchor="middle">`)
		for i, l := range lines {
			fmt.Fprintf(&b, `<tspan x="%g" y="%g">%s</tspan>`, chartW/2, y0+float64(i)*20, esc(l))
		}
		b.WriteString(`</text></svg>`)
		return b.Bytes()
	}

	// Ranges. Bars span their whole interval, and a bar chart starts at 0
	// when every value is positive, so heights compare.
	t0, t1 := pts[0].T, pts[0].T
	v0, v1 := fl(pts[0].V), fl(pts[0].V)
	for _, p := range pts {
		t0, t1 = minTime(t0, p.T), maxTime(t1, p.T)
		v0, v1 = math.Min(v0, fl(p.V)), math.Max(v1, fl(p.V))
	}
	if spec.Bars > 0 {
		t1 = t1.Add(spec.Bars)
	}
	if !t1.After(t0) {
		t0, t1 = t0.Add(-30*time.Minute), t1.Add(30*time.Minute)
	}
	if spec.Signed {
		v0, v1 = math.Min(v0, 0), math.Max(v1, 0)
	}
	if v1 == v0 {
		d := math.Max(math.Abs(v0)*0.005, 0.01)
		v0, v1 = v0-d, v1+d
	}
	step := niceStep((v1 - v0) / 4)
	v0, v1 = math.Floor(v0/step)*step, math.Ceil(v1/step)*step
	x := func(t time.Time) float64 {
		return padL + plotW*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return padT + plotH*(1-(v-v0)/(v1-v0)) }

	for _, r := range spec.Shade {
		a, z := math.Max(x(r.From), padL), math.Min(x(r.To), padL+plotW)
		if z > a {
			fmt.Fprintf(&b, `<rect class="sh" fill="#f3e3c6" opacity=".6" x="%.1f" y="%g" width="%.1f" height="%g"><title>backfilled %s – %s</title></rect>`,
				a, padT, z-a, plotH, r.From.UTC().Format(timeTitle), r.To.UTC().Format(timeTitle))
		}
	}
	// Value axis: gridlines and labels at round steps.
	places := max(0, min(8, int(-math.Floor(math.Log10(step)))))
	for v := v0; v <= v1+step/2; v += step {
		yy := y(v)
		fmt.Fprintf(&b, `<line class="g" stroke="#e4e8ee" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, padL, padL+plotW, yy, yy)
		fmt.Fprintf(&b, `<text class="ax" fill="#5a6675" x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, yy, esc(axisNumber(v, places)))
	}
	if spec.Signed && v0 < 0 && v1 > 0 {
		fmt.Fprintf(&b, `<line class="zero" stroke="#8895a5" stroke-dasharray="3 3" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, padL, padL+plotW, y(0), y(0))
	}
	// Time axis: ticks at round UTC times.
	tstep, format := timeStep(t1.Sub(t0))
	first := t0.Truncate(tstep)
	if first.Before(t0) {
		first = first.Add(tstep)
	}
	for t := first; !t.After(t1); t = t.Add(tstep) {
		xx := x(t)
		fmt.Fprintf(&b, `<line class="g" stroke="#e4e8ee" x1="%.1f" x2="%.1f" y1="%g" y2="%g"/>`, xx, xx, padT, padT+plotH)
		fmt.Fprintf(&b, `<text class="ax" fill="#5a6675" x="%.1f" y="%g" text-anchor="middle">%s</text>`, xx, chartH-padB+16, esc(t.UTC().Format(format)))
	}
	fmt.Fprintf(&b, `<text class="ax" fill="#5a6675" x="%g" y="%g" text-anchor="end">UTC</text>`, chartW-8, chartH-padB+16)

	// Series, each point with its tooltip.
	value := func(d udecimal.Decimal) string {
		s := numfmt.Money(d)
		if spec.Signed {
			s = numfmt.PnL(d)
		}
		if spec.Unit != "" {
			s += " " + spec.Unit
		}
		return s
	}
	var last chartPoint
	var lastSet bool
	for _, s := range spec.Series {
		if len(s.Points) == 0 {
			continue
		}
		col := seriesColour(s.Class)
		if spec.Bars > 0 {
			// An interval average is a level held over its interval: a
			// thick segment across the interval, not a bar from an axis
			// floor that would exaggerate small differences.
			w := math.Max(2, (x(t0.Add(spec.Bars))-padL)*0.85)
			for _, p := range s.Points {
				xx, yy := x(p.T.Add(spec.Bars/2))-w/2, y(fl(p.V))
				fmt.Fprintf(&b, `<rect class="%s" fill="%s" x="%.1f" y="%.1f" width="%.1f" height="4"><title>%s · %s · %s</title></rect>`,
					esc(s.Class), col, xx, yy-2, w, esc(p.T.UTC().Format(timeTitle)), esc(value(p.V)), esc(s.Name))
			}
		} else {
			var path strings.Builder
			for i, p := range s.Points {
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&path, "%s%.1f %.1f", cmd, x(p.T), y(fl(p.V)))
			}
			fmt.Fprintf(&b, `<path class="%s" fill="none" stroke="%s" stroke-width="1.6" d="%s"/>`, esc(s.Class), col, path.String())
			for _, p := range s.Points {
				fmt.Fprintf(&b, `<circle class="pt" fill="transparent" cx="%.1f" cy="%.1f" r="3"><title>%s · %s · %s</title></circle>`,
					x(p.T), y(fl(p.V)), esc(p.T.UTC().Format(timeTitle)), esc(value(p.V)), esc(s.Name))
			}
		}
		if p := s.Points[len(s.Points)-1]; !lastSet || p.T.After(last.T) {
			last, lastSet = p, true
		}
	}
	// The latest value, labelled at the right edge.
	lx, ly := x(last.T), y(fl(last.V))
	if spec.Bars > 0 {
		lx = x(last.T.Add(spec.Bars / 2))
	}
	latest := numfmt.Money(last.V)
	if spec.Signed {
		latest = numfmt.PnL(last.V)
	}
	fmt.Fprintf(&b, `<circle class="last" fill="#1d2430" cx="%.1f" cy="%.1f" r="3.5"/>`, lx, ly)
	fmt.Fprintf(&b, `<text class="ax" fill="#5a6675" x="%g" y="%.1f">latest</text><text class="lv" font-weight="600" id="%s-latest" x="%g" y="%.1f"><title>%s · %s</title>%s</text>`,
		padL+plotW+8, ly-8, esc(spec.ID), padL+plotW+8, ly+8, esc(last.T.UTC().Format(timeTitle)), esc(value(last.V)), esc(latest))
	// A legend when two series share the chart.
	n := 0
	for _, s := range spec.Series {
		if len(s.Points) > 0 {
			n++
		}
	}
	if n > 1 {
		lx := padL + plotW - 160
		for _, s := range spec.Series {
			if len(s.Points) == 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect class="%s" fill="%s" x="%.1f" y="12" width="14" height="8"/><text class="ax" x="%.1f" y="20">%s</text>`, esc(s.Class), seriesColour(s.Class), lx, lx+18, esc(s.Name))
			lx += 80
		}
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// seriesColour is the stroke and fill of a series class.
func seriesColour(class string) string {
	switch class {
	case "backfill":
		return "#d98a1c"
	case "history":
		return "#7a7f8c"
	}
	return "#1f6fd1"
}

// wrapWords breaks s into lines of at most width characters, at spaces.
func wrapWords(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// thin keeps at most n points of ps (oldest first): the last point of each
// of n equal time buckets, so the latest value is always kept.
func thin(ps []chartPoint, n int) []chartPoint {
	if len(ps) <= n {
		return ps
	}
	t0, t1 := ps[0].T, ps[len(ps)-1].T
	span := t1.Sub(t0)
	out := make([]chartPoint, 0, n)
	bucket := -1
	for _, p := range ps {
		k := int(float64(p.T.Sub(t0)) / float64(span) * float64(n-1))
		if k == bucket {
			out[len(out)-1] = p
			continue
		}
		bucket = k
		out = append(out, p)
	}
	return out
}

// niceStep rounds a raw step up to 1, 2 or 5 × a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// axisNumber writes an axis value with places decimals and thousands
// separators ("14,250", "0.005").
func axisNumber(v float64, places int) string {
	s := strconv.FormatFloat(v, 'f', places, 64)
	if s == "-0" || strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return numfmt.Group(s)
}

// timeStep picks a round tick step giving at most about eight ticks over
// span, and the label format that step needs.
func timeStep(span time.Duration) (time.Duration, string) {
	steps := []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour,
		6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	switch {
	case step >= 24*time.Hour:
		return step, "Jan 2"
	case span > 24*time.Hour:
		return step, "Jan 2 15:04"
	case step < time.Minute:
		return step, "15:04:05"
	}
	return step, "15:04"
}

func fl(d udecimal.Decimal) float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// equityChart is the equity series of a PnL report, live and backfilled
// points as two lines over the shaded backfilled ranges.
func equityChart(id string, rep PnLReport, currency string) chartSpec {
	live := chartSeries{Name: "live", Class: "live"}
	back := chartSeries{Name: "backfill", Class: "backfill"}
	hist := chartSeries{Name: "replayed history", Class: "history"}
	for _, e := range rep.Equity {
		p := chartPoint{T: e.At, V: e.Equity}
		switch e.Source {
		case "backfill":
			back.Points = append(back.Points, p)
		case "history":
			hist.Points = append(hist.Points, p)
		default:
			live.Points = append(live.Points, p)
		}
	}
	series := []chartSeries{live, back}
	if len(hist.Points) > 0 {
		series = append(series, hist)
	}
	return chartSpec{ID: id, Title: "Equity — " + scopeLabel(rep.Scope), Unit: currency, Series: series,
		Shade: rep.Backfills, Empty: noDataReason(rep, "equity snapshots")}
}

// averagesChart is one bar per interval average.
func averagesChart(id string, rep PnLReport, currency string) chartSpec {
	width := time.Hour
	label := "Hourly"
	if rep.Interval == "1d" {
		width, label = 24*time.Hour, "Daily"
	}
	live := chartSeries{Name: "live", Class: "live"}
	back := chartSeries{Name: "backfill", Class: "backfill"}
	hist := chartSeries{Name: "replayed history", Class: "history"}
	for _, a := range rep.Averages {
		p := chartPoint{T: a.Start, V: a.Average}
		switch {
		case a.Backfilled:
			back.Points = append(back.Points, p)
		case a.History:
			hist.Points = append(hist.Points, p)
		default:
			live.Points = append(live.Points, p)
		}
	}
	series := []chartSeries{live, back}
	if len(hist.Points) > 0 {
		series = append(series, hist)
	}
	return chartSpec{ID: id, Title: label + " average equity — " + scopeLabel(rep.Scope), Unit: currency, Series: series,
		Shade: rep.Backfills, Bars: width, Empty: noDataReason(rep, "interval averages")}
}

// pnlChart is a session's PnL over time: its equity series less the first
// point, so it starts at 0 and reads as gain or loss. Replayed history
// (the demo's) is its own grey series, so it is not read as live PnL.
func pnlChart(id string, rep PnLReport, currency string) chartSpec {
	s := chartSeries{Name: "PnL", Class: "pnl"}
	hist := chartSeries{Name: "replayed history", Class: "history"}
	for _, e := range rep.Equity {
		p := chartPoint{T: e.At, V: e.Equity.Sub(rep.Equity[0].Equity)}
		if e.Source == "history" {
			hist.Points = append(hist.Points, p)
		} else {
			s.Points = append(s.Points, p)
		}
	}
	series := []chartSeries{s}
	if len(hist.Points) > 0 {
		series = append(series, hist)
	}
	return chartSpec{ID: id, Title: "PnL since " + rep.From.UTC().Format("Jan 2 15:04") + " — " + scopeLabel(rep.Scope), Unit: currency,
		Series: series, Signed: true, Empty: noDataReason(rep, "equity snapshots")}
}

func scopeLabel(scope string) string {
	if scope == "" || scope == "desk" {
		return "whole desk"
	}
	return scope
}

// noDataReason says why a report has nothing to draw.
func noDataReason(rep PnLReport, what string) string {
	if strings.HasPrefix(rep.Scope, "session:") {
		return fmt.Sprintf("No %s for %s between %s and %s: live equity is recorded for the desk and each account, not per session; `tradeplane pnl backfill` builds a session's series from its fills.",
			what, rep.Scope, rep.From.UTC().Format("Jan 2 15:04"), rep.To.UTC().Format("Jan 2 15:04 UTC"))
	}
	return fmt.Sprintf("No %s for %s between %s and %s yet: the node records equity every minute while it runs, and `pnl backfill` reconstructs earlier history.",
		what, scopeLabel(rep.Scope), rep.From.UTC().Format("Jan 2 15:04"), rep.To.UTC().Format("Jan 2 15:04 UTC"))
}

func renderEquitySVG(rep PnLReport, currency string) ([]byte, error) {
	return renderChart(equityChart("chart-equity", rep, currency)), nil
}

func renderAveragesSVG(rep PnLReport, currency string) ([]byte, error) {
	return renderChart(averagesChart("chart-averages", rep, currency)), nil
}

func renderPnLSVG(rep PnLReport, currency string) ([]byte, error) {
	return renderChart(pnlChart("chart-pnl", rep, currency)), nil
}

// chartHTML is a chart for a template.
func chartHTML(spec chartSpec) template.HTML { return template.HTML(renderChart(spec)) } //nolint:gosec // every text in it is escaped by renderChart

// chart serves one SVG chart of the PnL report the query names.
func (s *Server) chart(render func(PnLReport, string) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.deps.PnL == nil {
			http.Error(w, "PnL is not available on this node", http.StatusServiceUnavailable)
			return
		}
		pq, err := s.pnlQuery(r)
		if err != nil {
			_, _, msg := classify(err)
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
		rep, err := s.pnlReport(r.Context(), pq)
		if err != nil {
			status, _, msg := classify(err)
			s.log.Error("chart: pnl report", "err", err)
			http.Error(w, msg, status)
			return
		}
		svg, err := render(rep, s.currency())
		if err != nil {
			s.log.Error("chart: render", "err", err)
			http.Error(w, "chart failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "private, max-age=30")
		_, _ = w.Write(svg)
	}
}
