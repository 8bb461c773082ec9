package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Outbox is the part of *store.DB that makes alerts durable: an alert and
// its deliveries (one per sink) are stored in one transaction, and a sender
// delivers them with retries and backoff until each sink has taken it. A
// Store that is also an Outbox switches the Service to durable delivery.
type Outbox interface {
	InsertAlertOutbox(ctx context.Context, a store.Alert, dedupKey string, sinks []string, now time.Time) (int64, bool, error)
	ClaimAlertDeliveries(ctx context.Context, now time.Time, claimFor time.Duration, limit int) ([]store.OutboxDelivery, error)
	AlertDelivered(ctx context.Context, id int64, at time.Time) error
	AlertDeliveryFailed(ctx context.Context, id int64, next time.Time, msg string) error
	AlertOutbox(ctx context.Context) ([]store.AlertOutboxStats, error)
}

var _ Outbox = (*store.DB)(nil)

// outboxMetrics are the durable sender's Prometheus series.
type outboxMetrics struct {
	deliveries *prometheus.CounterVec // sink, result
	pending    *prometheus.GaugeVec   // sink
	failing    *prometheus.GaugeVec   // sink
}

func newOutboxMetrics(reg prometheus.Registerer) *outboxMetrics {
	m := &outboxMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tradeplane_alert_deliveries_total",
			Help: "Alert delivery attempts by sink and result (delivered, failed)."}, []string{"sink", "result"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tradeplane_alert_outbox_pending",
			Help: "Alert deliveries not yet taken by their sink."}, []string{"sink"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tradeplane_alert_outbox_failing",
			Help: "Undelivered alert deliveries that failed at least once."}, []string{"sink"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.pending, m.failing} {
			if err := reg.Register(c); err != nil {
				if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
					switch c {
					case m.deliveries:
						m.deliveries = are.ExistingCollector.(*prometheus.CounterVec)
					case m.pending:
						m.pending = are.ExistingCollector.(*prometheus.GaugeVec)
					case m.failing:
						m.failing = are.ExistingCollector.(*prometheus.GaugeVec)
					}
				}
			}
		}
	}
	return m
}

// sink is one delivery target by its stable name in the outbox.
type sink struct {
	name   string
	url    string
	render func(a Alert) []byte
	// webhook: POSTs carry the alert's Idempotency-Key.
	webhook bool
}

// key is the Idempotency-Key of a's deliveries to k: only webhooks (and
// only stored alerts, which have an id) carry one.
func (k sink) key(a Alert) string {
	if !k.webhook || a.ID == 0 {
		return ""
	}
	return IdempotencyKey(a.ID)
}

// sinks lists the configured targets. Names are what the outbox stores, so
// every node of a cluster must configure the same sinks.
func (s *Service) sinks() []sink {
	var out []sink
	for i, w := range s.opts.Webhooks {
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("webhook %d", i+1)
		}
		out = append(out, sink{name: "webhook:" + name, url: w.URL, render: webhookBody, webhook: true})
	}
	if tg := s.opts.Telegram; tg != nil && tg.BotToken != "" && tg.ChatID != "" {
		out = append(out, sink{name: "telegram", url: telegramURL(tg), render: func(a Alert) []byte { return telegramBody(tg, a) }})
	}
	return out
}

// pendingAlert is an alert raised but not yet stored.
type pendingAlert struct {
	a   Alert
	msg string // the stored message (with the repeats count)
}

