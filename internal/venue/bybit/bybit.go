// Package bybit implements the venue port for Bybit's v5 API (unified
// trading account, spot category) through github.com/hirokisan/bybit/v2,
// adding what the library leaves out: a context on every request (the
// library's methods take none, so each call gets a library client whose
// transport carries the caller's context), the server-synced timestamp and
// recvWindow on signed requests (the library stamps with the local clock and
// sends no X-BAPI-RECV-WINDOW), the per-endpoint rate limits Bybit reports
// in its X-Bapi-Limit-* headers and the IP ban of HTTP 403, the error
// taxonomy of package venue (the library drops a failed answer's status,
// headers and body), balances of the unified and funding wallets, windowed
// execution history, and the public and private WebSocket streams.
//
// It owns Bybit's wire format and limits; it does not retry writes or
// reconcile unknown outcomes, which is the journal's job.
package bybit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	bybitapi "github.com/hirokisan/bybit/v2"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/backoff"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Config configures a Client. Only APIKey and APISecret are required.
type Config struct {
	APIKey    string
	APISecret string // never logged nor put in errors
	// BaseURL is REST (default https://api.bybit.com).
	BaseURL string
	// PublicWSURL is the spot public stream (default
	// wss://stream.bybit.com/v5/public/spot); PrivateWSURL the private one
	// (default wss://stream.bybit.com/v5/private); LinearWSURL the public
	// stream of linear contracts (default
	// wss://stream.bybit.com/v5/public/linear), which a Linear reads.
	PublicWSURL, PrivateWSURL, LinearWSURL string
	// RecvWindow is how long after its timestamp a signed request stays
	// valid (default 5 s, Bybit's default).
	RecvWindow time.Duration
	// HTTPTimeout bounds each REST round trip (default 10 s); a wait for
	// an endpoint's rate window comes before it and is bounded by ctx only.
	HTTPTimeout time.Duration
	Clock       clock.Clock       // default the wall clock
	Transport   http.RoundTripper // default a clone of http.DefaultTransport
	// ReconnectMin and ReconnectMax bound the stream reconnect backoff
	// (default 500 ms and 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// UnifiedElsewhere, when set and true, says a bybit-linear account of
	// the same key reports the unified trading account: this (spot)
	// client's Balances then leave the unified wallet out (the funding
	// wallet stays) and its Positions and FundingPayments are empty, so a
	// desk counts them once.
	UnifiedElsewhere func() bool
}

// Client is one Bybit account (one API key). It is safe for concurrent use.
type Client struct {
	cfg    Config
	cat    bybitapi.CategoryV5 // spot, or linear for a Linear's client
	lin    *linearRules        // a Linear's instrument filters; nil for spot
	lim    *limiter
	tr     *transport
	ids    *idCache
	synced atomic.Bool
}

var _ venue.Venue = (*Client)(nil)

// New returns a client without contacting Bybit: the clock offset is
// measured before the first request (or by SyncTime) and again after every
// timestamp error.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return nil, fmt.Errorf("new bybit client: api key and secret are required")
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
		*s = strings.TrimRight(*s, "/")
	}
	def(&cfg.BaseURL, bybitapi.MainNetBaseURL)
	def(&cfg.PublicWSURL, "wss://stream.bybit.com/v5/public/spot")
	def(&cfg.PrivateWSURL, "wss://stream.bybit.com/v5/private")
	def(&cfg.LinearWSURL, "wss://stream.bybit.com/v5/public/linear")
	for _, u := range []string{cfg.BaseURL, cfg.PublicWSURL, cfg.PrivateWSURL, cfg.LinearWSURL} {
		if _, err := url.Parse(u); err != nil {
			return nil, fmt.Errorf("new bybit client: url %q: %w", u, err)
		}
	}
	if cfg.RecvWindow <= 0 {
		cfg.RecvWindow = 5 * time.Second
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
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
	lim := newLimiter(cfg.Clock)
	tr := &transport{base: cfg.Transport, lim: lim, key: cfg.APIKey, secret: cfg.APISecret,
		recvWindow: strconv.FormatInt(cfg.RecvWindow.Milliseconds(), 10), timeout: cfg.HTTPTimeout}
	return &Client{cfg: cfg, cat: bybitapi.CategoryV5Spot, lim: lim, tr: tr, ids: newIDCache(100000)}, nil
}

