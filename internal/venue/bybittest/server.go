// Package bybittest is a loopback fake of Bybit's v5 API for tests: REST
// endpoints and the public spot and private WebSocket streams, answering
// with the v5 documentation's example responses (testdata/, one file per
// endpoint, each naming its doc page) edited as bytes to carry the fake's
// state. It checks v5 signatures and the recvWindow, reports per-endpoint
// rate limits in the X-Bapi-Limit-* headers (retCode 10006 when a window is
// spent), and fails the next call of an operation on demand (FailNext).
//
// Matching is a paper.Exchange's: orders fill against the single price a
// test sets, never against each other. The fake owns only Bybit's wire
// format around it; the adapter lives in venue/bybit.
package bybittest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/quagmt/udecimal"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

//go:embed testdata/*.json
var fixtures embed.FS

// Fixture returns a documented example answer without its first line (the
// "// doc:" line naming its source page), exactly as the fake starts from.
func Fixture(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		panic(fmt.Sprintf("bybittest: fixture %s: %v", name, err))
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 && bytes.HasPrefix(b, []byte("//")) {
		b = b[i+1:]
	}
	return b
}

// Fixtures lists the fixture file names.
func Fixtures() []string {
	es, _ := fixtures.ReadDir("testdata")
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// Fault is a failure the fake injects into the next call of an operation.
type Fault string

// Faults, named as the venue conformance suite names them.
const (
	FaultRateLimited            Fault = "rate_limited"             // retCode 10006 with X-Bapi-Limit-Status 0
	FaultBanned                 Fault = "banned"                   // HTTP 403, Bybit's IP rate-limit ban
	FaultInsufficientFunds      Fault = "insufficient_funds"       // retCode 170131
	FaultFilterReject           Fault = "filter_reject"            // retCode 170140
	FaultTimeoutBeforeExecution Fault = "timeout_before_execution" // HTTP 504, nothing executed
	FaultTimeoutAfterExecution  Fault = "timeout_after_execution"  // HTTP 504 after the request executed
	FaultServerError            Fault = "server_error"             // retCode 10016, nothing executed
	FaultTimestamp              Fault = "timestamp"                // retCode 10002
	FaultAuth                   Fault = "auth"                     // retCode 10003
)

// Operations FailNext accepts.
const (
	OpPlace      = "place"
	OpCancel     = "cancel"
	OpQuery      = "query"
	OpBalances   = "balances"
	OpTrades     = "trades"
	OpOpenOrders = "open_orders"
)

// Credentials the fake accepts.
const (
	APIKey    = "bybittest-key"
	APISecret = "bybittest-secret"
)

// account is the paper account behind the fake's one Bybit account.
const account = "bybit"

// Config configures a Server.
type Config struct {
	// Exchange is the matching engine; nil means paper.MustNew with
	// DefaultSymbols.
	Exchange *paper.Exchange
	// EndpointLimit is each endpoint's requests per second (default 600);
	// the next one in the same second answers retCode 10006.
	EndpointLimit int
	// FaultRates fails each call of an operation (an Op constant) with
	// this probability, with one of RandomFaults drawn from Seed, after
	// any fault FailNext queued.
	FaultRates map[string]float64
	Seed       uint64
}

// RandomFaults are the faults FaultRates draws from for each operation:
// for an order, both timeouts (before and after it executed), a rate limit
// and a server error; for a read, all but the timeouts.
var RandomFaults = map[string][]Fault{
	OpPlace: {FaultTimeoutAfterExecution, FaultTimeoutBeforeExecution, FaultRateLimited, FaultServerError},
}

// readFaults are what a read draws when RandomFaults has no entry for it.
var readFaults = []Fault{FaultServerError, FaultRateLimited, FaultTimestamp}

// Server is the fake. Its URLs are BaseURL (REST), PublicWSURL and
// PrivateWSURL.
type Server struct {
	Exchange *paper.Exchange
	acct     *paper.Account
	srv      *httptest.Server
	limit    int
	rates    map[string]float64
	rng      *rand.Rand // guarded by mu

	mu        sync.Mutex
	created   []venue.OrderRequest      // every order the fake accepted, in order
	positions map[string]venue.Position // linear, by symbol, set by a test
	linear    *linearBook               // the linear orders, fills and positions; see lin
	fundings  []venue.FundingPayment
	conns     map[*websocket.Conn]bool // open stream connections
	faults    map[string][]Fault
	window    map[string]*rateWindow
	calls     map[string]int
	taken     map[string]int // queued faults taken, by op/fault
}

type rateWindow struct {
	start time.Time
	n     int
}

// New starts a fake on loopback; it is closed with t's cleanup.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake on loopback; Close stops it.
func NewServer(cfg Config) *Server {
	ex := cfg.Exchange
	if ex == nil {
		ex = paper.MustNew(paper.Config{})
	}
	if cfg.EndpointLimit <= 0 {
		cfg.EndpointLimit = 600
	}
	s := &Server{Exchange: ex, acct: ex.Account(account), limit: cfg.EndpointLimit, rates: maps.Clone(cfg.FaultRates),
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x62796269)),
		positions: map[string]venue.Position{}, conns: map[*websocket.Conn]bool{}, faults: map[string][]Fault{}, window: map[string]*rateWindow{}, calls: map[string]int{}, taken: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v5/market/time", s.serverTime)
	mux.HandleFunc("GET /v5/market/instruments-info", s.instruments)
	mux.HandleFunc("GET /v5/market/tickers", s.tickers)
	mux.HandleFunc("GET /v5/market/kline", s.klines)
	mux.HandleFunc("POST /v5/order/create", s.private(OpPlace, s.createOrder))
	mux.HandleFunc("POST /v5/order/cancel", s.private(OpCancel, s.cancelOrder))
	mux.HandleFunc("GET /v5/order/realtime", s.private("", s.realtime))
	mux.HandleFunc("GET /v5/order/history", s.private("", s.history))
	mux.HandleFunc("GET /v5/execution/list", s.private(OpTrades, s.executions))
	mux.HandleFunc("GET /v5/account/wallet-balance", s.private(OpBalances, s.wallet))
	mux.HandleFunc("GET /v5/asset/transfer/query-account-coins-balance", s.private("", s.funding))
	mux.HandleFunc("GET /v5/position/list", s.private("", s.positionList))
	mux.HandleFunc("GET /v5/account/transaction-log", s.private("", s.transactionLog))
	mux.HandleFunc("GET /v5/public/spot", s.publicWS)
	mux.HandleFunc("GET /v5/public/linear", s.publicWS)
	mux.HandleFunc("GET /v5/private", s.privateWS)
	s.srv = httptest.NewServer(s.limited(mux))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.CloseClientConnections(); s.srv.Close() }

