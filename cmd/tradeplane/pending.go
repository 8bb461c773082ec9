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
