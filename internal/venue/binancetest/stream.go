package binancetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// hub owns the fake's websocket connections: market stream subscribers and
// WebSocket API sessions with user data subscriptions.
type hub struct {
	s       *Server
	mu      sync.Mutex
	conns   map[*wsConn]bool
	nextID  int
	down    bool  // StreamsDown: every websocket refused
	refused int64 // handshakes refused while down
}

type wsConn struct {
	c        *websocket.Conn
	out      chan []byte
	cancel   context.CancelFunc
	combined bool
	streams  map[string]bool // lower-case stream names
	userSub  int             // -1 without a user data subscription
	futUser  bool            // a USDⓈ-M listenKey stream (/ws/<listenKey>)
}

func newHub(s *Server) *hub { return &hub{s: s, conns: map[*wsConn]bool{}} }

func (h *hub) add(c *websocket.Conn, cancel context.CancelFunc) *wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addLocked(c, cancel)
}

// addLocked is add with h.mu held.
func (h *hub) addLocked(c *websocket.Conn, cancel context.CancelFunc) *wsConn {
	wc := &wsConn{c: c, out: make(chan []byte, 4096), cancel: cancel, streams: map[string]bool{}, userSub: -1}
	h.conns[wc] = true
	if h.down { // accepted just as StreamsDown closed the others
		cancel()
	}
	return wc
}

func (h *hub) remove(wc *wsConn) {
	h.mu.Lock()
	delete(h.conns, wc)
	h.mu.Unlock()
	wc.cancel()
}

// send queues b; a consumer too slow to keep up is disconnected, as Binance does.
func (h *hub) send(wc *wsConn, b []byte) {
	select {
	case wc.out <- b:
	default:
		wc.cancel()
	}
}

func (h *hub) writeLoop(ctx context.Context, wc *wsConn) {
	for {
		select {
		case <-ctx.Done():
			_ = wc.c.Close(websocket.StatusGoingAway, "closing")
			return
		case b := <-wc.out:
			if b == nil { // closeAfter: everything queued before it is written
				_ = wc.c.Close(websocket.StatusNormalClosure, "closing")
				wc.cancel()
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := wc.c.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				wc.cancel()
			}
		}
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for wc := range h.conns {
		wc.cancel()
	}
}

// DropStreams closes every websocket connection, as Binance does at its
// 24-hour limit or during maintenance; clients must reconnect.
func (s *Server) DropStreams() { s.streams.closeAll() }

// StreamsDown closes every websocket connection and refuses new ones (HTTP
// 503) until StreamsUp: an outage of the stream endpoints during which
// REST still answers and user data events are lost, as on Binance.
func (s *Server) StreamsDown() {
	s.streams.mu.Lock()
	s.streams.down = true
	s.streams.mu.Unlock()
	s.streams.closeAll()
}

// StreamsUp accepts websocket connections again after StreamsDown.
func (s *Server) StreamsUp() {
	s.streams.mu.Lock()
	s.streams.down = false
	s.streams.mu.Unlock()
}

// StreamsRefused counts the websocket handshakes refused while the streams
// were down: the clients' reconnect attempts.
func (s *Server) StreamsRefused() int64 {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	return s.streams.refused
}

// refuse answers 503 to a websocket handshake while the streams are down.
func (h *hub) refuse(w http.ResponseWriter) bool {
	h.mu.Lock()
	down := h.down
	if down {
		h.refused++
	}
	h.mu.Unlock()
	if down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	}
	return down
}