// BaseURL is the REST base.
func (s *Server) BaseURL() string { return s.srv.URL }

// PublicWSURL is the spot public stream.
func (s *Server) PublicWSURL() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v5/public/spot"
}

// PrivateWSURL is the private stream.
func (s *Server) PrivateWSURL() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v5/private"
}

// LinearWSURL is the linear public stream.
func (s *Server) LinearWSURL() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v5/public/linear"
}

// Account is the paper account the fake trades for.
func (s *Server) Account() *paper.Account { return s.acct }

// FailNext makes the next call of op fail with f.
func (s *Server) FailNext(op string, f Fault) {
	s.mu.Lock()
	s.faults[op] = append(s.faults[op], f)
	s.mu.Unlock()
}

// SetFaultRates replaces Config.FaultRates; nil stops random faults.
func (s *Server) SetFaultRates(rates map[string]float64) {
	s.mu.Lock()
	s.rates = maps.Clone(rates)
	s.mu.Unlock()
}

// Orders returns every order the fake accepted, as it is now, in the
// order they were placed.
func (s *Server) Orders() []venue.Order {
	s.mu.Lock()
	reqs := slices.Clone(s.created)
	s.mu.Unlock()
	out := make([]venue.Order, 0, len(reqs))
	for _, r := range reqs {
		if o, err := s.acct.QueryOrder(context.Background(), r.Symbol, r.ClientOrderID); err == nil {
			out = append(out, o)
		}
	}
	return out
}

// SetPosition sets (or, with a zero size, clears) the linear position of
// p.Symbol that /v5/position/list reports. The fake does not trade linear
// contracts: positions are what a test says they are.
func (s *Server) SetPosition(p venue.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Size.IsZero() {
		delete(s.positions, p.Symbol)
		return
	}
	s.positions[p.Symbol] = p
}

// AddFunding records a funding settlement that
// /v5/account/transaction-log reports with type SETTLEMENT.
func (s *Server) AddFunding(f venue.FundingPayment) {
	s.mu.Lock()
	s.fundings = append(s.fundings, f)
	s.mu.Unlock()
}

// DropStreams closes every open stream connection, as a network drop or a
// Bybit restart would.
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.CloseNow()
		delete(s.conns, c)
	}
}

// track registers a stream connection until the returned func is called.
func (s *Server) track(c *websocket.Conn) func() {
	s.mu.Lock()
	s.conns[c] = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
}

// Calls is how many requests reached path.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// SetPrice moves the market, spot and linear: resting orders of both
// fill against it.
func (s *Server) SetPrice(symbol string, price venue.Decimal) error {
	if err := s.Exchange.SetPrice(symbol, price, time.Time{}); err != nil {
		return err
	}
	s.mu.Lock()
	s.linearOnPriceLocked(symbol, price)
	s.mu.Unlock()
	return nil
}

// Fund credits a wallet: venue.WalletSpot is the unified trading account,
// as is venue.WalletFutures (a bybit-linear account reports the unified
// wallet as its futures wallet); venue.WalletFunding is the funding
// account.
func (s *Server) Fund(w venue.Wallet, asset string, amount venue.Decimal) error {
	if w == venue.WalletFutures {
		w = venue.WalletSpot
	}
	return s.Exchange.Fund(account, w, asset, amount)
}

func (s *Server) takeFault(op string) Fault {
	if op == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.faults[op]
	if len(fs) == 0 {
		if r := s.rates[op]; r > 0 && s.rng.Float64() < r {
			pool := RandomFaults[op]
			if len(pool) == 0 {
				pool = readFaults
			}
			return pool[s.rng.IntN(len(pool))]
		}
		return ""
	}
	s.faults[op] = fs[1:]
	s.taken[op+"/"+string(fs[0])]++
	return fs[0]
}

// FaultsTaken counts the faults FailNext queued that a request has taken,
// by "op/fault" (random ones of FaultRates are not counted).
func (s *Server) FaultsTaken() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.taken)
}

// limited counts each endpoint's requests per one-second window and sets
// the rate-limit headers Bybit sends on every answer.
func (s *Server) limited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v5/public/") || r.URL.Path == "/v5/private" {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		s.mu.Lock()
		s.calls[r.URL.Path]++
		rw := s.window[r.URL.Path]
		if rw == nil || now.Sub(rw.start) >= time.Second {
			rw = &rateWindow{start: now.Truncate(time.Second)}
			s.window[r.URL.Path] = rw
		}
		rw.n++
		n, reset := rw.n, rw.start.Add(time.Second)
		s.mu.Unlock()
		h := w.Header()
		h.Set("X-Bapi-Limit", strconv.Itoa(s.limit))
		h.Set("X-Bapi-Limit-Status", strconv.Itoa(max(s.limit-n, 0)))
		h.Set("X-Bapi-Limit-Reset-Timestamp", strconv.FormatInt(reset.UnixMilli(), 10))
		if n > s.limit {
			writeError(w, 10006, "Too many visits. Exceeded the API Rate Limit.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// set edits one value of a JSON document in place; the paths are the
// fake's own, so a failure is a bug in the fake.
func set(b []byte, path string, v any) []byte {
	out, err := sjson.SetBytes(b, path, v)
	if err != nil {
		panic(fmt.Sprintf("bybittest: set %s: %v", path, err))
	}
	return out
}

func setRaw(b []byte, path string, raw []byte) []byte {
	out, err := sjson.SetRawBytes(b, path, raw)
	if err != nil {
		panic(fmt.Sprintf("bybittest: set %s: %v", path, err))
	}
	return out
}

// element returns the first element of the array at path, as raw bytes.
func element(b []byte, path string) []byte {
	return []byte(gjson.GetBytes(b, path+".0").Raw)
}

// array joins raw JSON values into an array.
func array(items [][]byte) []byte {
	return append(append([]byte("["), bytes.Join(items, []byte(","))...), ']')
}

func nowMS() int64 { return time.Now().UnixMilli() }

func write(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(set(b, "time", nowMS()))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b := set(set(Fixture("error.json"), "retCode", code), "retMsg", msg)
	write(w, b)
}

// private checks the signature and timestamp of a signed request, applies
// a pending fault of op, and calls h with the request's parameters (the
// query, or the JSON body).
func (s *Server) private(op string, h func(w http.ResponseWriter, r *http.Request, p gjson.Result, op string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var payload string
		if r.Method == http.MethodGet {
			payload = r.URL.RawQuery
		} else {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				writeError(w, 10001, "read body")
				return
			}
			payload = string(b)
		}
		ts, recv := r.Header.Get("X-BAPI-TIMESTAMP"), r.Header.Get("X-BAPI-RECV-WINDOW")
		if recv == "" {
			recv = "5000"
		}
		if r.Header.Get("X-BAPI-API-KEY") != APIKey {
			writeError(w, 10003, "API key is invalid.")
			return
		}
		m := hmac.New(sha256.New, []byte(APISecret))
		m.Write([]byte(ts + APIKey + recv + payload))
		if !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(r.Header.Get("X-BAPI-SIGN"))) {
			writeError(w, 10004, "error sign! origin_string["+ts+APIKey+recv+payload+"]")
			return
		}
		t, err1 := strconv.ParseInt(ts, 10, 64)
		rw, err2 := strconv.ParseInt(recv, 10, 64)
		now := nowMS()
		// Bybit's rule: server_time - recv_window <= timestamp < server_time + 1000.
		if err1 != nil || err2 != nil || t < now-rw || t >= now+1000 {
			writeError(w, 10002, fmt.Sprintf("invalid request, please check your server timestamp or recv_window param. req_timestamp[%s],server_timestamp[%d],recv_window[%s]", ts, now, recv))
			return
		}
		var p gjson.Result
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			obj := []byte("{}")
			for k := range q {
				obj = set(obj, k, q.Get(k))
			}
			p = gjson.ParseBytes(obj)
		} else {
			p = gjson.Parse(payload)
		}
		reqOp := op
		if reqOp == "" && r.URL.Path == "/v5/order/realtime" {
			reqOp = OpOpenOrders
			if p.Get("orderLinkId").String() != "" || p.Get("orderId").String() != "" {
				reqOp = OpQuery
			}
		}
		h(w, r, p, reqOp)
	}
}

