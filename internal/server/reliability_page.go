package server

import (
	"net/http"
	"time"

	"github.com/tradeplane/tradeplane/internal/reliability"
)

// reliabilityQuery reads from and to (RFC 3339); the default window is
// the 30 days before now.
func (s *Server) reliabilityQuery(r *http.Request) (reliability.Options, error) {
	to := s.clk.Now().UTC()
	o := reliability.Options{To: to, From: to.Add(-30 * 24 * time.Hour), Gatherer: s.gatherer()}
	for name, dst := range map[string]*time.Time{"from": &o.From, "to": &o.To} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return o, invalidf("%s %q: want an RFC 3339 time", name, v)
			}
			*dst = t.UTC()
		}
	}
	if !o.From.Before(o.To) {
		return o, invalidf("from must be before to")
	}
	return o, nil
}

func (s *Server) reliabilityReport(r *http.Request) (reliability.Report, error) {
	if s.deps.Store == nil {
		return reliability.Report{}, unavailable("the store")
	}
	o, err := s.reliabilityQuery(r)
	if err != nil {
		return reliability.Report{}, err
	}
	return reliability.Compute(r.Context(), s.deps.Store, o)
}

// getReliability is GET /api/v1/reliability: the same Report as the page
// and `tradeplane report reliability --json`.
func (s *Server) getReliability(w http.ResponseWriter, r *http.Request) {
	rep, err := s.reliabilityReport(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) reliabilityPage(w http.ResponseWriter, r *http.Request) {
	rep, err := s.reliabilityReport(r)
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	s.render(w, r, "reliability", "Reliability", rep)
}
