package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// offlineHaircuts reads the venues' own collateral haircuts through the
// stored accounts that can read them (a Binance account with its own key:
// the haircuts are the exchange's, the same for every account). A failure
// is a warning on stderr: our ratios are shown without the venue's.
func offlineHaircuts(cmd *cobra.Command, g *globals, db *store.DB) []portfolio.VenueHaircut {
	accts, err := db.Accounts(cmd.Context())
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: venue haircuts not read: %v\n", err)
		return nil
	}
	f := offlineFactory(g)
	f.Lookup = db.Account
	var vs []venue.Venue
	for _, a := range accts {
		if a.Venue != "binance" || a.APIKey == "" {
			continue
		}
		v, err := f.Open(a)
		if err != nil {
			continue
		}
		vs = append(vs, v)
		break // one client answers for the exchange
	}
	hs, err := app.VenueHaircuts(cmd.Context(), vs)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: venue haircuts not read: %v\n", err)
	}
	return hs
}

// venueRatioText is a row's venue ratios for the table: "binance 0.9999
// (ours +0.0001) DIFFERS", or "-".
func venueRatioText(v portfolio.RatioView) (string, string) {
	if len(v.Venues) == 0 {
		return "-", ""
	}
	text, flag := "", ""
	for i, vr := range v.Venues {
		if i > 0 {
			text += ", "
		}
		text += vr.Venue + " " + vr.Ratio.String()
		if vr.Differs {
			sign := ""
			if vr.Diff.IsPos() {
				sign = "+"
			}
			text += " (ours " + sign + vr.Diff.String() + ")"
			flag = "DIFFERS"
		}
	}
	return text, flag
}
