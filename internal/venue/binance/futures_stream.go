package binance

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// SubscribePrices streams futures ticks from the futures stream host
// (bookTicker per symbol, !miniTicker@arr for all), like the spot Client.
func (f *Futures) SubscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	return f.c.subscribePricesAt(ctx, f.opt.WSBaseURL, symbols)
}

// listenKey opens (or extends: Binance answers the active key) the futures
// user data stream (POST /fapi/v1/listenKey).
func (f *Futures) listenKey(ctx context.Context) (string, error) {
	var key string
	err := f.c.call(ctx, "start futures user stream", false, func(ctx context.Context) (err error) {
		key, err = f.c.futures.NewStartUserStreamService().Do(ctx)
		return err
	})
	return key, err
}

// dialUser opens a listenKey and connects to <WSBaseURL>/ws/<listenKey>.
func (f *Futures) dialUser(ctx context.Context) (*websocket.Conn, string, error) {
	const op = "subscribe futures user stream"
	key, err := f.listenKey(ctx)
	if err != nil {
		return nil, "", err
	}
	if _, err := f.c.wsLim.acquire(ctx, cost{weight: 1}); err != nil {
		return nil, "", classify(op, false, err)
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, f.opt.WSBaseURL+"/ws/"+key, nil)
	if err != nil {
		return nil, "", &venue.Error{Class: venue.ClassUnavailable, Message: Redact(err.Error()), Op: op}
	}
	conn.SetReadLimit(1 << 22)
	return conn, key, nil
}

// SubscribeUser streams the futures account's order updates, fills and
// wallet balances from the listenKey user data stream (ORDER_TRADE_UPDATE,
// ACCOUNT_UPDATE), extending the key every ListenKeyKeepalive. A dropped
// connection or an expired key (listenKeyExpired) reconnects with backoff
// and sends EventReconnected.
func (f *Futures) SubscribeUser(ctx context.Context) (<-chan venue.UserEvent, error) {
	conn, _, err := f.dialUser(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan venue.UserEvent, 256)
	go func() {
		defer close(ch)
		kctx, stopKeepalive := context.WithCancel(ctx)
		go f.keepalive(kctx)
		defer stopKeepalive()
		for attempt := 0; ; {
			f.readUser(ctx, conn, ch)
			_ = conn.CloseNow()
			for {
				if !f.c.backoff(ctx, attempt) {
					return
				}
				attempt++
				if conn, _, err = f.dialUser(ctx); err == nil {
					attempt = 0
					break
				}
			}
			if !f.c.reconnected(ctx, ch) {
				_ = conn.CloseNow()
				return
			}
		}
	}()
	return ch, nil
}

// keepalive extends the listenKey (PUT /fapi/v1/listenKey) until ctx ends;
// a failed extension is left to the reconnect that an expiry causes.
func (f *Futures) keepalive(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.c.cfg.Clock.After(f.opt.ListenKeyKeepalive):
		}
		_ = f.c.call(ctx, "keep futures user stream alive", false, func(ctx context.Context) error {
			return f.c.futures.NewKeepaliveUserStreamService().Do(ctx)
		})
	}
}

// readUser reads events until the connection breaks, ctx ends or the
// listenKey expires.
func (f *Futures) readUser(ctx context.Context, conn *websocket.Conn, ch chan<- venue.UserEvent) {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var ev eventFields
		if json.Unmarshal(b, &ev) != nil {
			continue
		}
		if ev.str("e") == "listenKeyExpired" {
			return
		}
		for _, out := range f.toUserEvents(ev) {
			select {
			case ch <- out:
			case <-ctx.Done():
				return
			}
		}
	}
}

// toUserEvents maps one futures user data event. Both events carry keys
// that differ only in case ("T" transaction time and "t" trade id, "L" last
// price and "l" last quantity, "N" and "n", "X" status and "x" execution
// type, "S" side and "s" symbol, "ap" average price and "AP" activation
// price, "o" the order object and its "o" order type), so every field is
// read by exact key (eventFields), never through a struct.
func (f *Futures) toUserEvents(ev eventFields) []venue.UserEvent {
	at := time.UnixMilli(ev.int64("E")).UTC()
	switch ev.str("e") {
	case "ORDER_TRADE_UPDATE":
		var o eventFields
		if json.Unmarshal(ev["o"], &o) != nil {
			return nil
		}
		cid := o.str("c")
		vid := strconv.FormatInt(o.int64("i"), 10)
		executed := o.dec("z")
		avg := o.dec("ap")
		order := &venue.Order{ClientOrderID: cid, VenueOrderID: vid, Symbol: o.str("s"), Side: side(o.str("S")),
			Type: orderType(o.str("o")), Price: o.dec("p"), Quantity: o.dec("q"), ExecutedQty: executed,
			QuoteQty: avg.Mul(executed), Status: status(o.str("X")), Updated: time.UnixMilli(o.int64("T")).UTC()}
		f.ids.put(order.Symbol, vid, cid)
		f.fills.executed(order.Symbol, vid, executed)
		out := []venue.UserEvent{{Kind: venue.EventOrder, Order: order, Time: at}}
		if o.str("x") == "TRADE" {
			price, qty := o.dec("L"), o.dec("l")
			// "n" is the commission of this fill, positive as charged on
			// the USDⓈ-M stream (the portfolio-margin page's "negative
			// means fee charge" is not this stream's convention).
			fee := o.dec("n")
			if fee.IsNeg() {
				fee = fee.Neg()
			}
			t := &venue.Trade{ID: strconv.FormatInt(o.int64("t"), 10), VenueOrderID: vid, ClientOrderID: cid, Symbol: order.Symbol,
				Side: order.Side, Price: price, Quantity: qty, QuoteQty: price.Mul(qty), Fee: fee, FeeAsset: o.str("N"),
				Maker: o.bool("m"), Time: time.UnixMilli(o.int64("T")).UTC(), Liquidation: isLiquidationOrder(cid)}
			f.fills.add(order.Symbol, vid, *t)
			out = append(out, venue.UserEvent{Kind: venue.EventTrade, Trade: t, Time: at})
		}
		return out
	case "ACCOUNT_UPDATE":
		var a eventFields
		if json.Unmarshal(ev["a"], &a) != nil {
			return nil
		}
		var rows []eventFields
		_ = json.Unmarshal(a["B"], &rows)
		var out []venue.UserEvent
		for _, b := range rows {
			// "wb" is the wallet balance; margin in use is not in the
			// event, so the balance is reported whole as Free and a
			// resync (Balances) splits it.
			out = append(out, venue.UserEvent{Kind: venue.EventBalance, Time: at, Balance: &venue.Balance{
				Wallet: venue.WalletFutures, Asset: b.str("a"), Free: b.dec("wb")}})
		}
		return out
	}
	return nil
}

// isLiquidationOrder tells a client order id Binance gives the orders it
// makes to close a position: "starts with \"autoclose-\": liquidation
// order", "\"adl_autoclose\": ADL auto close order" (ORDER_TRADE_UPDATE,
// developers.binance.com). "settlement_autoclose-" (delisting or delivery)
// is a settlement, not a liquidation.
func isLiquidationOrder(clientOrderID string) bool {
	return strings.HasPrefix(clientOrderID, "autoclose-") || strings.HasPrefix(clientOrderID, "adl_autoclose")
}
