package main

import "github.com/spf13/cobra"

// Commands whose capability lands with its own issue answer honestly until
// then: "not available yet", exit 1.

func pendingCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:                use,
		Short:              short,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notYet("'tradeplane " + cmd.CommandPath()[len("tradeplane "):] + "'")
		},
	}
}

func newSessionsCmd(g *globals) *cobra.Command {
	return pendingCmd("sessions", "Create, list, start, stop and restart trading sessions")
}

func newTradeAllCmd(g *globals) *cobra.Command {
	return pendingCmd("trade-all", "Run one trade step of many sessions at once")
}

func newJournalCmd(g *globals) *cobra.Command {
	return pendingCmd("journal", "Query and follow the execution journal")
}

func newImportCmd(g *globals) *cobra.Command {
	return pendingCmd("import", "Import trade files")
}

func newTokensCmd(g *globals) *cobra.Command {
	return pendingCmd("tokens", "Create, list and revoke API tokens")
}

func newBenchCmd(g *globals) *cobra.Command {
	return pendingCmd("bench", "End-to-end benchmarks")
}