// Name is "bybit".
func (c *Client) Name() string { return "bybit" }

// Stats returns the limiter's counters.
func (c *Client) Stats() Stats {
	c.lim.mu.Lock()
	defer c.lim.mu.Unlock()
	return c.lim.stats
}

// walletCoin is one coin of the unified trading account as
// /v5/account/wallet-balance and the private wallet topic report it.
type walletCoin struct {
	Coin            string `json:"coin"`
	WalletBalance   string `json:"walletBalance"`
	Locked          string `json:"locked"`
	TotalOrderIM    string `json:"totalOrderIM"`
	TotalPositionIM string `json:"totalPositionIM"`
	BorrowAmount    string `json:"borrowAmount"`
}

// unifiedBalance is a unified account coin as the client reports it: for
// spot, venue.WalletSpot with Locked what open spot orders hold; for a
// Linear, venue.WalletFutures with Locked that plus the initial margin of
// linear orders and positions (totalOrderIM, totalPositionIM), bounded by
// the wallet balance. Free is the rest of walletBalance (which excludes
// unrealized PnL), Borrowed the borrowAmount.
func (c *Client) unifiedBalance(co walletCoin) venue.Balance {
	total, locked, w := parseDec(co.WalletBalance), parseDec(co.Locked), venue.WalletSpot
	if c.cat == bybitapi.CategoryV5Linear {
		w = venue.WalletFutures
		locked = locked.Add(parseDec(co.TotalOrderIM)).Add(parseDec(co.TotalPositionIM))
		locked = udecimal.Max(udecimal.Min(locked, udecimal.Max(total, udecimal.Zero)), udecimal.Zero)
	}
	return venue.Balance{Wallet: w, Asset: co.Coin, Free: total.Sub(locked), Locked: locked, Borrowed: parseDec(co.BorrowAmount)}
}

// unifiedElsewhere reports whether a spot client leaves the unified
// account to a bybit-linear account of its key (Config.UnifiedElsewhere).
func (c *Client) unifiedElsewhere() bool {
	return c.cat == bybitapi.CategoryV5Spot && c.cfg.UnifiedElsewhere != nil && c.cfg.UnifiedElsewhere()
}

// api is the library's v5 service for one call, its requests carrying ctx.
func (c *Client) api(ctx context.Context) bybitapi.V5ServiceI {
	cl := bybitapi.NewClient().
		WithHTTPClient(&http.Client{Transport: ctxTransport{ctx: ctx, t: c.tr}}).
		WithBaseURL(c.cfg.BaseURL).
		WithAuth(c.cfg.APIKey, c.cfg.APISecret)
	cl.WithLogger(log.New(io.Discard, "", 0)).WithDebug(false)
	return cl.V5()
}

// call runs one request and maps its error; a timestamp error resyncs the
// clock offset before returning so that the caller may retry at once.
func (c *Client) call(ctx context.Context, op string, write bool, f func(api bybitapi.V5ServiceI) error) error {
	if !c.synced.Load() {
		if err := c.SyncTime(ctx); err != nil {
			return err
		}
	}
	err := f(c.api(ctx))
	if err == nil {
		return nil
	}
	ve := classify(op, write, err, c.lim.serverNow())
	if ve.Class == venue.ClassTimestamp {
		_ = c.SyncTime(ctx)
	}
	return ve
}

// get calls a GET endpoint the library lacks or calls on an older API
// version, through the same transport (and so the same limits and, when
// signed, the same signing).
func (c *Client) get(ctx context.Context, path string, params url.Values, signed bool, out any) error {
	u := path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	return c.do(ctx, http.MethodGet, u, nil, signed, out)
}