// serveMarket serves /ws/<stream>[/<stream>...] and /stream?streams=a/b.
func (h *hub) serveMarket(w http.ResponseWriter, r *http.Request) {
	if h.refuse(w) {
		return
	}
	names := r.PathValue("streams")
	combined := r.URL.Path == "/stream"
	if combined {
		names = r.URL.Query().Get("streams")
	}
	futUser := false
	if key := futuresKeyOf(names); !combined && key != "" && h.s.isFuturesListenKey(key) {
		futUser = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wc *wsConn
	if futUser {
		// Accepted and registered under the hub's lock: an event sent
		// after the client's handshake completes reaches this connection,
		// as Binance's does (otherwise an order placed right after the
		// dial returned could fire before the connection was listed).
		h.mu.Lock()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			h.mu.Unlock()
			cancel()
			return
		}
		wc = h.addLocked(c, cancel)
		wc.futUser = true
		h.mu.Unlock()
	} else {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			cancel()
			return
		}
		wc = h.add(c, cancel)
	}
	c := wc.c
	defer h.remove(wc)
	wc.combined = combined
	if futUser {
		ctx = c.CloseRead(ctx)
		h.writeLoop(ctx, wc)
		return
	}
	for _, n := range strings.Split(names, "/") {
		if n != "" {
			wc.streams[strings.ToLower(n)] = true
		}
	}
	// Current prices first, so a subscriber sees the market at once.
	h.s.mu.Lock()
	now := h.s.now()
	var syms []string
	for sym := range h.s.prices {
		syms = append(syms, sym)
	}
	sort.Strings(syms)
	prices := map[string]venue.Decimal{}
	for _, sym := range syms {
		prices[sym] = h.s.prices[sym]
	}
	h.s.mu.Unlock()
	for _, sym := range syms {
		for _, b := range h.marketMessages(wc, sym, prices[sym], now) {
			h.send(wc, b)
		}
	}
	ctx = c.CloseRead(ctx)
	h.writeLoop(ctx, wc)
}

func (h *hub) marketMessages(wc *wsConn, sym string, p venue.Decimal, now time.Time) [][]byte {
	var out [][]byte
	wrap := func(stream string, data []byte) {
		if wc.combined {
			data = []byte(`{"stream":` + jstr(stream) + `,"data":` + string(data) + `}`)
		}
		out = append(out, data)
	}
	if wc.streams["!miniticker@arr"] {
		p8 := jstr(p.StringFixed(8))
		wrap("!miniTicker@arr", join([][]byte{compact(mustEdit(Doc("ws_mini_ticker.json"), "E", i64(ms(now)), "s", jstr(sym),
			"c", p8, "o", p8, "h", p8, "l", p8, "v", jstr("0"), "q", jstr("0")))}))
	}
	if name := strings.ToLower(sym) + "@bookticker"; wc.streams[name] {
		p8 := jstr(p.StringFixed(8))
		wrap(strings.ToLower(sym)+"@bookTicker", compact(mustEdit(Doc("ws_book_ticker.json"), "u", i64(ms(now)), "s", jstr(sym),
			"b", p8, "B", jstr("1.00000000"), "a", p8, "A", jstr("1.00000000"))))
	}
	return out
}

func (h *hub) pushPrice(sym string, p venue.Decimal, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for wc := range h.conns {
		for _, b := range h.marketMessages(wc, sym, p, now) {
			h.send(wc, b)
		}
	}
}

func (h *hub) pushUser(events ...[]byte) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for wc := range h.conns {
		if wc.userSub < 0 {
			continue
		}
		for _, ev := range events {
			if ev != nil {
				h.send(wc, []byte(fmt.Sprintf(`{"subscriptionId":%d,"event":%s}`, wc.userSub, ev)))
			}
		}
	}
}

// futuresUserConns counts the listenKey connections.
func (h *hub) futuresUserConns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for wc := range h.conns {
		if wc.futUser {
			n++
		}
	}
	return n
}

// closeFuturesUser closes every listenKey connection once what is queued
// on it is written.
func (h *hub) closeFuturesUser() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for wc := range h.conns {
		if wc.futUser {
			h.send(wc, nil)
		}
	}
}

// pushFuturesUser sends USDⓈ-M user data events, bare (no envelope, as the
// listenKey stream sends them), to every listenKey connection.
func (h *hub) pushFuturesUser(events ...[]byte) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for wc := range h.conns {
		if !wc.futUser {
			continue
		}
		for _, ev := range events {
			if ev != nil {
				h.send(wc, ev)
			}
		}
	}
}

