package bybit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/coder/websocket"
	bybitapi "github.com/hirokisan/bybit/v2"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// dialTimeout bounds one websocket dial and its auth/subscribe handshake.
const dialTimeout = 10 * time.Second

// pingEvery is how often a connection sends {"op":"ping"}; Bybit closes a
// connection that is silent for longer than it allows (the docs advise
// every 20 s).
const pingEvery = 20 * time.Second

// backoff sleeps between reconnects, doubling from ReconnectMin to
// ReconnectMax; it reports false when ctx ends.
func (c *Client) backoff(ctx context.Context, attempt int) bool {
	d := backoff.Policy{Initial: c.cfg.ReconnectMin, Max: c.cfg.ReconnectMax}.Delay(attempt)
	return clock.Sleep(ctx, c.cfg.Clock, d) == nil
}

// wsOp is a request on a Bybit v5 stream.
type wsOp struct {
	ReqID string `json:"req_id,omitempty"`
	Op    string `json:"op"`
	Args  []any  `json:"args,omitempty"`
}

// wsAnswer is Bybit's answer to an op.
type wsAnswer struct {
	Success bool   `json:"success"`
	RetMsg  string `json:"ret_msg"`
	Op      string `json:"op"`
}

func writeJSON(ctx context.Context, conn *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, b)
}

// await reads until the answer to op arrives and fails if it is not a
// success.
func await(ctx context.Context, conn *websocket.Conn, op string) error {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var a wsAnswer
		if json.Unmarshal(b, &a) == nil && a.Op == op {
			if !a.Success {
				return fmt.Errorf("%s refused: %s", op, a.RetMsg)
			}
			return nil
		}
	}
}

// pinger sends pings on conn until ctx ends; the caller cancels ctx when it
// stops reading conn.
func (c *Client) pinger(ctx context.Context, conn *websocket.Conn) {
	t := c.cfg.Clock.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			if writeJSON(ctx, conn, wsOp{Op: "ping"}) != nil {
				return
			}
		}
	}
}

// stream runs one subscription: dial (with handshake) now, then read,
// and on a drop reconnect with backoff, calling onReconnect after each
// reconnection; it returns once the first dial succeeded or failed.
func (c *Client) stream(ctx context.Context, op string, dial func(ctx context.Context) (*websocket.Conn, error),
	read func(ctx context.Context, conn *websocket.Conn), onReconnect func()) error {
	dialOnce := func() (*websocket.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		conn, err := dial(dctx)
		if err != nil {
			return nil, &venue.Error{Class: venue.ClassUnavailable, Message: err.Error(), Op: op}
		}
		return conn, nil
	}
	conn, err := dialOnce()
	if err != nil {
		return err
	}
	go func() {
		for attempt := 0; ; {
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); c.pinger(cctx, conn) }()
			read(cctx, conn)
			cancel()
			<-done
			_ = conn.CloseNow()
			for {
				if !c.backoff(ctx, attempt) {
					read(ctx, nil) // tells the reader to finish
					return
				}
				attempt++
				if conn, err = dialOnce(); err == nil {
					attempt = 0
					onReconnect()
					break
				}
			}
		}
	}()
	return nil
}

// publicTicker is the data of a spot tickers.{symbol} message.
type publicTicker struct {
	Topic string `json:"topic"`
	TS    int64  `json:"ts"`
	Data  struct {
		Symbol    string `json:"symbol"`
		LastPrice string `json:"lastPrice"`
	} `json:"data"`
}

