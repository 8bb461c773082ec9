package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/store"
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
third asset (BNB) are converted with --fee-price, or listed as unconverted.
Amounts are in each symbol's quote asset and are totalled per quote asset
(totals_by_quote); the single "total" is given only when every symbol shares
one quote asset (otherwise it is null: USDT and BTC are never added).`,
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
	f.StringVar(&file, "trades", "", "trade file (canonical CSV, Binance or Bybit export)")
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
	var (
		account, from, to, interval, opening string
		valuation                            string
		symbols, holdings                    []string
		asJSON, dryRun                       bool
	)
	cmd := &cobra.Command{
		Use:   "backfill --account NAME --from DATE --to DATE",
		Short: "Backfill PnL history from the venue's trade history and klines",
		Long: `Download an account's trade history (in windows of at most 24 hours, paced by
the venue's rate limits) and klines for a past range, rebuild positions and
equity, and store interval series for the account and its sessions. It is
resumable: a second run continues where the first stopped, and a rerun over
the same range changes nothing. With --server it runs as a durable job in the
server (progress at GET /api/v1/jobs/{id}); otherwise here, with a progress bar.`,
		Example: `  tradeplane pnl backfill --account main --from 2024-01-01 --to 2024-02-01 --interval 1h
  tradeplane pnl backfill --account main --from 2024-01-01 --to 2024-02-01 --valuation USDT \
      --opening-holding BTC=0.5 --opening-equity 30000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if account == "" {
				return usagef("--account is required")
			}
			f, err := parseDate("--from", from)
			if err != nil {
				return err
			}
			t, err := parseDate("--to", to)
			if err != nil {
				return err
			}
			if !t.After(f) {
				return usagef("--to %s must be after --from %s", to, from)
			}
			iv, err := backfill.ParseInterval(interval)
			if err != nil {
				return usagef("--interval %q: want 1h or 1d", interval)
			}
			size, err := backfill.SizeOf(f, t, iv)
			if err != nil {
				return usagef("--from %s --to %s: %s", from, to, backfill.Reason(err))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "backfill %s: %d days, %d trade windows of %d h per symbol, %d points per series\n",
				account, size.Days, size.WindowsPerSymbol, size.WindowHours, size.PointsPerSeries)
			if dryRun {
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(size)
				}
				return nil
			}
			open := udecimal.Zero
			if opening != "" {
				if open, err = udecimal.Parse(opening); err != nil {
					return usagef("--opening-equity %q is not a decimal", opening)
				}
			}
			valuation = strings.ToUpper(valuation)
			amounts, assets, err := parseAssetAmounts("--opening-holding", holdings)
			if err != nil {
				return err
			}
			var held []pnl.AssetAmount
			for _, a := range assets {
				held = append(held, pnl.AssetAmount{Asset: a, Amount: udecimal.MustParse(amounts[a])})
			}
			if err := backfill.CheckOpening(valuation, held); err != nil {
				return usagef("%s (--valuation, --opening-holding)", backfill.Reason(err))
			}
			if g.server != "" {
				req := map[string]any{"account": account, "from": f, "to": t, "interval": interval, "symbols": symbols,
					"valuation": valuation}
				if opening != "" {
					req["opening_equity"] = open.String()
				}
				if len(held) > 0 {
					req["opening_holdings"] = held
				}
				return backfillOnServer(cmd, g, req, asJSON)
			}
			db, err := openDB(cmd.Context(), g, store.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			acct, err := db.Account(cmd.Context(), account)
			if err != nil {
				return usagef("no account named %q (see 'tradeplane accounts list')", account)
			}
			if inProcessVenue(acct.Venue) {
				return usagef("account %q is a %s account: its exchange lives in the server; run the backfill there with --server", account, acct.Venue)
			}
			v, err := offlineFactory(g).Open(acct)
			if err != nil {
				return err
			}
			bar := newProgressBar("backfill " + account)
			res, err := backfill.Run(cmd.Context(), backfill.Config{
				DB: db, Venue: v, Account: acct, Symbols: symbols, From: f, To: t, Interval: iv, OpeningEquity: open,
				Valuation: valuation, OpeningHoldings: held,
				Progress: func(p backfill.Progress) {
					bar.update(int64(p.WindowsDone), int64(p.WindowsTotal), fmt.Sprintf("%s %s, %d trades", p.Phase, p.Symbol, p.Trades))
				},
			})
			bar.finish()
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backfilled %s %s..%s: %d windows (%d already done), %d trades (%d new fills), %d points for %s in %s\n",
				account, f.Format("2006-01-02"), t.Format("2006-01-02"), res.Windows, res.WindowsSkipped, res.Trades, res.NewFills,
				res.Points, strings.Join(res.Scopes, ", "), res.Elapsed.Round(time.Millisecond))
			if res.Merged > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "note: %d imported fills without trade ids are the venue's fills stored again; each was counted once\n", res.Merged)
			}
			if len(res.Quotes) > 1 || len(res.Quotes) == 1 && res.Quotes[0] != res.Valuation {
				fmt.Fprintf(cmd.OutOrStdout(), "note: sums and equity are in %s; amounts quoted in %s are converted at each step's QUOTE%s candle (rows quote:ASSET keep them unconverted)\n",
					res.Valuation, strings.Join(res.Quotes, ", "), res.Valuation)
			}
			for _, u := range res.Unconverted {
				fmt.Fprintf(cmd.OutOrStdout(), "note: fees of %s %s had no price and are listed as unconverted\n", u.Amount, u.Asset)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&account, "account", "", "account to backfill")
	fl.StringVar(&from, "from", "", "start date (YYYY-MM-DD or RFC 3339, UTC)")
	fl.StringVar(&to, "to", "", "end date, exclusive")
	fl.StringVar(&interval, "interval", "1h", "series interval: 1h or 1d")
	fl.StringArrayVar(&symbols, "symbol", nil, "symbol to backfill (repeatable; default: every symbol the account traded)")
	fl.StringVar(&opening, "opening-equity", "", "the account's equity before its first fill, in the valuation asset")
	fl.StringArrayVar(&holdings, "opening-holding", nil, "an asset the account held before its first fill, ASSET=AMOUNT (repeat; needs --valuation): valued from the first mark, so selling it is not a short")
	fl.StringVar(&valuation, "valuation", "", "asset of sums and equity (default: the symbols' quote, USDT first when they differ); other quotes are converted at QUOTE+VALUATION candles")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fl.BoolVar(&dryRun, "dry-run", false, "print the backfill's size (days, trade windows, points) and start nothing")
	return cmd
}

