package binance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// wsDocsServer is a WebSocket API endpoint that answers the user data
// subscription with the documented response and then sends whatever frames
// the test pushes, byte for byte, to the newest subscribed connection.
type wsDocsServer struct {
	t   *testing.T
	srv *httptest.Server
	// serverTime, when set, is the server's clock: a subscription whose
	// timestamp is not within 5 s of it is refused with -1021, as Binance
	// refuses it.
	serverTime func() int64

	mu      sync.Mutex
	subs    int           // successful subscriptions
	current chan []byte   // frames for the newest subscribed connection
	subbed  chan struct{} // signalled after each subscription
	closed  map[int]bool  // subscriptions whose connection ended
	live    map[int]context.CancelFunc
}

func newWSDocsServer(t *testing.T) *wsDocsServer {
	w := &wsDocsServer{t: t, subbed: make(chan struct{}, 16), closed: map[int]bool{}, live: map[int]context.CancelFunc{}}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *wsDocsServer) url() string {
	return "ws" + strings.TrimPrefix(w.srv.URL, "http") + "/ws-api/v3"
}

func (w *wsDocsServer) serve(rw http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(rw, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		return
	}
	var req struct {
		ID     string `json:"id"`
		Method string `json:"method"`
		Params struct {
			Timestamp int64 `json:"timestamp"`
		} `json:"params"`
	}
	if err := json.Unmarshal(b, &req); err != nil || req.Method != "userDataStream.subscribe.signature" {
		w.t.Errorf("ws docs server: unexpected request %s", b)
		return
	}
	if w.serverTime != nil {
		if now := w.serverTime(); req.Params.Timestamp >= now+1000 || now-req.Params.Timestamp > 5000 {
			_ = c.Write(ctx, websocket.MessageText, []byte(`{"id":"`+req.ID+`","status":400,"error":{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}}`))
			return
		}
	}
	resp, err := binancetest.Edit(binancetest.Doc("ws_subscribe_response.json"), "id", `"`+req.ID+`"`)
	if err != nil {
		w.t.Error(err)
		return
	}
	frames := make(chan []byte, 64)
	w.mu.Lock()
	w.subs++
	n := w.subs
	w.current = frames
	w.live[n] = cancel
	w.mu.Unlock()
	if err := c.Write(ctx, websocket.MessageText, resp); err != nil {
		return
	}
	w.subbed <- struct{}{}
	go func() { // notice the client closing
		for {
			if _, _, err := c.Read(ctx); err != nil {
				w.mu.Lock()
				w.closed[n] = true
				w.mu.Unlock()
				cancel()
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-frames:
			if err := c.Write(ctx, websocket.MessageText, f); err != nil {
				return
			}
		}
	}
}

// push sends frame to the newest subscription.
func (w *wsDocsServer) push(frame []byte) {
	w.mu.Lock()
	ch := w.current
	w.mu.Unlock()
	ch <- frame
}

// event wraps a documented event as the WebSocket API sends it.
func event(ev []byte) []byte {
	return append(append([]byte(`{"subscriptionId":0,"event":`), ev...), '}')
}

func (w *wsDocsServer) waitSubscribed(t *testing.T) {
	t.Helper()
	select {
	case <-w.subbed:
	case <-time.After(10 * time.Second):
		t.Fatal("no subscription")
	}
}

func streamDocsClient(t *testing.T, d *docsServer, w *wsDocsServer, cfg binance.Config) *binance.Client {
	t.Helper()
	cfg.APIKey, cfg.APISecret = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
	cfg.BaseURL, cfg.FuturesBaseURL, cfg.WSAPIURL = d.srv.URL, d.srv.URL, w.url()
	c, err := binance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func next(t *testing.T, ch <-chan venue.UserEvent) venue.UserEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("user stream closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no user event")
	}
	return venue.UserEvent{}
}