// raiseDurable queues a for the store writer; it never blocks on the
// database (the journal's writer raises alerts when a commit fails).
func (s *Service) raiseDurable(a Alert, msg string) {
	s.pmu.Lock()
	if len(s.pending) >= s.opts.MaxPending {
		s.pmu.Unlock()
		s.mu.Lock()
		s.dropped++
		s.mu.Unlock()
		s.log.Error("alert dropped: too many alerts waiting for the database", "source", a.Source, "message", a.Message)
		return
	}
	s.pending = append(s.pending, pendingAlert{a: a, msg: msg})
	s.pmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writeLoop stores queued alerts with their outbox rows. A database that
// fails keeps them queued and retried with backoff.
func (s *Service) writeLoop() {
	defer s.wg.Done()
	// Wall time, as the pollers: the clock option stamps alerts.
	wait := backoff.New(backoff.Policy{Initial: time.Second, Max: 30 * time.Second}, nil)
	var retry <-chan time.Time // nil until a flush fails
	for {
		select {
		case <-s.stop:
			s.flush(5 * time.Second)
			return
		case <-s.wake:
		case <-retry:
		}
		if s.flush(10*time.Second) == nil {
			wait.Reset()
			retry = nil
			continue
		}
		retry = time.After(wait.Next())
	}
}

// flush stores every queued alert, oldest first; on an error the rest stay
// queued.
func (s *Service) flush(timeout time.Duration) error {
	names := []string{}
	for _, k := range s.sinks() {
		names = append(names, k.name)
	}
	for {
		s.pmu.Lock()
		if len(s.pending) == 0 {
			s.pmu.Unlock()
			return nil
		}
		p := s.pending[0]
		s.pmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		id, dup, err := s.outbox.InsertAlertOutbox(ctx, store.Alert{At: p.a.At, Severity: string(p.a.Severity), Source: p.a.Source,
			SessionID: p.a.SessionID, AccountID: p.a.AccountID, Message: p.msg}, p.a.Key, names, now(s.opts.Clock))
		cancel()
		if err != nil {
			s.log.Error("alert not stored yet; kept and retried", "err", err, "source", p.a.Source, "message", p.a.Message)
			return err
		}
		s.pmu.Lock()
		s.pending = s.pending[1:]
		s.pmu.Unlock()
		if dup {
			continue // raised by another node already
		}
		p.a.ID = id
		if s.opts.OnAlert != nil {
			s.opts.OnAlert(p.a)
		}
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// sendLoop delivers due outbox rows until Close.
func (s *Service) sendLoop() {
	defer s.wg.Done()
	lastGauge := time.Time{}
	for {
		n := s.sendDue()
		if time.Since(lastGauge) >= s.opts.PollEvery*5 {
			s.updateGauges()
			lastGauge = time.Now()
		}
		if n > 0 {
			select {
			case <-s.stop:
				return
			default:
				continue
			}
		}
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-time.After(s.opts.PollEvery):
		}
	}
}

// A claim keeps other senders (other nodes) off a batch of deliveries while
// this one posts them, one after another, each for up to postTimeout; it
// must outlast the whole batch, or another node would post the batch's last
// rows a second time. It is also how long a delivery a dead node had
// claimed waits before a restarted or surviving node sends it.
const (
	postTimeout = 10 * time.Second
	claimBatch  = 2
	claimFor    = claimBatch*postTimeout + 10*time.Second
)

// sendDue claims and delivers one batch of due rows; it returns how many.
func (s *Service) sendDue() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	at := now(s.opts.Clock)
	ds, err := s.outbox.ClaimAlertDeliveries(ctx, at, claimFor, claimBatch)
	cancel()
	if err != nil {
		s.log.Error("alert outbox not read", "err", err)
		return 0
	}
	targets := map[string]sink{}
	for _, k := range s.sinks() {
		targets[k.name] = k
	}
	for _, d := range ds {
		a := Alert{ID: d.Alert.ID, At: d.Alert.At, Severity: Severity(d.Alert.Severity), Source: d.Alert.Source,
			SessionID: d.Alert.SessionID, AccountID: d.Alert.AccountID, Message: d.Alert.Message}
		k, ok := targets[d.Sink]
		var perr error
		if !ok {
			perr = fmt.Errorf("sink %q is not configured on this node", d.Sink)
		} else {
			perr = s.post(delivery{target: k.name, url: k.url, body: k.render(a), key: k.key(a)})
		}
		at := now(s.opts.Clock)
		// Each record gets its own deadline: the posts before it may have
		// used up a shared one, and a delivery not marked is sent again.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if perr == nil {
			if err := s.outbox.AlertDelivered(ctx, d.ID, at); err != nil {
				s.log.Error("alert delivered but not marked; it may be sent again", "sink", d.Sink, "alert", a.ID, "err", err)
			}
			s.mu.Lock()
			s.delivered++
			s.mu.Unlock()
			s.om.deliveries.WithLabelValues(d.Sink, "delivered").Inc()
			continue
		}
		wait := backoff.Policy{Initial: s.opts.Backoff, Max: s.opts.MaxBackoff}.Delay(int(d.Attempts))
		if err := s.outbox.AlertDeliveryFailed(ctx, d.ID, at.Add(wait), perr.Error()); err != nil {
			s.log.Error("failed alert delivery not recorded", "sink", d.Sink, "alert", a.ID, "err", err)
		}
		s.mu.Lock()
		s.failedDeliveries++
		s.mu.Unlock()
		s.om.deliveries.WithLabelValues(d.Sink, "failed").Inc()
		s.log.Warn("alert delivery failed; retried", "sink", d.Sink, "alert", a.ID, "attempt", d.Attempts+1, "retry_in", wait, "err", perr)
	}
	return len(ds)
}

func (s *Service) updateGauges() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.outbox.AlertOutbox(ctx)
	if err != nil {
		return
	}
	for _, k := range s.sinks() {
		s.om.pending.WithLabelValues(k.name).Set(0)
		s.om.failing.WithLabelValues(k.name).Set(0)
	}
	for _, x := range st {
		s.om.pending.WithLabelValues(x.Sink).Set(float64(x.Pending))
		s.om.failing.WithLabelValues(x.Sink).Set(float64(x.Failing))
	}
}
