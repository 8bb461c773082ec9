package binance

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	gobinance "github.com/adshao/go-binance/v2"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// cost is what one request spends: request weight on its host's IP budget
// (spot, or USDⓈ-M futures for /fapi/ paths) and whether it is a new order
// (counted by the order-rate limits).
type cost struct {
	weight int
	order  bool
	// freeOnSuccess: the weight is charged only if the request fails
	// (order placement and cancellation since 2026-04-02); it is budgeted
	// before sending, since the outcome is not known yet, and given back
	// on a 2xx answer.
	freeOnSuccess bool
	sapi          bool // counted on the /sapi IP budget
}

// costOf returns the documented weight of a request. /api/ paths share the
// spot IP weight budget and /fapi/ paths the futures one; /sapi/ has limits
// of its own that this adapter does not approach, so it is not budgeted.
func costOf(method, path string, q map[string][]string) cost {
	has := func(k string) bool { return len(q[k]) > 0 && q[k][0] != "" }
	switch method + " " + path {
	case "POST /api/v3/order":
		return cost{weight: 1, order: true, freeOnSuccess: true}
	case "DELETE /api/v3/order":
		return cost{weight: 1, freeOnSuccess: true}
	case "GET /api/v3/order":
		return cost{weight: 4}
	case "GET /api/v3/time", "GET /api/v3/ping":
		return cost{weight: 1}
	case "GET /api/v3/exchangeInfo", "GET /api/v3/account":
		return cost{weight: 20}
	case "GET /api/v3/openOrders":
		if has("symbol") {
			return cost{weight: 6}
		}
		return cost{weight: 80}
	case "GET /api/v3/myTrades":
		if has("orderId") {
			return cost{weight: 5}
		}
		return cost{weight: 20}
	case "GET /api/v3/klines", "GET /api/v3/avgPrice":
		return cost{weight: 2}
	case "GET /api/v3/ticker/price":
		if has("symbol") {
			return cost{weight: 2}
		}
		return cost{weight: 4}
	case "GET /fapi/v1/userTrades", "GET /fapi/v2/balance", "GET /fapi/v3/balance", "GET /fapi/v2/positionRisk", "GET /fapi/v3/positionRisk",
		"GET /fapi/v1/allOrders":
		return cost{weight: 5}
	case "GET /fapi/v1/multiAssetsMargin", "GET /fapi/v1/income":
		return cost{weight: 30}
	case "POST /fapi/v1/order":
		// USDⓈ-M "New Order": 0 on the IP weight, 1 on the account's 10 s
		// and 1 minute order counts.
		return cost{order: true}
	case "GET /fapi/v1/openOrders":
		if has("symbol") {
			return cost{weight: 1}
		}
		return cost{weight: 40}
	case "GET /fapi/v1/klines":
		return cost{weight: 5} // limit 1000 (500 < limit <= 1000)
	case "GET /fapi/v1/assetIndex":
		if has("symbol") {
			return cost{weight: 1}
		}
		return cost{weight: 10}
	}
	if strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/fapi/") {
		return cost{weight: 1}
	}
	if strings.HasPrefix(path, "/sapi/") {
		// The /sapi endpoints count against their own IP weight
		// (12,000 per minute), with the documented weight of each.
		w := map[string]int{
			"POST /sapi/v1/asset/get-funding-asset":      1,
			"GET /sapi/v1/margin/account":                10,
			"GET /sapi/v1/simple-earn/flexible/position": 150,
			"GET /sapi/v1/sub-account/list":              1,
			// UID weight 60 per Binance; counted on the IP budget too,
			// the tighter of the two.
			"GET /sapi/v3/sub-account/assets":          60,
			"GET /sapi/v2/sub-account/futures/account": 1,
		}[method+" "+path]
		return cost{weight: max(w, 1), sapi: true}
	}
	return cost{}
}

// defaultSapiWeight is the /sapi IP weight limit per minute.
const defaultSapiWeight = 12000

