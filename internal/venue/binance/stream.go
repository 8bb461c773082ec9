package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// dialTimeout bounds one websocket dial and subscription handshake.
const dialTimeout = 10 * time.Second

// backoff sleeps between reconnects, doubling from ReconnectMin to
// ReconnectMax; it reports false when ctx ends.
func (c *Client) backoff(ctx context.Context, attempt int) bool {
	d := backoff.Policy{Initial: c.cfg.ReconnectMin, Max: c.cfg.ReconnectMax}.Delay(attempt)
	return clock.Sleep(ctx, c.cfg.Clock, d) == nil
}

// SubscribePrices streams ticks: bookTicker for the given symbols, or
// !miniTicker@arr for all symbols when none are given. The first connection is
// made before it returns; later drops reconnect with backoff.
func (c *Client) SubscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	return c.subscribePricesAt(ctx, c.cfg.WSBaseURL, symbols)
}

// subscribePricesAt is SubscribePrices on the market stream host base (the
// spot one, or USDⓈ-M futures', whose bookTicker and miniTicker carry the
// same keys).
func (c *Client) subscribePricesAt(ctx context.Context, base string, symbols []string) (<-chan venue.PriceTick, error) {
	u := base + "/ws/!miniTicker@arr"
	if len(symbols) > 0 {
		names := make([]string, len(symbols))
		for i, s := range symbols {
			names[i] = strings.ToLower(s) + "@bookTicker"
		}
		u = base + "/stream?streams=" + strings.Join(names, "/")
	}
	dial := func() (*websocket.Conn, error) {
		if _, err := c.wsLim.acquire(ctx, cost{weight: 1}); err != nil {
			return nil, classify("subscribe prices", false, err)
		}
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		conn, _, err := websocket.Dial(dctx, u, nil)
		if err != nil {
			return nil, &venue.Error{Class: venue.ClassUnavailable, Message: Redact(err.Error()), Op: "subscribe prices"}
		}
		conn.SetReadLimit(1 << 22)
		return conn, nil
	}
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	ch := make(chan venue.PriceTick, 256)
	go func() {
		defer close(ch)
		for attempt := 0; ; {
			c.readPrices(ctx, conn, ch)
			_ = conn.CloseNow()
			for {
				if !c.backoff(ctx, attempt) {
					return
				}
				attempt++
				if conn, err = dial(); err == nil {
					attempt = 0
					break
				}
			}
		}
	}()
	return ch, nil
}

func (c *Client) readPrices(ctx context.Context, conn *websocket.Conn, ch chan<- venue.PriceTick) {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var env struct {
			Stream string          `json:"stream"`
			Data   json.RawMessage `json:"data"`
		}
		if len(b) > 0 && b[0] == '{' && json.Unmarshal(b, &env) == nil && env.Stream != "" {
			b = env.Data
		}
		// Both streams carry keys that differ only in case (bookTicker's b
		// and B, a and A; miniTicker's e and E): read by exact key.
		var ticks []venue.PriceTick
		if len(b) > 0 && b[0] == '[' {
			var arr []eventFields
			if json.Unmarshal(b, &arr) != nil {
				continue
			}
			for _, m := range arr {
				ticks = append(ticks, venue.PriceTick{Symbol: m.str("s"), Price: m.dec("c"), Time: time.UnixMilli(m.int64("E")).UTC()})
			}
		} else {
			var bt eventFields
			if json.Unmarshal(b, &bt) != nil || bt.str("s") == "" {
				continue
			}
			bid, ask := bt.dec("b"), bt.dec("a")
			mid, _ := bid.Add(ask).Div64(2)
			ticks = append(ticks, venue.PriceTick{Symbol: bt.str("s"), Price: mid, Bid: bid, Ask: ask, Time: c.cfg.Clock.Now()})
		}
		for _, t := range ticks {
			select {
			case ch <- t:
			case <-ctx.Done():
				return
			}
		}
	}
}

var wsRequestID atomic.Int64

