package servertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/store"
)

// BenchConfig shapes Bench. Zero values take the defaults named.
type BenchConfig struct {
	// Accounts and Sessions on the fake desk; default 1,000 each.
	Accounts, Sessions int
	// JournalEvents in the journal; default 50 per session.
	JournalEvents int
	// Rate of requests per second per endpoint; default 1,000.
	Rate int
	// Duration of each endpoint's run; default 5 s.
	Duration time.Duration
	// SSEClients for the fan-out run; default 200. SSEEvents published
	// to them at 100 a second; default 200.
	SSEClients, SSEEvents int
}

// Latency summarizes one run's latencies.
type Latency struct {
	Name      string
	Requests  int
	Errors    int
	P50, P99  time.Duration
	Max       time.Duration
	Achieved  float64 // requests per second actually sent
	BodyBytes int
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Endpoints []Latency
	// SSE is the publish-to-receive latency over every client and event.
	SSE Latency
}

// String renders the result as a Markdown table.
func (r BenchResult) String() string {
	var b strings.Builder
	b.WriteString("| what | requests | errors | rate/s | p50 | p99 | max | body |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, l := range append(slices.Clone(r.Endpoints), r.SSE) {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %s | %s | %s | %d B |\n", l.Name, l.Requests, l.Errors, l.Achieved,
			l.P50.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Max.Round(10*time.Microsecond), l.BodyBytes)
	}
	return b.String()
}

// Bench measures the HTTP, auth and JSON path of the API over a fake desk
// served on a loopback port: GET /api/v1/portfolio and GET /api/v1/journal
// at a fixed open-loop rate with a viewer token, then one journal event
// fanned out to many SSE clients. The load generator runs in the same
// process, so on a small machine it competes with the server for CPU and
// the numbers are an upper bound.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.Accounts <= 0 {
		cfg.Accounts = 1000
	}
	if cfg.Sessions <= 0 {
		cfg.Sessions = 1000
	}
	if cfg.JournalEvents <= 0 {
		cfg.JournalEvents = 50 * cfg.Sessions
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 1000
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.SSEClients <= 0 {
		cfg.SSEClients = 200
	}
	if cfg.SSEEvents <= 0 {
		cfg.SSEEvents = 200
	}
	var res BenchResult
	env, err := NewEnv(ctx, "", Options{Accounts: cfg.Accounts, Sessions: cfg.Sessions, JournalEvents: cfg.JournalEvents})
	if err != nil {
		return res, err
	}
	defer env.Close()
	base, err := env.Serve()
	if err != nil {
		return res, err
	}
	token, err := env.Token(ctx, auth.RoleViewer)
	if err != nil {
		return res, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}, Timeout: 10 * time.Second}
	for _, ep := range []string{"/api/v1/portfolio", "/api/v1/journal"} {
		l, err := load(ctx, client, base+ep, token, cfg.Rate, cfg.Duration)
		if err != nil {
			return res, err
		}
		l.Name = "GET " + ep
		res.Endpoints = append(res.Endpoints, l)
	}
	res.SSE, err = fanout(ctx, env, base, token, cfg.SSEClients, cfg.SSEEvents)
	return res, err
}

// load sends GETs at rate for d, open loop, and summarizes latencies.
func load(ctx context.Context, c *http.Client, url, token string, rate int, d time.Duration) (Latency, error) {
	get := func() (time.Duration, int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, 0, err
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return time.Since(start), int(n), nil
	}
	// Warm up connections and caches.
	for range 50 {
		if _, _, err := get(); err != nil {
			return Latency{}, fmt.Errorf("bench warm-up: %w", err)
		}
	}
	var mu sync.Mutex
	var lats []time.Duration
	var errs, body int
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	next := start
	sent := 0
	for time.Since(start) < d && ctx.Err() == nil {
		next = next.Add(interval)
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, n, err := get()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			lats = append(lats, lat)
			body = n
		}()
	}
	elapsed := time.Since(start)
	wg.Wait()
	l := summarize(lats)
	l.Requests, l.Errors, l.BodyBytes, l.Achieved = sent, errs, body, float64(sent)/elapsed.Seconds()
	return l, nil
}

func summarize(lats []time.Duration) Latency {
	slices.Sort(lats)
	if len(lats) == 0 {
		return Latency{}
	}
	q := func(p float64) time.Duration { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	return Latency{P50: q(0.50), P99: q(0.99), Max: lats[len(lats)-1]}
}

// fanout connects clients to the journal stream, publishes events with
// their publish time in the message, and measures delivery latency.
func fanout(ctx context.Context, env *Env, base, token string, clients, events int) (Latency, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients + 10}}
	for range clients {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/journal/stream", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return Latency{}, fmt.Errorf("bench sse connect: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			got := 0
			for sc.Scan() {
				line := sc.Text()
				i := strings.Index(line, `"message":"t=`)
				if i < 0 {
					continue
				}
				rest := line[i+len(`"message":"t=`):]
				ns, err := strconv.ParseInt(rest[:strings.IndexByte(rest, '"')], 10, 64)
				if err != nil {
					continue
				}
				lat := time.Since(time.Unix(0, ns))
				mu.Lock()
				lats = append(lats, lat)
				mu.Unlock()
				if got++; got == events {
					return
				}
			}
		}()
	}
	for env.Server.Subscribers() < clients {
		select {
		case <-ctx.Done():
			return Latency{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	start := time.Now()
	for i := range events {
		env.Server.PublishJournal(store.JournalEvent{Seq: int64(1e9 + i), At: time.Now().UTC(), Kind: "fill", SessionID: "s-0001",
			Message: "t=" + strconv.FormatInt(time.Now().UnixNano(), 10)})
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		<-done
	}
	l := summarize(lats)
	l.Name = fmt.Sprintf("SSE fan-out to %d clients", clients)
	l.Requests = clients * events
	l.Errors = clients*events - len(lats)
	l.Achieved = float64(events) / time.Since(start).Seconds()
	return l, nil
}
