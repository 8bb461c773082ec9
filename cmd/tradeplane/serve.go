package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store"
)

// currencyPattern is what a valuation currency may look like: an asset code.
var currencyPattern = regexp.MustCompile(`^[A-Z0-9]{2,12}$`)

func newServeCmd(g *globals) *cobra.Command {
	cfg := app.Config{}
	var alertFlags alertOptions
	var checkSecurity func() error
	var wd watchdogOptions
	var futLeverage, futMarginType []string
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
			cfg.Currency = strings.ToUpper(strings.TrimSpace(cfg.Currency))
			if !currencyPattern.MatchString(cfg.Currency) {
				return usagef("--currency %q: want an asset code such as USDT, USDC or USD", cfg.Currency)
			}
			switch {
			case cfg.BinanceLag < 0:
				return usagef("--binance-consistency-lag %s: want 0 or more", cfg.BinanceLag)
			case cfg.BinanceLag == 0:
				cfg.BinanceLag = -1 // none, as asked (app's zero means the default)
			}
			var err error
			if cfg.FuturesLeverage, err = parseFuturesLeverage(futLeverage); err != nil {
				return err
			}
			if cfg.FuturesMarginType, err = parseFuturesMarginType(futMarginType); err != nil {
				return err
			}
			if err := checkSecurity(); err != nil {
				return err
			}
			cfg.DBURL = g.db
			cfg.Logger = g.log
			cfg.Version = Version
			key, err := g.masterKey()
			if err != nil {
				return err
			}
			cfg.MasterKey = key
			if cfg.Webhooks, cfg.Telegram, err = alertSinks(alertFlags); err != nil {
				return err
			}
			if len(cfg.Webhooks) > 0 || cfg.Telegram != nil {
				g.log.Info("alerts are also sent out", "webhooks", len(cfg.Webhooks), "telegram", cfg.Telegram != nil)
			}
			if err := wd.check(); err != nil {
				return err
			}
			a, err := app.New(cmd.Context(), cfg)
			if err != nil {
				return describeDBError(err)
			}
			return runWithWatchdog(cmd.Context(), a, wd, g.log, func(url string) {
				fmt.Fprintf(cmd.OutOrStdout(), "tradeplane %s serving on %s\n", Version, url)
			})
		},
	}
	f := cmd.Flags()
	checkSecurity = securityFlags(f, &cfg)
	f.StringVar(&cfg.Addr, "addr", envOr("TRADEPLANE_ADDR", "127.0.0.1:8080"), "listen address (env TRADEPLANE_ADDR)")
	f.BoolVar(&cfg.Demo, "demo", false, "run the demo: paper exchange, demo accounts and sessions, replayed market data")
	f.StringVar(&cfg.DataDir, "data-dir", envOr("TRADEPLANE_DATA_DIR", app.DefaultDataDir()), "directory of kline CSV files (SYMBOL-INTERVAL.csv) the demo replays; the klines embedded in the binary when absent")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file")
	f.StringVar(&cfg.NodeID, "node-id", envOr("TRADEPLANE_NODE_ID", ""), "this node's name in a cluster on PostgreSQL; default host-pid; reuse it across restarts to keep its leases (env TRADEPLANE_NODE_ID)")
	f.StringVar(&cfg.Currency, "currency", envOr("TRADEPLANE_CURRENCY", "USDT"), "valuation currency of balances, collateral and totals: an asset with markets (USDT, USDC, BTC, ...) or USD, valued through the stablecoins (env TRADEPLANE_CURRENCY)")
	f.DurationVar(&cfg.SnapshotEvery, "snapshot-every", time.Minute, "how often live equity is recorded for the PnL and overview charts")
	f.DurationVar(&cfg.BinanceLag, "binance-consistency-lag", 90*time.Second, "how long Binance's order lookup and history may lag what it accepted: an order with an unknown outcome is called never executed only after its recvWindow and this have passed and neither lookup nor history has it (0: none)")
	f.StringArrayVar(&futLeverage, "futures-leverage", nil, "SYMBOL=N: the leverage (1 to 125) every binance-futures account sets on SYMBOL before it first trades it; repeatable")
	f.StringArrayVar(&futMarginType, "futures-margin-type", nil, "SYMBOL=cross|isolated: the margin type every binance-futures account sets on SYMBOL before it first trades it; repeatable")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", 15*time.Second, "on PostgreSQL, how long a node owns a session without renewing its lease: a dead node's sessions move to others after about this long")
	f.StringArrayVar(&alertFlags.webhooks, "alert-webhook", strings.Fields(os.Getenv("TRADEPLANE_ALERT_WEBHOOK")), "POST every alert as JSON to this http(s) URL; repeatable (env TRADEPLANE_ALERT_WEBHOOK, several separated by spaces)")
	f.StringVar(&alertFlags.telegramTokenFile, "alert-telegram-token-file", os.Getenv("TRADEPLANE_ALERT_TELEGRAM_TOKEN_FILE"), "file holding the Telegram bot token that sends alerts to --alert-telegram-chat, or set TRADEPLANE_ALERT_TELEGRAM_TOKEN (env TRADEPLANE_ALERT_TELEGRAM_TOKEN_FILE)")
	f.StringVar(&alertFlags.telegramChat, "alert-telegram-chat", os.Getenv("TRADEPLANE_ALERT_TELEGRAM_CHAT"), "Telegram chat id (a number, or @channel) that receives every alert (env TRADEPLANE_ALERT_TELEGRAM_CHAT)")
	wd.register(f)
	return cmd
}

