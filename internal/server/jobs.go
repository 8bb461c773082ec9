package server

import (
	"net/http"
	"time"

	"github.com/tradeplane/tradeplane/internal/backfill"
)

// JobStopper stops a job of one kind that runs on this node, at once, after
// its row has been canceled in the store; it reports whether the job ran
// here. Every long job kind (backfill, replay, ...) registers one in
// Deps.JobStoppers under its store.Job kind. Cancel itself is durable and
// kind-agnostic (store.CancelJob): a job that runs on another node stops
// there on its next row write, and no node resumes it; the stopper only
// makes the local stop immediate.
type JobStopper interface {
	Stop(id string) bool
}

// cancelJob ends a queued or running job of any kind: 200 with the
// canceled job, 409 when it has ended already.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	actor := principalOf(r).Actor()
	noteAudit(r, "job:"+id, "cancel")
	j, err := s.deps.Store.CancelJob(r.Context(), id, "canceled by "+actor, s.clk.Now())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	stopped := false
	if st, ok := s.deps.JobStoppers[j.Kind]; ok && st != nil {
		stopped = st.Stop(j.ID)
	}
	noteAudit(r, "job:"+id, "cancel "+j.Kind+map[bool]string{true: " (stopped here)", false: ""}[stopped])
	writeJSON(w, http.StatusOK, toJobJSON(j))
}

// backfillPreview is POST /api/v1/pnl/backfill/preview: how big the
// backfill the body describes is, before it starts.
type backfillPreview struct {
	Account  string        `json:"account"`
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Interval string        `json:"interval"`
	Symbols  []string      `json:"symbols"`
	Size     backfill.Size `json:"size"`
}

func (s *Server) previewBackfill(w http.ResponseWriter, r *http.Request) {
	var body backfillBody
	if err := decodeBody(r, &body); err != nil {
		s.writeErr(w, r, err)
		return
	}
	req, err := backfillRequest(body)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	iv := time.Hour
	if req.Interval == "1d" {
		iv = 24 * time.Hour
	}
	size, err := backfill.SizeOf(req.From, req.To, iv)
	if err != nil {
		s.writeErr(w, r, invalidf("from/to: %s", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, backfillPreview{Account: req.Account, From: req.From, To: req.To, Interval: req.Interval,
		Symbols: nonNilSlice(req.Symbols), Size: size})
}

// activeJobs lists the queued and running jobs for the PnL page (at most
// 50; a failed read shows none and is logged).
func (s *Server) activeJobs(r *http.Request) []jobJSON {
	var out []jobJSON
	for _, state := range []string{"running", "queued"} {
		js, err := s.deps.Store.JobsInState(r.Context(), state)
		if err != nil {
			s.log.Warn("pnl page: list jobs", "err", err)
			return nil
		}
		for _, j := range js {
			if len(out) == 50 {
				return out
			}
			out = append(out, toJobJSON(j))
		}
	}
	return out
}

// cancelJobPage is the dashboard's cancel button: it cancels as the API
// does and goes back to the PnL page.
func (s *Server) cancelJobPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	noteAudit(r, "job:"+id, "cancel")
	j, err := s.deps.Store.CancelJob(r.Context(), id, "canceled by "+principalOf(r).Actor(), s.clk.Now())
	if err != nil {
		s.pageErr(w, r, err)
		return
	}
	if st, ok := s.deps.JobStoppers[j.Kind]; ok && st != nil {
		st.Stop(j.ID)
	}
	noteAudit(r, "job:"+id, "cancel "+j.Kind)
	http.Redirect(w, r, "/pnl", http.StatusSeeOther)
}