// wsReply is a WebSocket API response, its keys in Binance's order.
type wsReply struct {
	ID     json.RawMessage `json:"id"`
	Status int             `json:"status"`
	Result any             `json:"result,omitempty"`
	Error  *apiError       `json:"error,omitempty"`
}

type wsRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params map[string]any  `json:"params"`
}

// wsAPIWeights is the documented weight of each WebSocket API request the
// fake serves (websocket-api general-requests and user-data-stream-requests).
var wsAPIWeights = map[string]int{"ping": 1, "time": 1, "userDataStream.subscribe.signature": 2, "userDataStream.unsubscribe": 2}

// serveAPI is the WebSocket API: userDataStream.subscribe.signature, ping and time.
func (h *hub) serveAPI(w http.ResponseWriter, r *http.Request) {
	if h.refuse(w) {
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	wc := h.add(c, cancel)
	defer h.remove(wc)
	go h.writeLoop(ctx, wc)
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var req wsRequest
		if err := json.Unmarshal(b, &req); err != nil {
			h.send(wc, mustJSON(wsReply{ID: json.RawMessage("null"), Status: 400, Error: &apiError{-1100, "Malformed request."}}))
			continue
		}
		if len(req.ID) == 0 {
			req.ID = json.RawMessage("null") // a request without id: its reply's id is null
		}
		// Binance's WebSocket API answers id, status, then result or
		// error, in that order.
		reply := func(status int, key string, v any) {
			r := wsReply{ID: req.ID, Status: status}
			if key == "error" {
				e := v.(apiError)
				r.Error = &e
			} else {
				r.Result = v
			}
			h.send(wc, mustJSON(r))
		}
		// Each request's documented weight, on the REQUEST_WEIGHT the
		// WebSocket API shares with REST; refused like REST (429, 418).
		if weight, ok := wsAPIWeights[req.Method]; ok {
			h.s.mu.Lock()
			status, e, _ := h.s.spendWeightLocked(h.s.now(), weight)
			h.s.mu.Unlock()
			if status != 0 {
				reply(status, "error", e)
				continue
			}
		}
		switch req.Method {
		case "ping", "time":
			// The documented reply, with this request's id, the server's
			// time, and the REQUEST_WEIGHT the WebSocket API shares with REST.
			h.s.mu.Lock()
			now, limit, used := h.s.now(), h.s.cfg.WeightLimit, h.s.spot.used
			h.s.mu.Unlock()
			doc := Doc("ws_api_ping.json")
			if req.Method == "time" {
				doc = Doc("ws_api_time.json")
				doc = mustEdit(doc, "result", string(mustEdit(field(doc, "result"), "serverTime", i64(ms(now)))))
			}
			rl := mustEdit(element(field(doc, "rateLimits"), 0), "limit", strconv.Itoa(limit), "count", strconv.Itoa(used))
			h.send(wc, compact(mustEdit(doc, "id", string(req.ID), "rateLimits", "["+string(rl)+"]")))
		case "userDataStream.subscribe.signature":
			if e, status := h.checkWSSignature(req.Params); status != 0 {
				reply(status, "error", e)
				continue
			}
			h.mu.Lock()
			wc.userSub = h.nextID
			h.nextID++
			id := wc.userSub
			h.mu.Unlock()
			// The documented response, with this request's id (raw, as
			// sent: a string or a number) and the subscription's id.
			doc := Doc("ws_subscribe_response.json")
			res := mustEdit(field(doc, "result"), "subscriptionId", strconv.Itoa(id))
			h.send(wc, compact(mustEdit(doc, "id", string(req.ID), "result", string(res))))
		case "userDataStream.unsubscribe":
			h.mu.Lock()
			wc.userSub = -1
			h.mu.Unlock()
			reply(200, "result", map[string]any{})
		default:
			reply(400, "error", apiError{-1100, "Unknown method."})
		}
	}
}

