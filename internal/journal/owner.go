package journal

import (
	"context"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// PositionOwners attributes what a venue does to a perpetual position of
// one account (a funding payment, a liquidation) to the session that holds
// the position, so that it counts in that session's PnL as well as the
// account's. The rule (README, "Perpetuals"):
//
//   - The journal's fills of the account in the symbol before the event's
//     time are summed per session, with the fills of no session as one more
//     group: buys add their quantity, sells subtract it, a fee paid in the
//     base asset subtracts it too (as PnL books it).
//   - The event belongs to session S when S's position is non-zero and every
//     other group's is zero: S holds the whole position of the account. When
//     the venue says which size the event concerned (a paper funding
//     payment's position, a liquidation's closed quantity), that size must
//     also equal S's position.
//   - Otherwise (no session holds the position, or several sessions or
//     session-less fills share it, or the journal's position is not the
//     venue's) the event stays at the account: the account's PnL counts it,
//     no session's does. A payment is never split between sessions: the
//     venue settles one amount on the net position, and shares of a net
//     position (one session long, another short) have no meaningful split.
//
// A PositionOwners reads each symbol's fills once: make one per pass.
type PositionOwners struct {
	db      *store.DB
	account int64
	fills   map[string][]store.PositionFill
}

// NewPositionOwners returns the owners of accountID's positions, read from
// db's fills.
func NewPositionOwners(db *store.DB, accountID int64) *PositionOwners {
	return &PositionOwners{db: db, account: accountID, fills: map[string][]store.PositionFill{}}
}

// Owner returns the session that holds the account's whole position in
// symbol just before at ("" when the event stays at the account, see
// PositionOwners). size is the signed position the venue says the event
// concerned, zero when it does not say.
func (o *PositionOwners) Owner(ctx context.Context, symbol string, at time.Time, size venue.Decimal) (string, error) {
	fills, err := o.load(ctx, symbol)
	if err != nil {
		return "", err
	}
	base, _, err := tradecsv.SplitSymbol(symbol)
	if err != nil {
		base = ""
	}
	pos := map[string]venue.Decimal{}
	for _, f := range fills {
		if !f.At.Before(at) {
			break
		}
		q := f.Quantity
		if f.Side == string(venue.Sell) {
			q = q.Neg()
		}
		if base != "" && f.FeeAsset == base {
			q = q.Sub(f.Fee)
		}
		pos[f.SessionID] = pos[f.SessionID].Add(q)
	}
	return ownerOf(pos, size), nil
}

// ownerOf is the rule on the positions by session ("" for fills of no
// session).
func ownerOf(pos map[string]venue.Decimal, size venue.Decimal) string {
	owner := ""
	for sid, q := range pos {
		if q.IsZero() {
			continue
		}
		if sid == "" || owner != "" {
			return "" // fills of no session, or a second session, hold part of it
		}
		owner = sid
	}
	if owner != "" && !size.IsZero() && !size.Equal(pos[owner]) {
		return ""
	}
	return owner
}

// load reads the account's fills of symbol, in time order.
func (o *PositionOwners) load(ctx context.Context, symbol string) ([]store.PositionFill, error) {
	if fs, ok := o.fills[symbol]; ok {
		return fs, nil
	}
	fs, err := o.db.PositionFills(ctx, o.account, symbol)
	if err != nil {
		return nil, fmt.Errorf("positions of %s by session: %w", symbol, err)
	}
	o.fills[symbol] = fs
	return fs, nil
}