// TestDocumentedExecutionReport feeds the documented executionReport bytes
// verbatim, and a fill made from them by editing values in place, through
// the user stream. The event has i and I, p and P, q and Q, m and M: each
// must be read from its own key.
func TestDocumentedExecutionReport(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDocsServer(t)
	w := newWSDocsServer(t)
	c := streamDocsClient(t, d, w, binance.Config{})
	ch, err := c.SubscribeUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.waitSubscribed(t)

	doc := binancetest.Doc("ws_execution_report.json")
	w.push(event(doc))
	ev := next(t, ch)
	want := venue.Order{ClientOrderID: "mUvoqJxFIILMdfAW5iGSOW", VenueOrderID: "4293153", Symbol: "ETHBTC", Side: venue.Buy,
		Type: venue.Limit, Price: dec("0.10264410"), Quantity: dec("1.00000000"), ExecutedQty: dec("0"), QuoteQty: dec("0"),
		Status: venue.StatusNew, Created: ms(1499405658657), Updated: ms(1499405658657)}
	if ev.Kind != venue.EventOrder || ev.Order == nil || !same(*ev.Order, want) || !ev.Time.Equal(ms(1499405658658)) {
		t.Fatalf("documented executionReport:\n got %+v %+v\nwant %+v", ev, ev.Order, want)
	}

	// The same order filling: Binance's bytes with the values of a fill.
	// m (maker) is true and M ("ignore") false, so a decoder that lets M
	// overwrite m gets the maker flag wrong.
	fill, err := binancetest.Edit(doc, "x", `"TRADE"`, "X", `"FILLED"`, "l", `"1.00000000"`, "z", `"1.00000000"`,
		"L", `"0.10264400"`, "n", `"0.00100000"`, "N", `"ETH"`, "T", "1499405658700", "t", "12345", "I", "8641990",
		"w", "false", "m", "true", "Z", `"0.10264400"`, "Y", `"0.10264400"`)
	if err != nil {
		t.Fatal(err)
	}
	w.push(event(fill))
	ev = next(t, ch)
	if ev.Kind != venue.EventOrder || ev.Order.VenueOrderID != "4293153" || ev.Order.Status != venue.StatusFilled ||
		!ev.Order.ExecutedQty.Equal(dec("1")) || !ev.Order.QuoteQty.Equal(dec("0.102644")) || !ev.Order.Price.Equal(dec("0.10264410")) {
		t.Fatalf("fill's order update: %+v", ev.Order)
	}
	ev = next(t, ch)
	wantTrade := venue.Trade{ID: "12345", VenueOrderID: "4293153", ClientOrderID: "mUvoqJxFIILMdfAW5iGSOW", Symbol: "ETHBTC",
		Side: venue.Buy, Price: dec("0.10264400"), Quantity: dec("1.00000000"), QuoteQty: dec("0.10264400"), Fee: dec("0.00100000"),
		FeeAsset: "ETH", Maker: true, Time: ms(1499405658700)}
	if ev.Kind != venue.EventTrade || ev.Trade == nil || !same(*ev.Trade, wantTrade) {
		t.Fatalf("fill:\n got %+v\nwant %+v", ev.Trade, wantTrade)
	}

	// A cancellation reports the canceled order's id in C.
	canceled, err := binancetest.Edit(doc, "c", `"cancel-req-1"`, "C", `"mUvoqJxFIILMdfAW5iGSOW"`, "x", `"CANCELED"`, "X", `"CANCELED"`)
	if err != nil {
		t.Fatal(err)
	}
	w.push(event(canceled))
	if ev = next(t, ch); ev.Order == nil || ev.Order.ClientOrderID != "mUvoqJxFIILMdfAW5iGSOW" || ev.Order.Status != venue.StatusCanceled ||
		ev.Order.VenueOrderID != "4293153" {
		t.Fatalf("cancellation: %+v", ev.Order)
	}

	// outboundAccountPosition as documented.
	w.push(event(binancetest.Doc("ws_outbound_account_position.json")))
	ev = next(t, ch)
	if ev.Kind != venue.EventBalance || *ev.Balance != (venue.Balance{Wallet: venue.WalletSpot, Asset: "ETH", Free: dec("10000.000000"), Locked: dec("0.000000")}) ||
		!ev.Time.Equal(ms(1564034571105)) {
		t.Fatalf("account position: %+v %+v", ev, ev.Balance)
	}
}