// Budgets of the WebSocket endpoints, per IP: 300 connection attempts per 5
// minutes (WebSocket API and market streams together), and the user data
// subscription request's weight (userDataStream.subscribe.signature, 2),
// which the WebSocket API counts on the REQUEST_WEIGHT it shares with REST.
const (
	wsConnectLimit    = 300
	wsConnectWindow   = 5 * time.Minute
	wsSubscribeWeight = 2
)

// bucket is one fixed-window counter, aligned like Binance's (to the minute,
// the 10 seconds, the UTC day of server time).
type bucket struct {
	limit  int
	window time.Duration
	start  time.Time
	used   int
	// next is what was spent near the end of the window, when the server may
	// already count it in the next one; that window starts with it.
	next int
}

func (b *bucket) roll(srv time.Time) {
	s := srv.Truncate(b.window)
	if !s.After(b.start) {
		return
	}
	carried := 0
	if s.Equal(b.start.Add(b.window)) {
		carried = b.next
	}
	b.start, b.used, b.next = s, carried, 0
}

// Budget is what Binance counts per IP on one REST host: the request
// weight (REQUEST_WEIGHT), the 429 back-off and the 418 ban, and the
// estimate of that host's clock the weight windows are aligned to. Every
// Client of a process that talks to the host from the same IP must share one
// Budget (Config.Budget), or each spends the full limit and only the
// response headers rein them in. The order-count limits (ORDERS) are per
// account and stay with each Client. A Budget is safe for concurrent use.
type Budget struct {
	clk   clock.Clock
	guard time.Duration // hold a fresh window this long, in case the server's clock lags ours
	host  string        // the host Budgets.For made it for; empty for NewBudget's
	// publishedWeight says that exchangeInfo's REQUEST_WEIGHT limit replaces
	// the default one (the limit was not set in BudgetConfig).
	publishedWeight bool

	// mu guards the Budget and the per-account buckets of every limiter
	// on it, so one acquire sees both at once.
	mu          sync.Mutex
	offset      time.Duration // server time minus local time
	uncertainty time.Duration // how wrong offset may be: half the sync round trip, plus 1 ms
	weight      bucket
	pausedUntil time.Time // a 429 for weight: nothing of this IP goes out until then
	bannedUntil time.Time // a 418: everything of this IP is refused until then
	usedWeight  int       // the last X-MBX-USED-WEIGHT-1M seen
}

// BudgetConfig configures a Budget. The zero value is Binance's spot budget
// (6,000 per minute, replaced by what exchangeInfo publishes) on the wall
// clock.
type BudgetConfig struct {
	// WeightLimit is the request weight per WeightWindow (6000 per minute).
	// Left zero, the limit exchangeInfo publishes (rateLimits) replaces the
	// default once a Client's Symbols has read it; set, it is kept as given
	// (a desk sharing one IP between processes sets a lower share on purpose).
	WeightLimit  int
	WeightWindow time.Duration
	Clock        clock.Clock // default the wall clock
}

// NewBudget returns a budget for one REST host.
func NewBudget(cfg BudgetConfig) *Budget {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	published := cfg.WeightLimit <= 0
	if cfg.WeightLimit <= 0 {
		cfg.WeightLimit = 6000
	}
	if cfg.WeightWindow <= 0 {
		cfg.WeightWindow = time.Minute
	}
	guard := cfg.WeightWindow / 100
	if guard > time.Second {
		guard = time.Second
	}
	return &Budget{clk: cfg.Clock, guard: guard, publishedWeight: published,
		weight: bucket{limit: cfg.WeightLimit, window: cfg.WeightWindow}}
}

// BannedUntil returns when the host's ban of this IP ends; zero when not banned.
func (b *Budget) BannedUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clk.Now().Before(b.bannedUntil) {
		return b.bannedUntil
	}
	return time.Time{}
}