// fault answers a pending fault of op that prevents execution, and reports
// whether the handler should stop; a timeout after execution is left to the
// handler (after) to answer once it executed.
func (s *Server) fault(w http.ResponseWriter, op string) (stop bool, after bool) {
	switch f := s.takeFault(op); f {
	case "":
		return false, false
	case FaultRateLimited:
		w.Header().Set("X-Bapi-Limit-Status", "0")
		w.Header().Set("X-Bapi-Limit-Reset-Timestamp", strconv.FormatInt(nowMS()+1000, 10))
		writeError(w, 10006, "Too many visits. Exceeded the API Rate Limit.")
	case FaultBanned:
		http.Error(w, "access too frequent", http.StatusForbidden)
	case FaultInsufficientFunds:
		writeError(w, 170131, "Insufficient balance.")
	case FaultFilterReject:
		writeError(w, 170140, "Order value exceeded lower limit.")
	case FaultTimeoutBeforeExecution:
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
	case FaultTimeoutAfterExecution:
		return false, true
	case FaultServerError:
		writeError(w, 10016, "Server error.")
	case FaultTimestamp:
		writeError(w, 10002, "invalid request, please check your server timestamp or recv_window param")
	case FaultAuth:
		writeError(w, 10003, "API key is invalid.")
	default:
		writeError(w, 10016, "unknown fault "+string(f))
	}
	return true, false
}

func (s *Server) serverTime(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	b := Fixture("market-time.json")
	b = set(b, "result.timeSecond", strconv.FormatInt(now.Unix(), 10))
	b = set(b, "result.timeNano", strconv.FormatInt(now.UnixNano(), 10))
	write(w, b)
}

func (s *Server) instruments(w http.ResponseWriter, r *http.Request) {
	c := r.URL.Query().Get("category")
	keys, ok := instrumentKeys[c]
	if !ok {
		writeError(w, 10001, "the fake lists categories spot and linear only, not "+c)
		return
	}
	b := Fixture("market-instruments-info-" + c + ".json")
	tmpl := element(b, "result.list")
	var items [][]byte
	for _, sym := range s.Exchange.Symbols() {
		e := tmpl
		for _, k := range keys {
			e = set(e, k.path, k.value(sym))
		}
		items = append(items, e)
	}
	write(w, setRaw(b, "result.list", array(items)))
}

// instrumentKey is one key of an instruments-info element the fake edits,
// and the listed symbol's value for it.
type instrumentKey struct {
	path  string
	value func(venue.Symbol) string
}

// instrumentKeys are the keys the fake edits per category: spot's
// basePrecision and minOrderAmt, linear's qtyStep and minNotionalValue
// (each listed symbol is also a perpetual settled in its quote coin).
var instrumentKeys = func() map[string][]instrumentKey {
	name := func(x venue.Symbol) string { return x.Name }
	base := func(x venue.Symbol) string { return x.Base }
	quote := func(x venue.Symbol) string { return x.Quote }
	tick := func(x venue.Symbol) string { return x.TickSize.String() }
	step := func(x venue.Symbol) string { return x.StepSize.String() }
	minQty := func(x venue.Symbol) string { return x.MinQty.String() }
	maxQty := func(x venue.Symbol) string { return x.MaxQty.String() }
	notional := func(x venue.Symbol) string { return x.MinNotional.String() }
	return map[string][]instrumentKey{
		"spot": {{"symbol", name}, {"baseCoin", base}, {"quoteCoin", quote}, {"lotSizeFilter.basePrecision", step},
			{"lotSizeFilter.minOrderQty", minQty}, {"lotSizeFilter.maxOrderQty", maxQty},
			{"lotSizeFilter.minOrderAmt", notional}, {"priceFilter.tickSize", tick}},
		"linear": {{"symbol", name}, {"baseCoin", base}, {"quoteCoin", quote}, {"settleCoin", quote},
			{"priceFilter.tickSize", tick}, {"priceFilter.minPrice", tick}, {"lotSizeFilter.qtyStep", step},
			{"lotSizeFilter.minOrderQty", minQty}, {"lotSizeFilter.maxOrderQty", maxQty},
			{"lotSizeFilter.maxMktOrderQty", maxQty}, {"lotSizeFilter.minNotionalValue", notional}},
	}
}()

