package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/fieldcheck"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// venueHelp names the registered venues for --venue's help and those whose
// accounts need credentials.
func venueHelp() string {
	var creds []string
	for _, k := range venue.Kinds() {
		if k.Credentials {
			creds = append(creds, k.Name)
		}
	}
	h := venue.NamesText()
	if len(creds) > 0 {
		h += "; " + strings.Join(creds, ", ") + " need --api-key and --api-secret-file"
	}
	return h
}

// inProcessVenue reports whether the venue named lives in the serving
// process (the paper exchange), so its accounts open only in the server.
func inProcessVenue(name string) bool {
	k, err := venue.Lookup(name)
	return err == nil && k.InProcess
}

func newAccountsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "accounts", Short: "Add, list and remove exchange accounts"}
	var (
		name, venueName, baseURL, apiKey, secretFile string
		master, subEmail                             string
		discover                                     bool
		tags                                         []string
		futLeverage, futMarginType                   []string
		asJSON                                       bool
	)
	add := &cobra.Command{
		Use:   "add",
		Short: "Store an account; its API secret is encrypted at rest",
		Example: `  tradeplane accounts add --name main --venue paper
  tradeplane accounts add --name main --venue binance --api-key K --api-secret-file secret.txt
  tradeplane accounts add --name perps --venue binance-futures --api-key K --api-secret-file secret.txt
  tradeplane accounts add --name perps5x --venue binance-futures --api-key K --api-secret-file secret.txt --futures-leverage BTCUSDT=5 --futures-margin-type BTCUSDT=isolated
  tradeplane accounts add --name uta --venue bybit --api-key K --api-secret-file secret.txt
  tradeplane accounts add --name desk1 --venue binance --master main --sub-account desk1@example.com
  tradeplane accounts add --venue binance --master main --discover-sub-accounts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			secret := ""
			if secretFile != "" {
				raw, err := os.ReadFile(secretFile)
				if err != nil {
					return usagef("--api-secret-file: %v", err)
				}
				if secret = strings.TrimSpace(string(raw)); secret == "" {
					return usagef("--api-secret-file %s is empty", secretFile)
				}
			}
			if discover {
				if name != "" || subEmail != "" || apiKey != "" || secret != "" {
					return usagef("--discover-sub-accounts adds every sub-account of --master without a key; it takes no --name, --sub-account or key")
				}
				if g.server != "" {
					return usagef("--discover-sub-accounts does not go through --server: run it with the server's database (--db) and --server '', then restart the server, which opens accounts at its start")
				}
				return discoverSubAccounts(cmd, g, venueName, master, tags)
			}
			lev, err := parseFuturesLeverage(futLeverage)
			if err != nil {
				return err
			}
			modes, err := parseFuturesMarginType(futMarginType)
			if err != nil {
				return err
			}
			mt := make(map[string]string, len(modes))
			for sym, m := range modes {
				mt[sym] = string(m)
			}
			// The one validation the API runs too.
			if err := fieldcheck.CheckAccount(fieldcheck.Account{Name: name, Venue: venueName, BaseURL: baseURL, APIKey: apiKey,
				APISecret: secret, Tags: tags, Master: master, SubAccountEmail: subEmail, FuturesLeverage: lev,
				FuturesMarginType: mt}, fieldcheck.FlagFields); err != nil {
				return usagef("%v", err)
			}
			a := &store.Account{Name: name, Venue: venueName, BaseURL: baseURL, APIKey: apiKey, Tags: tags,
				Master: master, SubAccountEmail: subEmail, FuturesLeverage: lev, FuturesMarginType: mt}
			if g.server != "" {
				// The server stores it, seals the secret with its own
				// master key, checks that the account opens and opens it
				// at once; a row written behind its back would wait for a
				// restart.
				var got server.AccountView
				if err := apiDo(cmd, g, "POST", "/api/v1/accounts", server.NewAccount{Name: name, Venue: venueName, BaseURL: baseURL,
					APIKey: apiKey, APISecret: secret, Tags: tags, Master: master, SubAccountEmail: subEmail,
					FuturesLeverage: lev, FuturesMarginType: mt}, &got); err != nil {
					return accountsAPIError(err, name, true)
				}
				a.ID = got.ID
				printAdded(cmd, a)
				return nil
			}
			if subEmail != "" {
				if err := checkSubAccount(cmd, g, a); err != nil {
					return err
				}
			}
			if secret != "" {
				key, err := g.masterKey()
				if err != nil {
					return err
				}
				box, err := secrets.New(key)
				if err != nil {
					return err
				}
				if a.APISecretEnc, err = box.Seal([]byte(secret)); err != nil {
					return err
				}
			}
			// An account that cannot be opened is refused, not stored (an
			// in-process venue's account, paper's, opens in the server,
			// where its exchange lives; a sub-account was checked above).
			if !inProcessVenue(a.Venue) && a.SubAccountEmail == "" {
				if _, err := offlineFactory(g).Open(*a); err != nil {
					return usagef("account %q cannot be opened: %v", a.Name, err)
				}
			}
			db, err := openDB(cmd.Context(), g, store.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.CreateAccount(cmd.Context(), a); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return usagef("an account named %q already exists (see 'tradeplane accounts list')", name)
				}
				return err
			}
			printAdded(cmd, a)
			fmt.Fprintln(cmd.ErrOrStderr(), "note: a server running on this database opens the account at its next start; with --server (TRADEPLANE_SERVER) the server adds it and opens it at once")
			return nil
		},
	}
	f := add.Flags()
	f.StringVar(&name, "name", "", "account name (unique)")
	f.StringVar(&venueName, "venue", "paper", "venue: "+venueHelp())
	f.StringVar(&baseURL, "base-url", "", "venue REST base URL (testnets, tests)")
	f.StringVar(&apiKey, "api-key", "", "API key")
	f.StringVar(&secretFile, "api-secret-file", "", "file holding the API secret (never pass a secret on the command line)")
	f.StringSliceVar(&tags, "tag", nil, "tag (repeatable)")
	f.StringVar(&master, "master", "", "Binance: the master account (by name) of the sub-account")
	f.StringVar(&subEmail, "sub-account", "", "Binance: the sub-account's email; without --api-key its balances are read through --master's key")
	f.StringArrayVar(&futLeverage, "futures-leverage", nil, "binance-futures: SYMBOL=N, this account's leverage (1 to 125) on SYMBOL, set before it first trades it; overrides serve's flag for SYMBOL; repeatable")
	f.StringArrayVar(&futMarginType, "futures-margin-type", nil, "binance-futures: SYMBOL=cross|isolated, this account's margin type on SYMBOL; overrides serve's flag for SYMBOL; repeatable")
	f.BoolVar(&discover, "discover-sub-accounts", false, "Binance: add every sub-account of --master not added yet, named MASTER.LOCALPART")

	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts (secrets are never shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			accts, err := listAccounts(cmd, g)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Name            string   `json:"name"`
					Venue           string   `json:"venue"`
					BaseURL         string   `json:"base_url,omitempty"`
					HasSecret       bool     `json:"has_secret"`
					Tags            []string `json:"tags"`
					CreatedAt       string   `json:"created_at"`
					Master          string   `json:"master,omitempty"`
					SubAccountEmail string   `json:"sub_account_email,omitempty"`
					// Per symbol, this account's own.
					FuturesLeverage   map[string]int    `json:"futures_leverage,omitempty"`
					FuturesMarginType map[string]string `json:"futures_margin_type,omitempty"`
				}
				out := []row{}
				for _, a := range accts {
					out = append(out, row{a.Name, a.Venue, a.BaseURL, a.hasSecret, nonNilTags(a.Tags), a.CreatedAt.UTC().Format(time.RFC3339),
						a.Master, a.SubAccountEmail, a.FuturesLeverage, a.FuturesMarginType})
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVENUE\tCREDENTIALS\tMASTER\tTAGS")
			for _, a := range accts {
				cred := "-"
				if a.hasSecret {
					cred = "encrypted"
				} else if a.Master != "" {
					cred = "via master"
				}
				masterCol := "-"
				if a.Master != "" {
					masterCol = a.Master + " (" + a.SubAccountEmail + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Venue, cred, masterCol, strings.Join(a.Tags, ","))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an account with no sessions, orders or fills",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.server != "" {
				if err := apiDo(cmd, g, "DELETE", "/api/v1/accounts/"+url.PathEscape(args[0]), nil, nil); err != nil {
					return accountsAPIError(err, args[0], false)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "account %q removed\n", args[0])
				return nil
			}
			db, err := openExistingDB(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.DeleteAccount(cmd.Context(), args[0]); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return usagef("no account named %q", args[0])
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "account %q removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// accountsAPIError says what to do about the server's answers that the
// database path words itself: a name taken (adding), a role that may not
// manage accounts.
func accountsAPIError(err error, name string, adding bool) error {
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case adding && ae.Code == apperr.Conflict:
		return usagef("an account named %q already exists (see 'tradeplane accounts list')", name)
	case ae.Code == apperr.Forbidden:
		return usagef("%v: adding and removing accounts needs an admin token (tradeplane tokens create --role admin)", err)
	}
	return err
}

// printAdded says what 'accounts add' stored.
func printAdded(cmd *cobra.Command, a *store.Account) {
	if a.Master != "" {
		how := "read through the master's key; trading needs its own key"
		if a.APIKey != "" {
			how = "with its own key"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "account %q added (venue %s, id %d, sub-account %s of %q, %s)\n", a.Name, a.Venue, a.ID,
			a.SubAccountEmail, a.Master, how)
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "account %q added (venue %s, id %d)\n", a.Name, a.Venue, a.ID)
}

// listedAccount is a row of 'accounts list'.
type listedAccount struct {
	store.Account
	hasSecret bool
}

// listAccounts reads the accounts from the server (every page) when one is
// given, else from the database.
func listAccounts(cmd *cobra.Command, g *globals) ([]listedAccount, error) {
	var out []listedAccount
	if g.server != "" {
		accts, err := allPages[server.AccountView](cmd, g, "/api/v1/accounts", "accounts", url.Values{})
		if err != nil {
			return nil, err
		}
		for _, a := range accts {
			out = append(out, listedAccount{store.Account{ID: a.ID, Name: a.Name, Venue: a.Venue, Tags: a.Tags, CreatedAt: a.CreatedAt,
				Master: a.Master, SubAccountEmail: a.SubAccountEmail, FuturesLeverage: a.FuturesLeverage,
				FuturesMarginType: a.FuturesMarginType}, a.HasCredentials})
		}
		return out, nil
	}
	db, err := openExistingDB(cmd, g)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	accts, err := db.Accounts(cmd.Context())
	if err != nil {
		return nil, err
	}
	for _, a := range accts {
		out = append(out, listedAccount{a, len(a.APISecretEnc) > 0})
	}
	return out, nil
}

func nonNilTags(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}
