package bybit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	bybitapi "github.com/hirokisan/bybit/v2"

	"github.com/tradeplane/tradeplane/internal/venue"
)

var _ venue.PositionReader = (*Client)(nil)

// settleCoins are the settle coins of Bybit's linear contracts whose
// positions Positions lists (Bybit asks for a symbol or a settle coin).
var settleCoins = []bybitapi.Coin{"USDT", "USDC"}

// Positions lists the open linear (USDT and USDC perpetual and futures)
// positions of the unified account (/v5/position/list), following
// nextPageCursor. A Sell side is a negative size; tradeMode 1 is isolated
// margin. A spot client whose Config.UnifiedElsewhere is true lists none.
func (c *Client) Positions(ctx context.Context) ([]venue.Position, error) {
	if c.unifiedElsewhere() {
		return nil, nil // a bybit-linear account of the key reports them
	}
	var out []venue.Position
	for _, coin := range settleCoins {
		cursor := ""
		for {
			settle, limit := coin, 200
			p := bybitapi.V5GetPositionInfoParam{Category: bybitapi.CategoryV5Linear, SettleCoin: &settle, Limit: &limit}
			if cursor != "" {
				cur := cursor
				p.Cursor = &cur
			}
			var r *bybitapi.V5GetPositionInfoResponse
			if err := c.call(ctx, fmt.Sprintf("list %s positions", coin), false, func(api bybitapi.V5ServiceI) (err error) {
				r, err = api.Position().GetPositionInfo(p)
				return err
			}); err != nil {
				return nil, err
			}
			for _, x := range r.Result.List {
				size := parseDec(x.Size)
				if size.IsZero() {
					continue
				}
				if x.Side == bybitapi.SideSell {
					size = size.Neg()
				}
				mode := venue.MarginCross
				if x.TradeMode == 1 {
					mode = venue.MarginIsolated
				}
				out = append(out, venue.Position{Symbol: string(x.Symbol), SettleAsset: string(coin), Size: size,
					EntryPrice: parseDec(x.AvgPrice), MarkPrice: parseDec(x.MarkPrice), UnrealizedPnL: parseDec(x.UnrealisedPnl),
					Leverage: parseDec(x.Leverage), LiquidationPrice: parseDec(x.LiqPrice), MarginMode: mode,
					Updated: ms(x.UpdatedTime)})
			}
			if r.Result.NextPageCursor == "" || len(r.Result.List) == 0 || r.Result.NextPageCursor == cursor {
				break
			}
			cursor = r.Result.NextPageCursor
		}
	}
	return out, nil
}

// FundingPayments lists the linear funding settlements of the unified
// account in [from, to) from its transaction log (type SETTLEMENT), which
// Bybit answers 7 days at a time: longer spans are walked window by
// window; an empty window (to not after from) has none. The amount is the
// entry's change, the wallet's signed movement.
func (c *Client) FundingPayments(ctx context.Context, symbol string, from, to time.Time) ([]venue.FundingPayment, error) {
	op := fmt.Sprintf("list funding payments %q", symbol)
	if !from.Before(to) || c.unifiedElsewhere() {
		// An empty window has no payments; a bybit-linear account of the
		// key reports them when there is one.
		return nil, nil
	}
	var out []venue.FundingPayment
	for start := from; start.Before(to); {
		end := start.Add(maxWindow)
		if end.After(to) {
			end = to
		}
		cursor := ""
		for {
			acct, cat, typ, limit := bybitapi.AccountTypeV5UNIFIED, bybitapi.CategoryV5Linear, bybitapi.TransactionLogTypeV5("SETTLEMENT"), 50
			s, e := start.UnixMilli(), end.Add(time.Millisecond-1).UnixMilli()-1
			p := bybitapi.V5GetTransactionLogParam{AccountType: &acct, Category: &cat, Type: &typ, StartTime: &s, EndTime: &e, Limit: &limit}
			if cursor != "" {
				cur := cursor
				p.Cursor = &cur
			}
			var r *bybitapi.V5GetTransactionLogResponse
			if err := c.call(ctx, op, false, func(api bybitapi.V5ServiceI) (err error) {
				r, err = api.Account().GetTransactionLog(p)
				return err
			}); err != nil {
				return nil, err
			}
			for _, x := range r.Result.List {
				if x.Type != "SETTLEMENT" || (symbol != "" && string(x.Symbol) != symbol) {
					continue
				}
				t := ms(x.TransactionTime)
				if t.Before(from) || !t.Before(to) {
					continue
				}
				size := parseDec(x.Size)
				if x.Side == bybitapi.SideSell {
					size = size.Neg()
				}
				id := x.TradeID
				if id == "" {
					id = string(x.Symbol) + "@" + x.TransactionTime
				}
				out = append(out, venue.FundingPayment{ID: id, Symbol: string(x.Symbol), Asset: x.Currency,
					Amount: parseDec(x.Change), PositionSize: size, Time: t})
			}
			if r.Result.NextPageCursor == "" || len(r.Result.List) == 0 || r.Result.NextPageCursor == cursor {
				break
			}
			cursor = r.Result.NextPageCursor
		}
		start = end
	}
	slices.SortStableFunc(out, func(a, b venue.FundingPayment) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
