package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/store"
)

// ReplayRequest asks for a replay of one session's settings over the last
// Days of its account's klines: either SessionID (copy a session) or
// Strategy, Symbols, Params and Account (the new-session form).
type ReplayRequest struct {
	SessionID      string            `json:"session_id,omitempty"`
	Strategy       string            `json:"strategy,omitempty"`
	Account        string            `json:"account,omitempty"`
	Symbols        []string          `json:"symbols,omitempty"`
	Params         json.RawMessage   `json:"params,omitempty"`
	Allocation     udecimal.Decimal  `json:"allocation"`
	AllocationKind string            `json:"allocation_kind,omitempty"`
	Days           int               `json:"days"`     // default 30
	Interval       string            `json:"interval"` // kline interval, default 1h
	Balances       map[string]string `json:"balances,omitempty"`
	Slippage       udecimal.Decimal  `json:"slippage"`
	Seed           uint64            `json:"seed,omitempty"`
}

// Replays runs replays as background jobs (package replay). Start checks
// the request (an error wrapping ErrInvalid stores nothing), stores a job
// and runs it; its progress is GET /api/v1/jobs/{id}, its result
// GET /api/v1/replays/{id} once the job is done; POST
// /api/v1/jobs/{id}/cancel ends a running one (the replay kind's
// JobStopper).
type Replays interface {
	Start(ctx context.Context, req ReplayRequest, actor string) (store.Job, error)
	Result(ctx context.Context, id string) (json.RawMessage, error)
}

func init() {
	apiOps = append(apiOps,
		apiOp{method: "POST", path: "/api/v1/replays", summary: "Replay a session's settings over its account's recent klines as a job; follow it at /api/v1/jobs/{id}", tag: "jobs", role: "trader", request: "Any", response: "Job", status: "202"},
		apiOp{method: "GET", path: "/api/v1/replays/{id}", summary: "A finished replay's result: summary, per-session PnL, equity curve and interval averages", tag: "jobs", role: "viewer", response: "Any"},
	)
}

// registerReplay registers the replay routes (registerAPI calls it).
func (s *Server) registerReplay() {
	s.handle(KindAPI, auth.RoleTrader, "POST /api/v1/replays", s.startReplay)
	s.handle(KindAPI, auth.RoleViewer, "GET /api/v1/replays/{id}", s.getReplay)
}

func (s *Server) startReplay(w http.ResponseWriter, r *http.Request) {
	if s.deps.Replays == nil {
		s.writeErr(w, r, unavailable("replay"))
		return
	}
	var req ReplayRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := checkReplay(&req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	j, err := s.deps.Replays.Start(r.Context(), req, principalOf(r).Actor())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	noteAudit(r, "job:"+j.ID, fmt.Sprintf("replay session %q strategy %q over %d days", req.SessionID, req.Strategy, req.Days))
	w.Header().Set("Location", "/api/v1/jobs/"+url.PathEscape(j.ID))
	writeJSON(w, http.StatusAccepted, toJobJSON(j))
}

// checkReplay fills defaults and names the field of a bad request.
func checkReplay(req *ReplayRequest) error {
	req.SessionID, req.Strategy = strings.TrimSpace(req.SessionID), strings.TrimSpace(req.Strategy)
	if req.SessionID == "" && req.Strategy == "" {
		return invalidf("give session_id, or strategy with symbols, params and account")
	}
	if req.SessionID == "" && (req.Account == "" || len(req.Symbols) == 0) {
		return invalidf("account and symbols are required with strategy")
	}
	if req.Days == 0 {
		req.Days = 30
	}
	if req.Days < 1 || req.Days > 366 {
		return invalidf("days %d: want 1 to 366", req.Days)
	}
	switch req.Interval {
	case "":
		req.Interval = "1h"
	case "1m", "5m", "15m", "1h", "4h", "1d":
	default:
		return invalidf("interval %q: want 1m, 5m, 15m, 1h, 4h or 1d", truncate(req.Interval, 20))
	}
	if req.Slippage.IsNeg() {
		return invalidf("slippage %s is negative", req.Slippage)
	}
	switch req.AllocationKind {
	case "", "fixed", "share":
	default:
		return invalidf("allocation_kind %q: want fixed or share", truncate(req.AllocationKind, 20))
	}
	for asset, amt := range req.Balances {
		if d, err := udecimal.Parse(amt); err != nil || d.IsNeg() {
			return invalidf("balances.%s %q: want a decimal >= 0", truncate(asset, 20), truncate(amt, 40))
		}
	}
	return nil
}

func (s *Server) getReplay(w http.ResponseWriter, r *http.Request) {
	if s.deps.Replays == nil {
		s.writeErr(w, r, unavailable("replay"))
		return
	}
	b, err := s.deps.Replays.Result(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
