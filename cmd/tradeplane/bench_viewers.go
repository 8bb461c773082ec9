package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
)

func newBenchViewersCmd() *cobra.Command {
	cfg := app.ViewerLoadBench{}
	var asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "viewers",
		Short: "Many viewers sending the heaviest PnL queries while sessions trade",
		Long: `Starts a real node on a temporary SQLite database (or --bench-db) serving HTTP
on loopback, seeds minute equity snapshots over the largest PnL range a
request may ask for, starts --sessions sessions that buy every second on the
paper venue, and has --viewers viewer-token clients send, back to back, the
heaviest PnL queries: half year 1 to 9999 (refused with a 400), half the
largest allowed range. It reports PnL latency, /healthz latency (checked every
50 ms), peak RSS and heap, and the longest gap between two steps of a session
(a gap of 1.5 s or more counts as a missed step). The node runs its watchdog as
serve does, so /healthz answers from the last round of health checks
(--no-watchdog: a store ping per /healthz, as a node without one).
--cpuprofile writes a pprof CPU profile of the load (go tool pprof FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Viewers <= 0 || cfg.Sessions <= 0 || cfg.Duration <= 0 {
				return usagef("--viewers, --sessions and --duration must be positive")
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				cfg.CPUProfile = f
			}
			res, err := app.BenchViewerLoad(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Viewers, "viewers", 50, "concurrent viewers")
	f.IntVar(&cfg.Sessions, "sessions", 20, "sessions trading one order a second")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "load time")
	f.IntVar(&cfg.Snapshots, "snapshots", 0, "equity snapshots (one a minute) in the largest range; default the whole range")
	f.StringVar(&cfg.DBURL, "bench-db", "", "database URL for the run (default a temporary SQLite file)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the load to this file")
	f.BoolVar(&cfg.NoWatchdog, "no-watchdog", false, "answer /healthz without the watchdog (a store ping per request)")
	return cmd
}