// TestDocumentedStreamEvents: balanceUpdate and externalLockUpdate reach
// OnBalanceChange; serverShutdown and eventStreamTerminated make the client
// subscribe again at once (the old connection closed only after the new
// one is subscribed) and tell the consumer to resync; and the subscription
// is signed with the server's time, synced first: the server's clock here
// is the documented one, years behind ours.
func TestDocumentedStreamEvents(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDocsServer(t)
	w := newWSDocsServer(t)
	w.serverTime = func() int64 { return 1499827319559 } // time.json
	changes := make(chan binance.BalanceChange, 4)
	c := streamDocsClient(t, d, w, binance.Config{ReconnectMin: time.Hour, ReconnectMax: time.Hour,
		OnBalanceChange: func(b binance.BalanceChange) { changes <- b }})
	ch, err := c.SubscribeUser(ctx)
	if err != nil {
		t.Fatalf("subscribe with a clock years ahead of the server's: %v", err)
	}
	w.waitSubscribed(t)
	if n := d.count("GET /api/v3/time"); n != 1 {
		t.Errorf("%d time syncs before the subscription, want 1", n)
	}

	w.push(event(binancetest.Doc("ws_balance_update.json")))
	w.push(event(binancetest.Doc("ws_external_lock_update.json")))
	for _, want := range []binance.BalanceChange{
		{Kind: "balanceUpdate", Asset: "BTC", Delta: dec("100.00000000"), Time: ms(1573200697068)},
		{Kind: "externalLockUpdate", Asset: "NEO", Delta: dec("10.00000000"), Time: ms(1581557507268)},
	} {
		select {
		case got := <-changes:
			if !same(got, want) {
				t.Errorf("balance change:\n got %+v\nwant %+v", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", want.Kind)
		}
	}

	// Reconnects wait an hour (ReconnectMin): only a resubscription made
	// at once, without backoff, passes.
	for i, doc := range []string{"ws_server_shutdown.json", "ws_event_stream_terminated.json"} {
		w.push(binancetest.Doc(doc))
		w.waitSubscribed(t)
		if ev := next(t, ch); ev.Kind != venue.EventReconnected {
			t.Fatalf("after %s: %+v, want reconnected", doc, ev)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			w.mu.Lock()
			subs, oldClosed := w.subs, w.closed[i+1]
			w.mu.Unlock()
			if subs == i+2 && oldClosed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: %d subscriptions, old connection closed %v; want %d and closed", doc, subs, oldClosed, i+2)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Events flow on the new connection.
	w.push(event(binancetest.Doc("ws_outbound_account_position.json")))
	if ev := next(t, ch); ev.Kind != venue.EventBalance || ev.Balance.Asset != "ETH" {
		t.Fatalf("after resubscribing: %+v", ev)
	}
	if n := d.count("GET /api/v3/time"); n != 3 {
		t.Errorf("%d time syncs, want 3: before each subscription", n)
	}
}

// TestFakeUserEventsAreTheDocumentedShape: the fake's user data events, as
// they leave it on the wire, carry the documented keys in the documented
// order (ws_execution_report.json, ws_outbound_account_position.json), so
// i comes before I and m before M as Binance sends them: a fake that
// marshalled a Go map (sorted keys, upper case first) fails here.
func TestFakeUserEventsAreTheDocumentedShape(t *testing.T) {
	t.Parallel()
	b := setup(t, binancetest.Config{}, nil)
	b.fake.Fund(venue.WalletSpot, "USDT", dec("1000"))
	b.fake.SetPrice("BTCUSDT", dec("20000"))
	conn, _, err := websocket.Dial(b.ctx, b.fake.WSAPIURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	sig := binancetest.Sign(b.fake.APISecret(), "apiKey="+b.fake.APIKey()+"&timestamp="+ts)
	req := `{"id":"shape","method":"userDataStream.subscribe.signature","params":{"apiKey":"` + b.fake.APIKey() +
		`","timestamp":` + ts + `,"signature":"` + sig + `"}}`
	if err := conn.Write(b.ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	read := func() []byte {
		t.Helper()
		_, m, err := conn.Read(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if sub := read(); !bytes.Contains(sub, []byte(`"status":200`)) {
		t.Fatalf("subscription: %s", sub)
	}
	// A marketable limit buy: NEW, then TRADE, then the balances.
	if _, err := b.client.PlaceOrder(b.ctx, venue.OrderRequest{ClientOrderID: "shape-1", Symbol: "BTCUSDT", Side: venue.Buy,
		Type: venue.Limit, Quantity: dec("0.001"), Price: dec("20000")}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"executionReport":         topKeys(t, binancetest.Doc("ws_execution_report.json")),
		"outboundAccountPosition": topKeys(t, binancetest.Doc("ws_outbound_account_position.json")),
	}
	seen := map[string]int{}
	for seen["executionReport"] < 2 || seen["outboundAccountPosition"] < 1 {
		var env struct {
			Event json.RawMessage `json:"event"`
		}
		frame := read()
		if err := json.Unmarshal(frame, &env); err != nil || len(env.Event) == 0 {
			t.Fatalf("frame %s is no event", frame)
		}
		var e struct {
			Type string `json:"e"`
		}
		_ = json.Unmarshal(env.Event, &e)
		w, ok := want[e.Type]
		if !ok {
			continue
		}
		seen[e.Type]++
		if got := topKeys(t, env.Event); !same(got, w) {
			t.Errorf("%s keys\n got %v\nwant %v (documented order)", e.Type, got, w)
		}
	}
}
