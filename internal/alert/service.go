package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Store is the part of *store.DB the Service writes to.
type Store interface {
	InsertAlert(ctx context.Context, a store.Alert) (int64, error)
}

// Webhook is a generic JSON endpoint: each alert is POSTed as
// {"id","at","severity","source","session_id","account_id","message","repeats"}.
// The URL may carry a secret; it is never logged.
type Webhook struct {
	Name string // shown in logs instead of the URL
	URL  string
}

// Telegram posts alerts to a chat through a bot.
type Telegram struct {
	BotToken string
	ChatID   string
	// BaseURL defaults to https://api.telegram.org; tests point it at an
	// httptest server.
	BaseURL string
}

// Options configure a Service. Every field is optional.
type Options struct {
	Store    Store
	Logger   *slog.Logger
	Clock    clock.Clock
	OnAlert  func(Alert) // called after storing, on the caller's goroutine; must not block
	Webhooks []Webhook
	Telegram *Telegram
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
	// DedupWindow: an alert with the same source and message as one raised
	// less than this long ago is counted, not delivered. Default 1 minute;
	// negative disables deduplication.
	DedupWindow time.Duration
	// MaxAttempts per webhook delivery (default 3), with Backoff doubling
	// between attempts (default 500 ms).
	MaxAttempts int
	Backoff     time.Duration
	// QueueSize bounds pending webhook deliveries (default 256); when full,
	// deliveries are dropped and logged, never blocking Raise. Only without
	// a durable outbox (a Store that is not an Outbox).
	QueueSize int
	// With an Outbox store, deliveries are durable and retried without
	// limit: the wait after the n-th failure is Backoff×2^n up to
	// MaxBackoff (default 5 min); the sender polls for due deliveries every
	// PollEvery (default 1 s). MaxPending bounds the alerts waiting for the
	// database to store them (default 100000).
	MaxBackoff time.Duration
	PollEvery  time.Duration
	MaxPending int
	// Registerer receives the delivery metrics (durable mode).
	Registerer prometheus.Registerer
}

// Service is the Alerter the server uses. Close stops its sender goroutine.
type Service struct {
	opts   Options
	log    *slog.Logger
	dedup  dedup
	queue  chan delivery
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once

	mu                          sync.Mutex
	raised, suppressed, dropped int64
	delivered, failedDeliveries int64

	// Durable mode (outbox != nil): Raise queues into pending for the
	// writer (wake), which stores and kicks the sender.
	outbox  Outbox
	om      *outboxMetrics
	pmu     sync.Mutex
	pending []pendingAlert
	wake    chan struct{}
	kick    chan struct{}
}

type delivery struct {
	target string // name for logs
	url    string
	body   []byte
	// key, when set, is sent as the Idempotency-Key header: the same for
	// every attempt of one alert, so a receiver that dedupes on it takes
	// each alert once even when a node dies after the receiver took it and
	// before the outbox recorded that (the one case delivery repeats).
	key string
}

// IdempotencyKey is the Idempotency-Key header of every webhook POST of the
// alert with that id (and the JSON body's "id" names the alert too).
func IdempotencyKey(alertID int64) string { return fmt.Sprintf("tradeplane-alert-%d", alertID) }

// New starts a Service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.DedupWindow == 0 {
		opts.DedupWindow = time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100000
	}
	s := &Service{
		opts:  opts,
		log:   opts.Logger.With("component", "alert"),
		dedup: dedup{window: opts.DedupWindow, seen: map[string]*dedupEntry{}},
		queue: make(chan delivery, opts.QueueSize),
		stop:  make(chan struct{}),
	}
	if ob, ok := opts.Store.(Outbox); ok {
		s.outbox, s.om = ob, newOutboxMetrics(opts.Registerer)
		s.wake, s.kick = make(chan struct{}, 1), make(chan struct{}, 1)
		s.wg.Add(2)
		go s.writeLoop()
		go s.sendLoop()
		return s
	}
	s.wg.Add(1)
	go s.send()
	return s
}

