package bybit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/tradeplane/tradeplane/internal/venue"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// apiError is a Bybit answer that is not a success: an HTTP status other
// than 200, or a retCode other than 0. The transport returns it as the
// round trip's error so that hirokisan/bybit, which drops the status, the
// headers and the body of a failed response, cannot lose it; classify finds
// it through the *url.Error the http.Client wraps it in.
type apiError struct {
	Status  int    // HTTP status
	RetCode int    // Bybit retCode; 0 when the body had none
	RetMsg  string // Bybit retMsg, or the start of the body
	Path    string
	// ResetAt is X-Bapi-Limit-Reset-Timestamp, when the endpoint's window
	// refills; zero when the header was absent.
	ResetAt time.Time
}

func (e *apiError) Error() string {
	return fmt.Sprintf("bybit %s: http %d retCode %d: %s", e.Path, e.Status, e.RetCode, e.RetMsg)
}

// endpointLimit is what the last answer of one endpoint said about its
// per-UID window (X-Bapi-Limit, X-Bapi-Limit-Status,
// X-Bapi-Limit-Reset-Timestamp).
type endpointLimit struct {
	limit, remaining int
	resetAt          time.Time
}

// limiter keeps Bybit's rate-limit state: per endpoint (path) the window
// the headers report, and the IP ban a 403 starts. Bybit counts per UID
// per endpoint, so each Client (one API key) has its own.
type limiter struct {
	clk clock.Clock

	mu          sync.Mutex
	endpoints   map[string]endpointLimit
	bannedUntil time.Time
	offset      time.Duration // server clock minus ours
	uncertainty time.Duration // how far off offset may be: half the sync round trip
	stats       Stats
}

// Stats counts what the limiter did.
type Stats struct {
	Requests    int // requests sent
	Waits       int // requests that waited for an exhausted endpoint window
	RateLimited int // answers with retCode 10006
	Banned      int // answers with HTTP 403 or retCode 10018
}

// ipBan is how long Bybit blocks an IP after HTTP 403 "access too
// frequent": the rate-limit page says the ban lifts after 10 minutes.
const ipBan = 10 * time.Minute

func newLimiter(clk clock.Clock) *limiter {
	return &limiter{clk: clk, endpoints: map[string]endpointLimit{}}
}

func (l *limiter) serverNow() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clk.Now().Add(l.offset)
}

func (l *limiter) setOffset(d, uncertainty time.Duration) {
	l.mu.Lock()
	l.offset, l.uncertainty = d, uncertainty
	l.mu.Unlock()
}

// resetSlack is added to a window's reset time, beyond the offset's
// uncertainty, so that a request sent at the reset does not arrive before it.
const resetSlack = 10 * time.Millisecond

// errBanned is returned without a request while an IP ban lasts.
type errBanned struct{ until time.Time }

func (e *errBanned) Error() string {
	return "bybit: IP banned until " + e.until.UTC().Format(time.RFC3339)
}

// wait blocks until path may be called: not during a ban (which fails at
// once), and not while the endpoint's window is spent (which waits for its
// reset, bounded by ctx).
func (l *limiter) wait(ctx context.Context, path string) error {
	for {
		l.mu.Lock()
		now := l.clk.Now().Add(l.offset)
		if now.Before(l.bannedUntil) {
			until := l.bannedUntil
			l.mu.Unlock()
			return &errBanned{until: until}
		}
		e, ok := l.endpoints[path]
		reset := e.resetAt.Add(l.uncertainty + resetSlack)
		if !ok || e.remaining > 0 || !now.Before(reset) {
			if ok && e.remaining > 0 {
				// Count this request against the window until its answer
				// says otherwise, so concurrent callers cannot overshoot.
				e.remaining--
				l.endpoints[path] = e
			}
			l.stats.Requests++
			l.mu.Unlock()
			return nil
		}
		d := reset.Sub(now)
		l.stats.Waits++
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.clk.After(d):
		}
	}
}

