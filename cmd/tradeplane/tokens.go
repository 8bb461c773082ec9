package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/store"
)

func newTokensCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Create, list and revoke API tokens",
		Long: `API tokens authenticate the CLI and scripts to the server (TRADEPLANE_TOKEN) and
log in to the dashboard. These commands work straight on the database named
by --db; a running server honours a revoke within seconds.`,
	}
	var role, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token; the token is printed once and cannot be recovered",
		Example: `  tradeplane tokens create --role trader --name ci
  export TRADEPLANE_TOKEN=$(tradeplane tokens create --role viewer --name dashboards)`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := auth.ParseRole(role)
			if err != nil || r == auth.RoleNone {
				return usagef("--role %q: want viewer, trader or admin", role)
			}
			// A first token may make a new database (before the first
			// serve); with a server given, a missing file is the wrong
			// --db, and a token there would never log in.
			var db *store.DB
			if g.server != "" {
				db, err = openExistingDB(cmd, g)
			} else {
				db, err = openDB(cmd.Context(), g, store.Options{})
			}
			if err != nil {
				return err
			}
			defer db.Close()
			plain, t, err := auth.CreateToken(cmd.Context(), db, r, name)
			if err != nil {
				return err
			}
			// The token alone on stdout, so $(...) captures it; the rest on stderr.
			fmt.Fprintln(cmd.OutOrStdout(), plain)
			fmt.Fprintf(cmd.ErrOrStderr(), "created %s token %s%s. It is shown once and cannot be recovered: store it now (revoke with 'tradeplane tokens revoke %s').\n",
				t.Role, t.ID, quotedName(t.Name), t.ID)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "viewer (read), trader (act on sessions, Trade All) or admin (accounts, collateral, tokens)")
	create.Flags().StringVar(&name, "name", "", "what the token is for, e.g. ci or alice")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets), revoked ones included",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openExistingDB(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			ts, err := auth.ListTokens(cmd.Context(), db)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]tokenJSON, 0, len(ts))
				for _, t := range ts {
					out = append(out, tokenJSON{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt.UTC(), LastUsedAt: utcPtr(t.LastUsedAt), RevokedAt: utcPtr(t.RevokedAt)})
				}
				return writeJSONDoc(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tLAST USED\tREVOKED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, dash(t.Name), t.Role, t.CreatedAt.UTC().Format(time.RFC3339),
					timeOrDash(utcPtr(t.LastUsedAt)), timeOrDash(utcPtr(t.RevokedAt)))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print one JSON array")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token (by the id 'tokens list' shows)",
		Args:  exactArgs(1, "a token ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openExistingDB(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := auth.RevokeToken(cmd.Context(), db, args[0]); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return usagef("no live token with id %q (see 'tradeplane tokens list')", args[0])
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// tokenJSON is a token as `tokens list --json` prints it.
type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func quotedName(n string) string {
	if n == "" {
		return ""
	}
	return fmt.Sprintf(" named %q", n)
}
