package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

// globals are the flags every command shares; each falls back to its
// TRADEPLANE_* environment variable.
type globals struct {
	db        string
	logFormat string
	logLevel  string
	server    string
	token     string
	keyFile   string
	log       *slog.Logger
}

func (g *globals) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&g.db, "db", envOr("TRADEPLANE_DB", "sqlite:tradeplane.db"), "database URL: sqlite:PATH or postgres://... (env TRADEPLANE_DB)")
	f.StringVar(&g.logFormat, "log-format", envOr("TRADEPLANE_LOG_FORMAT", "auto"), "log format: text, json, or auto (text on a terminal) (env TRADEPLANE_LOG_FORMAT)")
	f.StringVar(&g.logLevel, "log-level", envOr("TRADEPLANE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env TRADEPLANE_LOG_LEVEL)")
	f.StringVar(&g.server, "server", os.Getenv("TRADEPLANE_SERVER"), "server URL for commands that act on live sessions (env TRADEPLANE_SERVER)")
	f.StringVar(&g.token, "token", os.Getenv("TRADEPLANE_TOKEN"), "API token for --server (env TRADEPLANE_TOKEN)")
	f.StringVar(&g.keyFile, "master-key-file", envOr("TRADEPLANE_MASTER_KEY_FILE", defaultKeyFile()), "file holding the master key that encrypts venue credentials, created 0600 on first use (or set TRADEPLANE_MASTER_KEY)")
}

func (g *globals) setup(cmd *cobra.Command) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	var w io.Writer = os.Stderr
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "json":
		g.log = slog.New(slog.NewJSONHandler(w, opts))
	case "text":
		g.log = slog.New(slog.NewTextHandler(w, opts))
	case "auto", "":
		if isatty.IsTerminal(os.Stderr.Fd()) {
			g.log = slog.New(slog.NewTextHandler(w, opts))
		} else {
			g.log = slog.New(slog.NewJSONHandler(w, opts))
		}
	default:
		return usagef("--log-format %q: want text, json or auto", g.logFormat)
	}
	slog.SetDefault(g.log)
	return nil
}

// masterKey returns the key that seals venue credentials.
func (g *globals) masterKey() ([]byte, error) {
	if v := os.Getenv("TRADEPLANE_MASTER_KEY"); v != "" {
		k, err := secrets.ParseKey(v)
		if err != nil {
			return nil, usagef("TRADEPLANE_MASTER_KEY: %v", err)
		}
		return k, nil
	}
	return secrets.LoadOrCreateKeyFile(g.keyFile)
}

func defaultKeyFile() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "tradeplane", "master.key")
	}
	return "tradeplane-master.key"
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// isBadInput reports errors that mean the user gave something wrong.
func isBadInput(err error) bool {
	var ue *store.URLError
	if errors.As(err, &ue) {
		return true
	}
	var pe *tradecsv.ParseError
	if errors.As(err, &pe) || errors.Is(err, pnl.ErrInput) || errors.Is(err, backfill.ErrInput) {
		return true
	}
	var be badInput
	return errors.As(err, &be)
}

// badInput is implemented by errors from parsers (trade files, flags)
// that should exit 2.
type badInput interface {
	error
	BadInput() bool
}

// describeDBError adds what to do next to a store opening error.
func describeDBError(err error) error {
	var ue *store.UnreachableError
	var tn *store.SchemaTooNewError
	switch {
	case errors.As(err, &tn):
		return fmt.Errorf("%w", err)
	case errors.As(err, &ue):
		hint := "check --db / TRADEPLANE_DB"
		if strings.Contains(ue.URL, "postgres") {
			hint += " and that PostgreSQL is running and accepts connections"
		}
		return fmt.Errorf("%v (%s)", err, hint)
	}
	return err
}
