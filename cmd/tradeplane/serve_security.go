package main

import (
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tradeplane/tradeplane/internal/app"
)

// securityFlags registers serve's --public-url and --metrics-token-file
// and returns the check that fills cfg from them once flags are parsed.
func securityFlags(f *pflag.FlagSet, cfg *app.Config) func() error {
	var tokenFile string
	f.StringVar(&cfg.PublicURL, "public-url", envOr("TRADEPLANE_PUBLIC_URL", ""), "URL users reach this node at, e.g. behind a TLS-terminating proxy; https marks the login cookie Secure (env TRADEPLANE_PUBLIC_URL)")
	f.StringVar(&tokenFile, "metrics-token-file", envOr("TRADEPLANE_METRICS_TOKEN_FILE", ""), "file holding a bearer token /metrics then requires (off by default; env TRADEPLANE_METRICS_TOKEN_FILE)")
	return func() error {
		if cfg.PublicURL != "" {
			u, err := url.Parse(cfg.PublicURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("--public-url %q: want an http(s) URL such as https://desk.example.com", cfg.PublicURL)
			}
		}
		if tokenFile != "" {
			raw, err := os.ReadFile(tokenFile)
			if err != nil {
				return usagef("--metrics-token-file: %v", err)
			}
			tok := strings.TrimSpace(string(raw))
			if len(tok) < 16 {
				return usagef("--metrics-token-file %s: the token is %d characters; use at least 16 (e.g. openssl rand -hex 32)", tokenFile, len(tok))
			}
			cfg.MetricsToken = tok
		}
		return nil
	}
}