// checkWSSignature verifies a WebSocket API signature: HMAC-SHA256 over the
// params other than signature, sorted by name and joined as a query string.
func (h *hub) checkWSSignature(params map[string]any) (apiError, int) {
	str := func(k string) string {
		switch v := params[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatInt(int64(v), 10)
		case json.Number:
			return v.String()
		}
		return ""
	}
	if str("apiKey") != h.s.cfg.APIKey {
		return apiError{-2015, "Invalid API-key, IP, or permissions for action."}, 401
	}
	var keys []string
	for k := range params {
		if k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+str(k))
	}
	if Sign(h.s.cfg.APISecret, strings.Join(parts, "&")) != str("signature") {
		return apiError{-1022, "Signature for this request is not valid."}, 400
	}
	if status, e := h.s.checkTimestamp(str("timestamp"), str("recvWindow")); status != 0 {
		return e, status
	}
	return apiError{}, 0
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// executionReportLocked renders Binance's executionReport for o by editing
// the documented example (docs/ws_execution_report.json), so the event has
// Binance's keys in Binance's order, upper- and lower-case twins included;
// t is the fill for execution type TRADE.
func (s *Server) executionReportLocked(o *order, execType string, t *trade) []byte {
	now := s.now()
	s.nextExecID++
	cid, orig := o.clientID, ""
	if execType == "CANCELED" {
		cid, orig = fmt.Sprintf("cancel%d", o.id), o.clientID
	}
	last, lastPrice, fee, feeAsset, tradeID, maker, lastQuote, tx := "0.00000000", "0.00000000", "0", "null", "-1", "false", "0.00000000", ms(o.updated)
	if t != nil {
		last, lastPrice, fee, feeAsset = t.qty.StringFixed(8), t.price.StringFixed(8), t.fee.StringFixed(8), jstr(t.feeAsset)
		tradeID, lastQuote, tx = strconv.FormatInt(t.id, 10), t.quote.StringFixed(8), ms(t.time)
		if t.maker {
			maker = "true"
		}
	}
	working := "false"
	if o.status == "NEW" || o.status == "PARTIALLY_FILLED" {
		working = "true"
	}
	return compact(mustEdit(Doc("ws_execution_report.json"),
		"E", strconv.FormatInt(ms(now), 10), "s", jstr(o.symbol), "c", jstr(cid), "S", jstr(o.side), "o", jstr(o.typ),
		"f", jstr(orDefault(o.tif, "GTC")), "q", jstr(o.qty.StringFixed(8)), "p", jstr(o.price.StringFixed(8)), "C", jstr(orig),
		"x", jstr(execType), "X", jstr(o.status), "i", strconv.FormatInt(o.id, 10), "l", jstr(last),
		"z", jstr(o.executed.StringFixed(8)), "L", jstr(lastPrice), "n", jstr(fee), "N", feeAsset, "T", strconv.FormatInt(tx, 10),
		"t", tradeID, "I", strconv.FormatInt(s.nextExecID, 10), "w", working, "m", maker,
		"O", strconv.FormatInt(ms(o.created), 10), "Z", jstr(o.cum.StringFixed(8)), "Y", jstr(lastQuote),
		"Q", jstr(o.origQuote.StringFixed(8)), "W", strconv.FormatInt(ms(o.created), 10), "V", jstr("EXPIRE_MAKER")))
}

// accountPositionLocked renders outboundAccountPosition for the spot assets
// from the documented example (docs/ws_outbound_account_position.json).
func (s *Server) accountPositionLocked(assets ...string) []byte {
	now := strconv.FormatInt(ms(s.now()), 10)
	doc := Doc("ws_outbound_account_position.json")
	row := element(field(doc, "B"), 0)
	var rows [][]byte
	for _, a := range assets {
		h := s.holding(venue.WalletSpot, a)
		rows = append(rows, mustEdit(row, "a", jstr(a), "f", jstr(h.free.StringFixed(8)), "l", jstr(h.locked.StringFixed(8))))
	}
	return compact(mustEdit(doc, "E", now, "u", now, "B", string(join(rows))))
}
