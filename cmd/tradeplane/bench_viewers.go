package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
)

func newBenchViewersCmd() *cobra.Command {
	cfg := app.ViewerLoadBench{}
	var asJSON bool
	var cpuProfile string
	var loadProcess bool
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
--cpuprofile writes a pprof CPU profile of the load (go tool pprof FILE).
--load-process runs the viewers in a child process (this binary, bench
viewers-load), so that the node's scheduler and RSS hold the node alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Viewers <= 0 || cfg.Sessions <= 0 || cfg.Duration <= 0 {
				return usagef("--viewers, --sessions and --duration must be positive")
			}
			if loadProcess {
				cfg.LoadProcess = viewersInChild
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
	f.BoolVar(&loadProcess, "load-process", false, "run the viewers in a child process, apart from the node's scheduler and RSS, as remote clients would be")
	f.BoolVar(&cfg.NoWatchdog, "no-watchdog", false, "answer /healthz without the watchdog (a store ping per request)")
	return cmd
}

// viewersInChild runs the viewers in a child process (bench viewers-load):
// their goroutines then share the machine's CPUs with the node, as remote
// clients' kernels would not, but not the node's Go scheduler or memory.
func viewersInChild(ctx context.Context, c app.ViewerClients) (app.ViewerClientStats, error) {
	var st app.ViewerClientStats
	exe, err := os.Executable()
	if err != nil {
		return st, fmt.Errorf("find this binary: %w", err)
	}
	in, err := json.Marshal(c)
	if err != nil {
		return st, err
	}
	// The child stops on its own after c.Duration; the grace only bounds a
	// child that hangs.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Duration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "bench", "viewers-load")
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return st, fmt.Errorf("bench viewers-load: %w", err)
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return st, fmt.Errorf("bench viewers-load answered %q: %w", out.String(), err)
	}
	return st, nil
}

// newBenchViewersLoadCmd is the child of bench viewers --load-process: it
// reads app.ViewerClients as JSON on stdin, runs them for their Duration and
// prints app.ViewerClientStats as JSON.
func newBenchViewersLoadCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "viewers-load",
		Short:  "The viewers of bench viewers --load-process (reads its configuration on stdin)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var c app.ViewerClients
			if err := json.NewDecoder(cmd.InOrStdin()).Decode(&c); err != nil {
				return usagef("viewers-load: want app.ViewerClients as JSON on stdin: %v", err)
			}
			if c.Viewers <= 0 || c.Duration <= 0 || c.Base == "" {
				return usagef("viewers-load: viewers, duration_ns and base must be set")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), c.Duration)
			defer cancel()
			st, err := app.RunViewerClients(ctx, c)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(st)
		},
	}
}