// backfillOnServer starts the backfill as a server job and follows it.
func backfillOnServer(cmd *cobra.Command, g *globals, req map[string]any, asJSON bool) error {
	var job struct {
		ID, State, Message, Error string
		Done, Total               int64
	}
	if err := apiDo(cmd, g, "POST", "/api/v1/pnl/backfill", req, &job); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "backfill job %s started (GET /api/v1/jobs/%s)\n", job.ID, job.ID)
	bar := newProgressBar("backfill")
	for job.State != "done" && job.State != "failed" && job.State != "canceled" {
		select {
		case <-cmd.Context().Done():
			bar.finish()
			fmt.Fprintf(cmd.ErrOrStderr(), "stopped following; the job goes on in the server (stop it with 'tradeplane jobs cancel %s')\n", job.ID)
			return cmd.Context().Err()
		case <-time.After(time.Second):
		}
		if err := apiGet(cmd, g, "/api/v1/jobs/"+job.ID, &job); err != nil {
			return err
		}
		bar.update(job.Done, job.Total, job.Message)
	}
	bar.finish()
	if asJSON {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(job)
	}
	if job.State != "done" {
		return fmt.Errorf("backfill job %s %s: %s", job.ID, job.State, job.Error)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "backfill job %s done: %s\n", job.ID, strings.TrimPrefix(job.Message, "done: "))
	return nil
}

func newPnlReportCmd(g *globals) *cobra.Command {
	var (
		sessionID, account, interval, from, to string
		asJSON, accuracy                       bool
	)
	cmd := &cobra.Command{
		Use:   "report (--session ID | --account NAME)",
		Short: "Interval PnL (hourly or daily time-weighted averages) and backfill accuracy",
		Long: `Hourly or daily series of realized, unrealized and net PnL and equity, with
time-weighted averages per interval (aligned to UTC), from the backfilled
series and the live snapshots. Where both exist, the accuracy of the backfill
against what was recorded live is reported. It compares like with like: per
interval, the change of live equity (holdings valued at live prices) against
the change of backfilled net PnL, so the opening equity cancels out; with the
mean and maximum absolute and relative difference, the share of intervals
within the tolerance, the intervals that disagree most, and notes on the
differences that remain (marks at candle opens vs live prices, BNB fees,
deposits and holdings the backfill does not replay).`,
		Example: `  tradeplane pnl report --account main --interval 1d --from 2024-01-01 --to 2024-02-01`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			scope := ""
			switch {
			case sessionID != "" && account != "":
				return usagef("give --session or --account, not both")
			case sessionID != "":
				scope = "session:" + sessionID
			case account != "":
				scope = "account:" + account
			default:
				return usagef("--session ID or --account NAME is required")
			}
			iv, err := backfill.ParseInterval(interval)
			if err != nil {
				return usagef("--interval %q: want 1h or 1d", interval)
			}

			now := time.Now().UTC()
			t := now.Truncate(iv).Add(iv)
			if to != "" {
				if t, err = parseDate("--to", to); err != nil {
					return err
				}
			}
			f := t.Add(-30 * iv)
			if from != "" {
				if f, err = parseDate("--from", from); err != nil {
					return err
				}
			}
			db, err := openExistingDB(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			h, err := backfill.Report(cmd.Context(), db, scope, iv, f, t)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(h)
			}
			if !accuracy {
				h.Accuracy = nil
			}
			return h.WriteTable(cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sessionID, "session", "", "session id")
	fl.StringVar(&account, "account", "", "account name")
	fl.StringVar(&interval, "interval", "1h", "1h or 1d")
	fl.StringVar(&from, "from", "", "start (YYYY-MM-DD or RFC 3339; default 30 intervals back)")
	fl.StringVar(&to, "to", "", "end, exclusive (default now)")
	fl.BoolVar(&accuracy, "accuracy", true, "print the backfill-vs-live accuracy table when both exist")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// parseDate reads YYYY-MM-DD or RFC 3339, in UTC.
func parseDate(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, usagef("%s is required", flag)
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usagef("%s %q: want YYYY-MM-DD or RFC 3339 (2024-01-31T12:00:00Z)", flag, s)
}
