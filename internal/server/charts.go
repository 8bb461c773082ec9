package server

import (
	"bytes"
	"fmt"
	"image/color"
	"net/http"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Charts are rendered here as SVG with gonum/plot and served as images
// (an <img> SVG runs no script, so labels can never inject anything).
// Float64 is used for drawing only: the numbers shown in tables and JSON
// stay decimals.

var (
	colLive     = color.RGBA{R: 0x1f, G: 0x6f, B: 0xd1, A: 0xff}
	colBackfill = color.RGBA{R: 0xd9, G: 0x8a, B: 0x1c, A: 0xff}
	colShade    = color.RGBA{R: 0xf3, G: 0xe3, B: 0xc6, A: 0xff}
)

// backfillShade draws the backfilled ranges as shaded bands behind the
// series so a reader sees which part of a chart is reconstructed.
type backfillShade struct{ ranges []TimeRange }

// Plot implements plot.Plotter.
func (b backfillShade) Plot(c draw.Canvas, p *plot.Plot) {
	tx, _ := p.Transforms(&c)
	for _, r := range b.ranges {
		x0 := max(tx(float64(r.From.Unix())), c.Min.X)
		x1 := min(tx(float64(r.To.Unix())), c.Max.X)
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(colShade, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

func newTimePlot(title, currency string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "equity"
	if currency != "" {
		p.Y.Label.Text += " (" + currency + ")"
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// timeTicks labels the x axis once the data set its range: dates for
// daily charts and spans over a week, seconds for spans under an hour
// (a fresh node's minutes would otherwise all read the same), else
// month-day and minutes. The axis is in UTC.
func timeTicks(p *plot.Plot, interval string) {
	span := time.Duration(p.X.Max-p.X.Min) * time.Second
	format := "01-02 15:04"
	switch {
	case interval == "1d" || span > 7*24*time.Hour:
		format = "2006-01-02"
	case span < time.Hour:
		format = "15:04:05"
	}
	p.X.Label.Text = "UTC"
	p.X.Tick.Marker = plot.TimeTicks{Format: format, Time: func(t float64) time.Time { return time.Unix(int64(t), 0).UTC() }}
}

// renderEquitySVG draws the equity series, live and backfilled points as
// separate lines over shaded backfill ranges.
func renderEquitySVG(rep PnLReport, currency string) ([]byte, error) {
	p := newTimePlot("Equity — "+rep.Scope, currency)
	p.Add(backfillShade{rep.Backfills})
	var live, back plotter.XYs
	for _, e := range rep.Equity {
		y := toFloat(e.Equity.String())
		pt := plotter.XY{X: float64(e.At.Unix()), Y: y}
		if e.Source == "backfill" {
			back = append(back, pt)
		} else {
			live = append(live, pt)
		}
	}
	for _, s := range []struct {
		name string
		pts  plotter.XYs
		col  color.Color
	}{{"live", live, colLive}, {"backfill", back, colBackfill}} {
		if len(s.pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.pts)
		if err != nil {
			return nil, fmt.Errorf("equity chart %s: %w", s.name, err)
		}
		l.Color = s.col
		l.Width = vg.Points(1.5)
		p.Add(l)
		if len(live) > 0 && len(back) > 0 {
			// A legend only tells two series apart.
			p.Legend.Add(s.name, l)
		}
	}
	timeTicks(p, rep.Interval)
	return writeSVG(p)
}

// renderAveragesSVG draws one bar per interval average; backfilled
// intervals in the backfill colour.
func renderAveragesSVG(rep PnLReport, currency string) ([]byte, error) {
	label := map[string]string{"1h": "Hourly", "1d": "Daily"}[rep.Interval]
	p := newTimePlot(label+" average equity — "+rep.Scope, currency)
	p.Add(backfillShade{rep.Backfills})
	width := time.Hour
	if rep.Interval == "1d" {
		width = 24 * time.Hour
	}
	var live, back plotter.XYs
	for _, a := range rep.Averages {
		y := toFloat(a.Average.String())
		pt := plotter.XY{X: float64(a.Start.Add(width / 2).Unix()), Y: y}
		if a.Backfilled {
			back = append(back, pt)
		} else {
			live = append(live, pt)
		}
	}
	for _, s := range []struct {
		name string
		pts  plotter.XYs
		col  color.Color
	}{{"live", live, colLive}, {"backfill", back, colBackfill}} {
		if len(s.pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(s.pts)
		if err != nil {
			return nil, fmt.Errorf("averages chart %s: %w", s.name, err)
		}
		sc.GlyphStyle.Color = s.col
		sc.GlyphStyle.Shape = draw.BoxGlyph{}
		sc.GlyphStyle.Radius = vg.Points(2.5)
		p.Add(sc)
		if len(live) > 0 && len(back) > 0 {
			// A legend only tells two series apart.
			p.Legend.Add(s.name, sc)
		}
	}
	// The axis spans whole intervals, so one average sits in the middle of
	// its hour or day rather than alone on a padded axis.
	for i, a := range rep.Averages {
		lo, hi := float64(a.Start.Unix()), float64(a.Start.Add(width).Unix())
		if i == 0 || lo < p.X.Min {
			p.X.Min = lo
		}
		if i == 0 || hi > p.X.Max {
			p.X.Max = hi
		}
	}
	timeTicks(p, rep.Interval)
	return writeSVG(p)
}

func writeSVG(p *plot.Plot) ([]byte, error) {
	c := vgsvg.New(9*vg.Inch, 3.2*vg.Inch)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write svg: %w", err)
	}
	return buf.Bytes(), nil
}

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

// toFloat converts a decimal's text for drawing; an unparsable value is 0.
func toFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
