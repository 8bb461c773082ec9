// Command tradeplane is the control plane for automated crypto trading: the
// server (API, dashboard, supervisor) and the command-line tools. It parses
// flags and environment variables and wires the internal packages; it holds
// no logic of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// Version and Commit are stamped at build time (deploy/release.sh):
// -ldflags "-X main.Version=v1.2.3 -X main.Commit=abc123". See version.go.
var (
	Version = "dev"
	Commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the CLI and maps errors to exit codes: 0 success, 1 the
// operation failed, 2 bad usage or bad input.
func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "tradeplane: "+err.Error())
	return exitCode(err)
}

// usageError marks bad usage or bad input (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// ErrorCode is apperr.Invalid: the caller must change the command.
func (e usageError) ErrorCode() apperr.Code { return apperr.Invalid }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode is 2 for usage errors and bad input, else the exit code of the
// error's code in apperr's one table (1 for an uncoded error).
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || isBadInput(err) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return apperr.Lookup(apperr.CodeOf(err)).ExitCode
}

func newRoot() *cobra.Command {
	g := &globals{}
	configPath := new(string)
	var fromFile configSources // global settings taken from --config (config.go)
	root := &cobra.Command{
		Use:   "tradeplane",
		Short: "Control plane for automated crypto trading sessions",
		Long: `tradeplane supervises trading sessions across exchange accounts, journals every
execution event, runs Trade All safely, aggregates balances in real time and
computes PnL you can trust.

Start the demo:  tradeplane serve --demo   (then open http://127.0.0.1:8080)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if fromFile, err = applyConfigPath(cmd, *configPath); err != nil {
				return err
			}
			return g.setup(cmd)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	g.register(root)
	registerConfigFlag(root, configPath)
	defer usageArgs(root)
	root.AddCommand(
		newServeCmd(g),
		newMigrateCmd(g),
		newBackupCmd(g),
		newRestoreCmd(g),
		newProbeCmd(),
		newConfigCmd(g, configPath, func() configSources { return fromFile }),
		newVersionCmd(),
		newAccountsCmd(g),
		newSessionsCmd(g),
		newTradeAllCmd(g),
		newBalancesCmd(g),
		newCollateralCmd(g),
		newJournalCmd(g),
		newImportCmd(g),
		newPnlCmd(g),
		newJobsCmd(g),
		newTokensCmd(g),
		newBenchCmd(),
		newReplayCmd(g),
		newReportCmd(g),
	)
	return root
}

// usageArgs makes every command's positional-argument check, and an
// unknown subcommand, a usage error (exit 2) with a pointer to --help.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{fmt.Errorf("%s: %w (see '%s --help')", c.CommandPath(), err, c.CommandPath())}
			}
			return nil
		}
	} else if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %s (see '%s --help')", args[0], c.CommandPath(), c.CommandPath())}
			}
			return nil
		}
		cmd.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	}
	for _, sub := range cmd.Commands() {
		usageArgs(sub)
	}
}