// Raise stores, logs and publishes a, and queues its webhook deliveries. A
// repeat within the dedup window is only counted.
func (s *Service) Raise(ctx context.Context, a Alert) {
	if a.At.IsZero() {
		a.At = now(s.opts.Clock)
	}
	if a.Severity == "" {
		a.Severity = Warning
	}
	ok, repeats := s.dedup.admit(a)
	s.mu.Lock()
	if ok {
		s.raised++
	} else {
		s.suppressed++
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	a.Repeats = repeats
	msg := a.Message
	if repeats > 0 {
		msg = fmt.Sprintf("%s (and %d more like it)", msg, repeats)
	}
	if s.outbox != nil {
		s.logAlert(ctx, a)
		s.raiseDurable(a, msg)
		return
	}
	if s.opts.Store != nil {
		id, err := s.opts.Store.InsertAlert(context.WithoutCancel(ctx), store.Alert{At: a.At, Severity: string(a.Severity),
			Source: a.Source, SessionID: a.SessionID, AccountID: a.AccountID, Message: msg})
		if err != nil {
			s.log.Error("alert not stored", "err", err, "source", a.Source, "message", a.Message)
		}
		a.ID = id
	}
	s.logAlert(ctx, a)
	if s.opts.OnAlert != nil {
		s.opts.OnAlert(a)
	}
	s.enqueue(a)
}

func (s *Service) logAlert(ctx context.Context, a Alert) {
	level := slog.LevelWarn
	switch a.Severity {
	case Critical:
		level = slog.LevelError
	case Info:
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "alert", "severity", a.Severity, "source", a.Source, "session", a.SessionID,
		"account", a.AccountID, "message", a.Message, "repeats", a.Repeats)
}

func webhookBody(a Alert) []byte {
	body, _ := json.Marshal(map[string]any{"id": a.ID, "at": a.At.UTC().Format(time.RFC3339Nano), "severity": a.Severity,
		"source": a.Source, "session_id": a.SessionID, "account_id": a.AccountID, "message": a.Message, "repeats": a.Repeats})
	return body
}

func telegramURL(tg *Telegram) string {
	base := strings.TrimRight(tg.BaseURL, "/")
	if base == "" {
		base = "https://api.telegram.org"
	}
	return base + "/bot" + tg.BotToken + "/sendMessage"
}

func telegramBody(tg *Telegram, a Alert) []byte {
	text := fmt.Sprintf("[%s] %s: %s", strings.ToUpper(string(a.Severity)), a.Source, a.Message)
	if a.SessionID != "" {
		text += " (session " + a.SessionID + ")"
	}
	if a.Repeats > 0 {
		text += fmt.Sprintf(" (+%d similar)", a.Repeats)
	}
	body, _ := json.Marshal(map[string]any{"chat_id": tg.ChatID, "text": text, "disable_web_page_preview": true})
	return body
}

func (s *Service) enqueue(a Alert) {
	var ds []delivery
	for _, k := range s.sinks() {
		ds = append(ds, delivery{target: k.name, url: k.url, body: k.render(a), key: k.key(a)})
	}
	for _, d := range ds {
		select {
		case s.queue <- d:
		default:
			s.mu.Lock()
			s.dropped++
			s.mu.Unlock()
			s.log.Error("alert delivery dropped: queue full", "target", d.target)
		}
	}
}

// send delivers queued webhooks until Close.
func (s *Service) send() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case d := <-s.queue:
			s.deliver(d)
		}
	}
}

func (s *Service) deliver(d delivery) {
	wait := backoff.Policy{Initial: s.opts.Backoff}
	var lastErr error
	for attempt := 1; attempt <= s.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(wait.Delay(attempt - 2))
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		lastErr = s.post(d)
		if lastErr == nil {
			s.mu.Lock()
			s.delivered++
			s.mu.Unlock()
			return
		}
	}
	s.mu.Lock()
	s.failedDeliveries++
	s.mu.Unlock()
	s.log.Error("alert delivery failed", "target", d.target, "attempts", s.opts.MaxAttempts, "err", lastErr)
}

// post sends one delivery; its error never contains the URL.
func (s *Service) post(d delivery) error {
	ctx, cancel := context.WithTimeout(context.Background(), postTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return errors.New("bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	if d.key != "" {
		req.Header.Set("Idempotency-Key", d.key)
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("post: %w", ue.Err) // url.Error would print the URL
		}
		return errors.New("post failed")
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post: status %d", resp.StatusCode)
	}
	return nil
}

// Stats counts what the Service did.
type Stats struct {
	Raised, Suppressed, Dropped, Delivered, FailedDeliveries int64
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Raised: s.raised, Suppressed: s.suppressed, Dropped: s.dropped, Delivered: s.delivered, FailedDeliveries: s.failedDeliveries}
}

// Close stops the sender, abandoning pending deliveries, and waits for it.
func (s *Service) Close() error {
	s.closed.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}
