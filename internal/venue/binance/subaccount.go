package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// NoKeyError is the refusal of anything but reading balances and market
// data on a sub-account that has no API key of its own: Binance lets a
// master read a sub-account's balances, not trade or read its orders for it.
// It is returned before any request is sent; it unwraps to a *venue.Error
// of class auth, so callers that branch on classes treat it as a credentials
// problem (never retried), and errors.As finds it for a precise message.
type NoKeyError struct {
	Email string // the sub-account
	Op    string // what was refused: "place order", "user stream", ...
}

func (e *NoKeyError) Error() string {
	return fmt.Sprintf("%s: sub-account %s has no API key of its own: trading and its order history need one "+
		"(add it with --api-key and --api-secret-file); its master can only read its balances", e.Op, e.Email)
}

// Unwrap gives the venue error class: auth.
func (e *NoKeyError) Unwrap() error {
	return &venue.Error{Class: venue.ClassAuth, Op: e.Op, Message: "sub-account without its own API key"}
}

// SubAccountBalances reads a sub-account's balances through this (master)
// client: its spot wallet from /sapi/v3/sub-account/assets and its USDⓈ-M
// futures wallet from /sapi/v2/sub-account/futures/account (futuresType 1).
// A sub-account without futures (Binance answers with an error of class
// auth or not found, or -3003-style codes) has spot balances only.
func (c *Client) SubAccountBalances(ctx context.Context, email string) ([]venue.Balance, error) {
	var out []venue.Balance
	var spot struct {
		Balances []struct {
			Asset  string      `json:"asset"`
			Free   json.Number `json:"free"` // a JSON number in v3: decoded from its digits, never a float
			Locked json.Number `json:"locked"`
			Freeze json.Number `json:"freeze"`
		} `json:"balances"`
	}
	params := url.Values{}
	params.Set("email", email)
	if err := c.call(ctx, "get sub-account assets", false, func(ctx context.Context) error {
		return c.signed(ctx, http.MethodGet, "/sapi/v3/sub-account/assets", params, &spot)
	}); err != nil {
		return nil, fmt.Errorf("sub-account %s: %w", email, err)
	}
	for _, b := range spot.Balances {
		free, err1 := numberDec(b.Free)
		locked, err2 := numberDec(b.Locked)
		freeze, err3 := numberDec(b.Freeze)
		for _, err := range []error{err1, err2, err3} {
			if err != nil {
				return nil, fmt.Errorf("sub-account %s: asset %s: %w", email, b.Asset, err)
			}
		}
		locked = locked.Add(freeze)
		if free.IsZero() && locked.IsZero() {
			continue
		}
		out = append(out, venue.Balance{Wallet: venue.WalletSpot, Asset: b.Asset, Free: free, Locked: locked})
	}

	var fut struct {
		Resp struct {
			Assets []struct {
				Asset             string `json:"asset"`
				WalletBalance     string `json:"walletBalance"`
				MaxWithdrawAmount string `json:"maxWithdrawAmount"`
			} `json:"assets"`
		} `json:"futureAccountResp"`
	}
	fparams := url.Values{}
	fparams.Set("email", email)
	fparams.Set("futuresType", "1")
	err := c.call(ctx, "get sub-account futures account", false, func(ctx context.Context) error {
		return c.signed(ctx, http.MethodGet, "/sapi/v2/sub-account/futures/account", fparams, &fut)
	})
	switch venue.ClassOf(err) {
	case "":
	case venue.ClassAuth, venue.ClassNotFound, venue.ClassRejected:
		// No futures account (not enabled for this sub-account).
		return out, nil
	default:
		return nil, fmt.Errorf("sub-account %s: %w", email, err)
	}
	for _, a := range fut.Resp.Assets {
		wallet, err := udecimal.Parse(a.WalletBalance)
		if err != nil {
			return nil, fmt.Errorf("sub-account %s: futures %s walletBalance %q: %w", email, a.Asset, a.WalletBalance, err)
		}
		avail, err := udecimal.Parse(a.MaxWithdrawAmount)
		if err != nil {
			return nil, fmt.Errorf("sub-account %s: futures %s maxWithdrawAmount %q: %w", email, a.Asset, a.MaxWithdrawAmount, err)
		}
		// What cannot be withdrawn is held as margin: the locked part,
		// bounded to the wallet.
		free := udecimal.Min(avail, wallet)
		if free.IsNeg() {
			free = udecimal.Zero
		}
		if wallet.IsZero() {
			continue
		}
		out = append(out, venue.Balance{Wallet: venue.WalletFutures, Asset: a.Asset, Free: free, Locked: wallet.Sub(free)})
	}
	return out, nil
}

