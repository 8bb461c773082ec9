package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench <scenario>",
		Short: "End-to-end benchmarks: trade-all, api, cluster, replay, viewers",
		Long: `End-to-end benchmarks on this machine, on the paper venue and loopback only.
Record results with the command that produced them in docs/BENCHMARKS.md.`,
	}
	cmd.AddCommand(newBenchTradeAllCmd(), newBenchAPICmd(), newBenchClusterCmd(g), newBenchReplayCmd(), newBenchViewersCmd())
	return cmd
}

func newBenchTradeAllCmd() *cobra.Command {
	cfg := app.TradeAllBench{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trade-all",
		Short: "Trade All over many paper sessions against a venue latency and order-rate limit",
		Long: `Starts a real node (journal fsynced before every order, executor, supervisor,
allocation checks) on a temporary SQLite database (or --bench-db), creates
--sessions sessions on the paper venue with --latency per request, runs one
Trade All over them paced at --order-rate, and reports the wall time against
the pacing bound (orders ÷ allowed order rate).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Sessions <= 0 || cfg.OrderRate <= 0 {
				return usagef("--sessions and --order-rate must be positive")
			}
			bar := newProgressBar("trade-all")
			cfg.Progress = func(done, total int) { bar.update(int64(done), int64(total), "") }
			res, err := app.BenchTradeAll(cmd.Context(), cfg)
			bar.finish()
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
	f.IntVar(&cfg.Sessions, "sessions", 1000, "sessions, one order each")
	f.IntVar(&cfg.Accounts, "accounts", 10, "paper accounts the sessions spread over")
	f.DurationVar(&cfg.VenueLatency, "latency", 20*time.Millisecond, "latency added to every venue request")
	f.Float64Var(&cfg.OrderRate, "order-rate", 200, "the venue's order budget, orders per second")
	f.IntVar(&cfg.Concurrency, "concurrency", 64, "steps in flight")
	f.StringVar(&cfg.DBURL, "bench-db", "", "database URL for the run (default a temporary SQLite file)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newBenchAPICmd() *cobra.Command {
	cfg := servertest.BenchConfig{}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Latency of GET /api/v1/portfolio and /api/v1/journal at a fixed rate, and SSE fan-out",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := servertest.Bench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Accounts, "accounts", 1000, "accounts on the desk")
	f.IntVar(&cfg.Sessions, "sessions", 1000, "sessions on the desk")
	f.IntVar(&cfg.Rate, "rate", 1000, "requests per second per endpoint")
	f.DurationVar(&cfg.Duration, "duration", 5*time.Second, "run time per endpoint")
	f.IntVar(&cfg.SSEClients, "sse-clients", 200, "SSE clients for the fan-out run")
	return cmd
}