// do sends one request (body JSON when not nil) through the client's
// transport and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, pathQuery string, body io.Reader, signed bool, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+pathQuery, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if signed {
		req.Header.Set("X-BAPI-API-KEY", c.cfg.APIKey)
	}
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// SyncTime measures the offset between Bybit's clock and ours from
// /v5/market/time. The library's SyncServerTime asks the v3 endpoint and
// keeps the offset to itself, so this calls v5 directly.
func (c *Client) SyncTime(ctx context.Context) error {
	before := c.cfg.Clock.Now()
	var r struct {
		Result struct {
			TimeNano string `json:"timeNano"`
		} `json:"result"`
	}
	if err := c.get(ctx, "/v5/market/time", nil, false, &r); err != nil {
		return classify("sync time", false, err, c.cfg.Clock.Now())
	}
	after := c.cfg.Clock.Now()
	ns, err := strconv.ParseInt(r.Result.TimeNano, 10, 64)
	if err != nil {
		return &venue.Error{Class: venue.ClassUnavailable, Op: "sync time", Message: fmt.Sprintf("timeNano %q", r.Result.TimeNano)}
	}
	mid := before.Add(after.Sub(before) / 2)
	c.lim.setOffset(time.Unix(0, ns).Sub(mid), after.Sub(before)/2)
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

func ms(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func invalid(op, msg string) error {
	return &venue.Error{Class: venue.ClassInvalid, Message: msg, Op: op}
}

// Symbols lists the spot markets: tick from priceFilter, step from
// basePrecision, minimum and maximum quantity, and minOrderAmt as the
// minimum notional.
func (c *Client) Symbols(ctx context.Context) ([]venue.Symbol, error) {
	if c.cat == bybitapi.CategoryV5Linear {
		return c.linearSymbols(ctx)
	}
	var r *bybitapi.V5GetInstrumentsInfoResponse
	if err := c.call(ctx, "list symbols", false, func(api bybitapi.V5ServiceI) (err error) {
		r, err = api.Market().GetInstrumentsInfo(bybitapi.V5GetInstrumentsInfoParam{Category: c.cat})
		return err
	}); err != nil {
		return nil, err
	}
	if r.Result.Spot == nil {
		return nil, &venue.Error{Class: venue.ClassUnavailable, Op: "list symbols", Message: "answer has no spot list"}
	}
	out := make([]venue.Symbol, 0, len(r.Result.Spot.List))
	for _, s := range r.Result.Spot.List {
		out = append(out, venue.Symbol{
			Name: string(s.Symbol), Base: string(s.BaseCoin), Quote: string(s.QuoteCoin),
			TickSize: parseDec(s.PriceFilter.TickSize), StepSize: parseDec(s.LotSizeFilter.BasePrecision),
			MinQty: parseDec(s.LotSizeFilter.MinOrderQty), MaxQty: parseDec(s.LotSizeFilter.MaxOrderQty),
			MinNotional: parseDec(s.LotSizeFilter.MinOrderAmt),
		})
	}
	return out, nil
}

func checkClientID(op, id string) error {
	if !venue.ClientOrderIDPattern.MatchString(id) {
		return invalid(op, fmt.Sprintf("client order id %q does not match %s", id, venue.ClientOrderIDPattern))
	}
	return nil
}

// PlaceOrder submits a spot order whose orderLinkId is the client order id.
// A market order by QuoteQuantity is sent with marketUnit quoteCoin. Bybit
// acknowledges asynchronously, so the answer is read back by orderLinkId
// (see readBack). An unknown outcome must be settled with QueryOrder.
func (c *Client) PlaceOrder(ctx context.Context, req venue.OrderRequest) (venue.Order, error) {
	op := fmt.Sprintf("place order %q", req.ClientOrderID)
	if err := checkClientID(op, req.ClientOrderID); err != nil {
		return venue.Order{}, err
	}
	if req.Symbol == "" || !req.Side.Valid() {
		return venue.Order{}, invalid(op, "symbol and side buy|sell are required")
	}
	if c.cat == bybitapi.CategoryV5Linear {
		return c.placeLinear(ctx, op, req)
	}
	if req.Derivative() {
		return venue.Order{}, invalid(op, "reduce-only and a hedge-mode position side are for linear contracts (a bybit-linear account), not spot")
	}
	link := req.ClientOrderID
	p := bybitapi.V5CreateOrderParam{Category: c.cat, Symbol: bybitapi.SymbolV5(req.Symbol), OrderLinkID: &link}
	if req.Side == venue.Buy {
		p.Side = bybitapi.SideBuy
	} else {
		p.Side = bybitapi.SideSell
	}
	switch req.Type {
	case venue.Limit:
		if !req.Price.IsPos() || !req.Quantity.IsPos() {
			return venue.Order{}, invalid(op, "limit order needs a positive price and quantity")
		}
		tif := req.TimeInForce
		if tif == "" {
			tif = venue.GTC
		}
		price, t := req.Price.String(), bybitapi.TimeInForce(tif)
		p.OrderType, p.Qty, p.Price, p.TimeInForce = bybitapi.OrderTypeLimit, req.Quantity.String(), &price, &t
	case venue.Market:
		p.OrderType = bybitapi.OrderTypeMarket
		var unit bybitapi.MarketUnit
		switch {
		case req.Quantity.IsPos() && req.QuoteQuantity.IsZero():
			p.Qty, unit = req.Quantity.String(), bybitapi.MarketUnitBaseCoin
		case req.QuoteQuantity.IsPos() && req.Quantity.IsZero():
			p.Qty, unit = req.QuoteQuantity.String(), bybitapi.MarketUnitQuoteCoin
		default:
			return venue.Order{}, invalid(op, "market order needs exactly one of quantity and quote quantity")
		}
		p.MarketUnit = &unit
	default:
		return venue.Order{}, invalid(op, fmt.Sprintf("order type %q", req.Type))
	}
	var r *bybitapi.V5CreateOrderResponse
	if err := c.call(ctx, op, true, func(api bybitapi.V5ServiceI) (err error) {
		r, err = api.Order().CreateOrder(p)
		return err
	}); err != nil {
		return venue.Order{}, err
	}
	c.ids.put(req.Symbol, r.Result.OrderID, req.ClientOrderID)
	return c.readBack(ctx, op, req, r.Result.OrderID)
}

// readBackTries bounds how often PlaceOrder reads an acknowledged order
// back before giving its state up as unknown.
const readBackTries = 4

// readBack reads an order Bybit acknowledged (asynchronously: the create
// answer carries only its ids) until it is visible and, for a market
// order, executed. When that cannot be read the order's state is unknown
// and so is the answer: ClassUnknown, to be settled with QueryOrder, never
// a guessed "new" that would hide its fills.
func (c *Client) readBack(ctx context.Context, op string, req venue.OrderRequest, orderID string) (venue.Order, error) {
	var last error
	wait := backoff.New(backoff.Policy{Initial: 50 * time.Millisecond}, c.cfg.Clock)
	for i := range readBackTries {
		if i > 0 && wait.Wait(ctx) != nil {
			break
		}
		o, err := c.QueryOrder(ctx, req.Symbol, req.ClientOrderID)
		switch {
		case err == nil && (req.Type != venue.Market || o.Status.Terminal()):
			return o, nil
		case err == nil && i == readBackTries-1:
			return o, nil // a market order still executing: as it is
		case err == nil:
			last = nil
		default:
			last = err
		}
	}
	msg := fmt.Sprintf("Bybit accepted order %s but it could not be read back", orderID)
	if last != nil {
		msg += ": " + last.Error()
	}
	return venue.Order{}, &venue.Error{Class: venue.ClassUnknown, Op: op, Message: msg + "; settle it with QueryOrder"}
}

func side(s bybitapi.Side) venue.Side {
	if s == bybitapi.SideSell {
		return venue.Sell
	}
	return venue.Buy
}

// status maps Bybit's orderStatus; PartiallyFilledCanceled (spot) is
// canceled with fills, Deactivated a canceled conditional order.
func status(s bybitapi.OrderStatus) venue.OrderStatus {
	switch s {
	case "PartiallyFilled":
		return venue.StatusPartiallyFilled
	case "Filled":
		return venue.StatusFilled
	case "Cancelled", "PartiallyFilledCanceled", "Deactivated":
		return venue.StatusCanceled
	case "Rejected":
		return venue.StatusRejected
	}
	return venue.StatusNew
}

func fromOrder(o bybitapi.V5GetOrder) venue.Order {
	t := venue.Market
	if o.OrderType == bybitapi.OrderTypeLimit {
		t = venue.Limit
	}
	return venue.Order{
		ClientOrderID: o.OrderLinkID, VenueOrderID: o.OrderID, Symbol: string(o.Symbol), Side: side(o.Side), Type: t,
		Price: parseDec(o.Price), Quantity: parseDec(o.Qty), ExecutedQty: parseDec(o.CumExecQty),
		QuoteQty: parseDec(o.CumExecValue), Status: status(o.OrderStatus),
		Created: ms(o.CreatedTime), Updated: ms(o.UpdatedTime),
	}
}

// CancelOrder cancels by orderLinkId and returns the order as it then is.
func (c *Client) CancelOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	op := fmt.Sprintf("cancel order %q", clientOrderID)
	if err := checkClientID(op, clientOrderID); err != nil {
		return venue.Order{}, err
	}
	link := clientOrderID
	if err := c.call(ctx, op, true, func(api bybitapi.V5ServiceI) error {
		_, err := api.Order().CancelOrder(bybitapi.V5CancelOrderParam{Category: c.cat,
			Symbol: bybitapi.SymbolV5(symbol), OrderLinkID: &link})
		return err
	}); err != nil {
		return venue.Order{}, err
	}
	o, err := c.QueryOrder(ctx, symbol, clientOrderID)
	if err != nil {
		return venue.Order{}, err
	}
	if !o.Status.Terminal() {
		// The cancel is acknowledged; Bybit applies it asynchronously.
		o.Status = venue.StatusCanceled
	}
	return o, nil
}

// QueryOrder looks an order up by orderLinkId: among open orders
// (/v5/order/realtime), then in order history (/v5/order/history), which
// holds closed orders; ErrOrderNotFound when neither has it.
func (c *Client) QueryOrder(ctx context.Context, symbol, clientOrderID string) (venue.Order, error) {
	op := fmt.Sprintf("query order %q", clientOrderID)
	if err := checkClientID(op, clientOrderID); err != nil {
		return venue.Order{}, err
	}
	link, sym := clientOrderID, bybitapi.SymbolV5(symbol)
	var r *bybitapi.V5GetOrdersResponse
	if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
		r, err = api.Order().GetOpenOrders(bybitapi.V5GetOpenOrdersParam{Category: c.cat, Symbol: &sym, OrderLinkID: &link})
		return err
	}); err != nil {
		return venue.Order{}, err
	}
	if len(r.Result.List) == 0 {
		if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
			r, err = api.Order().GetHistoryOrders(bybitapi.V5GetHistoryOrdersParam{Category: c.cat, Symbol: &sym, OrderLinkID: &link})
			return err
		}); err != nil {
			return venue.Order{}, err
		}
	}
	for _, o := range r.Result.List {
		if o.OrderLinkID == clientOrderID {
			c.ids.put(symbol, o.OrderID, o.OrderLinkID)
			return fromOrder(o), nil
		}
	}
	return venue.Order{}, &venue.Error{Class: venue.ClassNotFound, Op: op, Message: "Bybit has no order with this orderLinkId"}
}

