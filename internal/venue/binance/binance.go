// Package binance implements the venue port for Binance spot through
// github.com/adshao/go-binance/v2, adding what the library leaves out: a
// weight-aware limiter that budgets every request, honours 429 Retry-After and
// stops on a 418 ban, server-time sync, the error taxonomy of package venue,
// balances across wallets, windowed trade history, and the market and user
// data streams (the latter through the WebSocket API subscription).
//
// It owns Binance's wire format and limits; it does not retry writes or
// reconcile unknown outcomes, which is the journal's job.
package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/adshao/go-binance/v2/common"
	"github.com/adshao/go-binance/v2/futures"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Config configures a Client. Only APIKey and APISecret are required.
type Config struct {
	APIKey    string
	APISecret string // never logged nor put in errors
	// BaseURL is spot REST (default https://api.binance.com); it also serves
	// the /sapi wallet endpoints.
	BaseURL string
	// FuturesBaseURL is USDⓈ-M futures REST (default https://fapi.binance.com).
	FuturesBaseURL string
	// WSBaseURL is the market stream host (default wss://stream.binance.com:9443).
	WSBaseURL string
	// WSAPIURL is the WebSocket API (default wss://ws-api.binance.com:443/ws-api/v3).
	WSAPIURL string
	Clock    clock.Clock // default the wall clock, or Budget's
	// Budget is the request-weight budget of BaseURL's host, shared with
	// every other Client of this process on that host: Binance counts
	// REQUEST_WEIGHT, 429 back-offs and 418 bans per IP (ORDERS per
	// account, so those stay with each Client). Nil gives the Client a
	// budget of its own from WeightLimit and WeightWindow, right only when
	// it is alone on the host. With a Budget, WeightLimit and WeightWindow
	// must be left zero (they are the Budget's) and Clock must be the
	// Budget's.
	Budget *Budget
	// FuturesBudget is the USDⓈ-M futures (/fapi) request-weight budget of
	// FuturesBaseURL's host, shared like Budget (see Budgets.ForFutures);
	// nil gives the Client one of its own, 2,400 per minute.
	FuturesBudget *Budget
	// SapiBudget is the /sapi weight budget of BaseURL's host (12,000 per
	// minute per IP, apart from Budget), shared like Budget (see
	// Budgets.ForSapi); nil gives the Client one of its own.
	SapiBudget *Budget
	// WSBudget and WSAPIBudget are the connection-attempt budgets (300 per
	// 5 minutes per IP) of WSBaseURL's and WSAPIURL's hosts, shared like
	// Budget (see Budgets.ForWS, Budgets.ForWSAPI); nil gives the Client
	// its own.
	WSBudget, WSAPIBudget *Budget
	// WeightLimit is the spot request weight per WeightWindow (6000 per minute)
	// of a Client without a Budget; see BudgetConfig.WeightLimit.
	WeightLimit  int
	WeightWindow time.Duration
	// OrderLimit10s and OrderLimitDay pace new orders (50 per 10 s, 160,000
	// per day); like WeightLimit, left zero they follow exchangeInfo.
	OrderLimit10s int
	OrderLimitDay int
	// OnBan is called once per pause of a host, so the caller can raise an
	// alert: an IP ban (HTTP 418, Cause PauseBanned) or a WAF block (HTTP
	// 403, Cause PauseWAF, which pauses the host 5 minutes unless
	// Retry-After says otherwise), with when it ends. It must not block.
	OnBan func(Pause)
	// HTTPTimeout bounds each REST request on the wire (default 10 s). A
	// wait for rate budget (a spent window, a 429's Retry-After) comes before
	// it and is bounded only by the caller's context.
	HTTPTimeout time.Duration
	// Transport is the base HTTP transport (default a clone of http.DefaultTransport).
	Transport http.RoundTripper
	// ReconnectMin and ReconnectMax bound the stream reconnect backoff
	// (default 500 ms and 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// RecvWindow is how long after its timestamp Binance still accepts a
	// signed request (the recvWindow parameter, default 5 s, at most 60 s).
	// Every order placement and cancellation carries it, so an order that
	// reaches Binance later than that is refused (-1021) instead of
	// executed late; RecvWindow() tells the journal how long a sent order
	// can still arrive.
	RecvWindow time.Duration
	// FuturesWalletElsewhere, when set and true at the time of a Balances
	// call, leaves the USDⓈ-M futures wallet out of Balances: a
	// binance-futures account of the same key reports it, and a desk must
	// count it once.
	FuturesWalletElsewhere func() bool
	// SyncTimeFromFutures measures the clock offset from the futures host
	// (/fapi/v1/time) instead of the spot host (/api/v3/time): for a
	// futures-only account, whose base URL (Binance's futures testnet, say)
	// may serve no spot endpoint.
	SyncTimeFromFutures bool
	// OnBalanceChange is called from the user stream's goroutine with each
	// balanceUpdate (deposit, withdrawal, transfer) and externalLockUpdate
	// event. It must not block.
	OnBalanceChange func(BalanceChange)
}

// defaultBaseURL and defaultFuturesBaseURL are Binance's spot and USDⓈ-M
// futures REST hosts.
const (
	defaultBaseURL        = "https://api.binance.com"
	defaultFuturesBaseURL = "https://fapi.binance.com"
	defaultWSBaseURL      = "wss://stream.binance.com:9443"
	defaultWSAPIURL       = "wss://ws-api.binance.com:443/ws-api/v3"
)

// defaultRecvWindow and maxRecvWindow are Binance's default recvWindow and
// the largest it accepts (-1131 above).
const (
	defaultRecvWindow = 5 * time.Second
	maxRecvWindow     = 60 * time.Second
)

// Client is one Binance account. It is safe for concurrent use.
type Client struct {
	cfg      Config
	lim      *limiter
	futLim   *limiter // USDⓈ-M futures requests
	sapiLim  *limiter // /sapi requests
	wsLim    *limiter // market stream connection attempts
	wsAPILim *limiter // WebSocket API connection attempts
	http     *http.Client
	spot     *gobinance.Client
	futures  *futures.Client
	ids      *idCache
	fills    *fillBook   // fills seen outside myTrades, and executed quantities
	rules    rulesCache  // exchangeInfo's rules of every symbol
	avg      avgPrices   // average prices for market orders' NOTIONAL check
	synced   atomic.Bool // the clock offset was measured at least once
}

var _ venue.Venue = (*Client)(nil)

