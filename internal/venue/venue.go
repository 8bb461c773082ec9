// Package venue is the port every exchange implements: market metadata,
// balances per wallet, orders by client order id, trade history, klines and
// the price and user streams, plus the error taxonomy callers branch on.
//
// It owns the types and the contract, not any wire format: venue/paper and
// venue/binance translate to and from these types, and nothing outside venue/*
// knows how a particular exchange speaks.
package venue

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/quagmt/udecimal"
)

// Decimal is the exact decimal used for every price, quantity and amount.
type Decimal = udecimal.Decimal

// Side of an order or fill.
type Side string

// Sides.
const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// Valid reports whether s is buy or sell.
func (s Side) Valid() bool { return s == Buy || s == Sell }

// Sign is +1 for buy and -1 for sell.
func (s Side) Sign() int {
	if s == Sell {
		return -1
	}
	return 1
}

// OrderType is limit or market.
type OrderType string

// Order types.
const (
	Limit  OrderType = "limit"
	Market OrderType = "market"
)

// TimeInForce of a limit order.
type TimeInForce string

// Time-in-force values; empty means GTC.
const (
	GTC TimeInForce = "GTC"
	IOC TimeInForce = "IOC"
	FOK TimeInForce = "FOK"
)

// OrderStatus as the venue reports it.
type OrderStatus string

// Order statuses. Filled, Canceled, Rejected and Expired are terminal.
const (
	StatusNew             OrderStatus = "new"
	StatusPartiallyFilled OrderStatus = "partially_filled"
	StatusFilled          OrderStatus = "filled"
	StatusCanceled        OrderStatus = "canceled"
	StatusRejected        OrderStatus = "rejected"
	StatusExpired         OrderStatus = "expired"
)

