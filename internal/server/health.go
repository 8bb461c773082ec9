package server

import (
	"context"
	"net/http"
	"time"
)

// Health says whether this node is alive and whether it should get work.
// The watchdog implements it; /healthz and /readyz answer from it.
type Health interface {
	// Live fails only when the process is wedged (its health checks no
	// longer complete): restarting it is the cure.
	Live() error
	// Ready fails while the node should not get traffic: starting,
	// stopping, or a failing check (the store does not answer, the
	// supervisor is not running, journal writes fail).
	Ready() error
}

type healthBox struct{ h Health }

// SetHealth makes /healthz and /readyz answer from h. Without it /healthz
// answers 200 while the process serves and /readyz pings the store.
func (s *Server) SetHealth(h Health) { s.health.Store(&healthBox{h}) }

// healthz is liveness: 200 while the process serves requests and its health
// checks keep completing, whether or not they pass. A database outage makes
// the node unready, not dead: restarting it would not bring the database
// back. The body still says whether the database answers, for humans.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	// Every value is a string, as before /readyz existed: clients decode
	// this body as map[string]string.
	body := map[string]string{"status": "ok", "database": s.deps.Store.Engine(), "version": s.cfg.Version}
	if b := s.health.Load(); b != nil {
		if err := b.h.Live(); err != nil {
			s.log.Error("healthz: not live", "err", err)
			body["status"], body["reason"] = "unhealthy", err.Error()
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
	}
	if err := s.ready(r.Context()); err != nil {
		body["ready"], body["reason"] = "false", err.Error()
	} else {
		body["ready"] = "true"
	}
	writeJSON(w, http.StatusOK, body)
}

// readyz is readiness: 200 only while the node has started, the store
// answers, the supervisor runs and the journal writes; 503 with the reason
// otherwise. Load balancers and Kubernetes send traffic by it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": s.deps.Store.Engine(), "version": s.cfg.Version})
}

func (s *Server) ready(ctx context.Context) error {
	if b := s.health.Load(); b != nil {
		return b.h.Ready()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.deps.Store.Ping(ctx); err != nil {
		s.log.Error("readyz: database unreachable", "err", err)
		return errDatabaseUnreachable
	}
	return nil
}

type readyError string

func (e readyError) Error() string { return string(e) }

const errDatabaseUnreachable = readyError("database unreachable")