// New returns a client without contacting Binance: the clock offset is
// measured before the first request (or by calling SyncTime) and again after
// every -1021.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return nil, fmt.Errorf("new binance client: api key and secret are required")
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
		*s = strings.TrimRight(*s, "/")
	}
	def(&cfg.BaseURL, defaultBaseURL)
	def(&cfg.FuturesBaseURL, defaultFuturesBaseURL)
	def(&cfg.WSBaseURL, defaultWSBaseURL)
	def(&cfg.WSAPIURL, defaultWSAPIURL)
	for _, u := range []string{cfg.BaseURL, cfg.FuturesBaseURL, cfg.WSBaseURL, cfg.WSAPIURL} {
		if _, err := url.Parse(u); err != nil {
			return nil, fmt.Errorf("new binance client: url %q: %w", u, err)
		}
	}
	budget := cfg.Budget
	if budget == nil {
		budget = NewBudget(BudgetConfig{WeightLimit: cfg.WeightLimit, WeightWindow: cfg.WeightWindow, Clock: cfg.Clock})
	} else {
		if cfg.WeightLimit != 0 || cfg.WeightWindow != 0 {
			return nil, fmt.Errorf("new binance client: WeightLimit and WeightWindow belong to the shared Budget; leave them zero")
		}
		if cfg.Clock != nil && cfg.Clock != budget.clk {
			return nil, fmt.Errorf("new binance client: Clock differs from the shared Budget's clock")
		}
		if budget.host != "" {
			if key, err := hostKey(cfg.BaseURL); err != nil || key != budget.host {
				return nil, fmt.Errorf("new binance client: the shared Budget is %s's, not %s's", budget.host, cfg.BaseURL)
			}
		}
	}
	cfg.Clock = budget.clk
	cfg.Budget = budget
	futBudget := cfg.FuturesBudget
	if futBudget == nil {
		futBudget = newFuturesBudget(cfg.Clock)
	} else {
		if futBudget.clk != cfg.Clock {
			return nil, fmt.Errorf("new binance client: the futures Budget's clock differs from the client's")
		}
		if futBudget.host != "" {
			if key, err := hostKey(cfg.FuturesBaseURL); err != nil || futuresKeyPrefix+key != futBudget.host {
				return nil, fmt.Errorf("new binance client: the shared futures Budget is %s's, not %s's", futBudget.host, cfg.FuturesBaseURL)
			}
		}
	}
	cfg.FuturesBudget = futBudget
	// The /sapi and WebSocket budgets: shared ones must be their host's and
	// on the client's clock.
	shared := func(b **Budget, name, prefix, u string, mk func(clock.Clock) *Budget) error {
		if *b == nil {
			*b = mk(cfg.Clock)
			return nil
		}
		if (*b).clk != cfg.Clock {
			return fmt.Errorf("new binance client: the %s Budget's clock differs from the client's", name)
		}
		if (*b).host != "" {
			if key, err := hostKey(u); err != nil || prefix+key != (*b).host {
				return fmt.Errorf("new binance client: the shared %s Budget is %s's, not %s's", name, (*b).host, u)
			}
		}
		return nil
	}
	if err := shared(&cfg.SapiBudget, "/sapi", sapiKeyPrefix, cfg.BaseURL, newSapiBudget); err != nil {
		return nil, err
	}
	if err := shared(&cfg.WSBudget, "WebSocket streams", wsKeyPrefix, cfg.WSBaseURL, newWSBudget); err != nil {
		return nil, err
	}
	if err := shared(&cfg.WSAPIBudget, "WebSocket API", wsKeyPrefix, cfg.WSAPIURL, newWSBudget); err != nil {
		return nil, err
	}
	cfg.WeightLimit, cfg.WeightWindow = budget.weight.limit, budget.weight.window
	published10s, publishedDay := cfg.OrderLimit10s <= 0, cfg.OrderLimitDay <= 0
	if cfg.OrderLimit10s <= 0 {
		cfg.OrderLimit10s = 50
	}
	if cfg.OrderLimitDay <= 0 {
		cfg.OrderLimitDay = 160000
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 10 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = 500 * time.Millisecond
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 30 * time.Second
	}
	if cfg.RecvWindow == 0 {
		cfg.RecvWindow = defaultRecvWindow
	}
	if cfg.RecvWindow < time.Millisecond || cfg.RecvWindow > maxRecvWindow {
		return nil, fmt.Errorf("new binance client: RecvWindow %s: Binance accepts 1 ms to 60 s", cfg.RecvWindow)
	}
	lim := &limiter{
		b:                  budget,
		onBan:              cfg.OnBan,
		publishedOrders10s: published10s,
		publishedOrdersDay: publishedDay,
		orders10s:          bucket{limit: cfg.OrderLimit10s, window: 10 * time.Second},
		ordersDay:          bucket{limit: cfg.OrderLimitDay, window: 24 * time.Hour},
	}
	// USDⓈ-M futures count orders per account apart from spot: 300 per
	// 10 seconds and 1,200 per minute (ordersDay holds the minute here).
	futLim := &limiter{b: futBudget, onBan: cfg.OnBan,
		orders10s: bucket{limit: futuresOrderLimit10s, window: 10 * time.Second},
		ordersDay: bucket{limit: futuresOrderLimitMinute, window: time.Minute}}
	// /sapi and the WebSocket connections have IP budgets of their own,
	// shared per host like Budget when the caller passes them.
	sapiLim := &limiter{b: cfg.SapiBudget, onBan: cfg.OnBan}
	wsLim := &limiter{b: cfg.WSBudget}
	wsAPILim := &limiter{b: cfg.WSAPIBudget}
	hc := &http.Client{Transport: &transport{base: cfg.Transport, lim: lim, fut: futLim, sapi: sapiLim, secret: cfg.APISecret, timeout: cfg.HTTPTimeout},
		CheckRedirect: checkRedirect}
	spot := gobinance.NewClient(cfg.APIKey, cfg.APISecret)
	spot.BaseURL = cfg.BaseURL
	spot.HTTPClient = hc
	spot.Logger.SetOutput(io.Discard)
	fut := futures.NewClient(cfg.APIKey, cfg.APISecret)
	fut.BaseURL = cfg.FuturesBaseURL
	fut.HTTPClient = hc
	fut.Logger.SetOutput(io.Discard)
	return &Client{cfg: cfg, lim: lim, futLim: futLim, http: hc, spot: spot, futures: fut, ids: newIDCache(100000), fills: newFillBook(100000),
		sapiLim: sapiLim, wsLim: wsLim, wsAPILim: wsAPILim}, nil
}

