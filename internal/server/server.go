// Package server is tradeplane's HTTP face: the JSON API under /api/v1, the
// server-sent event streams, /healthz, /metrics and the embedded dashboard.
// It translates HTTP to calls on the services it is given and back; it owns
// no trading logic and knows no SQL or venue wire format.
package server

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tradeplane/tradeplane/internal/store"
)

// Config tunes the server.
type Config struct {
	Version string
	Logger  *slog.Logger
}

// Deps are the services the server exposes.
type Deps struct {
	Store    *store.DB
	Gatherer prometheus.Gatherer
}

//go:embed templates/*.html
var templateFiles embed.FS

var pages = template.Must(template.ParseFS(templateFiles, "templates/*.html"))

// Server routes requests to the services.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	mux  *http.ServeMux
}

// New returns the HTTP handler of a node.
func New(cfg Config, deps Deps) *Server {
	s := &Server{cfg: cfg, deps: deps, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(deps.Gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /api/v1/accounts", s.listAccounts)
	s.mux.HandleFunc("GET /{$}", s.overview)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// healthz answers 200 when the database answers, 503 otherwise.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.Store.Ping(ctx); err != nil {
		s.log.Error("healthz: database unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "database": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": s.deps.Store.Engine(), "version": s.cfg.Version})
}

type accountJSON struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Venue     string    `json:"venue"`
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	accts, err := s.deps.Store.Accounts(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := make([]accountJSON, 0, len(accts))
	for _, a := range accts {
		out = append(out, accountJSON{ID: a.ID, Name: a.Name, Venue: a.Venue, Tags: a.Tags, CreatedAt: a.CreatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
}

type overviewAccount struct {
	store.Account
	Balances []store.Balance
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	accts, err := s.deps.Store.Accounts(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	bals, err := s.deps.Store.Balances(r.Context(), 0)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	byAcct := map[int64][]store.Balance{}
	for _, b := range bals {
		byAcct[b.AccountID] = append(byAcct[b.AccountID], b)
	}
	view := struct {
		Version  string
		Accounts []overviewAccount
	}{Version: s.cfg.Version}
	for _, a := range accts {
		bs := byAcct[a.ID]
		sort.Slice(bs, func(i, j int) bool {
			if bs[i].Wallet != bs[j].Wallet {
				return bs[i].Wallet < bs[j].Wallet
			}
			return bs[i].Asset < bs[j].Asset
		})
		view.Accounts = append(view.Accounts, overviewAccount{Account: a, Balances: bs})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, "overview.html", view); err != nil {
		s.log.Error("render overview", "err", err)
	}
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	status, code := http.StatusInternalServerError, "internal"
	if errors.Is(err, store.ErrNotFound) {
		status, code = http.StatusNotFound, "not_found"
	}
	writeError(w, status, code, http.StatusText(status))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes the API's one error shape: {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
