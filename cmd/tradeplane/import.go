package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/backfill"
)

func newImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Import trade files"}
	var account string
	var asJSON bool
	trades := &cobra.Command{
		Use:   "trades --account NAME FILE",
		Short: "Import a trade file (canonical CSV, Binance's or Bybit's export) as fills of an account",
		Long: `Import a trade file as fills of an account, for PnL history. The whole file is
checked first: a bad row names its line and column and nothing is imported.
Importing the same file twice adds nothing (fills are keyed by trade id, or by
a content hash when the file has none).`,
		Example: `  tradeplane import trades --account main fills.csv`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if account == "" {
				return usagef("--account is required")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			defer f.Close()
			st, _ := f.Stat()
			db, err := openExistingDB(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := db.Account(cmd.Context(), account); err != nil {
				return usagef("no account named %q (see 'tradeplane accounts list')", account)
			}
			bar := newProgressBar("import " + args[0])
			res, err := backfill.ImportTrades(cmd.Context(), db, account, f, st.Size(), func(done, total int64) {
				bar.update(done, total, "")
			})
			bar.finish()
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s file: %d rows, %d new fills, %d already imported\n", res.Format, res.Rows, res.New, res.Duplicates)
			return nil
		},
	}
	trades.Flags().StringVar(&account, "account", "", "account the trades belong to")
	trades.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(trades)
	return cmd
}