// RecvWindow is the recvWindow every order placement and cancellation
// carries: Binance executes such a request only if it arrives within this
// long of its timestamp (its estimate of the server's time when it was
// sent), so once that much time has passed after a request was sent, plus
// the clock uncertainty, it can no longer execute.
func (c *Client) RecvWindow() time.Duration { return c.cfg.RecvWindow }

// WindowClosed returns when, on this process's clock, an order placement
// or cancellation whose call returned at returned can no longer be
// accepted by Binance: its timestamp was stamped before the call returned
// (after any wait for rate budget), Binance refuses it once the server's
// time is RecvWindow past that timestamp, and our estimate of the server's
// time is off by at most the last sync's uncertainty. Before this time a
// request whose answer was lost may still arrive and be accepted, so "not
// found" from QueryOrder is not yet final.
func (c *Client) WindowClosed(returned time.Time) time.Time {
	c.lim.b.mu.Lock()
	unc := c.lim.b.uncertainty
	c.lim.b.mu.Unlock()
	return returned.Add(c.cfg.RecvWindow + unc)
}

// recvWindowOpt is RecvWindow as go-binance's request option.
func (c *Client) recvWindowOpt() gobinance.RequestOption {
	return gobinance.WithRecvWindow(c.cfg.RecvWindow.Milliseconds())
}

// Name is "binance".
func (c *Client) Name() string { return "binance" }

// Stats returns the limiter's counters: this Client's requests, and the
// limits in force (the weight limit is the shared budget's).
func (c *Client) Stats() LimiterStats {
	c.lim.b.mu.Lock()
	defer c.lim.b.mu.Unlock()
	st := c.lim.stats
	st.UsedWeight = c.lim.b.usedWeight
	st.WeightLimit, st.OrderLimit10s, st.OrderLimitDay = c.lim.b.weight.limit, c.lim.orders10s.limit, c.lim.ordersDay.limit
	return st
}

// Budget returns the request-weight budget this Client spends.
func (c *Client) Budget() *Budget { return c.lim.b }

// FuturesStats is Stats for the USDⓈ-M futures (/fapi) requests.
func (c *Client) FuturesStats() LimiterStats {
	c.futLim.b.mu.Lock()
	defer c.futLim.b.mu.Unlock()
	st := c.futLim.stats
	st.UsedWeight = c.futLim.b.usedWeight
	st.WeightLimit = c.futLim.b.weight.limit
	return st
}

// FuturesBudget returns the USDⓈ-M futures request-weight budget this
// Client spends.
func (c *Client) FuturesBudget() *Budget { return c.futLim.b }

// SapiBudget returns the /sapi weight budget this Client spends.
func (c *Client) SapiBudget() *Budget { return c.sapiLim.b }

// WSBudgets returns the connection-attempt budgets this Client spends on
// the market stream host and on the WebSocket API host.
func (c *Client) WSBudgets() (streams, api *Budget) { return c.wsLim.b, c.wsAPILim.b }

// BannedUntil returns when the current ban of this IP on the host ends;
// zero when not banned.
func (c *Client) BannedUntil() time.Time { return c.lim.b.BannedUntil() }

// call runs one request and maps its error; a -1021 resyncs the clock offset
// before returning so that the caller may retry at once.
func (c *Client) call(ctx context.Context, op string, write bool, f func(ctx context.Context) error) error {
	if !c.synced.Load() {
		if err := c.SyncTime(ctx); err != nil {
			return classify(op, write, err)
		}
	}
	// No timeout here: the transport applies HTTPTimeout once the request
	// has its budget, so waiting for budget is bounded by ctx alone.
	err := f(ctx)
	if err == nil {
		return nil
	}
	ve := classify(op, write, err)
	if ve.Class == venue.ClassTimestamp {
		_ = c.SyncTime(ctx)
	}
	return ve
}

// SyncTime measures the offset between Binance's clock and ours from
// /api/v3/time; signed requests carry our time plus that offset.
func (c *Client) SyncTime(ctx context.Context) error {
	// The round trip is timed from when the request left, after any wait
	// for budget, which would otherwise skew the offset by half the wait.
	before := c.cfg.Clock.Now()
	var st int64
	var err error
	if c.cfg.SyncTimeFromFutures {
		st, err = c.futures.NewServerTimeService().Do(context.WithValue(ctx, sentAtKey{}, &before))
	} else {
		st, err = c.spot.NewServerTimeService().Do(context.WithValue(ctx, sentAtKey{}, &before))
	}
	if err != nil {
		return classify("sync time", false, err)
	}
	after := c.cfg.Clock.Now()
	mid := before.Add(after.Sub(before) / 2)
	off, unc := time.UnixMilli(st).Sub(mid), after.Sub(before)/2+time.Millisecond
	c.lim.setOffset(off, unc)
	// One exchange, one clock: the futures host's windows align to it too.
	c.futLim.setOffset(off, unc)
	c.synced.Store(true)
	return nil
}

func parseDec(s string) venue.Decimal {
	d, err := udecimal.Parse(s)
	if err != nil {
		return venue.Decimal{}
	}
	return d
}

func filterDec(f map[string]any, k string) venue.Decimal {
	s, _ := f[k].(string)
	return parseDec(s)
}

