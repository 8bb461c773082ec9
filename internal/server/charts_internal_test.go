package server

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"
)

// sampleReport is 31 days of hourly equity, the first two days backfilled.
func sampleReport() PnLReport {
	start := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	rep := PnLReport{Scope: "desk", Interval: "1d", From: start, To: start.Add(31 * 24 * time.Hour),
		Backfills: []TimeRange{{From: start, To: start.Add(48 * time.Hour)}}}
	v := udecimal.MustParse("100000")
	for i := range 31 * 24 {
		src := "live"
		if i < 48 {
			src = "backfill"
		}
		v = v.Add(udecimal.MustFromInt64(int64((i*7919)%200-97), 1))
		rep.Equity = append(rep.Equity, EquityPoint{At: start.Add(time.Duration(i) * time.Hour), Equity: v, Source: src})
	}
	for d := range 31 {
		rep.Averages = append(rep.Averages, IntervalAverage{Start: start.Add(time.Duration(d) * 24 * time.Hour), Average: rep.Equity[d*24+12].Equity, Backfilled: d < 2})
	}
	return rep
}

func TestChartDump(t *testing.T) {
	if os.Getenv("CHART_DUMP") == "" {
		t.Skip("set CHART_DUMP=file.html to write sample charts")
	}
	rep := sampleReport()
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><link rel="stylesheet" href="app.css"></head><body><main>`)
	for _, c := range []chartSpec{equityChart("a", rep, "USDT"), averagesChart("b", rep, "USDT"), pnlChart("c", rep, "USDT"), equityChart("d", PnLReport{Scope: "session:s_1", From: rep.From, To: rep.To}, "USDT")} {
		b.WriteString(`<div class="chart">`)
		b.Write(renderChart(c))
		b.WriteString(`</div>`)
	}
	b.WriteString(`</main></body></html>`)
	if err := os.WriteFile(os.Getenv("CHART_DUMP"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChartContent(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	svg := string(renderChart(equityChart("eq", rep, "USDT")))
	for _, want := range []string{
		`data-points="744"`, `data-first="2026-11-03T00:00:00Z"`, `data-last="2026-12-03T23:00:00Z"`,
		`font-family="system-ui, sans-serif"`, // the page's font when served alone
		`>Equity — whole desk (USDT)</text>`,
		`<title>2026-12-03 23:00 UTC · 100,195.60 USDT · live</title>`, // a tooltip per point
		`id="eq-latest"`, `>100,195.60</text>`, // the latest value labelled
		`>Nov 9</text>`, `>100,100</text>`, // round dates and grouped round values on the axes
		`<title>backfilled 2026-11-03 00:00 UTC – 2026-11-05 00:00 UTC</title>`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("equity chart lacks %q", want)
		}
	}
	if n := strings.Count(svg, "<circle class=\"pt\""); n != 744 {
		t.Errorf("got %d point tooltips, want 744", n)
	}
	if strings.Contains(svg, "<style") {
		t.Error("inline <style> is refused by the dashboard's CSP (style-src 'self'); use attributes and app.css")
	}

	pnl := string(renderChart(pnlChart("p", rep, "USDT")))
	for _, want := range []string{`>+205.30</text>`, `· +205.30 USDT · PnL</title>`, `stroke-dasharray="3 3"`} {
		if !strings.Contains(pnl, want) {
			t.Errorf("pnl chart lacks %q", want)
		}
	}
}

func TestChartEmptySaysWhy(t *testing.T) {
	t.Parallel()
	rep := PnLReport{Scope: `account:<script>x</script>`, Interval: "1h",
		From: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)}
	for _, c := range []chartSpec{equityChart("e", rep, "USDT"), averagesChart("a", rep, "USDT"), pnlChart("p", rep, "USDT")} {
		svg := string(renderChart(c))
		if !strings.Contains(svg, `data-points="0"`) || !strings.Contains(svg, "No ") || !strings.Contains(svg, "yet: the node records equity") {
			t.Errorf("%s: an empty chart must say why:\n%s", c.ID, svg)
		}
		if strings.Contains(svg, "<path") || strings.Contains(svg, `class="ax"`) {
			t.Errorf("%s: an empty chart draws axes or lines", c.ID)
		}
		if strings.Contains(svg, "<script>") {
			t.Errorf("%s: the scope is not escaped", c.ID)
		}
	}
	rep.Scope = "session:s_1"
	if svg := string(renderChart(pnlChart("p", rep, "USDT"))); !strings.Contains(svg, "not per session") {
		t.Errorf("an empty session chart must say sessions have no live series:\n%s", svg)
	}
}

func TestTimeStep(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		span   time.Duration
		step   time.Duration
		format string
	}{
		{20 * time.Second, 5 * time.Second, "15:04:05"},
		{90 * time.Second, 15 * time.Second, "15:04:05"},
		{20 * time.Minute, 5 * time.Minute, "15:04"},
		{6 * time.Hour, time.Hour, "15:04"},
		{3 * 24 * time.Hour, 12 * time.Hour, "Jan 2 15:04"},
		{30 * 24 * time.Hour, 7 * 24 * time.Hour, "Jan 2"},
	} {
		step, format := timeStep(tt.span)
		if step != tt.step || format != tt.format {
			t.Errorf("timeStep(%s) = %s %q, want %s %q", tt.span, step, format, tt.step, tt.format)
		}
	}
}

func BenchmarkRenderEquity30Days(b *testing.B) {
	rep := sampleReport()
	for b.Loop() {
		renderChart(equityChart("eq", rep, "USDT"))
	}
}

// TestHistoryIsItsOwnSeries: the demo's replayed history is drawn apart
// from live figures, named in the legend and the tooltips, on the PnL
// chart of a session and on the averages chart; a report without history
// keeps one series and no legend entry for it.
func TestHistoryIsItsOwnSeries(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	for i := range rep.Equity[:100] {
		rep.Equity[i].Source = "history"
	}
	for i := range rep.Averages[:3] {
		rep.Averages[i].Backfilled, rep.Averages[i].History = false, true
	}
	for _, c := range []chartSpec{pnlChart("p", rep, "USDT"), averagesChart("a", rep, "USDT")} {
		var hist, other int
		for _, s := range c.Series {
			if s.Name == "replayed history" {
				hist += len(s.Points)
			} else {
				other += len(s.Points)
			}
		}
		if hist == 0 || other == 0 {
			t.Errorf("%s: %d history points, %d others; want both", c.ID, hist, other)
		}
		if svg := string(renderChart(c)); !strings.Contains(svg, "replayed history</text>") {
			t.Errorf("%s: no legend entry for the replayed history", c.ID)
		}
	}
	if c := pnlChart("p", sampleReport(), "USDT"); len(c.Series) != 1 {
		t.Errorf("without history the PnL chart has %d series, want 1", len(c.Series))
	}
}