// Budgets hands out one Budget per REST host, created on first use: what a
// process that opens many accounts keeps so that accounts on one host share
// one IP budget. It is safe for concurrent use.
type Budgets struct {
	cfg BudgetConfig
	mu  sync.Mutex
	m   map[string]*Budget
}

// NewBudgets returns an empty set; every Budget it creates has cfg.
func NewBudgets(cfg BudgetConfig) *Budgets {
	return &Budgets{cfg: cfg, m: map[string]*Budget{}}
}

// For returns the budget of baseURL's host (scheme, host and port; an
// empty baseURL is Binance's default spot host).
func (s *Budgets) For(baseURL string) (*Budget, error) {
	key, err := hostKey(baseURL)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[key]
	if b == nil {
		b = NewBudget(s.cfg)
		b.host = key
		s.m[key] = b
	}
	return b, nil
}

// ForFutures returns the USDⓈ-M futures budget of baseURL's host (an empty
// baseURL is Binance's default futures host): 2,400 per minute, counted
// apart from the spot budget even where one host serves both (a testnet, the
// fake), as Binance counts /fapi weight apart.
func (s *Budgets) ForFutures(baseURL string) (*Budget, error) {
	if baseURL == "" {
		baseURL = defaultFuturesBaseURL
	}
	return s.get(futuresKeyPrefix, baseURL, newFuturesBudget)
}

// ForSapi returns the /sapi (wallet, margin, earn, sub-account) weight
// budget of baseURL's host (an empty baseURL is Binance's default spot
// host): 12,000 per minute per IP, counted apart from the spot
// REQUEST_WEIGHT.
func (s *Budgets) ForSapi(baseURL string) (*Budget, error) {
	if baseURL == "" {
		baseURL = defaultBaseURL
	}
	return s.get(sapiKeyPrefix, baseURL, newSapiBudget)
}

// ForWS returns the connection-attempt budget of a WebSocket host (300
// per 5 minutes per IP): wsURL is Config.WSBaseURL (empty: Binance's
// market stream host) or Config.WSAPIURL, each counted apart.
func (s *Budgets) ForWS(wsURL string) (*Budget, error) {
	if wsURL == "" {
		wsURL = defaultWSBaseURL
	}
	return s.get(wsKeyPrefix, wsURL, newWSBudget)
}

// ForWSAPI is ForWS with an empty wsURL meaning Binance's WebSocket API host.
func (s *Budgets) ForWSAPI(wsURL string) (*Budget, error) {
	if wsURL == "" {
		wsURL = defaultWSAPIURL
	}
	return s.ForWS(wsURL)
}

// get returns the budget of kind (its key prefix) for baseURL's host,
// made by mk on first use.
func (s *Budgets) get(prefix, baseURL string, mk func(clock.Clock) *Budget) (*Budget, error) {
	key, err := hostKey(baseURL)
	if err != nil {
		return nil, err
	}
	key = prefix + key
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[key]
	if b == nil {
		b = mk(s.cfg.Clock)
		b.host = key
		s.m[key] = b
	}
	return b, nil
}

// futuresKeyPrefix, sapiKeyPrefix and wsKeyPrefix mark the futures, /sapi
// and WebSocket budgets among Budgets' keys.
const (
	futuresKeyPrefix = "fapi "
	sapiKeyPrefix    = "sapi "
	wsKeyPrefix      = "ws "
)

// defaultFuturesWeight is USDⓈ-M futures' REQUEST_WEIGHT per minute.
const defaultFuturesWeight = 2400

func newFuturesBudget(clk clock.Clock) *Budget {
	return NewBudget(BudgetConfig{WeightLimit: defaultFuturesWeight, WeightWindow: time.Minute, Clock: clk})
}

func newSapiBudget(clk clock.Clock) *Budget {
	return NewBudget(BudgetConfig{WeightLimit: defaultSapiWeight, WeightWindow: time.Minute, Clock: clk})
}

func newWSBudget(clk clock.Clock) *Budget {
	return NewBudget(BudgetConfig{WeightLimit: wsConnectLimit, WeightWindow: wsConnectWindow, Clock: clk})
}