// SubscribePrices streams last prices from the spot public stream's
// tickers.{symbol} topics; with no symbols it subscribes to every listed
// spot symbol (ten topics per subscribe request, Bybit's cap for spot).
func (c *Client) SubscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	if len(symbols) == 0 {
		syms, err := c.Symbols(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range syms {
			symbols = append(symbols, s.Name)
		}
	}
	dial := func(ctx context.Context) (*websocket.Conn, error) {
		u := c.cfg.PublicWSURL
		if c.cat == bybitapi.CategoryV5Linear {
			u = c.cfg.LinearWSURL
		}
		conn, _, err := websocket.Dial(ctx, u, nil)
		if err != nil {
			return nil, err
		}
		conn.SetReadLimit(1 << 22)
		for i := 0; i < len(symbols); i += 10 {
			var args []any
			for _, s := range symbols[i:min(i+10, len(symbols))] {
				args = append(args, "tickers."+s)
			}
			if err := writeJSON(ctx, conn, wsOp{Op: "subscribe", Args: args}); err != nil {
				conn.CloseNow()
				return nil, err
			}
			if err := await(ctx, conn, "subscribe"); err != nil {
				conn.CloseNow()
				return nil, err
			}
		}
		return conn, nil
	}
	ch := make(chan venue.PriceTick, 256)
	read := func(ctx context.Context, conn *websocket.Conn) {
		if conn == nil {
			close(ch)
			return
		}
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var m publicTicker
			if json.Unmarshal(b, &m) != nil || m.Data.Symbol == "" || m.Data.LastPrice == "" {
				continue
			}
			tk := venue.PriceTick{Symbol: m.Data.Symbol, Price: parseDec(m.Data.LastPrice), Time: time.UnixMilli(m.TS).UTC()}
			select {
			case ch <- tk:
			default: // a slow reader loses ticks, never blocks the stream
			}
		}
	}
	if err := c.stream(ctx, "subscribe prices", dial, read, func() {}); err != nil {
		return nil, err
	}
	return ch, nil
}

