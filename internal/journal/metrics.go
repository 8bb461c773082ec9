package journal

import (
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is how a Place ended, for the success rate.
type Outcome string

// Outcomes. Filled, Accepted, Canceled, Rejected and Refused are successes
// of execution: the order reached a known, correct state (a venue or
// allocation rejection is correct handling, not an execution failure).
// Failed and Unsettled are execution failures.
const (
	OutcomeFilled    Outcome = "filled"    // fully filled
	OutcomeAccepted  Outcome = "accepted"  // acknowledged, open or partially filled
	OutcomeCanceled  Outcome = "canceled"  // canceled or expired (IOC, FOK)
	OutcomeRejected  Outcome = "rejected"  // the venue refused it (filters, funds)
	OutcomeRefused   Outcome = "refused"   // the allocation Checker refused it
	OutcomeFailed    Outcome = "failed"    // never executed because of an error (auth, ban, retries exhausted)
	OutcomeUnsettled Outcome = "unsettled" // unknown outcome not yet settled
)

func (o Outcome) success() bool {
	switch o {
	case OutcomeFilled, OutcomeAccepted, OutcomeCanceled, OutcomeRejected, OutcomeRefused:
		return true
	}
	return false
}

// Stats are the execution success rate inputs of one session or of all.
// SuccessRate is successes over intents (0 when none); an intent still in
// flight counts against it until it ends.
type Stats struct {
	Intents     int64             `json:"intents"`
	Outcomes    map[Outcome]int64 `json:"outcomes"`
	Successes   int64             `json:"successes"`
	SuccessRate float64           `json:"success_rate"`
	Failures    map[string]int64  `json:"failures_by_class,omitempty"` // overall only
}

// Metrics counts execution for Prometheus and for Stats. One Metrics is
// shared by every Executor (and the Journal) of a process. The metric names:
//
//	tradeplane_execution_intents_total                 intents committed
//	tradeplane_execution_outcomes_total{outcome}       how Place calls ended
//	tradeplane_execution_failures_total{class}         every error by class (venue classes, allocation, journal, store)
//	tradeplane_execution_session_intents_total{session}
//	tradeplane_execution_session_successes_total{session}
//	tradeplane_execution_reconciled_total{status}      orders settled by reconciliation, by venue status
//	tradeplane_execution_latency_seconds{op}           venue round trips (place, cancel, query, trades)
//	tradeplane_journal_write_failures_total            batches that failed to commit
type Metrics struct {
	intents              prometheus.Counter
	outcomes             *prometheus.CounterVec
	failures             *prometheus.CounterVec
	sessionIntents       *prometheus.CounterVec
	sessionSuccesses     *prometheus.CounterVec
	reconciled           *prometheus.CounterVec
	latency              *prometheus.HistogramVec
	journalWriteFailures prometheus.Counter

	mu       sync.Mutex
	overall  Stats
	sessions map[string]*Stats
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered; Stats still work). It fails when reg already holds them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		intents: prometheus.NewCounter(prometheus.CounterOpts{Name: "tradeplane_execution_intents_total",
			Help: "Order intents committed to the journal."}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tradeplane_execution_outcomes_total",
			Help: "How order placements ended."}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tradeplane_execution_failures_total",
			Help: "Execution errors by class."}, []string{"class"}),
		sessionIntents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tradeplane_execution_session_intents_total",
			Help: "Order intents per session."}, []string{"session"}),
		sessionSuccesses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tradeplane_execution_session_successes_total",
			Help: "Order placements per session that reached a known, correct state."}, []string{"session"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tradeplane_execution_reconciled_total",
			Help: "Orders settled by reconciliation, by the venue's status."}, []string{"status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tradeplane_execution_latency_seconds",
			Help: "Venue round-trip latency of execution requests.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"op"}),
		journalWriteFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "tradeplane_journal_write_failures_total",
			Help: "Journal batches that failed to commit."}),
		overall:  Stats{Outcomes: map[Outcome]int64{}, Failures: map[string]int64{}},
		sessions: map[string]*Stats{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.intents, m.outcomes, m.failures, m.sessionIntents, m.sessionSuccesses,
			m.reconciled, m.latency, m.journalWriteFailures} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) session(id string) *Stats {
	s := m.sessions[id]
	if s == nil {
		s = &Stats{Outcomes: map[Outcome]int64{}}
		m.sessions[id] = s
	}
	return s
}

func (m *Metrics) intent(session string) {
	if m == nil {
		return
	}
	m.intents.Inc()
	m.sessionIntents.WithLabelValues(session).Inc()
	m.mu.Lock()
	m.overall.Intents++
	m.session(session).Intents++
	m.mu.Unlock()
}

// outcome counts how a placement ended; from, when not empty, is the
// outcome counted before (an unsettled order settled later moves).
func (m *Metrics) outcome(session string, o, from Outcome) {
	if m == nil || o == from {
		return
	}
	m.outcomes.WithLabelValues(string(o)).Inc()
	if o.success() {
		m.sessionSuccesses.WithLabelValues(session).Inc()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range []*Stats{&m.overall, m.session(session)} {
		if from != "" && s.Outcomes[from] > 0 {
			s.Outcomes[from]--
			if from.success() {
				s.Successes--
			}
		}
		s.Outcomes[o]++
		if o.success() {
			s.Successes++
		}
	}
}

// Failure counts a failure that happened outside an Executor (a venue read,
// a session step) in tradeplane_execution_failures_total{class}, so every
// failure of the process shows in one metric.
func (m *Metrics) Failure(class string) { m.failure(class) }

func (m *Metrics) failure(class string) {
	if m == nil || class == "" {
		return
	}
	m.failures.WithLabelValues(class).Inc()
	m.mu.Lock()
	m.overall.Failures[class]++
	m.mu.Unlock()
}

func (m *Metrics) observe(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}

func (m *Metrics) settled(status string) {
	if m == nil {
		return
	}
	m.reconciled.WithLabelValues(status).Inc()
}

// Stats returns the overall counters and a copy per session.
func (m *Metrics) Stats() (overall Stats, sessions map[string]Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := func(s *Stats) Stats {
		c := *s
		c.Outcomes = maps.Clone(s.Outcomes)
		c.Failures = maps.Clone(s.Failures)
		if s.Intents > 0 {
			c.SuccessRate = float64(c.Successes) / float64(s.Intents)
		}
		return c
	}
	overall = cp(&m.overall)
	sessions = map[string]Stats{}
	for id, s := range m.sessions {
		sessions[id] = cp(s)
	}
	return overall, sessions
}