// Symbols lists spot markets with their PRICE_FILTER, LOT_SIZE and
// NOTIONAL/MIN_NOTIONAL filters.
func (c *Client) Symbols(ctx context.Context) ([]venue.Symbol, error) {
	var info *gobinance.ExchangeInfo
	err := c.call(ctx, "list symbols", false, func(ctx context.Context) (err error) {
		info, err = c.spot.NewExchangeInfoService().Do(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.lim.adoptLimits(info.RateLimits)
	c.rules.set(c.cfg.Clock.Now(), info.Symbols)
	out := make([]venue.Symbol, 0, len(info.Symbols))
	for _, s := range info.Symbols {
		sym := venue.Symbol{Name: s.Symbol, Base: s.BaseAsset, Quote: s.QuoteAsset}
		for _, f := range s.Filters {
			switch f["filterType"] {
			case "PRICE_FILTER":
				sym.TickSize = filterDec(f, "tickSize")
			case "LOT_SIZE":
				sym.StepSize, sym.MinQty, sym.MaxQty = filterDec(f, "stepSize"), filterDec(f, "minQty"), filterDec(f, "maxQty")
			case "NOTIONAL", "MIN_NOTIONAL":
				sym.MinNotional = filterDec(f, "minNotional")
			}
		}
		out = append(out, sym)
	}
	return out, nil
}

func invalid(op, msg string) error {
	return &venue.Error{Class: venue.ClassInvalid, Message: msg, Op: op}
}

func checkClientID(op, id string) error {
	if !venue.ClientOrderIDPattern.MatchString(id) {
		return invalid(op, fmt.Sprintf("client order id %q does not match %s", id, venue.ClientOrderIDPattern))
	}
	return nil
}

// PlaceOrder submits a spot order with newOrderRespType FULL. An unknown
// outcome (timeout, 5xx, -1007, connection reset) must be settled with
// QueryOrder.
func (c *Client) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	op := fmt.Sprintf("place order %q", req.ClientOrderID)
	if err := checkClientID(op, req.ClientOrderID); err != nil {
		return venue.Order{}, err
	}
	if req.Symbol == "" || !req.Side.Valid() {
		return venue.Order{}, invalid(op, "symbol and side buy|sell are required")
	}
	if req.Derivative() {
		return venue.Order{}, invalid(op, "reduce-only and position side are for derivatives; this is a spot account")
	}
	switch req.Type {
	case venue.Limit:
		if !req.Price.IsPos() || !req.Quantity.IsPos() || req.QuoteQuantity.IsPos() {
			return venue.Order{}, invalid(op, "limit order needs a positive price and quantity, and no quote quantity")
		}
	case venue.Market:
		if req.Quantity.IsPos() == req.QuoteQuantity.IsPos() || req.Quantity.IsNeg() || req.QuoteQuantity.IsNeg() {
			return venue.Order{}, invalid(op, "market order needs exactly one of quantity and quote quantity")
		}
	default:
		return venue.Order{}, invalid(op, fmt.Sprintf("order type %q", req.Type))
	}
	rules, err := c.rulesFor(ctx, op, req.Symbol)
	if err != nil {
		return venue.Order{}, err
	}
	var avg venue.Decimal
	if needsAvgPrice(rules, req) {
		if avg, err = c.avgPrice(ctx, op, req.Symbol); err != nil {
			return venue.Order{}, err
		}
	}
	sh, err := shape(op, rules, req, avg)
	if err != nil {
		return venue.Order{}, err
	}
	s := c.spot.NewCreateOrderService().Symbol(req.Symbol).NewClientOrderID(req.ClientOrderID).
		NewOrderRespType(gobinance.NewOrderRespTypeFULL)
	if req.Side == venue.Buy {
		s.Side(gobinance.SideTypeBuy)
	} else {
		s.Side(gobinance.SideTypeSell)
	}
	if req.Type == venue.Limit {
		tif := req.TimeInForce
		if tif == "" {
			tif = venue.GTC
		}
		s.Type(gobinance.OrderTypeLimit).Price(sh.price.String()).Quantity(sh.qty.String()).
			TimeInForce(gobinance.TimeInForceType(tif))
	} else {
		s.Type(gobinance.OrderTypeMarket)
		if sh.quote.IsPos() {
			s.QuoteOrderQty(sh.quote.String())
		} else {
			s.Quantity(sh.qty.String())
		}
	}
	var r *gobinance.CreateOrderResponse
	err = c.call(ctx, op, true, func(ctx context.Context) (err error) {
		r, err = s.Do(ctx, c.recvWindowOpt())
		return err
	})
	if err != nil {
		return venue.Order{}, err
	}
	t := time.UnixMilli(r.TransactTime).UTC()
	vid := strconv.FormatInt(r.OrderID, 10)
	c.ids.put(r.Symbol, vid, r.ClientOrderID)
	o := venue.Order{
		ClientOrderID: r.ClientOrderID, VenueOrderID: vid, Symbol: r.Symbol,
		Side: side(string(r.Side)), Type: orderType(string(r.Type)), Price: parseDec(r.Price), Quantity: parseDec(r.OrigQuantity),
		ExecutedQty: parseDec(r.ExecutedQuantity), QuoteQty: parseDec(r.CummulativeQuoteQuantity), Status: status(string(r.Status)),
		Created: t, Updated: t,
	}
	// The FULL response carries the fills made on placement (taker fills):
	// OrderTrades answers with them even while myTrades lags.
	fills := make([]venue.Trade, 0, len(r.Fills))
	for _, f := range r.Fills {
		price, qty := parseDec(f.Price), parseDec(f.Quantity)
		fills = append(fills, venue.Trade{ID: strconv.FormatInt(f.TradeID, 10), VenueOrderID: vid, ClientOrderID: o.ClientOrderID,
			Symbol: o.Symbol, Side: o.Side, Price: price, Quantity: qty, QuoteQty: price.Mul(qty), Fee: parseDec(f.Commission),
			FeeAsset: f.CommissionAsset, Time: t})
	}
	c.fills.add(o.Symbol, vid, fills...)
	c.fills.executed(o.Symbol, vid, o.ExecutedQty)
	return o, nil
}

func side(s string) venue.Side {
	if s == "SELL" {
		return venue.Sell
	}
	return venue.Buy
}

func orderType(s string) venue.OrderType {
	if s == "MARKET" {
		return venue.Market
	}
	return venue.Limit
}

func status(s string) venue.OrderStatus {
	switch s {
	case "PARTIALLY_FILLED":
		return venue.StatusPartiallyFilled
	case "FILLED":
		return venue.StatusFilled
	case "CANCELED":
		return venue.StatusCanceled
	case "REJECTED":
		return venue.StatusRejected
	case "EXPIRED", "EXPIRED_IN_MATCH":
		return venue.StatusExpired
	}
	return venue.StatusNew
}

func fromOrder(o *gobinance.Order) venue.Order {
	return venue.Order{
		ClientOrderID: o.ClientOrderID, VenueOrderID: strconv.FormatInt(o.OrderID, 10), Symbol: o.Symbol,
		Side: side(string(o.Side)), Type: orderType(string(o.Type)), Price: parseDec(o.Price), Quantity: parseDec(o.OrigQuantity),
		ExecutedQty: parseDec(o.ExecutedQuantity), QuoteQty: parseDec(o.CummulativeQuoteQuantity), Status: status(string(o.Status)),
		Created: time.UnixMilli(o.Time).UTC(), Updated: time.UnixMilli(o.UpdateTime).UTC(),
	}
}

// CancelOrder cancels by client order id (origClientOrderId).
func (c *Client) CancelOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	op := fmt.Sprintf("cancel order %q", clientOrderID)
	if err := checkClientID(op, clientOrderID); err != nil {
		return venue.Order{}, err
	}
	var r *gobinance.CancelOrderResponse
	err := c.call(ctx, op, true, func(ctx context.Context) (err error) {
		r, err = c.spot.NewCancelOrderService().Symbol(symbol).OrigClientOrderID(clientOrderID).Do(ctx, c.recvWindowOpt())
		return err
	})
	if err != nil {
		return venue.Order{}, err
	}
	t := time.UnixMilli(r.TransactTime).UTC()
	c.ids.put(r.Symbol, strconv.FormatInt(r.OrderID, 10), r.OrigClientOrderID)
	c.fills.executed(r.Symbol, strconv.FormatInt(r.OrderID, 10), parseDec(r.ExecutedQuantity))
	return venue.Order{
		ClientOrderID: r.OrigClientOrderID, VenueOrderID: strconv.FormatInt(r.OrderID, 10), Symbol: r.Symbol,
		Side: side(string(r.Side)), Type: orderType(string(r.Type)), Price: parseDec(r.Price), Quantity: parseDec(r.OrigQuantity),
		ExecutedQty: parseDec(r.ExecutedQuantity), QuoteQty: parseDec(r.CummulativeQuoteQuantity), Status: status(string(r.Status)),
		Updated: t,
	}, nil
}

// codeArchived is Binance's -2026, an archived order.
const codeArchived = -2026

// QueryOrder looks an order up by origClientOrderId. An archived order
// (-2026: canceled or expired with nothing executed, over 90 days ago)
// settles as canceled with nothing executed (and no venue order id, which
// Binance no longer reports).
func (c *Client) QueryOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	op := fmt.Sprintf("query order %q", clientOrderID)
	if err := checkClientID(op, clientOrderID); err != nil {
		return venue.Order{}, err
	}
	var o *gobinance.Order
	err := c.call(ctx, op, false, func(ctx context.Context) (err error) {
		o, err = c.spot.NewGetOrderService().Symbol(symbol).OrigClientOrderID(clientOrderID).Do(ctx)
		return err
	})
	if ve, ok := err.(*venue.Error); ok && ve.Code == codeArchived {
		// -2026: "Order was canceled or expired with no executed qty over
		// 90 days ago and has been archived." The outcome is known: it
		// ended without a fill, so its trade history is empty.
		return venue.Order{ClientOrderID: clientOrderID, Symbol: symbol, Status: venue.StatusCanceled}, nil
	}
	if err != nil {
		return venue.Order{}, err
	}
	c.ids.put(o.Symbol, strconv.FormatInt(o.OrderID, 10), o.ClientOrderID)
	c.fills.executed(o.Symbol, strconv.FormatInt(o.OrderID, 10), parseDec(o.ExecutedQuantity))
	return fromOrder(o), nil
}

