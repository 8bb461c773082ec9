package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
)

// offlineFactory builds venues for commands that run without a server.
func offlineFactory(g *globals) app.VenueFactory {
	f := app.VenueFactory{}
	if key, err := g.masterKey(); err == nil {
		f.Box, _ = secrets.New(key)
	}
	return f
}

func newBalancesCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "balances",
		Short: "Balances of every wallet of every account, valued live",
		Long: `Balances of every wallet of every account, valued in the valuation currency.
With --server (or TRADEPLANE_SERVER) the running server's live view is shown.
Without it, Binance accounts are read live from the venue and paper accounts
from the balances the server last stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var snap portfolio.Snapshot
			if g.server != "" {
				if err := apiGet(cmd, g, "/api/v1/portfolio", &snap); err != nil {
					return err
				}
			} else {
				db, err := openExistingDB(cmd, g)
				if err != nil {
					return err
				}
				defer db.Close()
				p, err := app.OfflinePortfolio(cmd.Context(), db, offlineFactory(g))
				if err != nil {
					return err
				}
				snap = p.Snapshot()
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(snap)
			}
			return printBalances(cmd.OutOrStdout(), snap)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the full breakdown as JSON")
	return cmd
}

func printBalances(w io.Writer, s portfolio.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "ACCOUNT\tWALLET\tASSET\tQUANTITY\tPRICE\tVALUE (%s)\tROUTE\tAGE\t\n", s.Currency)
	for _, a := range s.Accounts {
		for _, wv := range a.Wallets {
			for _, l := range wv.Lines {
				price, value := "unpriced", "-"
				if l.Price != nil {
					price = numfmt.Price(*l.Price)
				}
				if l.Value != nil {
					value = numfmt.Money(*l.Value)
				}
				age := "-"
				if l.PriceTime != nil {
					age = (time.Duration(l.AgeMS) * time.Millisecond).Round(time.Second).String()
					if l.Stale {
						age += " STALE"
					}
				}
				route := strings.Join(l.Route, " → ")
				if l.UnpricedReason != "" {
					route = l.UnpricedReason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", a.Name, wv.Wallet, l.Asset, numfmt.Amount(l.Quantity, l.Asset), price, value, route, age)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	flags := ""
	if s.Total.Partial {
		flags += " PARTIAL"
		if len(s.Total.UnpricedAssets) > 0 {
			flags += " (unpriced: " + strings.Join(s.Total.UnpricedAssets, ", ") + ")"
		}
		if len(s.Total.UnknownWallets) > 0 {
			flags += " (unknown wallets: " + strings.Join(s.Total.UnknownWallets, ", ") + ")"
		}
	}
	if s.Total.IncludesStale {
		flags += " (includes stale prices)"
	}
	fmt.Fprintf(w, "\nTOTAL %s %s   collateral value %s %s%s\n", numfmt.Money(s.Total.Value), s.Currency,
		numfmt.Money(s.Total.CollateralValue), s.Currency, flags)
	return nil
}

func newCollateralCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "collateral", Short: "Show or set per-asset collateral ratios"}
	var account string
	var asJSON bool
	show := &cobra.Command{
		Use:     "show",
		Aliases: []string{"list"},
		Short:   "Effective collateral ratio of every known asset, where it comes from, and the venues' own",
		Long: `Effective collateral ratio of every known asset and where it comes from, with
the venues' own ratios next to it where a venue reports them (Binance USDⓈ-M
futures Multi-Assets mode: 1 − the asset's haircut, from /fapi/v1/assetIndex);
a difference is flagged DIFFERS, with ours minus the venue's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var views []portfolio.RatioView
			if g.server != "" {
				var resp struct {
					Ratios []portfolio.RatioView `json:"ratios"`
				}
				path := "/api/v1/collateral"
				if account != "" {
					path += "?account=" + account
				}
				if err := apiGet(cmd, g, path, &resp); err != nil {
					return err
				}
				views = resp.Ratios
			} else {
				p, accountKey, closeDB, err := offlineWithAccount(cmd, g, account)
				if err != nil {
					return err
				}
				defer closeDB()
				if views, err = p.RatiosWithVenues(accountKey, offlineHaircuts(cmd, g, offlineDB)); err != nil {
					return err
				}
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(views)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ASSET\tRATIO\tSOURCE\tVENUE RATIOS\tFLAG")
			for _, v := range views {
				vt, flag := venueRatioText(v)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Asset, v.Ratio, v.Source, vt, flag)
			}
			return tw.Flush()
		},
	}
	show.Flags().StringVar(&account, "account", "", "show one account's effective ratios")
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	set := &cobra.Command{
		Use:   "set ASSET RATIO",
		Short: "Set an asset's collateral ratio (0 to 1); RATIO 'default' removes the override",
		Example: `  tradeplane collateral set BTC 0.9
  tradeplane collateral set DOGE 0.3 --account alpha
  tradeplane collateral set BTC default`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			asset, ratio := strings.ToUpper(args[0]), args[1]
			if g.server != "" {
				// The API takes "default" as the removal; an empty ratio is a 400.
				body := map[string]string{"ratio": ratio, "account": account}
				return apiDo(cmd, g, http.MethodPut, "/api/v1/collateral/"+asset, body, nil)
			}
			if strings.TrimSpace(ratio) == "" {
				return usagef(`RATIO is empty: give a decimal from 0 to 1, or "default" to remove the override`)
			}
			if ratio == "default" {
				ratio = ""
			}
			p, accountKey, closeDB, err := offlineWithAccount(cmd, g, account)
			if err != nil {
				return err
			}
			defer closeDB()
			v, err := p.SetRatios(actorName(), accountKey, []portfolio.RatioInput{{Asset: asset, Ratio: ratio}})
			if err != nil {
				if portfolio.IsValidation(err) {
					return usageError{err}
				}
				return err
			}
			// v.Account is the account's id, as the portfolio keys it; the
			// name would match no account when the change is replayed.
			if err := app.PersistCollateral(cmd.Context(), offlineDB, v); err != nil {
				return err
			}
			for _, c := range v.Changes {
				fmt.Fprintf(cmd.OutOrStdout(), "%s collateral ratio: %s → %s\n", c.Asset, ratioText(c.Old), ratioText(c.New))
			}
			return nil
		},
	}
	set.Flags().StringVar(&account, "account", "", "override for one account only")
	cmd.AddCommand(show, set)
	return cmd
}

// offlineDB is the store opened by offlineWithAccount (one per process).
var offlineDB *store.DB

func offlineWithAccount(cmd *cobra.Command, g *globals, account string) (*portfolio.Portfolio, string, func(), error) {
	db, err := openDB(cmd.Context(), g, store.Options{})
	if err != nil {
		return nil, "", nil, err
	}
	offlineDB = db
	p, err := app.OfflinePortfolio(cmd.Context(), db, offlineFactory(g))
	if err != nil {
		db.Close()
		return nil, "", nil, err
	}
	key := ""
	if account != "" {
		a, err := db.Account(cmd.Context(), account)
		if err != nil {
			db.Close()
			return nil, "", nil, usagef("no account named %q (see 'tradeplane accounts list')", account)
		}
		key = fmt.Sprint(a.ID)
	}
	return p, key, func() { db.Close() }, nil
}

func ratioText(d *portfolio.Decimal) string {
	if d == nil {
		return "default"
	}
	return d.String()
}

func actorName() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}