// alertOptions are serve's alert flags before they are checked.
type alertOptions struct {
	webhooks          []string
	telegramTokenFile string
	telegramChat      string
}

var (
	telegramChatRE  = regexp.MustCompile(`^(-?[0-9]+|@[A-Za-z][A-Za-z0-9_]{3,})$`)
	telegramTokenRE = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)
)

// alertSinks checks the alert flags and turns them into the alert sinks of
// app.Config. A webhook URL or a bot token may be a secret: errors name the
// webhook by its position and host only, and never show the token.
func alertSinks(o alertOptions) ([]alert.Webhook, *alert.Telegram, error) {
	var hooks []alert.Webhook
	for i, raw := range o.webhooks {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			what := fmt.Sprintf("--alert-webhook #%d", i+1)
			if err == nil && u.Host != "" {
				what += " (host " + u.Host + ")"
			}
			return nil, nil, usagef("%s: want an http:// or https:// URL such as https://hooks.example.com/tradeplane", what)
		}
		hooks = append(hooks, alert.Webhook{Name: "webhook " + u.Host, URL: raw})
	}
	token := ""
	switch {
	case o.telegramTokenFile != "":
		raw, err := os.ReadFile(o.telegramTokenFile)
		if err != nil {
			return nil, nil, usagef("--alert-telegram-token-file: cannot read %s (%v); give a readable file holding the bot token", o.telegramTokenFile, errors.Unwrap(err))
		}
		if token = strings.TrimSpace(string(raw)); token == "" {
			return nil, nil, usagef("--alert-telegram-token-file %s is empty; put the bot token from @BotFather in it", o.telegramTokenFile)
		}
		if !telegramTokenRE.MatchString(token) {
			return nil, nil, usagef("--alert-telegram-token-file %s does not hold a bot token (want the form 123456:ABC-def from @BotFather)", o.telegramTokenFile)
		}
	case os.Getenv("TRADEPLANE_ALERT_TELEGRAM_TOKEN") != "":
		if token = strings.TrimSpace(os.Getenv("TRADEPLANE_ALERT_TELEGRAM_TOKEN")); !telegramTokenRE.MatchString(token) {
			return nil, nil, usagef("TRADEPLANE_ALERT_TELEGRAM_TOKEN does not hold a bot token (want the form 123456:ABC-def from @BotFather)")
		}
	}
	switch {
	case token == "" && o.telegramChat == "":
		return hooks, nil, nil
	case token == "":
		return nil, nil, usagef("--alert-telegram-chat needs a bot token: give --alert-telegram-token-file FILE or set TRADEPLANE_ALERT_TELEGRAM_TOKEN")
	case o.telegramChat == "":
		return nil, nil, usagef("a Telegram bot token is set but no chat: give --alert-telegram-chat ID (a number, or @channel)")
	case !telegramChatRE.MatchString(o.telegramChat):
		return nil, nil, usagef("--alert-telegram-chat %q: want a chat id such as -1001234567890 or @channelname", o.telegramChat)
	}
	return hooks, &alert.Telegram{BotToken: token, ChatID: o.telegramChat}, nil
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

// openExistingDB is openDB for a command that reads or changes what is
// stored: a SQLite file that is not there is refused (exit 2) instead of
// created empty, which answered "no accounts" or "0 intervals" from a new
// file in the current folder when --db (or TRADEPLANE_DB) was not the
// server's.
func openExistingDB(cmd *cobra.Command, g *globals) (*store.DB, error) {
	db, err := openDB(cmd.Context(), g, store.Options{MustExist: true})
	var nd *store.NoDatabaseError
	if errors.As(err, &nd) {
		msg := fmt.Sprintf("%v: '%s' works on an existing database; give the server's with --db (or TRADEPLANE_DB), e.g. --db sqlite:/path/to/tradeplane.db or --db postgres://...",
			err, cmd.CommandPath())
		if g.server != "" {
			msg += ", or unset TRADEPLANE_SERVER if it is not meant: this command does not go through --server"
		}
		return nil, usagef("%s", msg)
	}
	return db, err
}
