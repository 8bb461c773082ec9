package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/fieldcheck"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
)

// masterClient opens the Binance client of the master account named name,
// which must be a Binance account with its own key.
func masterClient(cmd *cobra.Command, g *globals, db *store.DB, name string) (*binance.Client, error) {
	if _, err := db.Account(cmd.Context(), name); errors.Is(err, store.ErrNotFound) {
		return nil, usagef("--master: no account named %q (see 'tradeplane accounts list')", name)
	}
	f := offlineFactory(g)
	f.Lookup = db.Account
	c, err := f.MasterClient(cmd.Context(), name)
	if err != nil {
		return nil, usagef("--master: %v", err)
	}
	return c, nil
}

// checkSubAccount refuses a sub-account its master does not list (asked of
// Binance with the master's key), and one with its own key that cannot be
// opened.
func checkSubAccount(cmd *cobra.Command, g *globals, a *store.Account) error {
	db, err := openExistingDB(cmd, g)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := masterClient(cmd, g, db, a.Master); err != nil {
		return err
	}
	f := offlineFactory(g)
	f.Lookup = db.Account
	if err := f.CheckSubAccount(cmd.Context(), *a); err != nil {
		if errors.Is(err, app.ErrNotSubAccount) {
			return usagef("--sub-account %v", err)
		}
		return err
	}
	if a.APIKey != "" {
		if _, err := f.Open(*a); err != nil {
			return usagef("account %q cannot be opened: %v", a.Name, err)
		}
	}
	return nil
}

// subAccountName is the account name discovery gives a sub-account:
// MASTER.LOCALPART, with characters an account name may not hold replaced
// by '_', at most fieldcheck.MaxNameLen long.
func subAccountName(master, email string) string {
	local, _, _ := strings.Cut(email, "@")
	var b strings.Builder
	for _, r := range local {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := master + "." + b.String()
	if len(name) > fieldcheck.MaxNameLen {
		name = name[:fieldcheck.MaxNameLen]
	}
	return name
}

// discoverSubAccounts adds every sub-account the master lists that is not
// stored yet, without a key of its own (read through the master).
func discoverSubAccounts(cmd *cobra.Command, g *globals, venueName, master string, tags []string) error {
	if venueName != "binance" {
		return usagef("--discover-sub-accounts: sub-accounts are Binance's; use --venue binance")
	}
	if err := fieldcheck.AccountName("--master", master); err != nil {
		return usagef("%v", err)
	}
	if err := fieldcheck.Tags("--tag", tags); err != nil {
		return usagef("%v", err)
	}
	db, err := openExistingDB(cmd, g)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := masterClient(cmd, g, db, master)
	if err != nil {
		return err
	}
	subs, err := c.SubAccounts(cmd.Context())
	if err != nil {
		return fmt.Errorf("list the sub-accounts of %q: %w", master, err)
	}
	accts, err := db.Accounts(cmd.Context())
	if err != nil {
		return err
	}
	have := map[string]string{} // email → account name, of this master
	for _, a := range accts {
		if a.Master == master {
			have[strings.ToLower(a.SubAccountEmail)] = a.Name
		}
	}
	out := cmd.OutOrStdout()
	added, failed := 0, 0
	for _, s := range subs {
		if n, ok := have[strings.ToLower(s.Email)]; ok {
			fmt.Fprintf(out, "%s: already added as %q\n", s.Email, n)
			continue
		}
		a := &store.Account{Name: subAccountName(master, s.Email), Venue: "binance", Tags: tags, Master: master, SubAccountEmail: s.Email}
		if err := fieldcheck.CheckAccount(fieldcheck.Account{Name: a.Name, Venue: a.Venue, Tags: tags, Master: master,
			SubAccountEmail: s.Email}, fieldcheck.FlagFields); err != nil {
			fmt.Fprintf(out, "%s: not added: %v\n", s.Email, err)
			failed++
			continue
		}
		if err := db.CreateAccount(cmd.Context(), a); err != nil {
			if errors.Is(err, store.ErrConflict) {
				err = fmt.Errorf("an account named %q exists; add it with --name and --sub-account", a.Name)
			}
			fmt.Fprintf(out, "%s: not added: %v\n", s.Email, err)
			failed++
			continue
		}
		note := ""
		if s.Frozen {
			note = " (frozen on Binance)"
		}
		fmt.Fprintf(out, "%s: added as %q (id %d), read through %q%s\n", s.Email, a.Name, a.ID, master, note)
		added++
	}
	fmt.Fprintf(out, "%d sub-account(s) of %q listed, %d added\n", len(subs), master, added)
	if failed > 0 {
		return fmt.Errorf("%d sub-account(s) not added", failed)
	}
	return nil
}
