package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench <scenario>",
		Short: "End-to-end benchmarks on the paper venue: trade-all, replay, viewers",
		Long: `End-to-end benchmarks on this machine, on the paper venue and loopback only.
The benchmarks that need test fakes (api: servertest's desk; cluster: fake
Binance accounts) are a separate binary, so this one links no fake:
go build ./cmd/tradeplane-bench && ./tradeplane-bench api|cluster.
Record results with the command that produced them in docs/BENCHMARKS.md.`,
	}
	cmd.AddCommand(newBenchTradeAllCmd(), newBenchReplayCmd(), newBenchViewersCmd(), newBenchViewersLoadCmd())
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