// hostKey names the host a base URL sends requests to, with default ports
// made explicit so that https://h and https://h:443 share a budget.
func hostKey(baseURL string) (string, error) {
	if baseURL == "" {
		baseURL = defaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return "", fmt.Errorf("binance budget: url %q: %w", baseURL, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("binance budget: url %q has no host", baseURL)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// limiter budgets one Client's requests before they are sent and learns
// from every answer: the weight on its shared Budget, the order counts on
// its own buckets (guarded by the Budget's mutex).
type limiter struct {
	b     *Budget
	onBan func(Pause)
	// publishedOrders says which order limits follow exchangeInfo's rateLimits.
	publishedOrders10s, publishedOrdersDay bool

	orders10s    bucket
	ordersDay    bucket
	ordersPaused time.Time // a 429 for the order count (-1015): this account's orders wait
	stats        LimiterStats
}

// LimiterStats counts what one Client's limiter saw.
type LimiterStats struct {
	Requests    int           // requests sent
	Weight      int           // weight budgeted
	Waited      time.Duration // total time requests waited for budget
	RateLimited int           // 429 answers
	Banned      int           // 418 answers
	UsedWeight  int           // the last X-MBX-USED-WEIGHT-1M seen on the shared budget

	// The limits in force: the configured or default ones, or those that
	// exchangeInfo published (see Config.WeightLimit). WeightLimit is the
	// shared budget's.
	WeightLimit, OrderLimit10s, OrderLimitDay int
}

type ticket struct {
	weightStart, order10Start, orderDayStart time.Time
}

func (l *limiter) clk() clock.Clock { return l.b.clk }

func (l *limiter) serverNow() time.Time {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	return l.b.clk.Now().Add(l.b.offset)
}

func (l *limiter) setOffset(d, uncertainty time.Duration) {
	l.b.mu.Lock()
	l.b.offset, l.b.uncertainty = d, uncertainty
	l.b.mu.Unlock()
}

func (l *limiter) bannedErr(until time.Time) *venue.Error {
	return &venue.Error{Class: venue.ClassBanned, Code: -1003, Message: "IP banned by binance; not sent", Until: until}
}

// acquire waits until c fits every budget, then spends it. It never sends
// during a 429 pause and refuses at once during a 418 ban.
func (l *limiter) acquire(ctx context.Context, c cost) (ticket, error) {
	b := l.b
	for {
		b.mu.Lock()
		local := b.clk.Now()
		if local.Before(b.bannedUntil) {
			until := b.bannedUntil
			b.mu.Unlock()
			return ticket{}, l.bannedErr(until)
		}
		var wait time.Time
		// The server counts this request in the window its clock is in
		// when it arrives: by our estimate somewhere from srv-hold (it lags,
		// or the fresh window is held back for safety) to srv+uncertainty
		// (it leads). Near a boundary that is either of two windows, so
		// the request must fit both and is charged to both.
		var straddle struct{ weight, orders10s, ordersDay bool }
		switch {
		case local.Before(b.pausedUntil):
			wait = b.pausedUntil
		case c.order && local.Before(l.ordersPaused):
			wait = l.ordersPaused
		default:
			hold := b.guard + b.uncertainty
			srv := local.Add(b.offset)
			check := func(bk *bucket, n int) (both bool) {
				bk.roll(srv.Add(-hold))
				end := bk.start.Add(bk.window)
				both = !srv.Add(b.uncertainty).Before(end)
				if bk.used > 0 && bk.used+n > bk.limit || both && bk.next > 0 && bk.next+n > bk.limit {
					next := end.Add(hold).Add(-b.offset)
					if next.After(wait) {
						wait = next
					}
				}
				return both
			}
			if c.weight > 0 {
				straddle.weight = check(&b.weight, c.weight)
			}
			if c.order {
				straddle.orders10s = check(&l.orders10s, 1)
				straddle.ordersDay = check(&l.ordersDay, 1)
			}
		}
		if wait.IsZero() {
			t := ticket{weightStart: b.weight.start, order10Start: l.orders10s.start, orderDayStart: l.ordersDay.start}
			spend := func(bk *bucket, n int, both bool) {
				bk.used += n
				if both {
					bk.next += n
				}
			}
			spend(&b.weight, c.weight, straddle.weight)
			if c.order {
				spend(&l.orders10s, 1, straddle.orders10s)
				spend(&l.ordersDay, 1, straddle.ordersDay)
			}
			l.stats.Requests++
			l.stats.Weight += c.weight
			b.mu.Unlock()
			return t, nil
		}
		d := wait.Sub(local)
		l.stats.Waited += d
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ticket{}, &venue.Error{Class: venue.ClassUnavailable, Message: "not sent: waiting for rate budget: " + ctx.Err().Error()}
		case <-b.clk.After(d):
		}
	}
}

// adoptLimits takes the limits a server publishes in exchangeInfo's
// rateLimits for the budgets left at their defaults. A published limit
// replaces a bucket's only where its interval is the bucket's window: the
// counters the server reports (X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S,
// X-MBX-ORDER-COUNT-1D) are kept per window, so a limit for another window
// would budget against the wrong count.
func (l *limiter) adoptLimits(limits []gobinance.RateLimit) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	for _, rl := range limits {
		unit, ok := map[string]time.Duration{"SECOND": time.Second, "MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour}[rl.Interval]
		if !ok || rl.IntervalNum <= 0 || rl.Limit <= 0 {
			continue
		}
		window := unit * time.Duration(rl.IntervalNum)
		var bk *bucket
		switch {
		case rl.RateLimitType == "REQUEST_WEIGHT" && l.b.publishedWeight:
			bk = &l.b.weight
		case rl.RateLimitType == "ORDERS" && l.publishedOrders10s && window == l.orders10s.window:
			bk = &l.orders10s
		case rl.RateLimitType == "ORDERS" && l.publishedOrdersDay && window == l.ordersDay.window:
			bk = &l.ordersDay
		}
		if bk != nil && window == bk.window {
			bk.limit = int(rl.Limit)
		}
	}
}

// observe adopts the server's counters when they exceed ours (another
// process sharing the IP, or requests we did not budget).
func (l *limiter) observe(t ticket, h http.Header) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	adopt := func(bk *bucket, start time.Time, key string) {
		v, err := strconv.Atoi(h.Get(key))
		if err != nil {
			return
		}
		if key == "X-Mbx-Used-Weight-1m" {
			l.b.usedWeight = v
		}
		if start.Equal(bk.start) && v > bk.used {
			bk.used = v
		}
	}
	adopt(&l.b.weight, t.weightStart, "X-Mbx-Used-Weight-1m")
	adopt(&l.orders10s, t.order10Start, "X-Mbx-Order-Count-10s")
	adopt(&l.ordersDay, t.orderDayStart, "X-Mbx-Order-Count-1d")
	if l.ordersDay.window == time.Minute { // the USDⓈ-M futures limiter
		adopt(&l.ordersDay, t.orderDayStart, "X-Mbx-Order-Count-1m")
	}
}

// refund gives back weight spent under ticket t, while its window is
// still the current one (a request that cost nothing after all).
func (l *limiter) refund(t ticket, weight int) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if t.weightStart.Equal(l.b.weight.start) && l.b.weight.used >= weight {
		l.b.weight.used -= weight
	}
	l.stats.Weight -= weight
}

