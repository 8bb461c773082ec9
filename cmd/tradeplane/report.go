package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/reliability"
)

func newReportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports on how the system runs"}
	var from, to string
	var asJSON bool
	rel := &cobra.Command{
		Use:   "reliability",
		Short: "Execution success per day, failures by class, restarts per week, time to recovery, backfill accuracy, latency, journal write rate",
		Long: `Prints the figures of the dashboard's Reliability page over a window (default: the last 30 days), each
with the query or metric behind it. With --server it asks the server (GET /api/v1/reliability), which also
has the process's latency histograms; without, it reads the database named by --db and has no latencies.`,
		Example: `  tradeplane report reliability --json
  tradeplane report reliability --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts reliability.Options
			q := url.Values{}
			for name, p := range map[string]struct {
				v   string
				dst *time.Time
			}{"--from": {from, &opts.From}, "--to": {to, &opts.To}} {
				if p.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.v)
				if err != nil {
					return usagef("%s %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", name, p.v)
				}
				*p.dst = t
				q.Set(strings.TrimPrefix(name, "--"), t.UTC().Format(time.RFC3339))
			}
			if !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To) {
				return usagef("--from must be before --to")
			}
			var rep reliability.Report
			if g.server != "" {
				path := "/api/v1/reliability"
				if len(q) > 0 {
					path += "?" + q.Encode()
				}
				if err := apiGet(cmd, g, path, &rep); err != nil {
					return err
				}
			} else {
				db, err := openExistingDB(cmd, g)
				if err != nil {
					return err
				}
				defer db.Close()
				if opts.To.IsZero() {
					opts.To = time.Now()
				}
				if opts.From.IsZero() {
					opts.From = opts.To.Add(-30 * 24 * time.Hour)
				}
				if rep, err = reliability.Compute(cmd.Context(), db, opts); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSONDoc(cmd.OutOrStdout(), rep)
			}
			return printReliability(cmd.OutOrStdout(), rep)
		},
	}
	f := rel.Flags()
	f.StringVar(&from, "from", "", "window start, RFC 3339 (default: 30 days before --to)")
	f.StringVar(&to, "to", "", "window end, RFC 3339 (default: now)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object (the same as GET /api/v1/reliability)")
	cmd.AddCommand(rel)
	return cmd
}

func printReliability(w io.Writer, r reliability.Report) error {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	fmt.Fprintf(w, "Reliability %s to %s\n\n", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DAY\tORDERS\tSUCCEEDED\tFAILED\tPENDING\tSUCCESS RATE\t")
	for _, d := range r.Execution {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", d.Day, d.Orders, d.Succeeded, d.Failed, d.Pending, numfmt.PercentString(d.SuccessRate))
	}
	t := r.ExecutionTotal
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\t%d\t%s\t\n", t.Orders, t.Succeeded, t.Failed, t.Pending, numfmt.PercentString(t.SuccessRate))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nFailures by class:")
	for _, c := range r.Failures {
		fmt.Fprintf(w, "  %-20s %d\n", c.Class, c.Count)
	}
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "  none")
	}
	fmt.Fprintln(w, "\nRestarts per week (automatic, manual):")
	for _, x := range r.Restarts {
		fmt.Fprintf(w, "  week of %s  %d auto  %d manual\n", x.Week, x.Auto, x.Manual)
	}
	if len(r.Restarts) == 0 {
		fmt.Fprintln(w, "  none")
	}
	fmt.Fprintf(w, "\nTime to recovery: %d recovered (median %s s, mean %s s, max %s s), %d not recovered\n",
		r.Recovery.Recovered, dash(r.Recovery.MedianSeconds), dash(r.Recovery.MeanSeconds), dash(r.Recovery.MaxSeconds), r.Recovery.Unrecovered)
	fmt.Fprintln(w, "\nBackfill accuracy per hour:")
	for _, b := range r.Backfill {
		fmt.Fprintf(w, "  %s  %d of %d hours within %s (%s), mean |diff| %s, max %s\n", b.Scope, b.WithinTolerance, b.Intervals,
			numfmt.MoneyString(b.Tolerance), numfmt.PercentString(b.ShareWithinTolerance), numfmt.MoneyString(b.MeanAbsDiff), numfmt.MoneyString(b.MaxAbsDiff))
	}
	if len(r.Backfill) == 0 {
		fmt.Fprintln(w, "  no hour has both backfilled and live equity")
	}
	fmt.Fprintln(w, "\nLatency (count, mean ms, p95 <= ms):")
	for _, l := range r.Latency {
		fmt.Fprintf(w, "  %s{%s}  %d  %s  %s\n", l.Metric, l.Labels, l.Count, l.MeanMS, l.P95MS)
	}
	if len(r.Latency) == 0 {
		fmt.Fprintln(w, "  none (latencies come from a running server: use --server)")
	}
	fmt.Fprintf(w, "\nJournal writes: %d events, %s per second over the window, %d in the last hour (%s per minute)\n",
		r.Journal.Events, dash(r.Journal.PerSecondInRange), r.Journal.LastHour, dash(r.Journal.PerMinuteLastHr))
	return nil
}