// OpenOrders lists open spot orders, following nextPageCursor.
func (c *Client) OpenOrders(ctx context.Context, symbol string) ([]venue.Order, error) {
	if symbol == "" && c.cat == bybitapi.CategoryV5Linear {
		// Linear open orders are asked by symbol or by settle coin.
		var out []venue.Order
		for _, coin := range settleCoins {
			os, err := c.openOrders(ctx, "", coin)
			if err != nil {
				return nil, err
			}
			out = append(out, os...)
		}
		return out, nil
	}
	return c.openOrders(ctx, symbol, "")
}

// openOrders lists the open orders of symbol, or of settle coin settle.
func (c *Client) openOrders(ctx context.Context, symbol string, settle bybitapi.Coin) ([]venue.Order, error) {
	op := fmt.Sprintf("list open orders %q", symbol)
	var out []venue.Order
	cursor := ""
	for {
		p := bybitapi.V5GetOpenOrdersParam{Category: c.cat}
		limit := 50
		p.Limit = &limit
		if symbol != "" {
			s := bybitapi.SymbolV5(symbol)
			p.Symbol = &s
		}
		if settle != "" {
			p.SettleCoin = &settle
		}
		if cursor != "" {
			cur := cursor
			p.Cursor = &cur
		}
		var r *bybitapi.V5GetOrdersResponse
		if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
			r, err = api.Order().GetOpenOrders(p)
			return err
		}); err != nil {
			return nil, err
		}
		for _, o := range r.Result.List {
			c.ids.put(string(o.Symbol), o.OrderID, o.OrderLinkID)
			out = append(out, fromOrder(o))
		}
		// A cursor that does not move would page forever.
		if r.Result.NextPageCursor == "" || len(r.Result.List) == 0 || r.Result.NextPageCursor == cursor {
			return out, nil
		}
		cursor = r.Result.NextPageCursor
	}
}

