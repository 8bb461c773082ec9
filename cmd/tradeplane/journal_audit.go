package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/store"
)

func newJournalAuditCmd(g *globals) *cobra.Command {
	var account, fromS, toS string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Compare the journal with the venue's own order and trade history",
		Long: `Compares what the journal says an account did from --from to --to (orders
created and fills made) with the venue's own order history and trades, and
lists every difference: an order or trade the venue has and the journal does
not (missing), one the journal has and the venue does not (extra), or an
order in both with another status, executed quantity, fees or trades. Exits 1
when there is a difference.

With --server (or TRADEPLANE_SERVER) the server runs it (needed for the
paper venue, whose state lives in the server process); without it the
database named by --db is read and Binance accounts are asked directly. The
server also runs it on a schedule (hourly over the last 24 hours), records
the venue's fills of journaled orders that the journal lacks, and raises a
critical alert on any difference a second audit a minute later confirms. An
order in flight while an audit runs differs for a moment: audit a range that
has ended, or run it again.`,
		Example: `  tradeplane journal audit --account main --from 2026-12-01 --to 2026-12-02
  tradeplane journal audit --account alpha --from 2026-12-04T09:00:00Z --to 2026-12-04T10:00:00Z --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if account == "" {
				return usagef("--account is required: the account to audit")
			}
			from, err := parseAuditTime("--from", fromS)
			if err != nil {
				return err
			}
			to, err := parseAuditTime("--to", toS)
			if err != nil {
				return err
			}
			if !from.Before(to) {
				return usagef("--from %s is not before --to %s", fromS, toS)
			}
			var rep journal.AuditReport
			if g.server != "" {
				q := url.Values{"account": {account}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
				if err := apiGet(cmd, g, "/api/v1/journal/audit?"+q.Encode(), &rep); err != nil {
					return err
				}
			} else {
				db, err := openExistingDB(cmd, g)
				if err != nil {
					return err
				}
				defer db.Close()
				acct, err := db.Account(cmd.Context(), account)
				if err != nil {
					return usagef("--account %q: %v", account, err)
				}
				if inProcessVenue(acct.Venue) {
					return usagef("--account %q is on the %s venue, whose orders live in the server process: give --server (or TRADEPLANE_SERVER)", account, acct.Venue)
				}
				v, err := offlineFactory(g).Open(acct)
				if err != nil {
					return fmt.Errorf("open account %q: %w", account, err)
				}
				ss, err := db.Sessions(cmd.Context(), store.SessionFilter{AccountID: acct.ID})
				if err != nil {
					return err
				}
				var syms []string
				for _, s := range ss {
					for _, sym := range s.Symbols {
						if !slices.Contains(syms, sym) {
							syms = append(syms, sym)
						}
					}
				}
				if rep, err = journal.Audit(cmd.Context(), db, v, acct.ID, from, to, syms); err != nil {
					return err
				}
			}
			if asJSON {
				if err := writeJSONDoc(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else if err := printAudit(cmd.OutOrStdout(), account, rep); err != nil {
				return err
			}
			if n := len(rep.Differences); n > 0 {
				return fmt.Errorf("journal audit of %s: %d differences with the venue", account, n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&account, "account", "", "the account to audit (required)")
	f.StringVar(&fromS, "from", "", "start of the range: RFC 3339 time or YYYY-MM-DD (required)")
	f.StringVar(&toS, "to", "", "end of the range (exclusive): RFC 3339 time or YYYY-MM-DD (required)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func parseAuditTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, usagef("%s is required: an RFC 3339 time or a YYYY-MM-DD date", flag)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usagef("%s %q: want an RFC 3339 time or a YYYY-MM-DD date", flag, v)
}

func printAudit(w io.Writer, account string, rep journal.AuditReport) error {
	fmt.Fprintf(w, "account %s, %s to %s: %d orders and %d trades compared on %s\n", account, rep.From.Format(time.RFC3339),
		rep.To.Format(time.RFC3339), rep.Orders, rep.Trades, strings.Join(rep.Symbols, ", "))
	if len(rep.Differences) == 0 {
		fmt.Fprintln(w, "no differences")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSYMBOL\tORDER\tTRADE\tJOURNAL\tVENUE")
	for _, d := range rep.Differences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(d.Kinds, "+"), d.Symbol, orDash(d.ClientOrderID), orDash(d.TradeID), d.Journal, d.Venue)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