func (s *Server) tickers(w http.ResponseWriter, r *http.Request) {
	b := Fixture("market-tickers-spot.json")
	if r.URL.Query().Get("category") == "linear" {
		b = set(Fixture("market-tickers-linear.json"), "result.category", "linear")
	}
	tmpl := element(b, "result.list")
	want := r.URL.Query().Get("symbol")
	var items [][]byte
	for _, sym := range s.Exchange.Symbols() {
		if want != "" && sym.Name != want {
			continue
		}
		tk, ok := s.Exchange.Price(sym.Name)
		if !ok {
			continue
		}
		e := set(tmpl, "symbol", sym.Name)
		e = set(e, "lastPrice", tk.Price.String())
		e = set(e, "bid1Price", tk.Bid.String())
		e = set(e, "ask1Price", tk.Ask.String())
		if gjson.GetBytes(e, "markPrice").Exists() {
			e = set(e, "markPrice", tk.Price.String())
			e = set(e, "indexPrice", tk.Price.String())
		}
		items = append(items, e)
	}
	write(w, setRaw(b, "result.list", array(items)))
}

// klineIntervals maps Bybit's interval names to the port's.
var klineIntervals = map[string]string{"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h",
	"120": "2h", "240": "4h", "360": "6h", "720": "12h", "D": "1d"}

func (s *Server) klines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iv, ok := klineIntervals[q.Get("interval")]
	if !ok {
		writeError(w, 10001, "Invalid period!")
		return
	}
	start, _ := strconv.ParseInt(q.Get("start"), 10, 64)
	end, err := strconv.ParseInt(q.Get("end"), 10, 64)
	if err != nil {
		end = nowMS()
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	ks, err := s.acct.Klines(r.Context(), q.Get("symbol"), iv, time.UnixMilli(start), time.UnixMilli(end+1))
	if err != nil {
		writeError(w, 10001, err.Error())
		return
	}
	// Newest first, at most limit, ending at end.
	sort.Slice(ks, func(i, j int) bool { return ks[i].OpenTime.After(ks[j].OpenTime) })
	ks = ks[:min(len(ks), limit)]
	b := Fixture("market-kline.json")
	b = set(b, "result.symbol", q.Get("symbol"))
	b = set(b, "result.category", q.Get("category"))
	var items [][]byte
	for _, k := range ks {
		row := []byte(`[]`)
		for _, v := range []string{strconv.FormatInt(k.OpenTime.UnixMilli(), 10), k.Open.String(), k.High.String(),
			k.Low.String(), k.Close.String(), k.Volume.String(), k.Volume.Mul(k.Close).String()} {
			row = set(row, "-1", v)
		}
		items = append(items, row)
	}
	write(w, setRaw(b, "result.list", array(items)))
}

// codeOf maps the paper engine's refusal to Bybit's spot retCode.
func codeOf(err error) (int, string) {
	ve, ok := err.(*venue.Error)
	if !ok {
		return 10016, err.Error()
	}
	switch ve.Class {
	case venue.ClassInsufficientFunds:
		return 170131, "Insufficient balance."
	case venue.ClassDuplicate:
		return 170141, "Duplicate clientOrderId."
	case venue.ClassNotFound:
		return 170213, "Order does not exist."
	case venue.ClassRejected:
		return 170130, "Data sent for parameter is not valid: " + ve.Message
	case venue.ClassInvalid:
		return 10001, ve.Message
	}
	return 10016, ve.Error()
}

func dec(s string) (venue.Decimal, bool) {
	d, err := udecimal.Parse(s)
	return d, err == nil
}

func multiple(q, step venue.Decimal) bool {
	if step.IsZero() {
		return true
	}
	r, err := q.Mod(step)
	return err == nil && r.IsZero()
}

// filter applies Bybit's spot order rules with their retCodes: tick
// (170134), step (170137), minimum quantity (170136) and minimum order
// value (170140).
func (s *Server) filter(req venue.OrderRequest) (int, string) {
	var sym venue.Symbol
	for _, x := range s.Exchange.Symbols() {
		if x.Name == req.Symbol {
			sym = x
		}
	}
	if sym.Name == "" {
		return 10001, "Not supported symbols."
	}
	px := req.Price
	if req.Type == venue.Market {
		tk, _ := s.Exchange.Price(req.Symbol)
		px = tk.Price
	}
	switch {
	case req.Type == venue.Limit && !multiple(req.Price, sym.TickSize):
		return 170134, "Order price decimal too long."
	case req.Quantity.IsPos() && !multiple(req.Quantity, sym.StepSize):
		return 170137, "Order volume decimal too long."
	case req.Quantity.IsPos() && req.Quantity.LessThan(sym.MinQty):
		return 170136, "Order quantity lower than the minimum."
	case req.Quantity.IsPos() && px.Mul(req.Quantity).LessThan(sym.MinNotional):
		return 170140, "Order value exceeded lower limit."
	case req.QuoteQuantity.IsPos() && req.QuoteQuantity.LessThan(sym.MinNotional):
		return 170140, "Order value exceeded lower limit."
	}
	return 0, ""
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if p.Get("category").String() == "linear" {
		s.linearCreate(w, p, op)
		return
	}
	if p.Get("category").String() != "spot" {
		writeError(w, 10001, "the fake trades categories spot and linear only")
		return
	}
	req := venue.OrderRequest{ClientOrderID: p.Get("orderLinkId").String(), Symbol: p.Get("symbol").String(),
		TimeInForce: venue.TimeInForce(p.Get("timeInForce").String())}
	switch p.Get("side").String() {
	case "Buy":
		req.Side = venue.Buy
	case "Sell":
		req.Side = venue.Sell
	default:
		writeError(w, 10001, "side invalid")
		return
	}
	qty, ok := dec(p.Get("qty").String())
	if !ok {
		writeError(w, 10001, "qty invalid")
		return
	}
	switch p.Get("orderType").String() {
	case "Limit":
		req.Type, req.Quantity = venue.Limit, qty
		if req.Price, ok = dec(p.Get("price").String()); !ok {
			writeError(w, 10001, "price invalid")
			return
		}
	case "Market":
		req.Type, req.TimeInForce = venue.Market, ""
		unit := p.Get("marketUnit").String()
		if unit == "" && req.Side == venue.Buy {
			unit = "quoteCoin" // Bybit's default for a spot market buy
		}
		if unit == "quoteCoin" {
			req.QuoteQuantity = qty
		} else {
			req.Quantity = qty
		}
	default:
		writeError(w, 10001, "orderType invalid")
		return
	}
	stop, after := s.fault(w, op)
	if stop {
		return
	}
	if code, msg := s.filter(req); code != 0 {
		writeError(w, code, msg)
		return
	}
	o, err := s.acct.PlaceOrder(context.WithoutCancel(r.Context()), req)
	if err == nil {
		s.mu.Lock()
		s.created = append(s.created, req)
		s.mu.Unlock()
	}
	if after {
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		return
	}
	if err != nil {
		code, msg := codeOf(err)
		writeError(w, code, msg)
		return
	}
	b := Fixture("order-create.json")
	b = set(b, "result.orderId", o.VenueOrderID)
	b = set(b, "result.orderLinkId", o.ClientOrderID)
	write(w, b)
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if stop, _ := s.fault(w, op); stop {
		return
	}
	if p.Get("category").String() == "linear" {
		s.linearCancel(w, p)
		return
	}
	o, err := s.acct.CancelOrder(r.Context(), p.Get("symbol").String(), p.Get("orderLinkId").String())
	if err != nil {
		code, msg := codeOf(err)
		if code == 10001 || code == 170130 {
			code, msg = 170213, "Order does not exist."
		}
		writeError(w, code, msg)
		return
	}
	b := Fixture("order-cancel.json")
	b = set(b, "result.orderId", o.VenueOrderID)
	b = set(b, "result.orderLinkId", o.ClientOrderID)
	write(w, b)
}