// observe records an answer's rate-limit headers and its ban or limit
// status.
func (l *limiter) observe(path string, status, retCode int, h http.Header) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var resetAt time.Time
	if ms, err := strconv.ParseInt(h.Get("X-Bapi-Limit-Reset-Timestamp"), 10, 64); err == nil {
		resetAt = time.UnixMilli(ms)
	}
	if lim, err := strconv.Atoi(h.Get("X-Bapi-Limit")); err == nil {
		rem, err := strconv.Atoi(h.Get("X-Bapi-Limit-Status"))
		if err == nil {
			l.endpoints[path] = endpointLimit{limit: lim, remaining: rem, resetAt: resetAt}
		}
	}
	switch {
	case status == http.StatusForbidden || retCode == 10018:
		l.stats.Banned++
		l.bannedUntil = l.clk.Now().Add(l.offset).Add(ipBan)
	case retCode == 10006:
		l.stats.RateLimited++
		e := l.endpoints[path]
		e.remaining = 0
		if !resetAt.IsZero() {
			e.resetAt = resetAt
		} else if e.resetAt.IsZero() {
			e.resetAt = l.clk.Now().Add(l.offset).Add(time.Second)
		}
		l.endpoints[path] = e
		resetAt = e.resetAt
	}
	return resetAt
}

// transport sends every request of a Client: it waits for the endpoint's
// budget, stamps signed requests with the server-synced timestamp and the
// recvWindow, signs them (Bybit v5: HMAC-SHA256 of timestamp, key,
// recvWindow and the query string or JSON body), bounds each round trip by
// the HTTP timeout and turns failures into *apiError.
type transport struct {
	base       http.RoundTripper
	lim        *limiter
	key        string
	secret     string
	recvWindow string
	timeout    time.Duration
}

// ctxTransport puts a caller's context on requests made by
// hirokisan/bybit, whose methods take none.
type ctxTransport struct {
	ctx context.Context
	t   *transport
}

func (c ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.t.RoundTrip(req.WithContext(c.ctx))
}

func sign(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	path := req.URL.Path
	if err := t.lim.wait(ctx, path); err != nil {
		return nil, err
	}
	if req.Header.Get("X-BAPI-API-KEY") != "" {
		var payload string
		if req.Body != nil && req.Method != http.MethodGet {
			b, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, fmt.Errorf("read request body: %w", err)
			}
			req.Body.Close()
			req.Body = io.NopCloser(bytes.NewReader(b))
			req.ContentLength = int64(len(b))
			payload = string(b)
		} else {
			payload = req.URL.RawQuery
		}
		ts := strconv.FormatInt(t.lim.serverNow().UnixMilli(), 10)
		req.Header.Set("X-BAPI-TIMESTAMP", ts)
		req.Header.Set("X-BAPI-RECV-WINDOW", t.recvWindow)
		req.Header.Set("X-BAPI-SIGN", sign(t.secret, ts+t.key+t.recvWindow+payload))
		// Stamped first, guarded second (see venue.SendGuard): a request
		// that passes carries a timestamp from before the journal's lease
		// check, so Bybit refuses it once recv_window has passed.
		if err := venue.CheckSend(ctx); err != nil {
			return nil, &venue.Error{Class: venue.ClassUnavailable, Message: "not sent: " + err.Error()}
		}
	}
	rctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	resp, err := t.base.RoundTrip(req.WithContext(rctx))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s answer: %w", path, err)
	}
	var env struct {
		RetCode *int   `json:"retCode"`
		RetMsg  string `json:"retMsg"`
	}
	_ = json.Unmarshal(body, &env)
	code := 0
	if env.RetCode != nil {
		code = *env.RetCode
	}
	resetAt := t.lim.observe(path, resp.StatusCode, code, resp.Header)
	if resp.StatusCode != http.StatusOK || code != 0 {
		msg := env.RetMsg
		if msg == "" {
			msg = string(body[:min(len(body), 200)])
		}
		return nil, &apiError{Status: resp.StatusCode, RetCode: code, RetMsg: msg, Path: path, ResetAt: resetAt}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
