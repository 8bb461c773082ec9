package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

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
