// Package server is tradeplane's HTTP face: the JSON API under /api/v1, the
// server-sent event streams, /healthz, /metrics and the embedded dashboard
// (html/template pages, one hand-written JS file for live updates, SVG
// charts rendered here with gonum/plot).
//
// It translates HTTP to calls on the services it is given and back; it owns
// no trading logic and knows no SQL or venue wire format. The services are
// small interfaces declared in deps.go, which internal/app adapts the real
// services to. Every route but /healthz, /metrics, /login and /static is
// authenticated (an API token as a bearer token, or the dashboard's login
// cookie) and authorized by role; every state-changing request made with a
// cookie carries a CSRF token, and every state-changing request is written
// to the audit log. Errors map to HTTP in one table (errors.go) and show a
// client only messages written for it.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Config tunes the server. The zero value of every field but Version and
// Logger takes the default named on it.
type Config struct {
	Version string
	Logger  *slog.Logger
	// Clock tells time for logins, rate limits and audit; default real.
	Clock clock.Clock
	// SecureCookies marks the login cookie Secure; set it when serving TLS.
	SecureCookies bool
	// MaxBodyBytes limits request bodies; default 1 MiB.
	MaxBodyBytes int64
	// RequestTimeout bounds non-streaming requests; default 30 s.
	RequestTimeout time.Duration
	// StreamWriteTimeout bounds each write (and flush) of an event stream:
	// a client that stops reading is disconnected after it, so its handler
	// never outlives Close; default 10 s.
	StreamWriteTimeout time.Duration
	// LoginBurst failed logins per remote address, refilled one per
	// LoginEvery; defaults 5 and 12 s.
	LoginBurst int
	LoginEvery time.Duration
	// TokenCacheTTL is how long a verified token is trusted without a store
	// read (a revoke by another process lands within it); default 10 s.
	TokenCacheTTL time.Duration
	// PortfolioMaxAge is how old a served portfolio snapshot may be;
	// default 250 ms.
	PortfolioMaxAge time.Duration
	// NodeID names this node in /api/v1/nodes when Deps.Nodes is nil.
	NodeID string
	// MetricsToken, when set, is the bearer token GET /metrics requires
	// (a scraper's secret, not an API token); empty leaves /metrics open.
	MetricsToken string
}

// Deps are the services the server exposes. Store and Gatherer are
// required; a nil service makes its routes answer 503 "unavailable".
type Deps struct {
	Store *store.DB
	// DemoHistory, set by the demo, says how far its replay of 30 days of
	// history has got, in percent; done is true once it is written (or
	// there is none to write).
	DemoHistory func() (percent int, done bool)
	Gatherer    prometheus.Gatherer
	Portfolio   Portfolio
	Collateral  Collateral
	Sessions    Sessions
	TradeAll    TradeAll
	Journal     Journal
	Auditor     Auditor
	PnL         PnL
	Accounts    Accounts
	Nodes       Nodes
	Stats       Stats
	Backfills   Backfills
	Replays     Replays
	// JobStoppers stop jobs running on this node when they are canceled,
	// by job kind (see JobStopper); a kind without one stops on its own
	// next row write.
	JobStoppers map[string]JobStopper
}

// RouteKind says how a route authenticates and answers errors.
type RouteKind int

// Route kinds.
const (
	// KindPublic routes need no credentials: /healthz, /readyz, /metrics, /login,
	// static assets.
	KindPublic RouteKind = iota
	// KindAPI routes take a bearer token or the login cookie and answer
	// errors as JSON.
	KindAPI
	// KindPage routes take the login cookie (or a bearer token) and send
	// an unauthenticated browser to /login.
	KindPage
)

// Route is one registered route. Routes returns them all; tests walk them
// (auth, OpenAPI) so a route cannot be added without both.
type Route struct {
	Method  string
	Pattern string // path as registered, e.g. /api/v1/sessions/{id}/start
	Kind    RouteKind
	// Role is the least role allowed (RoleNone for public routes).
	Role auth.Role
	// Stream is true for server-sent event routes.
	Stream bool
}