// numberDec reads a JSON number or numeric string exactly; empty is zero.
func numberDec(n json.Number) (venue.Decimal, error) {
	if n == "" {
		return venue.Decimal{}, nil
	}
	d, err := udecimal.Parse(string(n))
	if err != nil {
		return venue.Decimal{}, fmt.Errorf("number %q: %w", n, err)
	}
	return d, nil
}

// SubAccountView is the venue of a Binance sub-account that has no API key
// of its own, seen through its master's client: balances are the
// sub-account's (SubAccountBalances), market data is the exchange's (read
// with the master's key), and everything that trades or reads the
// sub-account's orders and trades fails with ErrSubAccountNoKey before a
// request leaves (*NoKeyError): a master key cannot trade for a sub-account.
type SubAccountView struct {
	master *Client
	email  string
}

var _ venue.Venue = (*SubAccountView)(nil)

// NewSubAccountView returns the view of the sub-account email through
// master.
func NewSubAccountView(master *Client, email string) *SubAccountView {
	return &SubAccountView{master: master, email: email}
}

// Email is the sub-account's email.
func (v *SubAccountView) Email() string { return v.email }

// Name is "binance".
func (v *SubAccountView) Name() string { return "binance" }

// Symbols lists the exchange's markets (read with the master's key).
func (v *SubAccountView) Symbols(ctx context.Context) ([]venue.Symbol, error) {
	return v.master.Symbols(ctx)
}

// Balances reads the sub-account's balances through the master.
func (v *SubAccountView) Balances(ctx context.Context) ([]venue.Balance, error) {
	return v.master.SubAccountBalances(ctx, v.email)
}

// refuse is the error of an operation a sub-account without its own key
// cannot do.
func (v *SubAccountView) refuse(op string) error { return &NoKeyError{Email: v.email, Op: op} }

// PlaceOrder is refused: see NoKeyError.
func (v *SubAccountView) PlaceOrder(context.Context, venue.OrderRequest) (venue.Order, error) {
	return venue.Order{}, v.refuse("place order")
}

// CancelOrder is refused: see NoKeyError.
func (v *SubAccountView) CancelOrder(context.Context, string, string) (venue.Order, error) {
	return venue.Order{}, v.refuse("cancel order")
}

// QueryOrder is refused: see NoKeyError.
func (v *SubAccountView) QueryOrder(context.Context, string, string) (venue.Order, error) {
	return venue.Order{}, v.refuse("query order")
}

// OrderTrades is refused: see NoKeyError.
func (v *SubAccountView) OrderTrades(context.Context, string, string) ([]venue.Trade, error) {
	return nil, v.refuse("order trades")
}

// OpenOrders is refused: see NoKeyError.
func (v *SubAccountView) OpenOrders(context.Context, string) ([]venue.Order, error) {
	return nil, v.refuse("open orders")
}

// Trades is refused: see NoKeyError.
func (v *SubAccountView) Trades(context.Context, venue.TradeQuery) (venue.TradePage, error) {
	return venue.TradePage{}, v.refuse("trade history")
}

// Klines reads the exchange's candles (with the master's key).
func (v *SubAccountView) Klines(ctx context.Context, symbol, interval string, from, to time.Time) ([]venue.Kline, error) {
	return v.master.Klines(ctx, symbol, interval, from, to)
}

// SubscribePrices streams the exchange's prices (the master's streams).
func (v *SubAccountView) SubscribePrices(ctx context.Context, symbols []string) (<-chan venue.PriceTick, error) {
	return v.master.SubscribePrices(ctx, symbols)
}

// SubscribeUser returns a stream without events, closed when ctx ends: a
// master cannot open a sub-account's user data stream, and there are no
// orders of ours to report; balances are read by polling Balances (the
// live feed's periodic resync).
func (v *SubAccountView) SubscribeUser(ctx context.Context) (<-chan venue.UserEvent, error) {
	ch := make(chan venue.UserEvent)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch, nil
}
