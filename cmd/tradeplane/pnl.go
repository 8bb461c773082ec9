package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/quagmt/udecimal"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

func newPnlCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "pnl", Short: "Compute, backfill and report PnL"}
	cmd.AddCommand(newPnlComputeCmd(), newPnlBackfillCmd(g), newPnlReportCmd(g))
	return cmd
}

func newPnlComputeCmd() *cobra.Command {
	var (
		file, method     string
		marks, feePrices []string
		asJSON           bool
	)
	cmd := &cobra.Command{
		Use:   "compute --trades FILE",
		Short: "PnL of a trade file, offline (no database)",
		Long: `Compute realized, unrealized and net PnL per symbol from a trade file (the
canonical CSV or Binance's trade-history export), by average cost (default) or
FIFO. Without --mark, a symbol is marked at its last fill price. Fees paid in a
third asset (BNB) are converted with --fee-price, or listed as unconverted.`,
		Example: `  tradeplane pnl compute --trades fills.csv --mark BTCUSDT=64000 --fee-price BNB=580
  tradeplane pnl compute --trades fills.csv --method fifo --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usagef("--trades FILE is required")
			}
			m, err := pnl.ParseMethod(method)
			if err != nil {
				return usagef("--method %q: want avg or fifo", method)
			}
			markMap := map[string]pnl.Decimal{}
			for _, kv := range marks {
				sym, price, err := splitPrice("--mark", kv)
				if err != nil {
					return err
				}
				markMap[strings.ReplaceAll(strings.ToUpper(sym), "/", "")] = price
			}
			fixed := pnl.FixedPrices{}
			for _, kv := range feePrices {
				asset, price, err := splitPrice("--fee-price", kv)
				if err != nil {
					return err
				}
				// ASSET=PRICE is in the symbols' quote asset; ASSET/QUOTE=PRICE names it.
				a, q, _ := strings.Cut(strings.ToUpper(asset), "/")
				if q == "" {
					q = "*"
				}
				fixed[pnl.Pair{Asset: a, Quote: q}] = price
			}
			f, err := os.Open(file)
			if err != nil {
				return usagef("--trades: %v", err)
			}
			defer f.Close()
			trades, err := tradecsv.ReadAll(f)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", file, err)}
			}
			pricer := anyQuote(fixed, trades)
			rep, err := pnl.Compute(trades, m, markMap, pricer)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			return pnl.WriteTable(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "trades", "", "trade file (canonical CSV or Binance export)")
	f.StringVar(&method, "method", "avg", "avg (average cost) or fifo")
	f.StringArrayVar(&marks, "mark", nil, "mark price SYMBOL=PRICE (repeatable)")
	f.StringArrayVar(&feePrices, "fee-price", nil, "price of a fee asset in the quote: ASSET=PRICE or ASSET/QUOTE=PRICE (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the contract's JSON")
	return cmd
}

// anyQuote expands ASSET=PRICE (quote "*") to every quote asset in trades.
func anyQuote(fixed pnl.FixedPrices, trades []tradecsv.Trade) pnl.FixedPrices {
	quotes := map[string]bool{}
	for _, t := range trades {
		quotes[t.Quote] = true
	}
	out := pnl.FixedPrices{}
	for p, v := range fixed {
		if p.Quote != "*" {
			out[p] = v
			continue
		}
		for q := range quotes {
			out[pnl.Pair{Asset: p.Asset, Quote: q}] = v
		}
	}
	return out
}

func splitPrice(flag, kv string) (string, pnl.Decimal, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return "", pnl.Decimal{}, usagef("%s %q: want NAME=PRICE", flag, kv)
	}
	d, err := udecimal.Parse(v)
	if err != nil || d.Sign() <= 0 {
		return "", pnl.Decimal{}, usagef("%s %q: %q is not a positive decimal", flag, kv, v)
	}
	return k, d, nil
}

func newPnlBackfillCmd(g *globals) *cobra.Command {
	return pendingCmd("backfill", "Backfill PnL history from the venue's trade history and klines")
}

func newPnlReportCmd(g *globals) *cobra.Command {
	return pendingCmd("report", "Interval PnL report and backfill accuracy")
}