// pause stops every request of the IP until d from now (HTTP 429 for
// weight), or, for the order count (-1015, counted per account), this
// account's new orders only.
func (l *limiter) pause(d time.Duration, ordersOnly bool) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	l.stats.RateLimited++
	until := l.b.clk.Now().Add(d)
	p := &l.b.pausedUntil
	if ordersOnly {
		p = &l.ordersPaused
	}
	if until.After(*p) {
		*p = until
	}
}

// orderLimitRE finds the window in -1015's message, "Too many new orders;
// current limit is 50 orders per 10 SECOND."
var orderLimitRE = regexp.MustCompile(`per (\d+) (SECOND|MINUTE|HOUR|DAY)`)

// orderCountWait is how long until the server's next window of the order
// limit that msg names (the 10-second one when it names none), with the
// same hold as a spent bucket.
func (l *limiter) orderCountWait(msg string) time.Duration {
	window := l.orders10s.window
	if m := orderLimitRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"SECOND": time.Second, "MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour}[m[2]]
		if n > 0 {
			window = time.Duration(n) * unit
		}
	}
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	srv := l.b.clk.Now().Add(l.b.offset)
	return srv.Truncate(window).Add(window).Add(l.b.guard + l.b.uncertainty).Sub(srv)
}

// ban refuses every request of the IP until d from now (HTTP 418, or 403
// for a WAF block: p says which) and, when that pauses the host longer than
// it already was, tells this Client's OnBan.
func (l *limiter) ban(d time.Duration, p Pause) time.Time {
	l.b.mu.Lock()
	l.stats.Banned++
	until := l.b.clk.Now().Add(d)
	extended := until.After(l.b.bannedUntil)
	if extended {
		l.b.bannedUntil = until
	}
	until = l.b.bannedUntil
	onBan := l.onBan
	l.b.mu.Unlock()
	if extended && onBan != nil {
		p.Until = until
		onBan(p)
	}
	return until
}

