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

	"github.com/tradeplane/tradeplane/internal/venue"
)

// dialTimeout bounds one websocket dial and subscription handshake.
const dialTimeout = 10 * time.Second

// backoff sleeps between reconnects, doubling from ReconnectMin to
// ReconnectMax; it reports false when ctx ends.
func (c *Client) backoff(ctx context.Context, attempt int) bool {
	d := c.cfg.ReconnectMin << min(attempt, 16)
	if d > c.cfg.ReconnectMax || d <= 0 {
		d = c.cfg.ReconnectMax
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.cfg.Clock.After(d):
		return true
	}
}

// SubscribePrices streams ticks: bookTicker for the given symbols, or
// !miniTicker@arr for all symbols when none are given. The first connection is
// made before it returns; later drops reconnect with backoff.
func (c *Client) SubscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	u := c.cfg.WSBaseURL + "/ws/!miniTicker@arr"
	if len(symbols) > 0 {
		names := make([]string, len(symbols))
		for i, s := range symbols {
			names[i] = strings.ToLower(s) + "@bookTicker"
		}
		u = c.cfg.WSBaseURL + "/stream?streams=" + strings.Join(names, "/")
	}
	dial := func() (*websocket.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		conn, _, err := websocket.Dial(dctx, u, nil)
		if err != nil {
			return nil, &venue.Error{Class: venue.ClassUnavailable, Message: err.Error(), Op: "subscribe prices"}
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

type miniTicker struct {
	E int64  `json:"E"`
	S string `json:"s"`
	C string `json:"c"`
}

type bookTicker struct {
	S string `json:"s"`
	B string `json:"b"`
	A string `json:"a"`
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
		var ticks []venue.PriceTick
		if len(b) > 0 && b[0] == '[' {
			var arr []miniTicker
			if json.Unmarshal(b, &arr) != nil {
				continue
			}
			for _, m := range arr {
				ticks = append(ticks, venue.PriceTick{Symbol: m.S, Price: parseDec(m.C), Time: time.UnixMilli(m.E).UTC()})
			}
		} else {
			var bt bookTicker
			if json.Unmarshal(b, &bt) != nil || bt.S == "" {
				continue
			}
			bid, ask := parseDec(bt.B), parseDec(bt.A)
			mid, _ := bid.Add(ask).Div64(2)
			ticks = append(ticks, venue.PriceTick{Symbol: bt.S, Price: mid, Bid: bid, Ask: ask, Time: c.cfg.Clock.Now()})
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
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, c.cfg.WSAPIURL, nil)
	if err != nil {
		return nil, &venue.Error{Class: venue.ClassUnavailable, Message: err.Error(), Op: op}
	}
	conn.SetReadLimit(1 << 22)
	ts := c.lim.serverNow().UnixMilli()
	payload := "apiKey=" + c.cfg.APIKey + "&timestamp=" + strconv.FormatInt(ts, 10)
	id := fmt.Sprintf("sub-%d", wsRequestID.Add(1))
	req, _ := json.Marshal(map[string]any{"id": id, "method": "userDataStream.subscribe.signature",
		"params": map[string]any{"apiKey": c.cfg.APIKey, "timestamp": ts, "signature": sign(c.cfg.APISecret, payload)}})
	if err := conn.Write(dctx, websocket.MessageText, req); err != nil {
		_ = conn.CloseNow()
		return nil, &venue.Error{Class: venue.ClassUnavailable, Message: err.Error(), Op: op}
	}
	for {
		_, b, err := conn.Read(dctx)
		if err != nil {
			_ = conn.CloseNow()
			return nil, &venue.Error{Class: venue.ClassUnavailable, Message: err.Error(), Op: op}
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
			c.readUser(ctx, conn, ch)
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
			select {
			case ch <- venue.UserEvent{Kind: venue.EventReconnected, Time: c.cfg.Clock.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

type userEvent struct {
	Type string `json:"e"`
	Time int64  `json:"E"`
	// executionReport
	Symbol     string  `json:"s"`
	ClientID   string  `json:"c"`
	OrigClient string  `json:"C"`
	Side       string  `json:"S"`
	OrderType  string  `json:"o"`
	Qty        string  `json:"q"`
	Price      string  `json:"p"`
	ExecType   string  `json:"x"`
	Status     string  `json:"X"`
	OrderID    int64   `json:"i"`
	LastQty    string  `json:"l"`
	CumQty     string  `json:"z"`
	LastPrice  string  `json:"L"`
	Fee        string  `json:"n"`
	FeeAsset   *string `json:"N"`
	TxTime     int64   `json:"T"`
	TradeID    int64   `json:"t"`
	Maker      bool    `json:"m"`
	Created    int64   `json:"O"`
	CumQuote   string  `json:"Z"`
	LastQuote  string  `json:"Y"`
	// outboundAccountPosition
	Balances []struct {
		Asset  string `json:"a"`
		Free   string `json:"f"`
		Locked string `json:"l"`
	} `json:"B"`
}

func (c *Client) readUser(ctx context.Context, conn *websocket.Conn, ch chan<- venue.UserEvent) {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var env struct {
			Event json.RawMessage `json:"event"`
		}
		if json.Unmarshal(b, &env) != nil || len(env.Event) == 0 {
			continue
		}
		var ev userEvent
		if json.Unmarshal(env.Event, &ev) != nil {
			continue
		}
		for _, out := range c.toUserEvents(ev) {
			select {
			case ch <- out:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (c *Client) toUserEvents(ev userEvent) []venue.UserEvent {
	at := time.UnixMilli(ev.Time).UTC()
	switch ev.Type {
	case "executionReport":
		cid := ev.ClientID
		if ev.ExecType == "CANCELED" && ev.OrigClient != "" {
			cid = ev.OrigClient
		}
		o := &venue.Order{ClientOrderID: cid, VenueOrderID: strconv.FormatInt(ev.OrderID, 10), Symbol: ev.Symbol,
			Side: side(ev.Side), Type: orderType(ev.OrderType), Price: parseDec(ev.Price), Quantity: parseDec(ev.Qty),
			ExecutedQty: parseDec(ev.CumQty), QuoteQty: parseDec(ev.CumQuote), Status: status(ev.Status),
			Created: time.UnixMilli(ev.Created).UTC(), Updated: time.UnixMilli(ev.TxTime).UTC()}
		c.ids.put(o.Symbol, o.VenueOrderID, cid)
		out := []venue.UserEvent{{Kind: venue.EventOrder, Order: o, Time: at}}
		if ev.ExecType == "TRADE" {
			t := &venue.Trade{ID: strconv.FormatInt(ev.TradeID, 10), VenueOrderID: o.VenueOrderID, ClientOrderID: cid,
				Symbol: ev.Symbol, Side: o.Side, Price: parseDec(ev.LastPrice), Quantity: parseDec(ev.LastQty),
				QuoteQty: parseDec(ev.LastQuote), Fee: parseDec(ev.Fee), Maker: ev.Maker, Time: time.UnixMilli(ev.TxTime).UTC()}
			if ev.FeeAsset != nil {
				t.FeeAsset = *ev.FeeAsset
			}
			out = append(out, venue.UserEvent{Kind: venue.EventTrade, Trade: t, Time: at})
		}
		return out
	case "outboundAccountPosition":
		var out []venue.UserEvent
		for _, b := range ev.Balances {
			out = append(out, venue.UserEvent{Kind: venue.EventBalance, Time: at, Balance: &venue.Balance{
				Wallet: venue.WalletSpot, Asset: b.Asset, Free: parseDec(b.Free), Locked: parseDec(b.Locked)}})
		}
		return out
	}
	return nil
}
