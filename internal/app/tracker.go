package app

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// tracker keeps, per session, what it has spent (its exposure for the
// allocation check) and a live PnL engine fed by its fills, liquidations
// and funding payments.
type tracker struct {
	pf  *portfolio.Portfolio
	log *slog.Logger // a fill or payment the engine refuses is logged, not lost silently

	mu       sync.Mutex
	sessions map[string]*sessionBook
}

type sessionBook struct {
	spent   udecimal.Decimal // quote paid for buys minus received for sells, floored at 0 when read
	engine  *pnl.Engine
	last    time.Time
	symbols map[string][2]string // symbol → base, quote
}

func newTracker(pf *portfolio.Portfolio, log *slog.Logger) *tracker {
	return &tracker{pf: pf, log: log, sessions: map[string]*sessionBook{}}
}

// load replays every stored session fill, oldest first, then the funding
// payments attributed to sessions.
func (t *tracker) load(ctx context.Context, db *store.DB) error {
	q := store.FillQuery{Limit: 100000}
	for {
		fills, err := db.Fills(ctx, q)
		if err != nil {
			return err
		}
		for _, f := range fills {
			if f.SessionID != "" {
				t.add(f.SessionID, f.Symbol, venue.Side(f.Side), f.Price, f.Quantity, f.Fee, f.FeeAsset, f.At, f.TradeID)
			}
		}
		if len(fills) < q.Limit {
			return t.loadFunding(ctx, db)
		}
		last := fills[len(fills)-1]
		q.AfterAt, q.AfterID = last.At, last.ID
	}
}

// fill applies one journaled fill (a liquidation's closing fill too).
func (t *tracker) fill(e journal.Event) {
	if e.SessionID == "" {
		return
	}
	t.add(e.SessionID, e.Symbol, e.Side, e.Price, e.Quantity, e.Fee, e.FeeAsset, e.At, strconv.FormatInt(e.Seq, 10))
}

// funding applies one journaled funding payment of a session (Fee is the
// signed amount in FeeAsset).
func (t *tracker) funding(e journal.Event) {
	if e.SessionID == "" {
		return
	}
	t.addFunding(e.SessionID, pnl.Funding{Symbol: e.Symbol, Asset: e.FeeAsset, Amount: e.Fee, Time: e.At,
		ID: strconv.FormatInt(e.Seq, 10)})
}

// loadFunding adds every stored funding payment attributed to a session.
func (t *tracker) loadFunding(ctx context.Context, db *store.DB) error {
	accts, err := db.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		fps, err := db.FundingPayments(ctx, a.ID, "", time.Time{})
		if err != nil {
			return err
		}
		for _, f := range fps {
			if f.SessionID != "" {
				t.addFunding(f.SessionID, pnl.Funding{Symbol: f.Symbol, Asset: f.Asset, Amount: f.Amount, Time: f.At, ID: f.PaymentID})
			}
		}
	}
	return nil
}

func (t *tracker) addFunding(sessionID string, f pnl.Funding) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.book(sessionID)
	base, quote, err := tradecsv.SplitSymbol(f.Symbol)
	if err != nil {
		t.notCounted("funding payment", sessionID, f.Symbol, f.ID, err)
		return
	}
	b.symbols[f.Symbol] = [2]string{base, quote}
	f.Base, f.Quote = base, quote
	if err := b.engine.AddFunding(f); err != nil {
		// A payment in another asset than the quote is the account's
		// alone (its balance shows it); anything else is a defect.
		t.notCounted("funding payment", sessionID, f.Symbol, f.ID, err)
	}
}

// notCounted logs a fill or payment the session's PnL engine refused: the
// live PnL is short of it.
func (t *tracker) notCounted(what, sessionID, symbol, id string, err error) {
	t.log.Warn("session PnL: "+what+" not counted", "session", sessionID, "symbol", symbol, "id", id, "err", err)
}

// book is a session's book, created on first use; t.mu is held.
func (t *tracker) book(sessionID string) *sessionBook {
	b := t.sessions[sessionID]
	if b == nil {
		eng, _ := pnl.NewEngine(pnl.AvgCost, pnl.FeePricer(quotePricer{t.pf}))
		b = &sessionBook{engine: eng, symbols: map[string][2]string{}}
		t.sessions[sessionID] = b
	}
	return b
}

func (t *tracker) add(sessionID, symbol string, side venue.Side, price, qty, fee venue.Decimal, feeAsset string, at time.Time, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.book(sessionID)
	notional := price.Mul(qty)
	if side == venue.Buy {
		b.spent = b.spent.Add(notional)
	} else {
		b.spent = b.spent.Sub(notional)
	}
	base, quote, err := tradecsv.SplitSymbol(symbol)
	if err != nil {
		t.notCounted("fill", sessionID, symbol, id, err)
		return
	}
	b.symbols[symbol] = [2]string{base, quote}
	if at.Before(b.last) {
		at = b.last // the engine takes fills in time order
	}
	b.last = at
	if err := b.engine.Add(&tradecsv.Trade{Time: at, Symbol: symbol, Base: base, Quote: quote, Side: side, Price: price,
		Quantity: qty, Fee: fee, FeeAsset: feeAsset, ID: id}); err != nil {
		t.notCounted("fill", sessionID, symbol, id, err)
	}
}

// exposure is the quote a session has tied up (never negative).
func (t *tracker) exposure(sessionID string) udecimal.Decimal {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.sessions[sessionID]
	if b == nil || b.spent.Sign() < 0 {
		return udecimal.Zero
	}
	return b.spent
}

// pnl is a session's net PnL now, marked at the price book.
func (t *tracker) pnl(sessionID string) (pnl.Report, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.sessions[sessionID]
	if b == nil {
		return pnl.Report{}, false
	}
	rep, err := b.engine.Report(t.marks(b))
	if err != nil {
		return pnl.Report{}, false
	}
	return rep, true
}

// marks are the price book's prices of a session's symbols; a symbol
// without one is marked at its last fill by the engine.
func (t *tracker) marks(b *sessionBook) map[string]venue.Decimal {
	out := map[string]venue.Decimal{}
	qp := quotePricer{t.pf}
	for sym, bq := range b.symbols {
		if p, ok := qp.FeePrice(bq[0], bq[1], time.Time{}); ok {
			out[sym] = p
		}
	}
	return out
}

// quotePricer converts third-asset fees with the live price book.
type quotePricer struct{ pf *portfolio.Portfolio }

func (q quotePricer) FeePrice(asset, quote string, _ time.Time) (venue.Decimal, bool) {
	a := q.pf.Quote(asset)
	if a.Price == nil {
		return venue.Decimal{}, false
	}
	if quote == q.pf.Currency() {
		return *a.Price, true
	}
	b := q.pf.Quote(quote)
	if b.Price == nil || b.Price.IsZero() {
		return venue.Decimal{}, false
	}
	d, err := a.Price.Div(*b.Price)
	return d, err == nil
}
