// Command tradeplane-bench runs the end-to-end benchmarks that need test
// fakes: the API under load against servertest's in-memory desk (api) and
// several tradeplane nodes failing over on PostgreSQL with loopback fake
// Binance accounts (cluster). It is a separate binary so that the product,
// cmd/tradeplane, links no fake venue or test package; the benchmarks that
// run on the paper venue (a product venue) stay `tradeplane bench ...`.
// Record results with the command that produced them in docs/BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command: exit 0 on success, 2 on bad usage, 1 when the
// benchmark failed.
func run(ctx context.Context, args []string) int {
	root := &cobra.Command{
		Use:           "tradeplane-bench",
		Short:         "End-to-end benchmarks that run on test fakes: api, cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newAPICmd(), newClusterCmd())
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "tradeplane-bench: "+err.Error())
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError marks bad usage (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// describeDBError adds what to check to a store that cannot be reached.
func describeDBError(err error) error {
	var ue *store.UnreachableError
	if errors.As(err, &ue) {
		return fmt.Errorf("%v (check --db / TRADEPLANE_DB and that PostgreSQL is running and accepts connections)", err)
	}
	return err
}

func newAPICmd() *cobra.Command {
	cfg := servertest.BenchConfig{}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Latency of GET /api/v1/portfolio and /api/v1/journal at a fixed rate, and SSE fan-out",
		Long: `Serves the HTTP API over loopback on servertest's in-memory desk (the real
server package, fake services behind it) and measures latency at a fixed
request rate per endpoint, then the fan-out of one change to --sse-clients
SSE clients.`,
		Args: cobra.NoArgs,
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