// isFill reports whether an execution of execType moved the order: a
// trade, or the bust (liquidation) and auto-deleveraging trades of a
// derivatives position; funding and delivery settlements are not fills.
// An empty type (a spot stream message that leaves it out) is a trade.
func isFill(t bybitapi.ExecTypeV5) bool {
	switch t {
	case "", "Trade", "BustTrade", "AdlTrade":
		return true
	}
	return false
}

func (c *Client) fromExec(e bybitapi.V5GetExecutionListItem) venue.Trade {
	cid := e.OrderLinkID
	if cid == "" {
		cid = c.ids.get(string(e.Symbol), e.OrderID)
	}
	return venue.Trade{
		ID: e.ExecID, VenueOrderID: e.OrderID, ClientOrderID: cid, Symbol: string(e.Symbol), Side: side(e.Side),
		Price: parseDec(e.ExecPrice), Quantity: parseDec(e.ExecQty), QuoteQty: parseDec(e.ExecValue),
		Fee: parseDec(e.ExecFee), FeeAsset: string(e.FeeCurrency), Maker: e.IsMaker, Time: ms(e.ExecTime),
	}
}

// OrderTrades lists the fills of one order (/v5/execution/list by orderId),
// oldest first.
func (c *Client) OrderTrades(ctx context.Context, symbol, venueOrderID string) ([]venue.Trade, error) {
	op := fmt.Sprintf("list trades of order %q", venueOrderID)
	var out []venue.Trade
	cursor := ""
	for {
		id, sym, limit := venueOrderID, bybitapi.SymbolV5(symbol), 100
		p := bybitapi.V5GetExecutionParam{Category: c.cat, Symbol: &sym, OrderID: &id, Limit: &limit}
		if cursor != "" {
			cur := cursor
			p.Cursor = &cur
		}
		var r *bybitapi.V5GetExecutionListResponse
		if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
			r, err = api.Execution().GetExecutionList(p)
			return err
		}); err != nil {
			return nil, err
		}
		for _, e := range r.Result.List {
			if isFill(e.ExecType) {
				out = append(out, c.fromExec(e))
			}
		}
		if r.Result.NextPageCursor == "" || len(r.Result.List) == 0 || r.Result.NextPageCursor == cursor {
			break
		}
		cursor = r.Result.NextPageCursor
	}
	sortTrades(out)
	return out, nil
}