// Server routes requests to the services. Build it with New.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	clk      clock.Clock
	mux      *http.ServeMux
	routes   []Route
	hub      *hub
	verifier *auth.Verifier
	logins   *auth.Sessions
	limiter  *auth.Limiter
	pages    *template.Template
	snaps    *snapshotCache
	done     chan struct{}
	metrics  *prometheus.Registry     // the server's own (request latency)
	latency  *prometheus.HistogramVec // see latency.go
	// reports holds one token per PnL report being built (limits.go).
	reports chan struct{}
	health  atomic.Pointer[healthBox] // health.go
}

// New returns the HTTP handler of a node.
func New(cfg Config, deps Deps) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.StreamWriteTimeout <= 0 {
		cfg.StreamWriteTimeout = 10 * time.Second
	}
	if cfg.PortfolioMaxAge <= 0 {
		cfg.PortfolioMaxAge = 250 * time.Millisecond
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "local"
	}
	s := &Server{
		cfg: cfg, deps: deps, log: cfg.Logger, clk: cfg.Clock, mux: http.NewServeMux(), hub: newHub(),
		verifier: auth.NewVerifier(deps.Store, cfg.Clock, cfg.TokenCacheTTL),
		logins:   auth.NewSessions(cfg.Clock, 0),
		limiter:  auth.NewLimiter(cfg.Clock, cfg.LoginBurst, cfg.LoginEvery),
		pages:    parsePages(),
		snaps:    &snapshotCache{maxAge: cfg.PortfolioMaxAge},
		done:     make(chan struct{}),
		reports:  make(chan struct{}, maxPnLReports()),
	}
	s.public("GET /healthz", s.healthz)
	s.public("GET /readyz", s.readyz)
	s.metrics, s.latency = newRequestLatency()
	s.public("GET /metrics", s.metricsGate(promhttp.HandlerFor(s.gatherer(), promhttp.HandlerOpts{})))
	s.registerAPI()
	s.registerPages()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeErr(w, r, &Error{Kind: ErrNotFound, Message: "no such API route: " + r.Method + " " + r.URL.Path})
	})
	return s
}

// ServeHTTP serves a request with security headers set.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	s.mux.ServeHTTP(w, r)
}

// Close ends every open event stream (call it before http.Server.Shutdown,
// which does not wait for streams to end on their own).
func (s *Server) Close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// Routes lists every registered route in registration order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// principalKey carries the authenticated principal in a request context.
type principalKey struct{}

// loginKey carries the dashboard login, when the request used the cookie.
type loginKey struct{}

// auditKey carries the handler's audit detail holder.
type auditKey struct{}

type auditNote struct{ target, detail string }

// noteAudit sets the audit target and detail of a state-changing request.
func noteAudit(r *http.Request, target, detail string) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.target, n.detail = target, detail
	}
}

func principalOf(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(auth.Principal)
	return p
}

func loginOf(r *http.Request) (auth.Login, bool) {
	l, ok := r.Context().Value(loginKey{}).(auth.Login)
	return l, ok
}

// public registers a route outside auth.
func (s *Server) public(pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Pattern: path, Kind: KindPublic})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.limitRequest(w, r, false)
		h(w, r)
	})
}

// handle registers an authenticated route of kind needing role.
func (s *Server) handle(kind RouteKind, role auth.Role, pattern string, h http.HandlerFunc) {
	s.add(kind, role, false, pattern, h)
}

// handleStream registers an authenticated SSE route.
func (s *Server) handleStream(role auth.Role, pattern string, h http.HandlerFunc) {
	s.add(KindAPI, role, true, pattern, h)
}