// OpenOrders lists open orders (weight 6 for one symbol, 80 for all).
func (c *Client) OpenOrders(ctx context.Context, symbol string) ([]venue.Order, error) {
	var os []*gobinance.Order
	err := c.call(ctx, fmt.Sprintf("list open orders %q", symbol), false, func(ctx context.Context) (err error) {
		s := c.spot.NewListOpenOrdersService()
		if symbol != "" {
			s.Symbol(symbol)
		}
		os, err = s.Do(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]venue.Order, 0, len(os))
	for _, o := range os {
		c.ids.put(o.Symbol, strconv.FormatInt(o.OrderID, 10), o.ClientOrderID)
		c.fills.executed(o.Symbol, strconv.FormatInt(o.OrderID, 10), parseDec(o.ExecutedQuantity))
		out = append(out, fromOrder(o))
	}
	return out, nil
}

func fromTrade(t *gobinance.TradeV3) venue.Trade {
	s := venue.Sell
	if t.IsBuyer {
		s = venue.Buy
	}
	return venue.Trade{
		ID: strconv.FormatInt(t.ID, 10), VenueOrderID: strconv.FormatInt(t.OrderID, 10), Symbol: t.Symbol, Side: s,
		Price: parseDec(t.Price), Quantity: parseDec(t.Quantity), QuoteQty: parseDec(t.QuoteQuantity),
		Fee: parseDec(t.Commission), FeeAsset: t.CommissionAsset, Maker: t.IsMaker, Time: time.UnixMilli(t.Time).UTC(),
	}
}

// OrderTrades lists the fills of one order (myTrades by orderId, weight
// 5), with the fills this Client saw in the order's FULL response or on the
// user stream that myTrades does not have yet. When the fills still fall
// short of the order's executed quantity as Binance last reported it to
// this Client, it fails with class unavailable: read them again later.
func (c *Client) OrderTrades(ctx context.Context, symbol, venueOrderID string) ([]venue.Trade, error) {
	op := fmt.Sprintf("list trades of order %q", venueOrderID)
	id, err := strconv.ParseInt(venueOrderID, 10, 64)
	if err != nil {
		return nil, invalid(op, "venue order id is not a number")
	}
	var out []venue.Trade
	var from int64
	for {
		var ts []*gobinance.TradeV3
		err := c.call(ctx, op, false, func(ctx context.Context) (err error) {
			s := c.spot.NewListTradesService().Symbol(symbol).OrderId(id).Limit(1000)
			if from > 0 {
				s.FromID(from)
			}
			ts, err = s.Do(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.OrderID == id {
				out = append(out, fromTrade(t))
			}
		}
		if len(ts) < 1000 {
			merged, missing := c.fills.merge(symbol, venueOrderID, out)
			if missing.IsPos() {
				return nil, fillsMissing(op, missing)
			}
			return c.withClientIDs(ctx, symbol, id, merged)
		}
		from = ts[len(ts)-1].ID + 1
	}
}

// withClientIDs fills the client order id of one order's trades, asking for
// the order (weight 4) when this Client has not seen it.
func (c *Client) withClientIDs(ctx context.Context, symbol string, orderID int64, ts []venue.Trade) ([]venue.Trade, error) {
	if len(ts) == 0 {
		return ts, nil
	}
	vid := strconv.FormatInt(orderID, 10)
	cid := c.ids.get(symbol, vid)
	if cid == "" {
		var o *gobinance.Order
		if err := c.call(ctx, fmt.Sprintf("query order %s", vid), false, func(ctx context.Context) (err error) {
			o, err = c.spot.NewGetOrderService().Symbol(symbol).OrderID(orderID).Do(ctx)
			return err
		}); err != nil {
			return nil, err
		}
		cid = o.ClientOrderID
		c.ids.put(symbol, vid, cid)
	}
	for i := range ts {
		ts[i].ClientOrderID = cid
	}
	return ts, nil
}

// maxWindow is the longest startTime–endTime span myTrades accepts.
const maxWindow = 24 * time.Hour

// tradeWindow is where one page of a windowed trade-history query starts:
// at a trade id (fromID, which Binance takes without a time), or in the
// window [from, windowEnd).
type tradeWindow struct {
	to, from, windowEnd time.Time
	fromID              int64
	limit               int
	empty               bool // nothing left to ask for
}

// windowOf decodes q for an endpoint that accepts at most window between
// startTime and endTime. Cursors are "t<unix ms>" (start the next window
// there) or "i<trade id>" (continue from that id).
func (c *Client) windowOf(op string, q venue.TradeQuery, window time.Duration) (tradeWindow, error) {
	w := tradeWindow{limit: q.Limit, to: q.To, from: q.From}
	if w.limit <= 0 || w.limit > 1000 {
		w.limit = 1000
	}
	if w.to.IsZero() {
		// "Until now" must not miss a fill made a moment ago because our
		// estimate of the server's clock is a few milliseconds behind.
		w.to = c.lim.serverNow().Add(time.Minute)
	}
	switch {
	case q.Cursor == "":
	case strings.HasPrefix(q.Cursor, "t"):
		ms, err := strconv.ParseInt(q.Cursor[1:], 10, 64)
		if err != nil {
			return w, invalid(op, fmt.Sprintf("cursor %q", q.Cursor))
		}
		w.from = time.UnixMilli(ms)
	case strings.HasPrefix(q.Cursor, "i"):
		id, err := strconv.ParseInt(q.Cursor[1:], 10, 64)
		if err != nil {
			return w, invalid(op, fmt.Sprintf("cursor %q", q.Cursor))
		}
		w.fromID = id
	default:
		return w, invalid(op, fmt.Sprintf("cursor %q", q.Cursor))
	}
	if w.fromID == 0 && !w.from.Before(w.to) {
		w.empty = true
		return w, nil
	}
	w.windowEnd = w.from.Add(window)
	if w.windowEnd.After(w.to) {
		w.windowEnd = w.to
	}
	return w, nil
}

// next is the cursor after a page of n trades whose last id is lastID;
// past tells that the page reached To. A full page continues by id; an
// exhausted window moves on to the next one.
func (w tradeWindow) next(n int, lastID int64, past bool) string {
	switch {
	case n == w.limit && !past:
		return "i" + strconv.FormatInt(lastID+1, 10)
	case w.fromID == 0 && w.windowEnd.Before(w.to):
		return "t" + strconv.FormatInt(w.windowEnd.UnixMilli(), 10)
	}
	return ""
}

// Trades pages through myTrades. A query longer than 24 hours is walked one
// window at a time; within a window, pages continue by fromId. Cursors are
// "t<unix ms>" (start the next window there) or "i<trade id>" (continue from
// that id), and a page may be empty while Next is not.
func (c *Client) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	op := fmt.Sprintf("list trades %q", q.Symbol)
	w, err := c.windowOf(op, q, maxWindow)
	if err != nil || w.empty {
		return venue.TradePage{}, err
	}
	var ts []*gobinance.TradeV3
	err = c.call(ctx, op, false, func(ctx context.Context) (err error) {
		s := c.spot.NewListTradesService().Symbol(q.Symbol).Limit(w.limit)
		if w.fromID > 0 {
			s.FromID(w.fromID)
		} else {
			s.StartTime(w.from.UnixMilli()).EndTime(w.windowEnd.UnixMilli() - 1)
		}
		ts, err = s.Do(ctx)
		return err
	})
	if err != nil {
		return venue.TradePage{}, err
	}
	var page venue.TradePage
	past := false
	for _, t := range ts {
		tr := fromTrade(t)
		tr.ClientOrderID = c.ids.get(tr.Symbol, tr.VenueOrderID)
		if !tr.Time.Before(w.to) {
			past = true
			break
		}
		if tr.Time.Before(q.From) {
			continue
		}
		page.Trades = append(page.Trades, tr)
	}
	if len(ts) > 0 {
		page.Next = w.next(len(ts), ts[len(ts)-1].ID, past)
	} else {
		page.Next = w.next(0, 0, past)
	}
	return page, nil
}

// maxFuturesWindow is the longest startTime–endTime span
// /fapi/v1/userTrades accepts (7 days).
const maxFuturesWindow = 7 * 24 * time.Hour

// FuturesTrade is one USDⓈ-M futures fill: the port's Trade (ClientOrderID
// empty: the endpoint does not report it) with what futures add.
type FuturesTrade struct {
	venue.Trade
	// RealizedPnl is the profit the fill realized, in the margin asset.
	RealizedPnl venue.Decimal
	// PositionSide is BOTH (one-way mode), LONG or SHORT (hedge mode).
	PositionSide string
}

// FuturesTradePage is one page of USDⓈ-M futures trade history; Next is
// empty when the query is exhausted.
type FuturesTradePage struct {
	Trades []FuturesTrade
	Next   string
}

// futuresTrade is a row of /fapi/v1/userTrades.
type futuresTrade struct {
	Buyer           bool   `json:"buyer"`
	Commission      string `json:"commission"`
	CommissionAsset string `json:"commissionAsset"`
	ID              int64  `json:"id"`
	Maker           bool   `json:"maker"`
	OrderID         int64  `json:"orderId"`
	Price           string `json:"price"`
	Qty             string `json:"qty"`
	QuoteQty        string `json:"quoteQty"`
	RealizedPnl     string `json:"realizedPnl"`
	Side            string `json:"side"`
	PositionSide    string `json:"positionSide"`
	Symbol          string `json:"symbol"`
	Time            int64  `json:"time"`
}

func (t futuresTrade) port() FuturesTrade {
	s := side(t.Side)
	if t.Side == "" && !t.Buyer {
		s = venue.Sell
	}
	return FuturesTrade{Trade: venue.Trade{
		ID: strconv.FormatInt(t.ID, 10), VenueOrderID: strconv.FormatInt(t.OrderID, 10), Symbol: t.Symbol, Side: s,
		Price: parseDec(t.Price), Quantity: parseDec(t.Qty), QuoteQty: parseDec(t.QuoteQty),
		Fee: parseDec(t.Commission), FeeAsset: t.CommissionAsset, Maker: t.Maker, Time: time.UnixMilli(t.Time).UTC(),
	}, RealizedPnl: parseDec(t.RealizedPnl), PositionSide: t.PositionSide}
}

// FuturesTrades pages through the USDⓈ-M futures fills of q.Symbol
// (/fapi/v1/userTrades, weight 5 on the futures budget), like Trades: a
// query longer than 7 days is walked one window at a time, and within a
// window pages continue by fromId, with the same cursors. Binance keeps
// only the last 6 months of futures trades. It is apart from the venue
// port, whose Trades is spot history.
func (c *Client) FuturesTrades(ctx context.Context, q venue.TradeQuery) (FuturesTradePage, error) {
	op := fmt.Sprintf("list futures trades %q", q.Symbol)
	if q.Symbol == "" {
		return FuturesTradePage{}, invalid(op, "symbol is required")
	}
	w, err := c.windowOf(op, q, maxFuturesWindow)
	if err != nil || w.empty {
		return FuturesTradePage{}, err
	}
	params := url.Values{}
	params.Set("symbol", q.Symbol)
	params.Set("limit", strconv.Itoa(w.limit))
	if w.fromID > 0 {
		// fromId as documented (go-binance sends "fromID").
		params.Set("fromId", strconv.FormatInt(w.fromID, 10))
	} else {
		params.Set("startTime", strconv.FormatInt(w.from.UnixMilli(), 10))
		params.Set("endTime", strconv.FormatInt(w.windowEnd.UnixMilli()-1, 10))
	}
	var ts []futuresTrade
	if err := c.call(ctx, op, false, func(ctx context.Context) error {
		return c.signedAt(ctx, c.cfg.FuturesBaseURL, http.MethodGet, "/fapi/v1/userTrades", params, &ts)
	}); err != nil {
		return FuturesTradePage{}, err
	}
	var page FuturesTradePage
	past := false
	for _, t := range ts {
		tr := t.port()
		if !tr.Time.Before(w.to) {
			past = true
			break
		}
		if tr.Time.Before(q.From) {
			continue
		}
		page.Trades = append(page.Trades, tr)
	}
	if len(ts) > 0 {
		page.Next = w.next(len(ts), ts[len(ts)-1].ID, past)
	} else {
		page.Next = w.next(0, 0, past)
	}
	return page, nil
}

// Klines returns candles opening in [from, to), paging 1000 at a time.
func (c *Client) Klines(ctx context.Context, symbol, interval string, from, to time.Time) ([]venue.Kline, error) {
	op := fmt.Sprintf("list klines %q %s", symbol, interval)
	return pageKlines(from, to, func(start time.Time) (ks []rawKline, err error) {
		err = c.call(ctx, op, false, func(ctx context.Context) error {
			page, err := c.spot.NewKlinesService().Symbol(symbol).Interval(interval).StartTime(start.UnixMilli()).
				EndTime(to.UnixMilli() - 1).Limit(klinePage).Do(ctx)
			ks = ks[:0]
			for _, k := range page {
				ks = append(ks, rawKline{k.OpenTime, k.Open, k.High, k.Low, k.Close, k.Volume})
			}
			return err
		})
		return ks, err
	})
}

// klinePage is the most candles one klines request returns, spot and futures.
const klinePage = 1000

// rawKline is one candle as both of go-binance's kline types carry it.
type rawKline struct {
	OpenTime                       int64
	Open, High, Low, Close, Volume string
}

// pageKlines walks [from, to) a page at a time: fetch asks for the candles
// from start on; each page after the first starts just after the last
// candle of the one before. Candles outside [from, to) are left out.
func pageKlines(from, to time.Time, fetch func(start time.Time) ([]rawKline, error)) ([]venue.Kline, error) {
	var out []venue.Kline
	for start := from; start.Before(to); {
		ks, err := fetch(start)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			t := time.UnixMilli(k.OpenTime).UTC()
			if t.Before(from) || !t.Before(to) {
				continue
			}
			out = append(out, venue.Kline{OpenTime: t, Open: parseDec(k.Open), High: parseDec(k.High), Low: parseDec(k.Low),
				Close: parseDec(k.Close), Volume: parseDec(k.Volume)})
		}
		if len(ks) < klinePage {
			break
		}
		start = time.UnixMilli(ks[len(ks)-1].OpenTime + 1)
	}
	return out, nil
}

// Balances lists non-zero balances of the spot, funding, USDⓈ-M futures,
// cross margin and simple earn (flexible) wallets. A wallet the account does
// not have or may not read (margin not opened, futures not enabled) is left
// out; any other failure fails the call.
func (c *Client) Balances(ctx context.Context) ([]venue.Balance, error) {
	var out []venue.Balance
	add := func(w venue.Wallet, asset string, free, locked, borrowed venue.Decimal) {
		if free.IsZero() && locked.IsZero() && borrowed.IsZero() {
			return
		}
		out = append(out, venue.Balance{Wallet: w, Asset: asset, Free: free, Locked: locked, Borrowed: borrowed})
	}
	var acct *gobinance.Account
	if err := c.call(ctx, "get spot balances", false, func(ctx context.Context) (err error) {
		acct, err = c.spot.NewGetAccountService().Do(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	for _, b := range acct.Balances {
		add(venue.WalletSpot, b.Asset, parseDec(b.Free), parseDec(b.Locked), venue.Decimal{})
	}
	optional := func(err error) error {
		switch venue.ClassOf(err) {
		case venue.ClassAuth, venue.ClassNotFound:
			return nil
		}
		if ve, ok := err.(*venue.Error); ok && ve.Code == -3003 {
			return nil
		}
		return err
	}

	var funding []struct {
		Asset, Free, Locked, Freeze string
	}
	err := c.call(ctx, "get funding balances", false, func(ctx context.Context) error {
		return c.signed(ctx, http.MethodPost, "/sapi/v1/asset/get-funding-asset", url.Values{}, &funding)
	})
	if err = optional(err); err != nil {
		return nil, err
	}
	for _, b := range funding {
		add(venue.WalletFunding, b.Asset, parseDec(b.Free), parseDec(b.Locked).Add(parseDec(b.Freeze)), venue.Decimal{})
	}

	var fut []FuturesBalance
	if c.cfg.FuturesWalletElsewhere == nil || !c.cfg.FuturesWalletElsewhere() {
		fut, err = c.FuturesBalances(ctx)
		if err = optional(err); err != nil {
			return nil, err
		}
	}
	for _, b := range fut {
		free, locked := b.Wallet, venue.Decimal{}
		if !b.MultiAssets {
			// Single-Asset mode: the available balance is the asset's own,
			// wallet plus unrealized PnL less the margin in use; that
			// margin is the locked part, bounded to the wallet (none
			// locked, never a negative amount, when the wallet is in
			// debt).
			locked = b.Wallet.Add(b.UnrealizedPnl).Sub(b.Available)
			if locked.GreaterThan(b.Wallet) {
				locked = b.Wallet
			}
			if locked.IsNeg() {
				locked = venue.Decimal{}
			}
			free = b.Wallet.Sub(locked)
		}
		add(venue.WalletFutures, b.Asset, free, locked, venue.Decimal{})
	}

	var margin *gobinance.MarginAccount
	err = c.call(ctx, "get margin balances", false, func(ctx context.Context) (err error) {
		margin, err = c.spot.NewGetMarginAccountService().Do(ctx)
		return err
	})
	if err = optional(err); err != nil {
		return nil, err
	}
	if margin != nil {
		for _, b := range margin.UserAssets {
			add(venue.WalletMargin, b.Asset, parseDec(b.Free), parseDec(b.Locked), parseDec(b.Borrowed).Add(parseDec(b.Interest)))
		}
	}

	for page := 1; ; page++ {
		// Decoded here, only the fields used: go-binance types
		// tierAnnualPercentageRate as map[string]string, and Binance
		// sends its rates as numbers ({"0-5BTC":0.05}), which failed the
		// whole answer.
		var earn *struct {
			Rows []struct {
				Asset       string `json:"asset"`
				TotalAmount string `json:"totalAmount"`
			} `json:"rows"`
			Total int `json:"total"`
		}
		err = c.call(ctx, "get simple earn balances", false, func(ctx context.Context) error {
			params := url.Values{}
			params.Set("current", strconv.Itoa(page))
			params.Set("size", "100")
			return c.signed(ctx, http.MethodGet, "/sapi/v1/simple-earn/flexible/position", params, &earn)
		})
		if err = optional(err); err != nil {
			return nil, err
		}
		if earn == nil {
			break
		}
		for _, r := range earn.Rows {
			add(venue.WalletEarn, r.Asset, parseDec(r.TotalAmount), venue.Decimal{}, venue.Decimal{})
		}
		if len(earn.Rows) < 100 || page*100 >= earn.Total {
			break
		}
	}
	return out, nil
}

// FuturesBalance is one asset of the USDⓈ-M futures wallet.
type FuturesBalance struct {
	Asset string
	// Wallet is the wallet balance: deposits, transfers and realized PnL,
	// not unrealized PnL. It is what Balances reports as the asset's
	// quantity (Free plus Locked).
	Wallet venue.Decimal
	// UnrealizedPnl is the unrealized profit of the asset's cross positions
	// (crossUnPnl), apart from Wallet.
	UnrealizedPnl venue.Decimal
	// Available is Binance's availableBalance. In Multi-Assets mode it is
	// the whole account's, in USD value, and repeated on every asset: it
	// says nothing about this asset.
	Available venue.Decimal
	// MultiAssets tells that the account is in Multi-Assets mode.
	MultiAssets bool
}

// FuturesBalances lists the USDⓈ-M futures wallet (/fapi/v3/balance,
// weight 5) with the account's margin mode (/fapi/v1/multiAssetsMargin,
// weight 30), asked only when some asset is not empty.
func (c *Client) FuturesBalances(ctx context.Context) ([]FuturesBalance, error) {
	var fut []*futures.Balance
	if err := c.call(ctx, "get futures balances", false, func(ctx context.Context) (err error) {
		fut, err = c.futures.NewGetBalanceService().Do(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	var out []FuturesBalance
	for _, b := range fut {
		fb := FuturesBalance{Asset: b.Asset, Wallet: parseDec(b.Balance), UnrealizedPnl: parseDec(b.CrossUnPnl),
			Available: parseDec(b.AvailableBalance)}
		if fb.Wallet.IsZero() && fb.UnrealizedPnl.IsZero() {
			continue
		}
		out = append(out, fb)
	}
	if len(out) == 0 {
		return nil, nil
	}
	var mode struct {
		MultiAssetsMargin bool `json:"multiAssetsMargin"`
	}
	if err := c.call(ctx, "get futures margin mode", false, func(ctx context.Context) error {
		return c.signedAt(ctx, c.cfg.FuturesBaseURL, http.MethodGet, "/fapi/v1/multiAssetsMargin", url.Values{}, &mode)
	}); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].MultiAssets = mode.MultiAssetsMargin
	}
	return out, nil
}

// signed calls a spot or wallet endpoint go-binance lacks.
func (c *Client) signed(ctx context.Context, method, path string, params url.Values, out any) error {
	return c.signedAt(ctx, c.cfg.BaseURL, method, path, params, out)
}

// signedAt calls an endpoint on base that go-binance lacks or sends wrongly.
// The transport stamps and signs it like every other signed request.
func (c *Client) signedAt(ctx context.Context, base, method, path string, params url.Values, out any) error {
	params.Set("timestamp", "0")
	q := params.Encode()
	u := base + path + "?" + q + "&signature=" + sign(c.cfg.APISecret, q)
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-MBX-APIKEY", c.cfg.APIKey)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		ae := &common.APIError{}
		_ = json.Unmarshal(body, ae)
		return ae
	}
	return json.Unmarshal(body, out)
}

// SubAccount is one sub-account of a master account.
type SubAccount struct {
	Email   string
	Frozen  bool
	Managed bool
	Created time.Time
}

// SubAccounts lists every sub-account of this master account, frozen ones
// included (Frozen says so). It decodes the list itself: go-binance reads
// subUserId as a string, and Binance sends it as a number
// (sub_account_list.json), which fails the whole answer.
func (c *Client) SubAccounts(ctx context.Context) ([]SubAccount, error) {
	var out []SubAccount
	for page := 1; ; page++ {
		var r struct {
			SubAccounts []struct {
				Email               string `json:"email"`
				IsFreeze            bool   `json:"isFreeze"`
				CreateTime          int64  `json:"createTime"`
				IsManagedSubAccount bool   `json:"isManagedSubAccount"`
			} `json:"subAccounts"`
		}
		if err := c.call(ctx, "list sub-accounts", false, func(ctx context.Context) error {
			params := url.Values{}
			params.Set("page", strconv.Itoa(page))
			params.Set("limit", "200")
			return c.signed(ctx, http.MethodGet, "/sapi/v1/sub-account/list", params, &r)
		}); err != nil {
			return nil, err
		}
		for _, s := range r.SubAccounts {
			out = append(out, SubAccount{Email: s.Email, Frozen: s.IsFreeze, Managed: s.IsManagedSubAccount,
				Created: time.UnixMilli(s.CreateTime).UTC()})
		}
		if len(r.SubAccounts) < 200 {
			return out, nil
		}
	}
}