// sortTrades orders fills oldest first; Bybit answers newest first.
func sortTrades(ts []venue.Trade) {
	slices.SortStableFunc(ts, func(a, b venue.Trade) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// maxWindow is the longest startTime–endTime span /v5/execution/list
// accepts.
const maxWindow = 7 * 24 * time.Hour

// Trades pages through the spot execution history of q.Symbol, oldest
// first across pages. Bybit answers at most 7 days per query, newest first,
// paging by nextPageCursor; to hand fills out in time order each page is a
// window of time Bybit answers in one page, halved until it fits (a single
// millisecond with more fills than a page is walked by Bybit's cursor).
// Cursors are "w<from ms>" (the next window starts there) or
// "w<from ms>:<to ms>:<Bybit cursor>"; a page may be empty while Next is
// not.
func (c *Client) Trades(ctx context.Context, q venue.TradeQuery) (venue.TradePage, error) {
	op := fmt.Sprintf("list trades %q", q.Symbol)
	if q.Symbol == "" {
		return venue.TradePage{}, invalid(op, "symbol is required")
	}
	limit := q.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	to := q.To
	if to.IsZero() {
		to = c.lim.serverNow().Add(time.Minute)
	}
	from, end, inner := q.From.Truncate(time.Millisecond), time.Time{}, ""
	if q.Cursor != "" {
		parts := strings.SplitN(strings.TrimPrefix(q.Cursor, "w"), ":", 3)
		n, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil || !strings.HasPrefix(q.Cursor, "w") || len(parts) == 2 {
			return venue.TradePage{}, invalid(op, fmt.Sprintf("cursor %q", q.Cursor))
		}
		from = time.UnixMilli(n)
		if len(parts) == 3 {
			e, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil || parts[2] == "" {
				return venue.TradePage{}, invalid(op, fmt.Sprintf("cursor %q", q.Cursor))
			}
			end, inner = time.UnixMilli(e), parts[2]
		}
	}
	if !from.Before(to) {
		return venue.TradePage{}, nil
	}
	fixed := !end.IsZero()
	if !fixed {
		end = from.Add(maxWindow)
		if end.After(to) {
			end = to
		}
	}
	var r *bybitapi.V5GetExecutionListResponse
	for {
		sym := bybitapi.SymbolV5(q.Symbol)
		// endTime is inclusive: the last millisecond that starts before end.
		start, stop := int(from.UnixMilli()), int(end.Add(time.Millisecond-1).UnixMilli()-1)
		p := bybitapi.V5GetExecutionParam{Category: c.cat, Symbol: &sym, StartTime: &start, EndTime: &stop, Limit: &limit}
		if inner != "" {
			cur := inner
			p.Cursor = &cur
		}
		if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
			r, err = api.Execution().GetExecutionList(p)
			return err
		}); err != nil {
			return venue.TradePage{}, err
		}
		span := end.Sub(from)
		if fixed || r.Result.NextPageCursor == "" || len(r.Result.List) == 0 || span <= time.Millisecond {
			break
		}
		end = from.Add((span / 2).Truncate(time.Millisecond))
	}
	var page venue.TradePage
	for _, e := range r.Result.List {
		t := c.fromExec(e)
		if !isFill(e.ExecType) || t.Time.Before(q.From) || !t.Time.Before(to) {
			continue
		}
		page.Trades = append(page.Trades, t)
	}
	sortTrades(page.Trades)
	switch {
	case r.Result.NextPageCursor != "" && len(r.Result.List) > 0:
		// Only a one-millisecond window (or one already being walked)
		// still has pages: continue it by Bybit's cursor.
		page.Next = fmt.Sprintf("w%d:%d:%s", from.UnixMilli(), end.UnixMilli(), r.Result.NextPageCursor)
	case end.Before(to):
		page.Next = "w" + strconv.FormatInt(end.UnixMilli(), 10)
	}
	return page, nil
}