// privateOrder is one element of an order topic message.
type privateOrder struct {
	Category     string `json:"category"`
	Symbol       string `json:"symbol"`
	OrderID      string `json:"orderId"`
	OrderLinkID  string `json:"orderLinkId"`
	Side         string `json:"side"`
	OrderType    string `json:"orderType"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	OrderStatus  string `json:"orderStatus"`
	CumExecQty   string `json:"cumExecQty"`
	CumExecValue string `json:"cumExecValue"`
	CreatedTime  string `json:"createdTime"`
	UpdatedTime  string `json:"updatedTime"`
}

// privateExecution is one element of an execution topic message.
type privateExecution struct {
	Category    string `json:"category"`
	Symbol      string `json:"symbol"`
	ExecID      string `json:"execId"`
	ExecPrice   string `json:"execPrice"`
	ExecQty     string `json:"execQty"`
	ExecValue   string `json:"execValue"`
	ExecFee     string `json:"execFee"`
	FeeCurrency string `json:"feeCurrency"`
	ExecType    string `json:"execType"`
	IsMaker     bool   `json:"isMaker"`
	OrderID     string `json:"orderId"`
	OrderLinkID string `json:"orderLinkId"`
	Side        string `json:"side"`
	ExecTime    string `json:"execTime"`
}

// SubscribeUser streams the order and execution topics of the private
// stream (authenticated with an expiring signature of "GET/realtime"),
// the messages of the client's category (spot, or linear for a Linear),
// fills only (not funding or delivery executions), and the wallet topic's
// unified account coins as balance events, each as Balances reports it
// (none for a spot client whose Config.UnifiedElsewhere is true). The
// position topic is not read: the port has no position event, and
// positions are read with Positions. A reconnection sends venue.EventReconnected first: events in between may
// be lost.
func (c *Client) SubscribeUser(ctx context.Context) (<-chan venue.UserEvent, error) {
	if !c.synced.Load() {
		if err := c.SyncTime(ctx); err != nil {
			return nil, err
		}
	}
	dial := func(ctx context.Context) (*websocket.Conn, error) {
		conn, _, err := websocket.Dial(ctx, c.cfg.PrivateWSURL, nil)
		if err != nil {
			return nil, err
		}
		conn.SetReadLimit(1 << 22)
		expires := c.lim.serverNow().Add(10 * time.Second).UnixMilli()
		sig := sign(c.cfg.APISecret, "GET/realtime"+strconv.FormatInt(expires, 10))
		if err := writeJSON(ctx, conn, wsOp{Op: "auth", Args: []any{c.cfg.APIKey, expires, sig}}); err != nil {
			conn.CloseNow()
			return nil, err
		}
		if err := await(ctx, conn, "auth"); err != nil {
			conn.CloseNow()
			return nil, err
		}
		if err := writeJSON(ctx, conn, wsOp{Op: "subscribe", Args: []any{"order", "execution", "wallet"}}); err != nil {
			conn.CloseNow()
			return nil, err
		}
		if err := await(ctx, conn, "subscribe"); err != nil {
			conn.CloseNow()
			return nil, err
		}
		return conn, nil
	}
	ch := make(chan venue.UserEvent, 1024)
	send := func(ctx context.Context, ev venue.UserEvent) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	read := func(ctx context.Context, conn *websocket.Conn) {
		if conn == nil {
			close(ch)
			return
		}
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var env struct {
				Topic        string          `json:"topic"`
				CreationTime int64           `json:"creationTime"`
				Data         json.RawMessage `json:"data"`
			}
			if json.Unmarshal(b, &env) != nil {
				continue
			}
			at := time.UnixMilli(env.CreationTime).UTC()
			switch env.Topic {
			case "order":
				var os []privateOrder
				if json.Unmarshal(env.Data, &os) != nil {
					continue
				}
				for _, o := range os {
					if o.Category != string(c.cat) {
						continue
					}
					c.ids.put(o.Symbol, o.OrderID, o.OrderLinkID)
					vo := fromOrder(bybitOrder(o))
					if !send(ctx, venue.UserEvent{Kind: venue.EventOrder, Order: &vo, Time: at}) {
						return
					}
				}
			case "wallet":
				var ws []struct {
					AccountType string       `json:"accountType"`
					Coin        []walletCoin `json:"coin"`
				}
				if json.Unmarshal(env.Data, &ws) != nil || c.unifiedElsewhere() {
					continue
				}
				for _, w := range ws {
					for _, co := range w.Coin {
						if w.AccountType != "" && w.AccountType != "UNIFIED" {
							continue
						}
						b := c.unifiedBalance(co)
						if !send(ctx, venue.UserEvent{Kind: venue.EventBalance, Balance: &b, Time: at}) {
							return
						}
					}
				}
			case "execution":
				var es []privateExecution
				if json.Unmarshal(env.Data, &es) != nil {
					continue
				}
				for _, e := range es {
					if e.Category != string(c.cat) || !isFill(bybitapi.ExecTypeV5(e.ExecType)) {
						continue
					}
					tr := c.fromExec(bybitExec(e))
					if !send(ctx, venue.UserEvent{Kind: venue.EventTrade, Trade: &tr, Time: at}) {
						return
					}
				}
			}
		}
	}
	reconnected := func() {
		select {
		case ch <- venue.UserEvent{Kind: venue.EventReconnected, Time: c.lim.serverNow().UTC()}:
		case <-ctx.Done():
		}
	}
	if err := c.stream(ctx, "subscribe user", dial, read, reconnected); err != nil {
		return nil, err
	}
	return ch, nil
}

// bybitOrder and bybitExec carry a stream message into the REST types so
// that one mapping serves both.
func bybitOrder(o privateOrder) bybitapi.V5GetOrder {
	return bybitapi.V5GetOrder{Symbol: bybitapi.SymbolV5(o.Symbol), OrderType: bybitapi.OrderType(o.OrderType),
		OrderLinkID: o.OrderLinkID, OrderID: o.OrderID, OrderStatus: bybitapi.OrderStatus(o.OrderStatus),
		CumExecValue: o.CumExecValue, Price: o.Price, CreatedTime: o.CreatedTime, UpdatedTime: o.UpdatedTime,
		Side: bybitapi.Side(o.Side), CumExecQty: o.CumExecQty, Qty: o.Qty}
}

func bybitExec(e privateExecution) bybitapi.V5GetExecutionListItem {
	return bybitapi.V5GetExecutionListItem{Symbol: bybitapi.SymbolV5(e.Symbol), OrderID: e.OrderID, OrderLinkID: e.OrderLinkID,
		Side: bybitapi.Side(e.Side), ExecFee: e.ExecFee, ExecID: e.ExecID, ExecPrice: e.ExecPrice, ExecQty: e.ExecQty,
		ExecValue: e.ExecValue, ExecTime: e.ExecTime, FeeCurrency: bybitapi.Coin(e.FeeCurrency), IsMaker: e.IsMaker}
}