var orderStatus = map[venue.OrderStatus]string{
	venue.StatusNew: "New", venue.StatusPartiallyFilled: "PartiallyFilled", venue.StatusFilled: "Filled",
	venue.StatusCanceled: "Cancelled", venue.StatusRejected: "Rejected", venue.StatusExpired: "Cancelled",
}

// spotElem renders a spot order o on the template element of an order
// list, with the fees of its fills.
func (s *Server) spotElem(ctx context.Context, tmpl []byte, o venue.Order) []byte {
	fee, feeAsset := venue.Decimal{}, ""
	if o.ExecutedQty.IsPos() {
		ts, _ := s.acct.OrderTrades(ctx, o.Symbol, o.VenueOrderID)
		for _, t := range ts {
			fee, feeAsset = fee.Add(t.Fee), t.FeeAsset
		}
	}
	return orderElem(tmpl, o, fee, feeAsset)
}

// orderElem renders o, whose fills paid fee in feeAsset, on the template
// element of an order list.
func orderElem(tmpl []byte, o venue.Order, fee venue.Decimal, feeAsset string) []byte {
	e := set(tmpl, "orderId", o.VenueOrderID)
	e = set(e, "orderLinkId", o.ClientOrderID)
	e = set(e, "symbol", o.Symbol)
	price := o.Price.String()
	if o.Type == venue.Market {
		price = "0"
	}
	e = set(e, "price", price)
	e = set(e, "qty", o.Quantity.String())
	side, typ := "Buy", "Limit"
	if o.Side == venue.Sell {
		side = "Sell"
	}
	if o.Type == venue.Market {
		typ = "Market"
	}
	e = set(e, "side", side)
	e = set(e, "orderType", typ)
	e = set(e, "isLeverage", "0")
	e = set(e, "positionIdx", 0)
	e = set(e, "orderStatus", orderStatus[o.Status])
	avg := "0"
	if o.ExecutedQty.IsPos() {
		if a, err := o.QuoteQty.Div(o.ExecutedQty); err == nil {
			avg = a.String()
		}
	}
	e = set(e, "avgPrice", avg)
	leaves := o.Quantity.Sub(o.ExecutedQty)
	if o.Status.Terminal() || leaves.IsNeg() {
		leaves = venue.Decimal{}
	}
	e = set(e, "leavesQty", leaves.String())
	e = set(e, "leavesValue", leaves.Mul(o.Price).String())
	e = set(e, "cumExecQty", o.ExecutedQty.String())
	e = set(e, "cumExecValue", o.QuoteQty.String())
	e = set(e, "cumExecFee", fee.String())
	fd := []byte("{}")
	if feeAsset != "" {
		fd = set(fd, feeAsset, fee.String())
	}
	e = setRaw(e, "cumFeeDetail", fd)
	tif := "GTC"
	if o.Type == venue.Market {
		tif = "IOC"
	}
	e = set(e, "timeInForce", tif)
	for _, k := range []string{"takeProfit", "stopLoss", "tpTriggerBy", "slTriggerBy", "tpslMode", "triggerPrice"} {
		e = set(e, k, "")
	}
	e = set(e, "triggerBy", "")
	e = set(e, "createdTime", strconv.FormatInt(o.Created.UnixMilli(), 10))
	e = set(e, "updatedTime", strconv.FormatInt(o.Updated.UnixMilli(), 10))
	return e
}

func (s *Server) orders(w http.ResponseWriter, r *http.Request, os []venue.Order) {
	b := Fixture("order-realtime.json")
	tmpl := element(b, "result.list")
	items := make([][]byte, 0, len(os))
	for _, o := range os {
		items = append(items, s.spotElem(r.Context(), tmpl, o))
	}
	b = setRaw(b, "result.list", array(items))
	b = set(b, "result.nextPageCursor", "")
	b = set(b, "result.category", "spot")
	write(w, b)
}

// realtime answers open orders: one by orderLinkId (only while it is
// open, as openOnly=0 does), or all of a symbol.
func (s *Server) realtime(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if stop, _ := s.fault(w, op); stop {
		return
	}
	if p.Get("category").String() == "linear" {
		s.linearLookup(w, p, false)
		return
	}
	s.lookup(w, r, p, false)
}

// history answers closed orders: by orderLinkId, or of a symbol in a
// window.
func (s *Server) history(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if p.Get("category").String() == "linear" {
		s.linearLookup(w, p, true)
		return
	}
	s.lookup(w, r, p, true)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request, p gjson.Result, closed bool) {
	sym, link := p.Get("symbol").String(), p.Get("orderLinkId").String()
	var os []venue.Order
	if closed && link == "" {
		// History of a symbol in [startTime, endTime] (at most 7 days),
		// newest first, in one page.
		start, end := p.Get("startTime").Int(), p.Get("endTime").Int()
		if end == 0 {
			end = nowMS()
		}
		if start == 0 {
			start = end - 7*24*3600*1000
		}
		if end-start > 7*24*3600*1000 {
			writeError(w, 10001, "endTime - startTime must be at most 7 days")
			return
		}
		for _, o := range s.Orders() {
			if o.Status.Terminal() && (sym == "" || o.Symbol == sym) && o.Created.UnixMilli() >= start && o.Created.UnixMilli() <= end {
				os = append(os, o)
			}
		}
		sort.SliceStable(os, func(i, j int) bool { return os[i].Created.After(os[j].Created) })
	} else if link != "" {
		o, err := s.acct.QueryOrder(r.Context(), sym, link)
		if err == nil && o.Status.Terminal() == closed {
			os = append(os, o)
		}
	} else if !closed {
		var err error
		if os, err = s.acct.OpenOrders(r.Context(), sym); err != nil {
			code, msg := codeOf(err)
			writeError(w, code, msg)
			return
		}
		// Newest first, as Bybit sorts by createdTime.
		sort.SliceStable(os, func(i, j int) bool { return os[i].Created.After(os[j].Created) })
	}
	s.orders(w, r, os)
}