func (s *Server) add(kind RouteKind, role auth.Role, stream bool, pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Pattern: path, Kind: kind, Role: role, Stream: stream})
	mutates := method != http.MethodGet && method != http.MethodHead
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if !stream {
			defer s.observe(kind, method, path, time.Now())
		}
		s.limitRequest(w, r, stream)
		if !stream {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		p, login, err := s.authenticate(r)
		if err != nil {
			if kind == KindPage {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.writeErr(w, r, err)
			return
		}
		if !p.Role.Allows(role) {
			s.writeErr(w, r, auth.ErrForbidden)
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		if login != nil {
			ctx = context.WithValue(ctx, loginKey{}, *login)
			if mutates && !auth.CheckCSRF(*login, csrfFrom(r)) {
				s.writeErr(w, r, ErrCSRF)
				return
			}
		}
		if !mutates {
			h(w, r.WithContext(ctx))
			return
		}
		note := &auditNote{target: r.URL.Path}
		ctx = context.WithValue(ctx, auditKey{}, note)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r.WithContext(ctx))
		s.audit(r, p, method+" "+path, note, rec.status)
	})
}

// csrfFrom reads the CSRF token from the X-CSRF-Token header, else from the
// csrf form field (only for form posts, so a JSON body is not parsed here).
func csrfFrom(r *http.Request) string {
	if v := r.Header.Get("X-CSRF-Token"); v != "" {
		return v
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return r.PostFormValue("csrf")
	}
	return ""
}

// limitRequest applies the body limit and read/write deadlines.
func (s *Server) limitRequest(w http.ResponseWriter, r *http.Request, stream bool) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	rc := http.NewResponseController(w)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(s.cfg.RequestTimeout))
	if !stream {
		_ = rc.SetWriteDeadline(now.Add(s.cfg.RequestTimeout + 5*time.Second))
	}
}

const cookieName = "tp_session"

// authenticate finds the principal: a bearer token first, else the login
// cookie. login is set when the cookie was used.
func (s *Server) authenticate(r *http.Request) (auth.Principal, *auth.Login, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return auth.Principal{}, nil, auth.ErrUnauthenticated
		}
		p, err := s.verifier.Verify(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				s.log.Error("verify token", "err", err)
			}
			return auth.Principal{}, nil, auth.ErrUnauthenticated
		}
		return p, nil, nil
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return auth.Principal{}, nil, auth.ErrUnauthenticated
	}
	l, ok := s.logins.Get(c.Value)
	if !ok {
		return auth.Principal{}, nil, auth.ErrUnauthenticated
	}
	// A login lives no longer than its token: a revoke anywhere ends it
	// within the token cache's TTL.
	live, err := s.verifier.Live(r.Context(), l.Principal.TokenID)
	if err != nil {
		return auth.Principal{}, nil, err
	}
	if !live {
		s.logins.DeleteToken(l.Principal.TokenID)
		return auth.Principal{}, nil, auth.ErrUnauthenticated
	}
	return l.Principal, &l, nil
}

// remoteAddr is the client's IP as the listener saw it.
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audit appends the audit entry of a state-changing request.
func (s *Server) audit(r *http.Request, p auth.Principal, action string, note *auditNote, status int) {
	detail := note.detail
	if detail != "" {
		detail += "; "
	}
	detail += "status " + http.StatusText(status)
	actor := p.Actor()
	if p.TokenID == "" {
		actor = "anonymous"
	}
	e := store.AuditEntry{At: s.clk.Now(), Actor: actor, Action: action, Target: note.target, Detail: detail, Remote: remoteAddr(r)}
	// The request's context may be done; the entry must still be written.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.deps.Store.Audit(ctx, e); err != nil {
		s.log.Error("audit log write failed", "action", action, "actor", actor, "err", err)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// metricsGate serves h, behind Config.MetricsToken when one is set.
func (s *Server) metricsGate(h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.MetricsToken != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.MetricsToken)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				http.Error(w, "metrics need the metrics token as a bearer token", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}
}

// writeErr logs err when it is the server's fault and writes the one error
// shape with the status from the error table.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg, Details: errorDetails(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
