// Package binancetest is a loopback fake of Binance for tests: a REST server
// and websocket endpoints that speak Binance's documented formats, sign-check
// requests, count request weight per minute (429, then 418 bans), match orders
// against a price path the test sets, and fail the next call of an operation
// on demand (FailNext) or every matching call until told otherwise
// (FailEvery).
//
// It owns only the fake exchange; the adapter lives in venue/binance and the
// shared venue contract in venue. It is not a matching engine: orders fill
// against the single price a test sets, never against each other.
package binancetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Fault is a failure the fake injects into the next call of an operation.
type Fault string

// Faults, named as the venue conformance suite names them.
const (
	FaultRateLimited            Fault = "rate_limited"             // 429, -1003, Retry-After
	FaultBanned                 Fault = "banned"                   // 418, -1003, Retry-After
	FaultInsufficientFunds      Fault = "insufficient_funds"       // 400, -2010
	FaultFilterReject           Fault = "filter_reject"            // 400, -1013
	FaultTimeoutBeforeExecution Fault = "timeout_before_execution" // 503, -1007, nothing executed
	FaultTimeoutAfterExecution  Fault = "timeout_after_execution"  // 503, -1007, the request executed
	FaultServerError            Fault = "server_error"             // 500, -1000, nothing executed
	FaultTimestamp              Fault = "timestamp"                // 400, -1021
	FaultAuth                   Fault = "auth"                     // 401, -2015
	FaultForbidden              Fault = "forbidden"                // 403 WAF block, HTML body, nothing executed
)

// Operations FailNext accepts.
const (
	OpPlace      = "place"
	OpCancel     = "cancel"
	OpQuery      = "query"
	OpBalances   = "balances"
	OpTrades     = "trades"
	OpOpenOrders = "open_orders"
	// OpFuturesTrades is USDⓈ-M futures trade history (/fapi/v1/userTrades).
	OpFuturesTrades = "futures_trades"
)

// SymbolSpec is one market the fake lists, with its exchangeInfo filters.
// The zero values of the fields after QtyPrecision are Binance's usual
// ones: status TRADING, MARKET_LOT_SIZE as LOT_SIZE (market orders may be
// up to MarketMaxQty when it is set), maxNotional 9,000,000 (not applied to
// market orders), minNotional applied to market orders, market orders by
// quote quantity allowed, 8 decimals of quote quantity.
type SymbolSpec struct {
	Name, Base, Quote            string
	TickSize, StepSize, MinQty   venue.Decimal
	MaxQty, MinNotional          venue.Decimal
	PricePrecision, QtyPrecision int

	// Status is exchangeInfo's status: TRADING (default), HALT, BREAK,
	// CANCEL_ONLY...; only TRADING takes new orders.
	Status string
	// MarketMinQty, MarketMaxQty and MarketStepSize are MARKET_LOT_SIZE.
	MarketMinQty, MarketMaxQty, MarketStepSize venue.Decimal
	// MaxNotional is NOTIONAL's maxNotional; ApplyMaxToMarket applies it
	// to market orders, MinNotionalNotForMarket exempts them from minNotional.
	MaxNotional                               venue.Decimal
	ApplyMaxToMarket, MinNotionalNotForMarket bool
	// NoQuoteOrderQty sets quoteOrderQtyMarketAllowed false.
	NoQuoteOrderQty bool
	// QuotePrecision is quoteAssetPrecision (default 8): a quoteOrderQty
	// with more decimals is refused with -1111.
	QuotePrecision int
}

// withDefaults fills the zero values with Binance's usual ones.
func (sp SymbolSpec) withDefaults() SymbolSpec {
	if sp.Status == "" {
		sp.Status = "TRADING"
	}
	if sp.MarketMinQty.IsZero() {
		sp.MarketMinQty = sp.MinQty
	}
	if sp.MarketMaxQty.IsZero() {
		sp.MarketMaxQty = sp.MaxQty
	}
	if sp.MaxNotional.IsZero() {
		sp.MaxNotional = dec("9000000")
	}
	if sp.QuotePrecision == 0 {
		sp.QuotePrecision = 8
	}
	return sp
}