// executions answers /v5/execution/list: by orderId, or by symbol in
// [startTime, endTime] (at most 7 days; the last 7 days when neither is
// given), newest first, limit per page (default 50, at most 100) with an
// offset as the cursor.
func (s *Server) executions(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if stop, _ := s.fault(w, op); stop {
		return
	}
	sym := p.Get("symbol").String()
	cat := p.Get("category").String()
	var ts []venue.Trade
	if id := p.Get("orderId").String(); id != "" && cat == "linear" {
		ts = s.linearTrades(sym, id, time.Time{}, time.Time{})
	} else if id != "" {
		var err error
		if ts, err = s.acct.OrderTrades(r.Context(), sym, id); err != nil {
			code, msg := codeOf(err)
			writeError(w, code, msg)
			return
		}
	} else {
		end := time.Now()
		if e := p.Get("endTime").Int(); e > 0 {
			end = time.UnixMilli(e)
		}
		start := end.Add(-7 * 24 * time.Hour)
		if st := p.Get("startTime").Int(); st > 0 {
			start = time.UnixMilli(st)
			if p.Get("endTime").Int() == 0 {
				end = start.Add(7 * 24 * time.Hour)
			}
		}
		if end.Sub(start) > 7*24*time.Hour {
			writeError(w, 10001, "endTime - startTime must be at most 7 days")
			return
		}
		var err error
		if cat == "linear" {
			ts = s.linearTrades(sym, "", start, end)
		} else if ts, err = s.spotTrades(r.Context(), sym, start, end); err != nil {
			code, msg := codeOf(err)
			writeError(w, code, msg)
			return
		}
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Time.After(ts[j].Time) })
	limit := int(p.Get("limit").Int())
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 100)
	off := 0
	if c := p.Get("cursor").String(); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > len(ts) {
			writeError(w, 10001, "cursor invalid")
			return
		}
		off = n
	}
	pageTs := ts[off:min(off+limit, len(ts))]
	next := ""
	if off+limit < len(ts) {
		next = strconv.Itoa(off + limit)
	}
	b := Fixture("execution-list.json")
	tmpl := element(b, "result.list")
	var items [][]byte
	for _, t := range pageTs {
		items = append(items, execElem(tmpl, t))
	}
	b = setRaw(b, "result.list", array(items))
	b = set(b, "result.nextPageCursor", next)
	b = set(b, "result.category", cat)
	write(w, b)
}

// spotTrades are the spot fills of symbol in [start, end].
func (s *Server) spotTrades(ctx context.Context, symbol string, start, end time.Time) ([]venue.Trade, error) {
	var ts []venue.Trade
	q := venue.TradeQuery{Symbol: symbol, From: start, To: end.Add(time.Millisecond), Limit: 1000}
	for {
		page, err := s.acct.Trades(ctx, q)
		if err != nil {
			return nil, err
		}
		ts = append(ts, page.Trades...)
		if page.Next == "" {
			return ts, nil
		}
		q.Cursor = page.Next
	}
}

// execElem renders a fill on the template element of an execution list or
// execution stream message.
func execElem(tmpl []byte, t venue.Trade) []byte {
	e := set(tmpl, "symbol", t.Symbol)
	e = set(e, "orderId", t.VenueOrderID)
	e = set(e, "orderLinkId", t.ClientOrderID)
	side := "Buy"
	if t.Side == venue.Sell {
		side = "Sell"
	}
	e = set(e, "side", side)
	e = set(e, "execId", t.ID)
	e = set(e, "execPrice", t.Price.String())
	e = set(e, "execQty", t.Quantity.String())
	e = set(e, "execValue", t.QuoteQty.String())
	e = set(e, "execFee", t.Fee.String())
	e = set(e, "feeCurrency", t.FeeAsset)
	e = set(e, "isMaker", t.Maker)
	e = set(e, "execType", "Trade")
	e = set(e, "execTime", strconv.FormatInt(t.Time.UnixMilli(), 10))
	for _, k := range []string{"markPrice", "closedSize", "orderPrice", "orderQty", "leavesQty"} {
		e = set(e, k, "")
	}
	return e
}

func (s *Server) wallet(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if stop, _ := s.fault(w, op); stop {
		return
	}
	if at := p.Get("accountType").String(); at != "UNIFIED" {
		writeError(w, 10001, "accountType only support UNIFIED.")
		return
	}
	bs, err := s.acct.Balances(r.Context())
	if err != nil {
		code, msg := codeOf(err)
		writeError(w, code, msg)
		return
	}
	b := Fixture("account-wallet-balance.json")
	tmpl := element(b, "result.list.0.coin")
	var items [][]byte
	s.mu.Lock()
	for _, x := range bs {
		if x.Wallet == venue.WalletSpot {
			items = append(items, s.coinElemLocked(tmpl, x))
		}
	}
	s.mu.Unlock()
	b = setRaw(b, "result.list.0.coin", array(items))
	for _, k := range []string{"totalEquity", "totalMarginBalance", "totalAvailableBalance", "totalWalletBalance"} {
		b = set(b, "result.list.0."+k, "") // the fake keeps no USD valuation
	}
	write(w, b)
}

// coinElemLocked renders the unified wallet's balance x on a coin element
// of the wallet-balance answer or the wallet topic, with the initial
// margin and unrealized PnL of the linear book; s.mu is held.
func (s *Server) coinElemLocked(tmpl []byte, x venue.Balance) []byte {
	total := x.Free.Add(x.Locked)
	orderIM, positionIM := s.heldIM(x.Asset)
	upnl := s.unrealized(x.Asset)
	e := set(tmpl, "coin", x.Asset)
	e = set(e, "walletBalance", total.String())
	e = set(e, "locked", x.Locked.String())
	e = set(e, "borrowAmount", x.Borrowed.String())
	e = set(e, "totalOrderIM", orderIM.String())
	e = set(e, "totalPositionIM", positionIM.String())
	e = set(e, "unrealisedPnl", upnl.String())
	e = set(e, "equity", total.Add(upnl).String())
	for _, k := range []string{"spotHedgingQty", "availableToWithdraw", "availableToBorrow", "usdValue"} {
		if gjson.GetBytes(e, k).Exists() {
			e = set(e, k, "")
		}
	}
	return e
}

