package store

import (
	"context"
	"fmt"
	"strings"
)

// FillKey is what identifies a fill within an account: its symbol and the
// venue's trade id (fills are unique by account, symbol and trade id).
type FillKey struct {
	Symbol  string
	TradeID string
}

// FillsByKey returns the account's stored fills with the given keys (those
// stored; a key without a fill is absent from the map). It reads in chunks
// of a few hundred ids.
func (db *DB) FillsByKey(ctx context.Context, accountID int64, keys []FillKey) (map[FillKey]Fill, error) {
	out := make(map[FillKey]Fill, len(keys))
	want := make(map[FillKey]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	const chunk = 500
	for len(keys) > 0 {
		n := min(len(keys), chunk)
		part := keys[:n]
		keys = keys[n:]
		args := []any{accountID}
		var ph strings.Builder
		for i, k := range part {
			if i > 0 {
				ph.WriteByte(',')
			}
			args = append(args, k.TradeID)
			fmt.Fprintf(&ph, "$%d", len(args))
		}
		rows, err := db.r.QueryContext(ctx, `SELECT id, account_id, symbol, trade_id, client_order_id, venue_order_id, session_id, side,
			price, quantity, quote_qty, fee, fee_asset, maker, source, at FROM fills WHERE account_id = $1 AND trade_id IN (`+ph.String()+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("fills by key of account %d: %w", accountID, err)
		}
		for rows.Next() {
			var f Fill
			var at int64
			if err := rows.Scan(&f.ID, &f.AccountID, &f.Symbol, &f.TradeID, &f.ClientOrderID, &f.VenueOrderID, &f.SessionID,
				&f.Side, &f.Price, &f.Quantity, &f.QuoteQty, &f.Fee, &f.FeeAsset, &f.Maker, &f.Source, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("fills by key of account %d: %w", accountID, err)
			}
			f.At = fromMicros(at)
			if k := (FillKey{f.Symbol, f.TradeID}); want[k] {
				out[k] = f
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("fills by key of account %d: %w", accountID, err)
		}
	}
	return out, nil
}