// SetSymbolStatus changes a symbol's exchangeInfo status (HALT, BREAK,
// CANCEL_ONLY, TRADING).
func (s *Server) SetSymbolStatus(symbol, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.symbols[symbol]
	sp.Status = status
	s.symbols[symbol] = sp
}

// DefaultSymbols are the markets every harness lists.
func DefaultSymbols() []SymbolSpec {
	return []SymbolSpec{
		{Name: "BTCUSDT", Base: "BTC", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.00001"),
			MinQty: dec("0.00001"), MaxQty: dec("9000"), MinNotional: dec("5")},
		{Name: "ETHUSDT", Base: "ETH", Quote: "USDT", TickSize: dec("0.01"), StepSize: dec("0.0001"),
			MinQty: dec("0.0001"), MaxQty: dec("9000"), MinNotional: dec("5")},
	}
}

// Config tunes the fake. The zero value is Binance's defaults with the keys
// "test-key" / "test-secret" and the wall clock.
type Config struct {
	APIKey    string
	APISecret string
	Clock     clock.Clock
	// WeightLimit is the request weight allowed per WeightWindow (6000/min).
	WeightLimit  int
	WeightWindow time.Duration
	// FuturesWeightLimit is the USDⓈ-M futures (/fapi) request weight per
	// WeightWindow (2400/min), counted apart from the spot weight as
	// Binance counts each host apart.
	FuturesWeightLimit int
	// OrderLimit10s and OrderLimitDay cap new orders (50 per 10 s, 160,000 per day).
	OrderLimit10s int
	OrderLimitDay int
	// BanAfter is how many requests sent during a 429 back-off earn a 418 ban
	// (default 2); BanDuration is how long the ban lasts (default 2 minutes).
	BanAfter    int
	BanDuration time.Duration
	// FaultRetryAfter is the Retry-After of injected rate_limited and banned
	// faults (default 1 s).
	FaultRetryAfter time.Duration
	// FeeRate is the commission on every fill, charged in the received asset
	// (default 0.001).
	FeeRate venue.Decimal
	Symbols []SymbolSpec
}

// Stats counts what the fake answered.
type Stats struct {
	Requests    int
	Weight      int // total weight accepted (spot)
	RateLimited int // 429 answers
	Banned      int // 418 answers
	Orders      int
	// FuturesWeight, FuturesRateLimited and FuturesBanned count the /fapi
	// weight accepted, and its 429 and 418 answers.
	FuturesWeight, FuturesRateLimited, FuturesBanned int
}

// Server is a running fake. URL serves REST (spot, sapi and fapi paths),
// StreamURL market streams (/ws/<stream>, /stream?streams=) and WSAPIURL the
// WebSocket API. Methods are safe for concurrent use.
type Server struct {
	URL       string
	StreamURL string
	WSAPIURL  string

	cfg Config
	hs  *httptest.Server

	mu          sync.Mutex
	symbols     map[string]SymbolSpec
	symbolOrder []string
	prices      map[string]venue.Decimal
	pricePath   map[string][]pricePoint
	wallets     map[venue.Wallet]map[string]*holding
	marginOpen  bool
	multiAssets bool // USDⓈ-M futures Multi-Assets mode
	subAccounts []SubAccount
	subWallets  map[string]map[venue.Wallet]map[string]*holding // sub-account balances by email (subaccount.go)
	haircuts    map[string]assetIndex                           // Multi-Assets mode asset index by asset (collateral.go)
	orders      []*order
	byClientID  map[string]*order
	trades      map[string][]*trade
	futTrades   map[string][]*trade // USDⓈ-M futures fills by symbol
	futures     *futuresBook        // USDⓈ-M futures orders and positions (futures_exchange.go)
	nextOrderID int64
	nextTradeID map[string]int64
	nextExecID  int64 // executionReport "I", the execution id
	faults      map[string][]Fault
	sticky      []*StickyFault
	skew        time.Duration
	tradesLag   time.Duration // myTrades leaves out fills younger than this
	pf          placeFaults   // placefaults.go

	spot         weightCounter // the IP's REQUEST_WEIGHT (REST and WebSocket API), back-off and ban
	fut          weightCounter // /fapi weight, back-off and ban
	order10Start time.Time
	order10      int
	orderDay     time.Time
	orderDayN    int
	stats        Stats

	streams *hub
}

