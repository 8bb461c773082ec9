// Package app assembles tradeplane's parts into one running node: it opens
// the store, builds the venues, journal, supervisor, portfolio and PnL
// services, and serves them over HTTP. cmd/tradeplane turns flags into a
// Config; tests start a real node through the same New and Run.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Config is everything a node needs; cmd fills it from flags and env.
type Config struct {
	Addr      string
	DBURL     string
	Demo      bool
	DataDir   string // kline CSVs for the demo feed; "" or missing → random walk
	MasterKey []byte
	TLSCert   string
	TLSKey    string
	Version   string
	Logger    *slog.Logger
}

// App is a running node.
type App struct {
	cfg      Config
	log      *slog.Logger
	db       *store.DB
	registry *prometheus.Registry
	handler  http.Handler
}

// DefaultDataDir finds the shared market data next to the checkout, where
// the demo replays it from.
func DefaultDataDir() string {
	for _, d := range []string{"../shared/data", "shared/data"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			abs, _ := filepath.Abs(d)
			return abs
		}
	}
	return ""
}

// New opens the store (migrating it) and builds the node.
func New(ctx context.Context, cfg Config) (*App, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := store.Open(ctx, cfg.DBURL, store.Options{})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &App{cfg: cfg, log: log, db: db, registry: reg}
	if cfg.Demo {
		if err := seedDemo(ctx, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("seed demo: %w", err)
		}
	}
	a.handler = server.New(server.Config{Version: cfg.Version, Logger: log}, server.Deps{
		Store:    db,
		Gatherer: reg,
	})
	return a, nil
}

// Handler is the node's HTTP handler (for in-process tests).
func (a *App) Handler() http.Handler { return a.handler }

// Run serves until ctx ends, then shuts down gracefully. ready is called
// with the base URL once the listener is open.
func (a *App) Run(ctx context.Context, ready func(url string)) error {
	defer a.db.Close()
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another tradeplane running? pick another --addr)", a.cfg.Addr, err)
	}
	scheme := "http"
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if a.cfg.TLSCert != "" || a.cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.TLSCert, a.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	} else if host, _, _ := net.SplitHostPort(a.cfg.Addr); !isLoopback(host) {
		a.log.Warn("listening on a non-loopback address without TLS: credentials and tokens travel in clear; set --tls-cert and --tls-key", "addr", a.cfg.Addr)
	}
	url := scheme + "://" + ln.Addr().String()
	a.log.Info("serving", "url", url, "db", a.db.Engine(), "demo", a.cfg.Demo)
	if ready != nil {
		ready(url)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	a.log.Info("stopped")
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