// walletMsgLocked is the wallet topic's message of the unified wallet's
// balance x; s.mu is held.
func (s *Server) walletMsgLocked(x venue.Balance, at time.Time) []byte {
	b := Fixture("ws-private-wallet.json")
	b = setRaw(b, "data.0.coin", array([][]byte{s.coinElemLocked(element(b, "data.0.coin"), x)}))
	for _, k := range []string{"totalEquity", "totalWalletBalance", "totalMarginBalance", "totalAvailableBalance"} {
		b = set(b, "data.0."+k, "") // the fake keeps no USD valuation
	}
	return set(b, "creationTime", at.UnixMilli())
}

func (s *Server) funding(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if at := p.Get("accountType").String(); at != "FUND" {
		writeError(w, 10001, "the fake answers accountType FUND only")
		return
	}
	bs, err := s.acct.Balances(r.Context())
	if err != nil {
		code, msg := codeOf(err)
		writeError(w, code, msg)
		return
	}
	b := Fixture("asset-all-balance.json")
	tmpl := element(b, "result.balance")
	var items [][]byte
	for _, x := range bs {
		if x.Wallet != venue.WalletFunding {
			continue
		}
		e := set(tmpl, "coin", x.Asset)
		e = set(e, "transferBalance", x.Free.String())
		e = set(e, "walletBalance", x.Free.Add(x.Locked).String())
		items = append(items, e)
	}
	write(w, setRaw(b, "result.balance", array(items)))
}

// wsConn serialises writes to one stream connection.
type wsConn struct {
	mu sync.Mutex
	c  *websocket.Conn
}

func (c *wsConn) send(ctx context.Context, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Write(ctx, websocket.MessageText, b)
}

// answer replies to an op with the documented success answer.
func (c *wsConn) answer(ctx context.Context, op, reqID string, ok bool, msg string) error {
	b := Fixture("ws-op-subscribe.json")
	if op == "auth" {
		b = Fixture("ws-op-auth.json")
	} else {
		b = set(b, "req_id", reqID)
	}
	b = set(b, "op", op)
	b = set(b, "success", ok)
	b = set(b, "ret_msg", msg)
	return c.send(ctx, b)
}

type wsRequest struct {
	ReqID string            `json:"req_id"`
	Op    string            `json:"op"`
	Args  []json.RawMessage `json:"args"`
}

func argString(a json.RawMessage) string {
	var s string
	if json.Unmarshal(a, &s) == nil {
		return s
	}
	return strings.Trim(string(a), `"`)
}

// publicWS serves tickers.{symbol} topics from the engine's price stream.
func (s *Server) publicWS(w http.ResponseWriter, r *http.Request) {
	raw, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer s.track(raw)()
	c := &wsConn{c: raw}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer raw.CloseNow()
	var mu sync.Mutex
	topics := map[string]bool{}
	ticks, err := s.acct.SubscribePrices(ctx, nil)
	if err != nil {
		return
	}
	go func() {
		tmpl := Fixture("ws-public-ticker-spot.json")
		for tk := range ticks {
			mu.Lock()
			on := topics["tickers."+tk.Symbol]
			mu.Unlock()
			if !on {
				continue
			}
			b := set(tmpl, "topic", "tickers."+tk.Symbol)
			b = set(b, "ts", tk.Time.UnixMilli())
			b = set(b, "data.symbol", tk.Symbol)
			b = set(b, "data.lastPrice", tk.Price.String())
			if c.send(ctx, b) != nil {
				cancel()
				return
			}
		}
	}()
	for {
		_, b, err := raw.Read(ctx)
		if err != nil {
			return
		}
		var req wsRequest
		if json.Unmarshal(b, &req) != nil {
			continue
		}
		switch req.Op {
		case "subscribe":
			mu.Lock()
			for _, a := range req.Args {
				topics[argString(a)] = true
			}
			mu.Unlock()
			_ = c.answer(ctx, "subscribe", req.ReqID, true, "")
		case "ping":
			_ = c.answer(ctx, "ping", req.ReqID, true, "pong")
		}
	}
}

// privateWS serves the order and execution topics of the engine's user
// stream after an auth op signed as Bybit requires.
func (s *Server) privateWS(w http.ResponseWriter, r *http.Request) {
	raw, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer s.track(raw)()
	c := &wsConn{c: raw}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer raw.CloseNow()
	authed := false
	var mu sync.Mutex
	topics := map[string]bool{}
	started := false
	for {
		_, b, err := raw.Read(ctx)
		if err != nil {
			return
		}
		var req wsRequest
		if json.Unmarshal(b, &req) != nil {
			continue
		}
		switch req.Op {
		case "auth":
			ok := len(req.Args) == 3 && argString(req.Args[0]) == APIKey
			if ok {
				expires := argString(req.Args[1])
				m := hmac.New(sha256.New, []byte(APISecret))
				m.Write([]byte("GET/realtime" + expires))
				n, _ := strconv.ParseInt(expires, 10, 64)
				ok = hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(argString(req.Args[2]))) && n > nowMS()
			}
			authed = ok
			msg := ""
			if !ok {
				msg = "Request not authorized"
			}
			_ = c.answer(ctx, "auth", req.ReqID, ok, msg)
		case "subscribe":
			if !authed {
				_ = c.answer(ctx, "subscribe", req.ReqID, false, "Request not authorized")
				continue
			}
			mu.Lock()
			for _, a := range req.Args {
				topics[argString(a)] = true
			}
			mu.Unlock()
			if !started {
				started = true
				events, err := s.acct.SubscribeUser(ctx)
				if err != nil {
					return
				}
				go s.pushUser(ctx, c, events, &mu, topics)
				lin, stop := s.linearSubscribe()
				defer stop()
				go s.pushLinear(ctx, c, lin, &mu, topics)
			}
			_ = c.answer(ctx, "subscribe", req.ReqID, true, "")
		case "ping":
			_ = c.answer(ctx, "ping", req.ReqID, true, "pong")
		}
	}
}