// SubAccount is one sub-account listed by /sapi/v1/sub-account/list.
type SubAccount struct {
	Email   string
	Frozen  bool
	Created time.Time
}

type holding struct {
	free, locked, borrowed venue.Decimal
	unrealized             venue.Decimal // futures: unrealized PnL of the asset's positions
}

type pricePoint struct {
	t time.Time
	p venue.Decimal
}

// New starts a fake; Close stops it.
func New(cfg Config) *Server {
	if cfg.APIKey == "" {
		cfg.APIKey = "test-key"
	}
	if cfg.APISecret == "" {
		cfg.APISecret = "test-secret"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.WeightLimit == 0 {
		cfg.WeightLimit = 6000
	}
	if cfg.WeightWindow == 0 {
		cfg.WeightWindow = time.Minute
	}
	if cfg.FuturesWeightLimit == 0 {
		cfg.FuturesWeightLimit = 2400
	}
	if cfg.OrderLimit10s == 0 {
		cfg.OrderLimit10s = 50
	}
	if cfg.OrderLimitDay == 0 {
		cfg.OrderLimitDay = 160000
	}
	if cfg.BanAfter == 0 {
		cfg.BanAfter = 2
	}
	if cfg.BanDuration == 0 {
		cfg.BanDuration = 2 * time.Minute
	}
	if cfg.FaultRetryAfter == 0 {
		cfg.FaultRetryAfter = time.Second
	}
	if cfg.FeeRate.IsZero() {
		cfg.FeeRate = dec("0.001")
	}
	if cfg.Symbols == nil {
		cfg.Symbols = DefaultSymbols()
	}
	s := &Server{
		cfg:         cfg,
		symbols:     map[string]SymbolSpec{},
		prices:      map[string]venue.Decimal{},
		pricePath:   map[string][]pricePoint{},
		wallets:     map[venue.Wallet]map[string]*holding{},
		byClientID:  map[string]*order{},
		trades:      map[string][]*trade{},
		futTrades:   map[string][]*trade{},
		nextTradeID: map[string]int64{},
		faults:      map[string][]Fault{},
		nextOrderID: 1000,
	}
	for _, sp := range cfg.Symbols {
		s.symbols[sp.Name] = sp.withDefaults()
		s.symbolOrder = append(s.symbolOrder, sp.Name)
	}
	s.streams = newHub(s)
	s.hs = httptest.NewServer(s.routes())
	s.URL = s.hs.URL
	s.StreamURL = "ws" + strings.TrimPrefix(s.hs.URL, "http")
	s.WSAPIURL = s.StreamURL + "/ws-api/v3"
	return s
}

// Start starts a fake that is closed when tb ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s := New(cfg)
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server and drops every websocket.
func (s *Server) Close() {
	s.streams.closeAll()
	s.hs.CloseClientConnections()
	s.hs.Close()
}

// APIKey returns the key the fake accepts.
func (s *Server) APIKey() string { return s.cfg.APIKey }

// APISecret returns the secret the fake signs with.
func (s *Server) APISecret() string { return s.cfg.APISecret }

// Stats returns counters of what the fake answered.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// FailNext makes the next request of op fail with f. Several calls queue.
func (s *Server) FailNext(op string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], f)
}

// FaultRule describes a sticky fault: every request of Op that matches it
// fails with Fault, every time, until the rule is removed (FailNext's
// faults are one-shot and go first). Symbol and ClientIDPrefix narrow the
// rule ("" matches any); the client order id is the request's
// newClientOrderId, or origClientOrderId for queries and cancels. A rule on
// OpPlace with a ClientIDPrefix fails one family of orders (say one
// strategy's, or Trade All's) on one symbol and lets every other order
// through.
type FaultRule struct {
	Op             string
	Symbol         string
	ClientIDPrefix string
	Fault          Fault
}

