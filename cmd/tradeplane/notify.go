package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/watchdog"
)

// watchdogOptions are serve's flags for being watched from outside:
// systemd's notify socket needs none (NOTIFY_SOCKET and WATCHDOG_USEC come
// from systemd), a push monitor needs its URL.
type watchdogOptions struct {
	heartbeatURL   string
	heartbeatEvery time.Duration
	checkEvery     time.Duration
}

func (o *watchdogOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.heartbeatURL, "heartbeat-url", envOr("TRADEPLANE_HEARTBEAT_URL", ""), "push monitor URL (Healthchecks-style): POSTed every --heartbeat-interval while healthy, URL/fail with the reason when a health check fails (env TRADEPLANE_HEARTBEAT_URL)")
	f.DurationVar(&o.heartbeatEvery, "heartbeat-interval", envDuration("TRADEPLANE_HEARTBEAT_INTERVAL", time.Minute), "how often --heartbeat-url is pinged while nothing changes (env TRADEPLANE_HEARTBEAT_INTERVAL)")
	f.DurationVar(&o.checkEvery, "health-interval", envDuration("TRADEPLANE_HEALTH_INTERVAL", 10*time.Second), "how often the health checks (store, supervisor, journal) run; under systemd's watchdog at least twice per WatchdogSec (env TRADEPLANE_HEALTH_INTERVAL)")
}

func (o *watchdogOptions) check() error {
	for _, name := range []string{"TRADEPLANE_HEARTBEAT_INTERVAL", "TRADEPLANE_HEALTH_INTERVAL"} {
		if v := os.Getenv(name); v != "" {
			if _, err := time.ParseDuration(v); err != nil {
				return usagef("%s %q: want a duration such as 30s or 1m", name, v)
			}
		}
	}
	if o.heartbeatURL != "" {
		u, err := url.Parse(o.heartbeatURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--heartbeat-url: want an http:// or https:// URL such as https://hc-ping.com/YOUR-UUID")
		}
	}
	if o.heartbeatEvery < time.Second {
		return usagef("--heartbeat-interval %s: want at least 1s, e.g. 1m", o.heartbeatEvery)
	}
	if o.checkEvery < 10*time.Millisecond {
		return usagef("--health-interval %s: want at least 10ms, e.g. 10s", o.checkEvery)
	}
	return nil
}

// runWithWatchdog runs the node and, once it serves, its watchdog: READY=1
// and WATCHDOG=1 to systemd and heartbeats to the push monitor while the
// health checks pass. The watchdog stops (STOPPING=1) before Run returns.
func runWithWatchdog(ctx context.Context, a *app.App, o watchdogOptions, log *slog.Logger, ready func(url string)) error {
	w, err := watchdog.New(watchdog.Config{
		Checks: a.HealthChecks(), Interval: o.checkEvery,
		HeartbeatURL: o.heartbeatURL, HeartbeatEvery: o.heartbeatEvery,
		Registerer: a.Registerer(), Log: log,
	})
	if err != nil {
		return err
	}
	a.SetHealth(w)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	return a.Run(ctx, func(url string) {
		ready(url)
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(wctx) }()
	})
}

// envDuration is a duration flag's default from the environment; check
// rejects a bad value by name.
func envDuration(name string, def time.Duration) time.Duration {
	if v := envOr(name, ""); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func newProbeCmd() *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Exit 0 when the server's health URL answers 200 (container health checks)",
		Long: `Probe GETs --url (default the local /readyz) and exits 0 on 200, 1 otherwise,
printing the answer. Container images without a shell or curl use it as their
HEALTHCHECK: tradeplane probe --url http://127.0.0.1:8080/readyz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("--url %q: want http://host:port/readyz or /healthz", target)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("probe %s: %w", target, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			fmt.Fprint(cmd.OutOrStdout(), string(body))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("probe %s: status %d", target, resp.StatusCode)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "http://127.0.0.1:8080/readyz", "health URL to GET")
	return cmd
}