// transport is the http.RoundTripper under go-binance: it budgets each
// request, stamps signed requests with the synced server time after any wait
// (so waiting never causes -1021), and turns 429, 418 and 5xx into typed
// errors, which go-binance does not expose.
//
// The wait for budget is bounded only by the request's context (the
// caller's); timeout bounds the request on the wire, from the end of that
// wait until its body is closed, so a spent budget or a long Retry-After
// delays a request instead of failing it.
type transport struct {
	base    http.RoundTripper
	lim     *limiter // spot (/api/); its clock offset stamps every signed request
	fut     *limiter // USDⓈ-M futures (/fapi/)
	sapi    *limiter // wallet and account endpoints (/sapi/)
	secret  string
	timeout time.Duration
}

// sentAtKey carries a *time.Time the transport sets to when a request left,
// after any wait for budget (SyncTime times the round trip from there).
type sentAtKey struct{}

// cancelBody releases a request's timeout once its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// sendError is a failure of the round trip itself; dial tells whether the
// request certainly never left.
type sendError struct {
	err  error
	dial bool
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// statusError is a 5xx or 408 answer: the outcome of a write is unknown.
type statusError struct {
	status int
	code   int
	msg    string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("http %d: code %d: %s", e.status, e.code, e.msg)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := costOf(req.Method, req.URL.Path, req.URL.Query())
	lim := t.lim
	switch {
	case t.fut != nil && strings.HasPrefix(req.URL.Path, "/fapi/"):
		lim = t.fut
	case t.sapi != nil && c.sapi:
		lim = t.sapi
	}
	tk, err := lim.acquire(req.Context(), c)
	if err != nil {
		return nil, err
	}
	if at, ok := req.Context().Value(sentAtKey{}).(*time.Time); ok {
		*at = t.lim.clk().Now()
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.send(req.Clone(ctx), lim, tk)
	if err != nil || resp.Body == nil {
		cancel()
		return resp, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// send stamps and sends a request whose budget on lim is spent and maps the
// answer.
func (t *transport) send(req *http.Request, lim *limiter, tk ticket) (*http.Response, error) {
	if strings.Contains(req.URL.RawQuery, "signature=") {
		if err := t.stamp(req); err != nil {
			return nil, err
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, &sendError{err: err, dial: isDial(err)}
	}
	lim.observe(tk, resp.Header)
	if c := costOf(req.Method, req.URL.Path, req.URL.Query()); c.freeOnSuccess && resp.StatusCode/100 == 2 {
		lim.refund(tk, c.weight)
	}
	// go-binance copies these headers into unsynchronized fields of its
	// Client, a data race under concurrent use; the limiter has them now.
	for k := range resp.Header {
		if strings.HasPrefix(k, "X-Mbx-Used-Weight") || strings.HasPrefix(k, "X-Mbx-Order-Count") {
			resp.Header.Del(k)
		}
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusTeapot,
		resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusForbidden:
	default:
		return resp, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	var ae struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	_ = json.Unmarshal(body, &ae)
	ra, hasRA := retryAfter(resp.Header)
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		switch {
		case hasRA:
		case ae.Code == -1015:
			// The order count comes without Retry-After: wait for the
			// server's next window of the limit that was hit.
			ra = lim.orderCountWait(ae.Msg)
		default:
			ra = lim.b.weight.window
		}
		lim.pause(ra, ae.Code == -1015)
		return nil, &venue.Error{Class: venue.ClassRateLimited, Code: ae.Code, Message: ae.Msg, RetryAfter: ra}
	case http.StatusTeapot:
		if !hasRA {
			ra = 2 * time.Minute
		}
		until := lim.ban(ra, Pause{Cause: PauseBanned, Status: resp.StatusCode, Host: req.URL.Host, Message: Redact(ae.Msg)})
		return nil, &venue.Error{Class: venue.ClassBanned, Code: ae.Code, Message: ae.Msg, Until: until}
	case http.StatusForbidden:
		// "HTTP 403 return code is used when the WAF Limit (Web
		// Application Firewall) has been violated" (rest-api.md, HTTP
		// Return Codes): the edge refused the request, which never reached
		// the engine. Binance says nothing of how long; the host is paused
		// like a ban (wafPause, or Retry-After when sent), and OnBan alerts.
		if !hasRA {
			ra = wafPause
		}
		until := lim.ban(ra, Pause{Cause: PauseWAF, Status: resp.StatusCode, Host: req.URL.Host, Message: Redact(ae.Msg)})
		msg := "HTTP 403: the WAF (web application firewall) blocked this IP; not executed"
		if ae.Msg != "" {
			msg += ": " + ae.Msg
		}
		return nil, &venue.Error{Class: venue.ClassBanned, Code: ae.Code, Message: msg, Until: until}
	}
	return nil, &statusError{status: resp.StatusCode, code: ae.Code, msg: ae.Msg}
}

// wafPause is how long a 403 (WAF block) without Retry-After pauses the host.
const wafPause = 5 * time.Minute

func retryAfter(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// stamp replaces the timestamp of a signed request with the synced server
// time and signs it again: go-binance stamps with its own wall clock before
// the limiter may have made the request wait.
func (t *transport) stamp(req *http.Request) error {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return fmt.Errorf("read request body: %w", err)
		}
		req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req.ContentLength = int64(len(b))
	}
	ts := "timestamp=" + strconv.FormatInt(t.lim.serverNow().UnixMilli(), 10)
	// Stamped first, guarded second: a request that passes the guard
	// carries a timestamp from before the guard's check, so Binance refuses
	// it once recvWindow has passed however long this process is frozen
	// from here on (see venue.SendGuard).
	if err := venue.CheckSend(req.Context()); err != nil {
		return &venue.Error{Class: venue.ClassUnavailable, Message: "not sent: " + err.Error()}
	}
	var parts []string
	for _, p := range strings.Split(req.URL.RawQuery, "&") {
		switch {
		case p == "" || strings.HasPrefix(p, "signature="):
		case strings.HasPrefix(p, "timestamp="):
			parts = append(parts, ts)
		default:
			parts = append(parts, p)
		}
	}
	q := strings.Join(parts, "&")
	req.URL.RawQuery = q + "&signature=" + sign(t.secret, q+string(body))
	return nil
}

func sign(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}