// StickyFault is an installed FaultRule.
type StickyFault struct {
	s    *Server
	rule FaultRule
	hits int
}

// FailEvery installs a sticky fault. Rules are tried in the order installed;
// the first that matches a request answers it.
func (s *Server) FailEvery(r FaultRule) *StickyFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &StickyFault{s: s, rule: r}
	s.sticky = append(s.sticky, f)
	return f
}

// Hits is how many requests the rule has failed.
func (f *StickyFault) Hits() int {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return f.hits
}

// Remove uninstalls the rule; requests after it are answered normally.
func (f *StickyFault) Remove() {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	for i, g := range f.s.sticky {
		if g == f {
			f.s.sticky = append(f.s.sticky[:i:i], f.s.sticky[i+1:]...)
			return
		}
	}
}

// stickyLocked is the fault of the first rule matching a request of op.
func (s *Server) stickyLocked(op string, q url.Values) Fault {
	cid := q.Get("newClientOrderId")
	if cid == "" {
		cid = q.Get("origClientOrderId")
	}
	for _, f := range s.sticky {
		r := f.rule
		if r.Op != op || (r.Symbol != "" && r.Symbol != q.Get("symbol")) ||
			(r.ClientIDPrefix != "" && !strings.HasPrefix(cid, r.ClientIDPrefix)) {
			continue
		}
		f.hits++
		return r.Fault
	}
	return ""
}

// SetSkew moves the fake's clock by d relative to the configured clock, to
// provoke -1021 until the client resyncs.
func (s *Server) SetSkew(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew = d
}

// AddSubAccount lists a sub-account of this (master) account.
func (s *Server) AddSubAccount(sa SubAccount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subAccounts = append(s.subAccounts, sa)
}

func (s *Server) now() time.Time { return s.cfg.Clock.Now().Add(s.skew) }

// Fund credits amount of asset to a wallet (a negative amount debits).
// Funding the margin wallet opens the cross margin account.
func (s *Server) Fund(w venue.Wallet, asset string, amount venue.Decimal) {
	s.mu.Lock()
	h := s.holding(w, asset)
	h.free = h.free.Add(amount)
	if w == venue.WalletMargin {
		s.marginOpen = true
	}
	var ev []byte
	if w == venue.WalletSpot {
		ev = s.accountPositionLocked(asset)
	}
	s.mu.Unlock()
	if ev != nil {
		s.streams.pushUser(ev)
	}
}

// Borrow records a cross margin loan: the asset is credited and owed.
func (s *Server) Borrow(asset string, amount venue.Decimal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holding(venue.WalletMargin, asset)
	h.free = h.free.Add(amount)
	h.borrowed = h.borrowed.Add(amount)
	s.marginOpen = true
}

func (s *Server) holding(w venue.Wallet, asset string) *holding {
	m := s.wallets[w]
	if m == nil {
		m = map[string]*holding{}
		s.wallets[w] = m
	}
	h := m[asset]
	if h == nil {
		h = &holding{}
		m[asset] = h
	}
	return h
}

// route describes one endpoint: its documented request weight, whether it
// counts against the spot IP budget, its security and its FailNext op.
type route struct {
	weight  func(q url.Values) int
	counted bool
	// freeOnSuccess: the weight is given back when the answer is 2xx
	// (order placement and cancellation since 2026-04-02).
	freeOnSuccess bool
	futures       bool // counted against the /fapi weight instead
	signed        bool
	apiKey        bool
	op            string
	handle        func(w http.ResponseWriter, q url.Values) (int, any)
}