// intervals maps the port's kline intervals to Bybit's.
var intervals = map[string]struct {
	api bybitapi.Interval
	d   time.Duration
}{
	"1m": {"1", time.Minute}, "3m": {"3", 3 * time.Minute}, "5m": {"5", 5 * time.Minute},
	"15m": {"15", 15 * time.Minute}, "30m": {"30", 30 * time.Minute}, "1h": {"60", time.Hour},
	"2h": {"120", 2 * time.Hour}, "4h": {"240", 4 * time.Hour}, "6h": {"360", 6 * time.Hour},
	"12h": {"720", 12 * time.Hour}, "1d": {"D", 24 * time.Hour},
}

// Klines returns spot candles opening in [from, to), oldest first. Bybit
// answers the newest candles up to end (at most 1000, newest first), so
// pages walk backwards from to.
func (c *Client) Klines(ctx context.Context, symbol, interval string, from, to time.Time) ([]venue.Kline, error) {
	op := fmt.Sprintf("list klines %q %s", symbol, interval)
	iv, ok := intervals[interval]
	if !ok {
		return nil, invalid(op, fmt.Sprintf("interval %q (want one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d)", interval))
	}
	var out []venue.Kline
	end := to
	for from.Before(end) {
		s, e, limit := from.UnixMilli(), end.UnixMilli()-1, 1000
		var r *bybitapi.V5GetKlineResponse
		if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
			r, err = api.Market().GetKline(bybitapi.V5GetKlineParam{Category: c.cat,
				Symbol: bybitapi.SymbolV5(symbol), Interval: iv.api, Start: &s, End: &e, Limit: &limit})
			return err
		}); err != nil {
			return nil, err
		}
		var page []venue.Kline
		for _, k := range r.Result.List {
			t := ms(k.StartTime)
			if t.Before(from) || !t.Before(end) {
				continue
			}
			page = append(page, venue.Kline{OpenTime: t, Open: parseDec(k.Open), High: parseDec(k.High),
				Low: parseDec(k.Low), Close: parseDec(k.Close), Volume: parseDec(k.Volume)})
		}
		out = append(out, page...)
		if len(r.Result.List) < limit || len(page) == 0 {
			break
		}
		oldest := page[0].OpenTime
		for _, k := range page {
			if k.OpenTime.Before(oldest) {
				oldest = k.OpenTime
			}
		}
		end = oldest
	}
	slices.SortFunc(out, func(a, b venue.Kline) int { return a.OpenTime.Compare(b.OpenTime) })
	return slices.CompactFunc(out, func(a, b venue.Kline) bool { return a.OpenTime.Equal(b.OpenTime) }), nil
}