// subscribeUser dials the WebSocket API and subscribes to the account's user
// data stream with userDataStream.subscribe.signature.
func (c *Client) subscribeUser(ctx context.Context) (*websocket.Conn, error) {
	const op = "subscribe user stream"
	// The subscription is signed with our estimate of the server's time:
	// measure it first (a skewed clock would fail the subscription with
	// -1021), and again on every resubscription, since clocks drift over
	// the hours a stream lives.
	if err := c.SyncTime(ctx); err != nil {
		return nil, classify(op, false, err)
	}
	// A connection attempt, and the subscription request's weight on the
	// REQUEST_WEIGHT the WebSocket API shares with REST.
	if _, err := c.wsAPILim.acquire(ctx, cost{weight: 1}); err != nil {
		return nil, classify(op, false, err)
	}
	if _, err := c.lim.acquire(ctx, cost{weight: wsSubscribeWeight}); err != nil {
		return nil, classify(op, false, err)
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, c.cfg.WSAPIURL, nil)
	if err != nil {
		return nil, &venue.Error{Class: venue.ClassUnavailable, Message: Redact(err.Error()), Op: op}
	}
	conn.SetReadLimit(1 << 22)
	ts := c.lim.serverNow().UnixMilli()
	payload := "apiKey=" + c.cfg.APIKey + "&timestamp=" + strconv.FormatInt(ts, 10)
	id := fmt.Sprintf("sub-%d", wsRequestID.Add(1))
	req, _ := json.Marshal(map[string]any{"id": id, "method": "userDataStream.subscribe.signature",
		"params": map[string]any{"apiKey": c.cfg.APIKey, "timestamp": ts, "signature": sign(c.cfg.APISecret, payload)}})
	if err := conn.Write(dctx, websocket.MessageText, req); err != nil {
		_ = conn.CloseNow()
		return nil, &venue.Error{Class: venue.ClassUnavailable, Message: Redact(err.Error()), Op: op}
	}
	for {
		_, b, err := conn.Read(dctx)
		if err != nil {
			_ = conn.CloseNow()
			return nil, &venue.Error{Class: venue.ClassUnavailable, Message: Redact(err.Error()), Op: op}
		}
		var resp struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
			Error  *struct {
				Code int    `json:"code"`
				Msg  string `json:"msg"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &resp) != nil || resp.ID != id {
			continue
		}
		if resp.Status != 200 {
			_ = conn.CloseNow()
			e := &venue.Error{Class: venue.ClassUnavailable, Op: op}
			if resp.Error != nil {
				e = fromCode(op, venue.ClassUnavailable, resp.Error.Code, resp.Error.Msg)
				if e.Class == venue.ClassTimestamp {
					_ = c.SyncTime(ctx)
				}
			}
			return nil, e
		}
		return conn, nil
	}
}

// SubscribeUser streams order updates, fills and spot balance changes from
// the WebSocket API user data subscription. After every reconnect it emits
// EventReconnected: events may have been lost, so the consumer resyncs.
func (c *Client) SubscribeUser(ctx context.Context) (<-chan venue.UserEvent, error) {
	conn, err := c.subscribeUser(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan venue.UserEvent, 256)
	go func() {
		defer close(ch)
		for attempt := 0; ; {
			end := c.readUser(ctx, conn, ch)
			if end != endBroken && ctx.Err() == nil {
				// The server announced the end (serverShutdown) or ended
				// the subscription (eventStreamTerminated): subscribe again
				// at once, on a new connection opened while the old one
				// is still up, and close the old one only then.
				if next, err := c.subscribeUser(ctx); err == nil {
					_ = conn.CloseNow()
					conn = next
					if !c.reconnected(ctx, ch) {
						_ = conn.CloseNow()
						return
					}
					continue
				}
			}
			_ = conn.CloseNow()
			for {
				if !c.backoff(ctx, attempt) {
					return
				}
				attempt++
				if conn, err = c.subscribeUser(ctx); err == nil {
					attempt = 0
					break
				}
			}
			if !c.reconnected(ctx, ch) {
				_ = conn.CloseNow()
				return
			}
		}
	}()
	return ch, nil
}

// reconnected tells the consumer that events may have been lost; false when
// ctx ended first.
func (c *Client) reconnected(ctx context.Context, ch chan<- venue.UserEvent) bool {
	select {
	case ch <- venue.UserEvent{Kind: venue.EventReconnected, Time: c.cfg.Clock.Now()}:
		return true
	case <-ctx.Done():
		return false
	}
}

// eventFields is one user data event as Binance sends it, field by exact
// key. executionReport carries keys that differ only in case (i and I, p and
// P, q and Q, m and M, c and C, l and L, t and T, x and X, z and Z); a
// struct decoded by encoding/json would match them case-insensitively and
// let the later key overwrite the earlier, so every field is read from the
// map, whose keys are exact.
type eventFields map[string]json.RawMessage

func (f eventFields) str(k string) string {
	var s string
	if json.Unmarshal(f[k], &s) != nil {
		return ""
	}
	return s
}

// int64 reads a number, or a number sent as a string ("E" of
// listenKeyExpired is documented as "1699596037418").
func (f eventFields) int64(k string) int64 {
	v := f[k]
	if len(v) > 0 && v[0] == '"' {
		var s string
		_ = json.Unmarshal(v, &s)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	var n int64
	_ = json.Unmarshal(v, &n)
	return n
}

func (f eventFields) bool(k string) bool {
	var b bool
	_ = json.Unmarshal(f[k], &b)
	return b
}

func (f eventFields) dec(k string) venue.Decimal { return parseDec(f.str(k)) }

// streamEnd is why readUser returned.
type streamEnd int

const (
	endBroken     streamEnd = iota // read error or ctx ended: reconnect with backoff
	endShutdown                    // serverShutdown: the server cuts this connection soon
	endTerminated                  // eventStreamTerminated: the subscription is over
)

func (c *Client) readUser(ctx context.Context, conn *websocket.Conn, ch chan<- venue.UserEvent) streamEnd {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return endBroken
		}
		var env struct {
			Event json.RawMessage `json:"event"`
		}
		if json.Unmarshal(b, &env) != nil || len(env.Event) == 0 {
			continue
		}
		var ev eventFields
		if json.Unmarshal(env.Event, &ev) != nil {
			continue
		}
		switch ev.str("e") {
		case "serverShutdown":
			return endShutdown
		case "eventStreamTerminated":
			return endTerminated
		}
		for _, out := range c.toUserEvents(ev) {
			select {
			case ch <- out:
			case <-ctx.Done():
				return endBroken
			}
		}
	}
}

// BalanceChange is a spot balance change the user stream reports as a
// delta: Kind "balanceUpdate" (deposit, withdrawal, transfer between
// wallets) or "externalLockUpdate" (locked or unlocked by another system,
// e.g. as margin collateral). Free and locked amounts come separately in
// outboundAccountPosition events (EventBalance).
type BalanceChange struct {
	Kind  string
	Asset string
	Delta venue.Decimal
	Time  time.Time // when it cleared ("T")
}

func (c *Client) toUserEvents(ev eventFields) []venue.UserEvent {
	at := time.UnixMilli(ev.int64("E")).UTC()
	switch ev.str("e") {
	case "executionReport":
		cid := ev.str("c")
		if orig := ev.str("C"); ev.str("x") == "CANCELED" && orig != "" {
			cid = orig
		}
		o := &venue.Order{ClientOrderID: cid, VenueOrderID: strconv.FormatInt(ev.int64("i"), 10), Symbol: ev.str("s"),
			Side: side(ev.str("S")), Type: orderType(ev.str("o")), Price: ev.dec("p"), Quantity: ev.dec("q"),
			ExecutedQty: ev.dec("z"), QuoteQty: ev.dec("Z"), Status: status(ev.str("X")),
			Created: time.UnixMilli(ev.int64("O")).UTC(), Updated: time.UnixMilli(ev.int64("T")).UTC()}
		c.ids.put(o.Symbol, o.VenueOrderID, cid)
		c.fills.executed(o.Symbol, o.VenueOrderID, o.ExecutedQty)
		out := []venue.UserEvent{{Kind: venue.EventOrder, Order: o, Time: at}}
		if ev.str("x") == "TRADE" {
			t := &venue.Trade{ID: strconv.FormatInt(ev.int64("t"), 10), VenueOrderID: o.VenueOrderID, ClientOrderID: cid,
				Symbol: o.Symbol, Side: o.Side, Price: ev.dec("L"), Quantity: ev.dec("l"), QuoteQty: ev.dec("Y"),
				Fee: ev.dec("n"), FeeAsset: ev.str("N"), Maker: ev.bool("m"), Time: time.UnixMilli(ev.int64("T")).UTC()}
			c.fills.add(o.Symbol, o.VenueOrderID, *t)
			out = append(out, venue.UserEvent{Kind: venue.EventTrade, Trade: t, Time: at})
		}
		return out
	case "outboundAccountPosition":
		var rows []eventFields
		_ = json.Unmarshal(ev["B"], &rows)
		var out []venue.UserEvent
		for _, b := range rows {
			out = append(out, venue.UserEvent{Kind: venue.EventBalance, Time: at, Balance: &venue.Balance{
				Wallet: venue.WalletSpot, Asset: b.str("a"), Free: b.dec("f"), Locked: b.dec("l")}})
		}
		return out
	case "balanceUpdate", "externalLockUpdate":
		if f := c.cfg.OnBalanceChange; f != nil {
			f(BalanceChange{Kind: ev.str("e"), Asset: ev.str("a"), Delta: ev.dec("d"), Time: time.UnixMilli(ev.int64("T")).UTC()})
		}
	}
	return nil
}