func fixed(n int) func(url.Values) int { return func(url.Values) int { return n } }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, rt route) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, rt) })
	}
	add("GET /api/v3/ping", route{weight: fixed(1), counted: true, handle: func(http.ResponseWriter, url.Values) (int, any) { return 200, json.RawMessage(Doc("ping.json")) }})
	add("GET /api/v3/time", route{weight: fixed(1), counted: true, handle: s.handleTime})
	add("GET /fapi/v1/time", route{weight: fixed(1), futures: true, handle: s.handleTime})
	add("GET /api/v3/exchangeInfo", route{weight: fixed(20), counted: true, handle: s.handleExchangeInfo})
	add("GET /api/v3/account", route{weight: fixed(20), counted: true, signed: true, op: OpBalances, handle: s.handleAccount})
	add("POST /api/v3/order", route{weight: fixed(1), counted: true, freeOnSuccess: true, signed: true, op: OpPlace, handle: s.handleNewOrder})
	add("GET /api/v3/order", route{weight: fixed(4), counted: true, signed: true, op: OpQuery, handle: s.handleGetOrder})
	add("DELETE /api/v3/order", route{weight: fixed(1), counted: true, freeOnSuccess: true, signed: true, op: OpCancel, handle: s.handleCancelOrder})
	add("GET /api/v3/openOrders", route{weight: func(q url.Values) int {
		if q.Get("symbol") == "" {
			return 80
		}
		return 6
	}, counted: true, signed: true, op: OpOpenOrders, handle: s.handleOpenOrders})
	add("GET /api/v3/myTrades", route{weight: func(q url.Values) int {
		if q.Get("orderId") != "" {
			return 5
		}
		return 20
	}, counted: true, signed: true, op: OpTrades, handle: s.handleMyTrades})
	add("GET /api/v3/allOrders", route{weight: fixed(20), counted: true, signed: true, op: OpOrderHistory, handle: s.handleAllOrders})
	add("GET /api/v3/klines", route{weight: fixed(2), counted: true, handle: s.handleKlines})
	add("GET /api/v3/avgPrice", route{weight: fixed(2), counted: true, handle: s.handleAvgPrice})
	add("GET /api/v3/ticker/price", route{weight: func(q url.Values) int {
		if q.Get("symbol") == "" {
			return 4
		}
		return 2
	}, counted: true, handle: s.handleTickerPrice})
	add("POST /sapi/v1/asset/get-funding-asset", route{weight: fixed(1), signed: true, op: OpBalances, handle: s.handleFunding})
	add("GET /fapi/v2/balance", route{weight: fixed(5), futures: true, signed: true, op: OpBalances, handle: s.handleFuturesBalance})
	add("GET /fapi/v3/balance", route{weight: fixed(5), futures: true, signed: true, op: OpBalances, handle: s.handleFuturesBalance})
	add("GET /fapi/v1/assetIndex", route{weight: func(q url.Values) int {
		if q.Get("symbol") != "" {
			return 1
		}
		return 10
	}, futures: true, handle: s.handleAssetIndex})
	add("GET /fapi/v1/multiAssetsMargin", route{weight: fixed(30), futures: true, signed: true, op: OpBalances, handle: s.handleMultiAssetsMargin})
	add("GET /fapi/v1/userTrades", route{weight: fixed(5), futures: true, signed: true, op: OpFuturesTrades, handle: s.handleFuturesTrades})
	add("GET /sapi/v1/margin/account", route{weight: fixed(10), signed: true, op: OpBalances, handle: s.handleMargin})
	add("GET /sapi/v1/simple-earn/flexible/position", route{weight: fixed(150), signed: true, op: OpBalances, handle: s.handleEarn})
	add("GET /sapi/v1/sub-account/list", route{weight: fixed(1), signed: true, handle: s.handleSubAccounts})
	add("GET /sapi/v3/sub-account/assets", route{weight: fixed(60), signed: true, op: OpBalances, handle: s.handleSubAccountAssets})
	add("GET /sapi/v2/sub-account/futures/account", route{weight: fixed(1), signed: true, op: OpBalances, handle: s.handleSubAccountFutures})
	s.futuresRoutes(add)
	mux.HandleFunc("GET /ws/{streams...}", s.streams.serveMarket)
	mux.HandleFunc("GET /stream", s.streams.serveMarket)
	mux.HandleFunc("GET /ws-api/v3", s.streams.serveAPI)
	return mux
}