func (s *Server) pushUser(ctx context.Context, c *wsConn, events <-chan venue.UserEvent, mu *sync.Mutex, topics map[string]bool) {
	orderTmpl, execTmpl := Fixture("ws-private-order.json"), Fixture("ws-private-execution.json")
	for ev := range events {
		mu.Lock()
		wantOrder, wantExec, wantWallet := topics["order"], topics["execution"], topics["wallet"]
		mu.Unlock()
		var b []byte
		switch {
		case ev.Kind == venue.EventOrder && ev.Order != nil && wantOrder:
			e := s.spotElem(ctx, element(orderTmpl, "data"), *ev.Order)
			e = set(e, "category", "spot")
			b = setRaw(orderTmpl, "data", array([][]byte{e}))
		case ev.Kind == venue.EventBalance && ev.Balance != nil && ev.Balance.Wallet == venue.WalletSpot && wantWallet:
			s.mu.Lock()
			b = s.walletMsgLocked(*ev.Balance, ev.Time)
			s.mu.Unlock()
			if c.send(ctx, b) != nil {
				return
			}
			continue
		case ev.Kind == venue.EventTrade && ev.Trade != nil && wantExec:
			e := execElem(element(execTmpl, "data"), *ev.Trade)
			e = set(e, "category", "spot")
			b = setRaw(execTmpl, "data", array([][]byte{e}))
		default:
			continue
		}
		b = set(b, "creationTime", ev.Time.UnixMilli())
		if c.send(ctx, b) != nil {
			return
		}
	}
}

// pushLinear forwards the linear book's order and execution messages to
// one private stream, as its topics ask.
func (s *Server) pushLinear(ctx context.Context, c *wsConn, msgs <-chan []byte, mu *sync.Mutex, topics map[string]bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-msgs:
			mu.Lock()
			on := topics[gjson.GetBytes(b, "topic").String()]
			mu.Unlock()
			if on && c.send(ctx, b) != nil {
				return
			}
		}
	}
}

func (s *Server) positionList(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	if p.Get("category").String() != "linear" {
		writeError(w, 10001, "the fake keeps linear positions only")
		return
	}
	sym, settle := p.Get("symbol").String(), p.Get("settleCoin").String()
	if sym == "" && settle == "" {
		writeError(w, 10001, "symbol or settleCoin is required")
		return
	}
	var ps []venue.Position
	given := map[string]bool{}
	s.mu.Lock()
	for _, x := range s.positions {
		given[x.Symbol] = true
		if (sym == "" || x.Symbol == sym) && (settle == "" || x.SettleAsset == settle) {
			ps = append(ps, x)
		}
	}
	s.mu.Unlock()
	for _, x := range s.linearPositions() { // a position a test set wins
		if !given[x.Symbol] && (sym == "" || x.Symbol == sym) && (settle == "" || x.SettleAsset == settle) {
			ps = append(ps, x)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Symbol < ps[j].Symbol })
	b := Fixture("position-list.json")
	tmpl := element(b, "result.list")
	var items [][]byte
	for _, x := range ps {
		side, size := "Buy", x.Size
		if x.Size.IsNeg() {
			side, size = "Sell", x.Size.Neg()
		}
		mode := 0
		if x.MarginMode == venue.MarginIsolated {
			mode = 1
		}
		liq := ""
		if !x.LiquidationPrice.IsZero() {
			liq = x.LiquidationPrice.String()
		}
		e := set(tmpl, "symbol", x.Symbol)
		e = set(e, "side", side)
		e = set(e, "size", size.String())
		e = set(e, "avgPrice", x.EntryPrice.String())
		e = set(e, "positionValue", size.Mul(x.EntryPrice).String())
		e = set(e, "markPrice", x.MarkPrice.String())
		e = set(e, "unrealisedPnl", x.UnrealizedPnL.String())
		e = set(e, "leverage", x.Leverage.String())
		e = set(e, "liqPrice", liq)
		e = set(e, "tradeMode", mode)
		e = set(e, "updatedTime", strconv.FormatInt(x.Updated.UnixMilli(), 10))
		items = append(items, e)
	}
	b = setRaw(b, "result.list", array(items))
	b = set(b, "result.category", "linear")
	write(w, b)
}

// transactionLog answers SETTLEMENT entries in [startTime, endTime] (at
// most 7 days), newest first, in one page.
func (s *Server) transactionLog(w http.ResponseWriter, r *http.Request, p gjson.Result, op string) {
	start, end := p.Get("startTime").Int(), p.Get("endTime").Int()
	if end == 0 {
		end = nowMS()
	}
	if start == 0 {
		start = end - 7*24*3600*1000
	}
	if end-start > 7*24*3600*1000 {
		writeError(w, 10001, "endTime - startTime must be at most 7 days")
		return
	}
	if t := p.Get("type").String(); t != "" && t != "SETTLEMENT" {
		s.write0(w)
		return
	}
	s.mu.Lock()
	var fs []venue.FundingPayment
	for _, f := range s.fundings {
		if ms := f.Time.UnixMilli(); ms >= start && ms <= end {
			fs = append(fs, f)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Time.After(fs[j].Time) })
	b := Fixture("account-transaction-log.json")
	tmpl := element(b, "result.list")
	var items [][]byte
	for _, f := range fs {
		side, size := "Buy", f.PositionSize
		if size.IsNeg() {
			side, size = "Sell", size.Neg()
		}
		e := set(tmpl, "id", f.ID)
		e = set(e, "symbol", f.Symbol)
		e = set(e, "side", side)
		e = set(e, "funding", f.Amount.String())
		e = set(e, "change", f.Amount.String())
		e = set(e, "orderId", "")
		e = set(e, "transactionTime", strconv.FormatInt(f.Time.UnixMilli(), 10))
		e = set(e, "size", size.String())
		e = set(e, "qty", size.String())
		e = set(e, "cashBalance", "")
		e = set(e, "currency", f.Asset)
		e = set(e, "tradePrice", "")
		e = set(e, "tradeId", f.ID)
		items = append(items, e)
	}
	b = setRaw(b, "result.list", array(items))
	b = set(b, "result.nextPageCursor", "")
	write(w, b)
}

// write0 answers the transaction log with no entries.
func (s *Server) write0(w http.ResponseWriter) {
	b := Fixture("account-transaction-log.json")
	b = setRaw(b, "result.list", []byte("[]"))
	b = set(b, "result.nextPageCursor", "")
	write(w, b)
}