// Terminal reports whether no more fills can happen.
func (s OrderStatus) Terminal() bool {
	switch s {
	case StatusFilled, StatusCanceled, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// Wallet is a balance container inside an account.
type Wallet string

// Wallets.
const (
	WalletSpot    Wallet = "spot"
	WalletFunding Wallet = "funding"
	WalletFutures Wallet = "futures-usdm"
	WalletMargin  Wallet = "margin"
	WalletEarn    Wallet = "earn"
)

// InstrumentKind is what a symbol trades: spot, or a derivative.
type InstrumentKind string

// Instrument kinds. The empty kind is spot, so venues and symbols that
// predate derivatives keep their meaning.
const (
	KindSpot InstrumentKind = "spot"
	// KindLinearPerpetual is a perpetual future margined and settled in its
	// quote asset (a USDⓈ-M perpetual): quantities are in the base asset,
	// buying opens or grows a long position instead of receiving the base.
	KindLinearPerpetual InstrumentKind = "linear_perpetual"
)

// IsDerivative reports whether k settles as a position rather than by
// exchanging assets.
func (k InstrumentKind) IsDerivative() bool { return k == KindLinearPerpetual }

// PositionSide says which position a derivatives order acts on. Empty and
// PositionBoth are one-way mode (one net position per symbol, the default);
// PositionLong and PositionShort are hedge mode, where a symbol holds a long
// and a short position apart.
type PositionSide string

// Position sides.
const (
	PositionBoth  PositionSide = "both"
	PositionLong  PositionSide = "long"
	PositionShort PositionSide = "short"
)

// Valid reports whether p is empty or one of the three sides.
func (p PositionSide) Valid() bool {
	return p == "" || p == PositionBoth || p == PositionLong || p == PositionShort
}

// OneWay reports whether p acts on the one net position of one-way mode.
func (p PositionSide) OneWay() bool { return p == "" || p == PositionBoth }

// Symbol is a tradable market with the filters the venue enforces.
type Symbol struct {
	Name        string         // venue symbol, e.g. BTCUSDT
	Kind        InstrumentKind // empty means spot
	Base        string         // BTC
	Quote       string         // USDT
	TickSize    Decimal        // price increment; zero means unrestricted
	StepSize    Decimal        // quantity increment; zero means unrestricted
	MinQty      Decimal
	MaxQty      Decimal // zero means unbounded
	MinNotional Decimal // price × quantity must be at least this
}

// Balance of one asset in one wallet.
type Balance struct {
	Wallet   Wallet
	Asset    string
	Free     Decimal
	Locked   Decimal
	Borrowed Decimal // margin and futures only
}

// ClientOrderIDPattern is the rule every client order id satisfies
// (Binance's rule, applied to every venue).
var ClientOrderIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,36}$`)

// OrderRequest asks the venue for a new order. ClientOrderID is required and
// is how the order is found again (QueryOrder, CancelOrder). It is NOT an
// idempotency guarantee: a venue refuses a second order with the same id
// only while the first is open. Binance takes newClientOrderId as "a unique
// id among open orders" and accepts it again once that order is filled,
// canceled or expired, placing a second order. So a request whose outcome
// is unknown is settled with QueryOrder, never by sending it again and
// counting on ErrDuplicateOrder; only a request that certainly did not
// execute (venue.Retryable) may be sent again.
type OrderRequest struct {
	ClientOrderID string
	Symbol        string
	Side          Side
	Type          OrderType
	Quantity      Decimal // base quantity; for a market buy either this or QuoteQuantity
	QuoteQuantity Decimal // market orders only: spend (buy) or receive (sell) this much quote
	Price         Decimal // limit orders only
	TimeInForce   TimeInForce
	// ReduceOnly (derivatives only) lets the order only shrink the
	// position: the venue refuses or trims what would open or grow one.
	ReduceOnly bool
	// PositionSide (derivatives only) is the position the order acts on;
	// empty is one-way mode. A spot venue refuses a request with
	// ReduceOnly or a hedge-mode side (class invalid) rather than ignore it.
	PositionSide PositionSide
}

// Derivative reports whether r carries a field only derivatives take.
func (r OrderRequest) Derivative() bool { return r.ReduceOnly || !r.PositionSide.OneWay() }

// PerpetualShapeProblem says what is wrong with r's shape as an order on a
// linear perpetual, or "" when nothing is: a limit order needs a positive
// price and quantity, a market order a positive quantity, and neither
// takes a quote quantity (perpetuals are sized in the base asset). venue
// names the venue for the message. The venue's own filters come after.
func (r OrderRequest) PerpetualShapeProblem(venue string) string {
	if !r.QuoteQuantity.IsZero() {
		return venue + " take no quote quantity; give the base quantity"
	}
	switch r.Type {
	case Limit:
		if !r.Price.IsPos() || !r.Quantity.IsPos() {
			return "limit order needs a positive price and quantity"
		}
	case Market:
		if !r.Quantity.IsPos() {
			return "market order needs a positive quantity"
		}
	default:
		return fmt.Sprintf("order type %q", r.Type)
	}
	return ""
}

// SameOrder reports whether r asks for the order described by symbol, side,
// type and limit price: what must agree for a client order id stored for one
// decision to answer another (a replayed trade step deciding again, at a
// price that moved, re-sizes a market order but does not change which order
// it is). The price counts for limit orders only.
func (r OrderRequest) SameOrder(symbol string, side Side, typ OrderType, price Decimal) bool {
	return r.Symbol == symbol && r.Side == side && r.Type == typ && (r.Type != Limit || r.Price.Equal(price))
}

// Order is the venue's view of an order.
type Order struct {
	ClientOrderID string
	VenueOrderID  string
	Symbol        string
	Side          Side
	Type          OrderType
	Price         Decimal
	Quantity      Decimal
	ExecutedQty   Decimal
	QuoteQty      Decimal // cumulative quote filled
	Status        OrderStatus
	Created       time.Time
	Updated       time.Time
}

// Trade is one fill of one of the account's orders.
type Trade struct {
	ID            string // venue trade id, unique per symbol
	VenueOrderID  string
	ClientOrderID string // empty when the venue does not report it
	Symbol        string
	Side          Side
	Price         Decimal
	Quantity      Decimal
	QuoteQty      Decimal
	Fee           Decimal
	FeeAsset      string
	Maker         bool
	Time          time.Time
	// Liquidation marks a fill of an order the venue made to close the
	// position (a liquidation or auto-deleveraging), not one of ours.
	Liquidation bool
}

// TradeQuery selects trade history for one symbol. A venue may cap the window
// (Binance: 24 hours); Cursor continues a previous page.
type TradeQuery struct {
	Symbol string
	From   time.Time // inclusive
	To     time.Time // exclusive; zero means now
	Cursor string    // from TradePage.Next; empty starts at From
	Limit  int       // zero means the venue's default
}

// TradePage is one page of trade history. Next is empty when the window is
// exhausted.
type TradePage struct {
	Trades []Trade
	Next   string
}

// Kline is one candle.
type Kline struct {
	OpenTime time.Time
	Open     Decimal
	High     Decimal
	Low      Decimal
	Close    Decimal
	Volume   Decimal
}

// PriceTick is the latest price of a symbol.
type PriceTick struct {
	Symbol string
	Price  Decimal
	Bid    Decimal
	Ask    Decimal
	Time   time.Time
}

// UserEventKind names what a UserEvent carries.
type UserEventKind string

// User event kinds.
const (
	EventOrder   UserEventKind = "order"
	EventTrade   UserEventKind = "trade"
	EventBalance UserEventKind = "balance"
	// EventReconnected tells the consumer that events may have been lost and
	// it should resync balances and open orders.
	EventReconnected UserEventKind = "reconnected"
)

// UserEvent is one message of the account's user stream.
type UserEvent struct {
	Kind    UserEventKind
	Order   *Order
	Trade   *Trade
	Balance *Balance
	Time    time.Time
}

// Venue is one account on one exchange. Implementations are safe for
// concurrent use. Every method returns errors of the classes in errors.go.
type Venue interface {
	// Name is the venue kind: "paper", "binance".
	Name() string
	// Symbols lists the markets with their filters.
	Symbols(ctx context.Context) ([]Symbol, error)
	// Balances lists every non-zero balance of every wallet the account has.
	Balances(ctx context.Context) ([]Balance, error)
	// PlaceOrder submits an order. An error of class Unknown means it may or
	// may not exist: settle it with QueryOrder, never by placing it again.
	PlaceOrder(ctx context.Context, req OrderRequest) (Order, error)
	// CancelOrder cancels by client order id.
	CancelOrder(ctx context.Context, symbol, clientOrderID string) (Order, error)
	// QueryOrder looks an order up by client order id; ErrOrderNotFound when
	// the venue never accepted it.
	QueryOrder(ctx context.Context, symbol, clientOrderID string) (Order, error)
	// OrderTrades lists the fills of one order.
	OrderTrades(ctx context.Context, symbol, venueOrderID string) ([]Trade, error)
	// OpenOrders lists open orders; an empty symbol means all symbols.
	OpenOrders(ctx context.Context, symbol string) ([]Order, error)
	// Trades pages through the account's trade history.
	Trades(ctx context.Context, q TradeQuery) (TradePage, error)
	// Klines returns candles of interval ("1m", "1h", "1d") opening in [from, to).
	Klines(ctx context.Context, symbol, interval string, from, to time.Time) ([]Kline, error)
	// SubscribePrices streams ticks for the symbols (all when empty) until
	// ctx ends; the channel is closed then.
	SubscribePrices(ctx context.Context, symbols []string) (<-chan PriceTick, error)
	// SubscribeUser streams order updates, fills and balance changes until
	// ctx ends; the channel is closed then.
	SubscribeUser(ctx context.Context) (<-chan UserEvent, error)
}