// apiError is Binance's error body.
type apiError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// MarshalJSON renders the error by editing a documented error body
// (docs/error_unknown_order.json), as every answer of the fake is made.
func (e apiError) MarshalJSON() ([]byte, error) {
	return Edit(Doc("error_unknown_order.json"), "code", strconv.Itoa(e.Code), "msg", jstr(e.Msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func retryAfter(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 0 {
		secs = 0
	}
	return strconv.Itoa(secs)
}

// serve runs the gatekeeping every Binance endpoint shares, in Binance's
// order: ban, weight, then security, then the endpoint.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt route) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	if form, err := url.ParseQuery(string(body)); err == nil {
		for k, vs := range form {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
	}
	weight := rt.weight(q)
	var planned Fault
	var drop func()
	if rt.op == OpPlace && !rt.futures { // spot orders only: placefaults.go
		planned = s.planPlace(q) // may hold the request (placefaults.go)
		s.mu.Lock()
		at := s.now()
		s.mu.Unlock()
		aw := &arrivalWriter{ResponseWriter: w}
		raw := w
		w = aw
		cid, dropped := q.Get("newClientOrderId"), false
		drop = func() {
			// Logged before the connection closes: the client may ask
			// for the arrivals as soon as it sees the EOF.
			dropped = true
			s.logArrival(cid, at, 0, 0)
			dropAnswer(raw)
		}
		defer func() {
			if !dropped {
				s.logArrival(cid, at, aw.status, aw.code)
			}
		}()
	}

	s.mu.Lock()
	now := s.now()
	s.stats.Requests++
	if rt.counted {
		status, e, retry := s.spendWeightLocked(now, weight)
		used := strconv.Itoa(s.spot.used)
		if status != http.StatusTeapot {
			w.Header().Set("X-MBX-USED-WEIGHT-1M", used)
		}
		if status != 0 {
			s.mu.Unlock()
			w.Header().Set("Retry-After", retryAfter(retry))
			writeJSON(w, status, e)
			return
		}
		w.Header().Set("X-MBX-USED-WEIGHT", used)
	} else if now.Before(s.spot.bannedUntil) {
		s.stats.Banned++
		until := s.spot.bannedUntil
		s.mu.Unlock()
		w.Header().Set("Retry-After", retryAfter(until.Sub(now)))
		writeJSON(w, http.StatusTeapot, bannedError(until))
		return
	}
	if rt.futures {
		status, e, retry := s.fut.spend(now, weight, s.cfg.FuturesWeightLimit, s.cfg.WeightWindow, s.cfg.BanAfter, s.cfg.BanDuration,
			"Too many requests; current limit of IP(127.0.0.1) is %d requests per minute. Please use the websocket for live updates to avoid polling the API.")
		switch status {
		case http.StatusTooManyRequests:
			s.stats.FuturesRateLimited++
		case http.StatusTeapot:
			s.stats.FuturesBanned++
		default:
			s.stats.FuturesWeight += weight
		}
		used := s.fut.used
		if status != 0 {
			s.mu.Unlock()
			w.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
			w.Header().Set("Retry-After", retryAfter(retry))
			writeJSON(w, status, e)
			return
		}
		w.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
	}
	var fault Fault
	if rt.op != "" && len(s.faults[rt.op]) > 0 {
		fault = s.faults[rt.op][0]
		s.faults[rt.op] = s.faults[rt.op][1:]
	} else if rt.op != "" && len(s.sticky) > 0 {
		fault = s.stickyLocked(rt.op, q)
	}
	if fault == "" {
		fault = planned
	}
	s.mu.Unlock()

	if rt.signed || rt.apiKey {
		if r.Header.Get("X-MBX-APIKEY") != s.cfg.APIKey {
			writeJSON(w, http.StatusUnauthorized, apiError{-2015, "Invalid API-key, IP, or permissions for action."})
			return
		}
	}
	if rt.signed {
		if status, e := s.checkSigned(r, body, q); status != 0 {
			writeJSON(w, status, e)
			return
		}
	}
	switch fault {
	case "":
	case FaultRateLimited:
		s.mu.Lock()
		s.stats.RateLimited++
		s.spot.backoffUntil = s.now().Add(s.cfg.FaultRetryAfter)
		s.mu.Unlock()
		w.Header().Set("Retry-After", retryAfter(s.cfg.FaultRetryAfter))
		writeJSON(w, http.StatusTooManyRequests, apiError{-1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."})
		return
	case FaultBanned:
		s.mu.Lock()
		s.stats.Banned++
		until := s.now().Add(s.cfg.FaultRetryAfter)
		s.spot.bannedUntil = until
		s.mu.Unlock()
		w.Header().Set("Retry-After", retryAfter(s.cfg.FaultRetryAfter))
		writeJSON(w, http.StatusTeapot, apiError{-1003, fmt.Sprintf("Way too many requests; IP(127.0.0.1) banned until %d.", until.UnixMilli())})
		return
	case FaultInsufficientFunds:
		if rt.futures {
			writeJSON(w, http.StatusBadRequest, apiError{-2019, "Margin is insufficient."})
			return
		}
		writeJSON(w, http.StatusBadRequest, apiError{-2010, "Account has insufficient balance for requested action."})
		return
	case FaultFilterReject:
		writeJSON(w, http.StatusBadRequest, apiError{-1013, "Filter failure: LOT_SIZE"})
		return
	case FaultTimestamp:
		writeJSON(w, http.StatusBadRequest, apiError{-1021, "Timestamp for this request is outside of the recvWindow."})
		return
	case FaultAuth:
		writeJSON(w, http.StatusUnauthorized, apiError{-2015, "Invalid API-key, IP, or permissions for action."})
		return
	case FaultForbidden:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center></body></html>\n"))
		return
	case FaultServerError:
		writeJSON(w, http.StatusInternalServerError, apiError{-1000, "An unknown error occurred while processing the request."})
		return
	case FaultTimeoutBeforeExecution:
		writeJSON(w, http.StatusServiceUnavailable, apiError{-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."})
		return
	case FaultTimeoutAfterExecution:
		rec := httptest.NewRecorder()
		rt.handleTo(rec, q)
		writeJSON(w, http.StatusServiceUnavailable, apiError{-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."})
		return
	case FaultDropAfterExecution:
		rt.handleTo(httptest.NewRecorder(), q)
		if drop != nil {
			drop()
			return
		}
		dropAnswer(w)
		return
	}
	if rt.counted && rt.freeOnSuccess {
		rec := httptest.NewRecorder()
		rt.handleTo(rec, q)
		if rec.Code/100 == 2 {
			s.mu.Lock()
			if s.spot.start.Equal(now.Truncate(s.cfg.WeightWindow)) && s.spot.used >= weight {
				s.spot.used -= weight
			}
			s.stats.Weight -= weight
			used := s.spot.used
			s.mu.Unlock()
			rec.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
			rec.Header().Set("X-MBX-USED-WEIGHT", strconv.Itoa(used))
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	rt.handleTo(w, q)
}

// weightCounter is the weight budget of one host (spot or /fapi): a fixed
// window, the 429 back-off, and the 418 ban for requests sent during the
// back-off.
type weightCounter struct {
	start, backoffUntil, bannedUntil time.Time
	used, violations                 int
}

// spendWeightLocked charges weight at now on the IP's REQUEST_WEIGHT, which
// REST and the WebSocket API share, or says why not: 418 while banned (and
// when a client ignores a 429's Retry-After too often), 429 past the limit,
// with the error body and the Retry-After. Status 0: charged.
func (s *Server) spendWeightLocked(now time.Time, weight int) (int, apiError, time.Duration) {
	status, e, retry := s.spot.spend(now, weight, s.cfg.WeightLimit, s.cfg.WeightWindow, s.cfg.BanAfter, s.cfg.BanDuration,
		"Too much request weight used; current limit is %d request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
	switch status {
	case http.StatusTeapot:
		s.stats.Banned++
	case http.StatusTooManyRequests:
		s.stats.RateLimited++
	default:
		s.stats.Weight += weight
	}
	return status, e, retry
}

// bannedError is the body of a 418: the IP is banned until then.
func bannedError(until time.Time) apiError {
	return apiError{-1003, fmt.Sprintf("Way too many requests; IP(127.0.0.1) banned until %d. Please use the websocket for live updates to avoid bans.", until.UnixMilli())}
}

// spend charges weight at now, or says why not: 429 (its message
// tooMuch, formatted with the limit) or 418 with the body and the
// Retry-After. Status 0 means accepted.
func (c *weightCounter) spend(now time.Time, weight, limit int, window time.Duration, banAfter int, banFor time.Duration, tooMuch string) (int, apiError, time.Duration) {
	banned := func(until time.Time) (int, apiError, time.Duration) {
		return http.StatusTeapot, bannedError(until), until.Sub(now)
	}
	if now.Before(c.bannedUntil) {
		return banned(c.bannedUntil)
	}
	if start := now.Truncate(window); !start.Equal(c.start) {
		c.start, c.used = start, 0
	}
	if now.Before(c.backoffUntil) {
		if c.violations++; c.violations >= banAfter {
			c.violations = 0
			c.bannedUntil = now.Add(banFor)
			return banned(c.bannedUntil)
		}
	}
	if c.used+weight > limit {
		c.backoffUntil = c.start.Add(window)
		return http.StatusTooManyRequests, apiError{-1003, fmt.Sprintf(tooMuch, limit)}, c.backoffUntil.Sub(now)
	}
	c.used += weight
	return 0, apiError{}, 0
}

func (rt route) handleTo(w http.ResponseWriter, q url.Values) {
	status, v := rt.handle(w, q)
	writeJSON(w, status, v)
}

// checkSigned verifies Binance's HMAC-SHA256 signature over the query string
// (without signature) followed by the body, and the timestamp/recvWindow.
func (s *Server) checkSigned(r *http.Request, body []byte, q url.Values) (int, apiError) {
	var parts []string
	sig := ""
	for _, p := range strings.Split(r.URL.RawQuery, "&") {
		if v, ok := strings.CutPrefix(p, "signature="); ok {
			sig = v
			continue
		}
		if p != "" {
			parts = append(parts, p)
		}
	}
	if sig == "" {
		sig = q.Get("signature")
		b := url.Values{}
		if bq, err := url.ParseQuery(string(body)); err == nil {
			b = bq
		}
		b.Del("signature")
		body = []byte(b.Encode())
	}
	if sig == "" {
		return http.StatusBadRequest, apiError{-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."}
	}
	payload := strings.Join(parts, "&") + string(body)
	if !hmac.Equal([]byte(sig), []byte(Sign(s.cfg.APISecret, payload))) {
		return http.StatusBadRequest, apiError{-1022, "Signature for this request is not valid."}
	}
	return s.checkTimestamp(q.Get("timestamp"), q.Get("recvWindow"))
}

func (s *Server) checkTimestamp(tsParam, rwParam string) (int, apiError) {
	ts, err := strconv.ParseInt(tsParam, 10, 64)
	if err != nil {
		return http.StatusBadRequest, apiError{-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."}
	}
	recv := int64(5000)
	if rwParam != "" {
		if recv, err = strconv.ParseInt(rwParam, 10, 64); err != nil || recv > 60000 {
			return http.StatusBadRequest, apiError{-1131, "recvWindow must be less than 60000"}
		}
	}
	s.mu.Lock()
	now := s.now().UnixMilli()
	s.mu.Unlock()
	// Binance's rule ("Timing security"): a request is processed only if
	// timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow.
	if ts >= now+1000 {
		return http.StatusBadRequest, apiError{-1021, "Timestamp for this request was 1000ms ahead of the server's time."}
	}
	if now-ts > recv {
		return http.StatusBadRequest, apiError{-1021, "Timestamp for this request is outside of the recvWindow."}
	}
	return 0, apiError{}
}

// Sign is Binance's HMAC-SHA256 signature of payload, hex encoded.
func Sign(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

func dec(s string) venue.Decimal { return udecimal.MustParse(s) }

func ms(t time.Time) int64 { return t.UnixMilli() }