// Balances lists non-zero balances of the unified trading account and,
// for a spot client, of the funding account (venue.WalletFunding). The
// unified account is the wallet spot orders trade from and linear orders
// margin from: see unifiedBalance for how each client reports it. A spot
// client leaves it out when Config.UnifiedElsewhere says a bybit-linear
// account reports it.
func (c *Client) Balances(ctx context.Context) ([]venue.Balance, error) {
	var out []venue.Balance
	if !c.unifiedElsewhere() {
		var w *bybitapi.V5GetWalletBalanceResponse
		if err := c.call(ctx, "get unified balances", false, func(api bybitapi.V5ServiceI) (err error) {
			w, err = api.Account().GetWalletBalance(bybitapi.AccountTypeV5UNIFIED, nil)
			return err
		}); err != nil {
			return nil, err
		}
		for _, l := range w.Result.List {
			for _, co := range l.Coin {
				b := c.unifiedBalance(walletCoin{Coin: string(co.Coin), WalletBalance: co.WalletBalance, Locked: co.Locked,
					TotalOrderIM: co.TotalOrderIM, TotalPositionIM: co.TotalPositionIM, BorrowAmount: co.BorrowAmount})
				if !b.Free.IsZero() || !b.Locked.IsZero() || !b.Borrowed.IsZero() {
					out = append(out, b)
				}
			}
		}
	}
	if c.cat == bybitapi.CategoryV5Linear {
		return out, nil // the funding wallet is the spot account's
	}
	var f *bybitapi.V5GetAllCoinsBalanceResponse
	if err := c.call(ctx, "get funding balances", false, func(api bybitapi.V5ServiceI) (err error) {
		f, err = api.Asset().GetAllCoinsBalance(bybitapi.V5GetAllCoinsBalanceParam{AccountType: bybitapi.AccountTypeV5FUND})
		return err
	}); err != nil {
		return nil, err
	}
	for _, b := range f.Result.Balance {
		total, free := parseDec(b.WalletBalance), parseDec(b.TransferBalance)
		if total.IsZero() {
			continue
		}
		out = append(out, venue.Balance{Wallet: venue.WalletFunding, Asset: string(b.Coin), Free: free, Locked: total.Sub(free)})
	}
	return out, nil
}

// Tickers returns the last, best bid and best ask price of spot symbols
// (/v5/market/tickers): of symbol, or of every symbol when it is empty.
func (c *Client) Tickers(ctx context.Context, symbol string) ([]venue.PriceTick, error) {
	p := bybitapi.V5GetTickersParam{Category: c.cat}
	if symbol != "" {
		s := bybitapi.SymbolV5(symbol)
		p.Symbol = &s
	}
	var r *bybitapi.V5GetTickersResponse
	if err := c.call(ctx, fmt.Sprintf("list tickers %q", symbol), false, func(api bybitapi.V5ServiceI) (err error) {
		r, err = api.Market().GetTickers(p)
		return err
	}); err != nil {
		return nil, err
	}
	at := time.UnixMilli(int64(r.Time)).UTC()
	tick := func(sym bybitapi.SymbolV5, last, bid, ask string) venue.PriceTick {
		return venue.PriceTick{Symbol: string(sym), Price: parseDec(last), Bid: parseDec(bid), Ask: parseDec(ask), Time: at}
	}
	var out []venue.PriceTick
	switch {
	case c.cat == bybitapi.CategoryV5Linear && r.Result.LinearInverse != nil:
		for _, t := range r.Result.LinearInverse.List {
			out = append(out, tick(t.Symbol, t.LastPrice, t.Bid1Price, t.Ask1Price))
		}
	case c.cat == bybitapi.CategoryV5Spot && r.Result.Spot != nil:
		for _, t := range r.Result.Spot.List {
			out = append(out, tick(t.Symbol, t.LastPrice, t.Bid1Price, t.Ask1Price))
		}
	default:
		return nil, &venue.Error{Class: venue.ClassUnavailable, Op: "list tickers", Message: "answer has no " + string(c.cat) + " list"}
	}
	return out, nil
}
