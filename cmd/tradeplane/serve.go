package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store"
)

func newServeCmd(g *globals) *cobra.Command {
	cfg := app.Config{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: API, dashboard and session supervisor",
		Long: `Run the server. With --demo it starts the built-in paper exchange with three demo
accounts and a handful of sessions, fed by real market data when available.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
				return usagef("--addr %q: want host:port, e.g. 127.0.0.1:8080", cfg.Addr)
			}
			cfg.DBURL = g.db
			cfg.Logger = g.log
			cfg.Version = Version
			key, err := g.masterKey()
			if err != nil {
				return err
			}
			cfg.MasterKey = key
			a, err := app.New(cmd.Context(), cfg)
			if err != nil {
				return describeDBError(err)
			}
			return a.Run(cmd.Context(), func(url string) {
				fmt.Fprintf(cmd.OutOrStdout(), "tradeplane %s serving on %s\n", Version, url)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", envOr("TRADEPLANE_ADDR", "127.0.0.1:8080"), "listen address (env TRADEPLANE_ADDR)")
	f.BoolVar(&cfg.Demo, "demo", false, "run the demo: paper exchange, demo accounts and sessions, replayed market data")
	f.StringVar(&cfg.DataDir, "data-dir", envOr("TRADEPLANE_DATA_DIR", app.DefaultDataDir()), "directory of kline CSV files the demo replays (a seeded random walk when absent)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file")
	f.StringVar(&cfg.NodeID, "node-id", envOr("TRADEPLANE_NODE_ID", ""), "this node's name in a cluster on PostgreSQL; default host-pid; reuse it across restarts to keep its leases (env TRADEPLANE_NODE_ID)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", 15*time.Second, "on PostgreSQL, how long a node owns a session without renewing its lease: a dead node's sessions move to others after about this long")
	return cmd
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openDB(cmd.Context(), g, store.Options{NoMigrate: true})
			if err != nil {
				return err
			}
			defer db.Close()
			applied, err := db.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			cur, _, err := db.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "schema is up to date (version %d, %s)\n", cur, db.Engine())
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "applied migrations %v; schema is now version %d (%s)\n", applied, cur, db.Engine())
			}
			return nil
		},
	}
}

// openDB opens the database named by --db with a message that says what to
// do when it fails.
func openDB(ctx context.Context, g *globals, opts store.Options) (*store.DB, error) {
	db, err := store.Open(ctx, g.db, opts)
	if err != nil {
		return nil, describeDBError(err)
	}
	return db, nil
}
