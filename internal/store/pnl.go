package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/quagmt/udecimal"
)

// fillNCols is the number of columns InsertFills writes per row.
const fillNCols = 15

// fillChunk bounds the rows of one multi-row fill INSERT (15 parameters
// each; SQLite allows 32766 parameters per statement, PostgreSQL 65535).
const fillChunk = 1000

// InsertFills stores fills in ONE transaction, skipping every fill whose
// (AccountID, Symbol, TradeID) is already stored or repeats an earlier fill of
// the batch, and returns how many rows were new. The fills' ID fields are not
// set. Any failing statement fails the whole batch and stores nothing.
func (db *DB) InsertFills(ctx context.Context, fs []Fill) (int, error) {
	inserted := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		var sb strings.Builder
		args := make([]any, 0, min(len(fs), fillChunk)*fillNCols)
		if db.dialect.name() == "sqlite" {
			// One prepared single-row statement: modernc binds $N
			// parameters in time quadratic in their number, so multi-row
			// statements are slower than this on SQLite.
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO fills (account_id, symbol, trade_id, client_order_id, venue_order_id,
			   session_id, side, price, quantity, quote_qty, fee, fee_asset, maker, source, at)
			   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			   ON CONFLICT (account_id, symbol, trade_id) DO NOTHING`)
			if err != nil {
				return fmt.Errorf("prepare fill insert: %w", err)
			}
			defer stmt.Close()
			for i := range fs {
				f := &fs[i]
				res, err := stmt.ExecContext(ctx, f.AccountID, f.Symbol, f.TradeID, f.ClientOrderID, f.VenueOrderID, f.SessionID,
					f.Side, f.Price, f.Quantity, f.QuoteQty, f.Fee, f.FeeAsset, f.Maker, f.Source, micros(f.At))
				if err != nil {
					return fmt.Errorf("insert fill %s/%s: %w", f.Symbol, f.TradeID, db.mapErr(err))
				}
				if k, _ := res.RowsAffected(); k == 1 {
					inserted++
				}
			}
			return nil
		}
		for rest := fs; len(rest) > 0; {
			n := min(len(rest), fillChunk)
			chunk := rest[:n]
			rest = rest[n:]
			sb.Reset()
			args = args[:0]
			sb.WriteString(`INSERT INTO fills (account_id, symbol, trade_id, client_order_id, venue_order_id, session_id, side,
			   price, quantity, quote_qty, fee, fee_asset, maker, source, at) VALUES `)
			for i := range chunk {
				f := &chunk[i]
				if i > 0 {
					sb.WriteByte(',')
				}
				sb.WriteByte('(')
				for c := range fillNCols {
					if c > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, "$%d", i*fillNCols+c+1)
				}
				sb.WriteByte(')')
				args = append(args, f.AccountID, f.Symbol, f.TradeID, f.ClientOrderID, f.VenueOrderID, f.SessionID, f.Side,
					f.Price, f.Quantity, f.QuoteQty, f.Fee, f.FeeAsset, f.Maker, f.Source, micros(f.At))
			}
			sb.WriteString(` ON CONFLICT (account_id, symbol, trade_id) DO NOTHING`)
			res, err := tx.ExecContext(ctx, sb.String(), args...)
			if err != nil {
				return fmt.Errorf("insert %d fills from %s/%s: %w", n, chunk[0].Symbol, chunk[0].TradeID, db.mapErr(err))
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("insert %d fills: %w", n, err)
			}
			inserted += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("insert fill batch of %d: %w", len(fs), err)
	}
	return inserted, nil
}

// CountFills returns how many fills an account has (every account when
// accountID is 0).
func (db *DB) CountFills(ctx context.Context, accountID int64) (int64, error) {
	var n int64
	q, args := `SELECT COUNT(*) FROM fills`, []any{}
	if accountID != 0 {
		q, args = q+` WHERE account_id = $1`, append(args, accountID)
	}
	if err := db.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count fills of account %d: %w", accountID, err)
	}
	return n, nil
}

// OrderByVenueID returns the order of an account that the venue numbered
// venueOrderID in symbol; ErrNotFound when there is none. Venues whose trade
// history does not carry the client order id (Binance's myTrades) are
// attributed through it.
func (db *DB) OrderByVenueID(ctx context.Context, accountID int64, symbol, venueOrderID string) (Order, error) {
	o, err := scanOrder(db.r.QueryRowContext(ctx,
		`SELECT `+orderCols+` FROM orders WHERE account_id = $1 AND venue_order_id = $2 AND symbol = $3
		 ORDER BY created_at LIMIT 1`, accountID, venueOrderID, symbol))
	if err != nil {
		return o, fmt.Errorf("order %s/%s of account %d: %w", symbol, venueOrderID, accountID, db.mapErr(err))
	}
	return o, nil
}

// BackfillCheckpoint is how far a backfill has downloaded the trade history
// of one symbol of one account: every trade in [From, Until) is stored.
type BackfillCheckpoint struct {
	AccountID int64
	Symbol    string
	From      time.Time
	Until     time.Time
	Trades    int64 // trades downloaded into the range so far
	UpdatedAt time.Time
}

// BackfillCheckpoint returns the checkpoint of an account's symbol;
// ErrNotFound when the symbol was never backfilled.
func (db *DB) BackfillCheckpoint(ctx context.Context, accountID int64, symbol string) (BackfillCheckpoint, error) {
	c := BackfillCheckpoint{AccountID: accountID, Symbol: symbol}
	var from, until, upd int64
	err := db.r.QueryRowContext(ctx,
		`SELECT from_at, until_at, trades, updated_at FROM backfill_checkpoints WHERE account_id = $1 AND symbol = $2`,
		accountID, symbol).Scan(&from, &until, &c.Trades, &upd)
	if err != nil {
		return c, fmt.Errorf("backfill checkpoint %d/%s: %w", accountID, symbol, db.mapErr(err))
	}
	c.From, c.Until, c.UpdatedAt = fromMicros(from), fromMicros(until), fromMicros(upd)
	return c, nil
}

// SetBackfillCheckpoint stores (replaces) the checkpoint of c's account and
// symbol.
func (db *DB) SetBackfillCheckpoint(ctx context.Context, c BackfillCheckpoint) error {
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO backfill_checkpoints (account_id, symbol, from_at, until_at, trades, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
		 ON CONFLICT (account_id, symbol) DO UPDATE SET from_at = excluded.from_at, until_at = excluded.until_at,
		   trades = excluded.trades, updated_at = excluded.updated_at`,
		c.AccountID, c.Symbol, micros(c.From), micros(c.Until), c.Trades, micros(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("set backfill checkpoint %d/%s: %w", c.AccountID, c.Symbol, db.mapErr(err))
	}
	return nil
}

// PnLPoint is one point of a reconstructed PnL step series: the state of a
// scope in one symbol as of At, in that symbol's quote asset. Symbol "" is
// the scope's sum row, in the backfill's valuation asset (other quotes
// converted, never added as they are); "quote:Q" rows sum the symbols quoted
// in Q, in Q (see package backfill). Net = Realized − Fees + Funding + Unrealized
// (Funding: perpetual funding payments, received positive, paid negative);
// Equity is the scope's opening equity plus Net. Position and Mark are zero on a sum row. Partial
// is set when a fee could not be priced or a symbol had no mark.
type PnLPoint struct {
	Scope      string
	Symbol     string
	Source     string // "backfill"
	At         time.Time
	Position   udecimal.Decimal
	Mark       udecimal.Decimal
	Realized   udecimal.Decimal
	Fees       udecimal.Decimal
	Unrealized udecimal.Decimal
	Funding    udecimal.Decimal
	Net        udecimal.Decimal
	Equity     udecimal.Decimal
	Trades     int64
	Partial    bool
}

// pnlNCols is the number of columns UpsertPnLPoints writes per row.
const pnlNCols = 14

// UpsertPnLPoints stores points in one transaction, replacing any with the
// same scope, symbol, source and time (so a rerun of a backfill changes
// nothing). Each sum row (Symbol "") is mirrored into equity_snapshots
// (same scope, source and time; equity, realized and unrealized; collateral
// zero) so readers of equity history see backfilled series too.
func (db *DB) UpsertPnLPoints(ctx context.Context, ps []PnLPoint) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		chunkSize := 500
		if db.dialect.name() == "sqlite" {
			chunkSize = 1 // see InsertFills: many parameters bind slowly on SQLite
		}
		var sb strings.Builder
		for rest := ps; len(rest) > 0; {
			n := min(len(rest), chunkSize)
			chunk := rest[:n]
			rest = rest[n:]
			sb.Reset()
			args := make([]any, 0, n*pnlNCols)
			sb.WriteString(`INSERT INTO pnl_points (scope, symbol, source, at, position, mark, realized, fees, unrealized, net,
			   equity, trades, partial, funding) VALUES `)
			var eq []EquitySnapshot
			for i, p := range chunk {
				if i > 0 {
					sb.WriteByte(',')
				}
				sb.WriteByte('(')
				for c := range pnlNCols {
					if c > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, "$%d", i*pnlNCols+c+1)
				}
				sb.WriteByte(')')
				args = append(args, p.Scope, p.Symbol, p.Source, micros(p.At), p.Position, p.Mark, p.Realized, p.Fees,
					p.Unrealized, p.Net, p.Equity, p.Trades, p.Partial, p.Funding)
				if p.Symbol == "" {
					eq = append(eq, EquitySnapshot{Scope: p.Scope, Source: p.Source, At: p.At, Equity: p.Equity,
						Realized: p.Realized, Unrealized: p.Unrealized, Partial: p.Partial})
				}
			}
			sb.WriteString(` ON CONFLICT (scope, symbol, source, at) DO UPDATE SET position = excluded.position,
			   mark = excluded.mark, realized = excluded.realized, fees = excluded.fees, unrealized = excluded.unrealized,
			   net = excluded.net, equity = excluded.equity, trades = excluded.trades, partial = excluded.partial,
			   funding = excluded.funding`)
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				return fmt.Errorf("upsert %d pnl points of %s: %w", n, chunk[0].Scope, err)
			}
			for _, s := range eq {
				if _, err := tx.ExecContext(ctx,
					`INSERT INTO equity_snapshots (scope, source, at, equity, collateral, realized, unrealized, partial)
					 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
					 ON CONFLICT (scope, source, at) DO UPDATE SET equity = excluded.equity, collateral = excluded.collateral,
					   realized = excluded.realized, unrealized = excluded.unrealized, partial = excluded.partial`,
					s.Scope, s.Source, micros(s.At), s.Equity, s.Collateral, s.Realized, s.Unrealized, s.Partial); err != nil {
					return fmt.Errorf("mirror equity snapshot %s/%s: %w", s.Scope, s.Source, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upsert pnl points: %w", err)
	}
	return nil
}

// PnLPointQuery selects points of one scope, symbol and source.
type PnLPointQuery struct {
	Scope  string
	Symbol string // "" selects the sum rows
	Source string
	From   time.Time // at >= From
	To     time.Time // at < To; zero means no bound
	// WithPrior adds the last point before From first, so that a step series
	// is known from From on.
	WithPrior bool
}

// PnLPoints runs q; points are in time order.
func (db *DB) PnLPoints(ctx context.Context, q PnLPointQuery) ([]PnLPoint, error) {
	const cols = `at, position, mark, realized, fees, unrealized, net, equity, trades, partial, funding`
	to := micros(q.To)
	if q.To.IsZero() {
		to = 1 << 62
	}
	var out []PnLPoint
	scan := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			p := PnLPoint{Scope: q.Scope, Symbol: q.Symbol, Source: q.Source}
			var at int64
			if err := rows.Scan(&at, &p.Position, &p.Mark, &p.Realized, &p.Fees, &p.Unrealized, &p.Net, &p.Equity,
				&p.Trades, &p.Partial, &p.Funding); err != nil {
				return err
			}
			p.At = fromMicros(at)
			out = append(out, p)
		}
		return rows.Err()
	}
	if q.WithPrior {
		rows, err := db.r.QueryContext(ctx, `SELECT `+cols+` FROM pnl_points
			WHERE scope = $1 AND symbol = $2 AND source = $3 AND at < $4 ORDER BY at DESC LIMIT 1`,
			q.Scope, q.Symbol, q.Source, micros(q.From))
		if err == nil {
			err = scan(rows)
		}
		if err != nil {
			return nil, fmt.Errorf("pnl points %s/%s/%s: %w", q.Scope, q.Symbol, q.Source, err)
		}
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+cols+` FROM pnl_points
		WHERE scope = $1 AND symbol = $2 AND source = $3 AND at >= $4 AND at < $5 ORDER BY at`,
		q.Scope, q.Symbol, q.Source, micros(q.From), to)
	if err == nil {
		err = scan(rows)
	}
	if err != nil {
		return nil, fmt.Errorf("pnl points %s/%s/%s: %w", q.Scope, q.Symbol, q.Source, err)
	}
	return out, nil
}

// PnLScopes lists the distinct scopes with points from source whose names
// start with prefix ("" for all), sorted.
func (db *DB) PnLScopes(ctx context.Context, source, prefix string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT DISTINCT scope FROM pnl_points WHERE source = $1 AND symbol = '' AND scope LIKE $2 ORDER BY scope`,
		source, likePrefix(prefix))
	if err != nil {
		return nil, fmt.Errorf("pnl scopes %q: %w", prefix, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("pnl scopes %q: %w", prefix, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// likePrefix escapes nothing: scopes are "kind:name" with no wildcards in
// practice, and a stray '%' or '_' only widens a listing.
func likePrefix(p string) string { return p + "%" }

// EquitySnapshotBefore returns a scope's last snapshot from source strictly
// before t; ErrNotFound when there is none. With EquitySnapshots it gives a
// step series that is known from t on.
func (db *DB) EquitySnapshotBefore(ctx context.Context, scope, source string, t time.Time) (EquitySnapshot, error) {
	s := EquitySnapshot{Scope: scope, Source: source}
	var at int64
	err := db.r.QueryRowContext(ctx,
		`SELECT at, equity, collateral, realized, unrealized, partial FROM equity_snapshots
		 WHERE scope = $1 AND source = $2 AND at < $3 ORDER BY at DESC LIMIT 1`, scope, source, micros(t)).
		Scan(&at, &s.Equity, &s.Collateral, &s.Realized, &s.Unrealized, &s.Partial)
	if err != nil {
		return s, fmt.Errorf("equity snapshot %s/%s before %s: %w", scope, source, t.Format(time.RFC3339), db.mapErr(err))
	}
	s.At = fromMicros(at)
	return s, nil
}

// FillSymbols lists the distinct symbols of an account's stored fills,
// sorted.
func (db *DB) FillSymbols(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT symbol FROM fills WHERE account_id = $1 ORDER BY symbol`, accountID)
	if err != nil {
		return nil, fmt.Errorf("fill symbols of account %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("fill symbols of account %d: %w", accountID, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// AccountOrders lists every order of an account in one symbol, oldest first
// (a backfill attributes a window's fills from it without a query per fill).
func (db *DB) AccountOrders(ctx context.Context, accountID int64, symbol string) ([]Order, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+orderCols+` FROM orders WHERE account_id = $1 AND symbol = $2
		ORDER BY created_at, client_order_id`, accountID, symbol)
	if err != nil {
		return nil, fmt.Errorf("orders of account %d in %s: %w", accountID, symbol, err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("orders of account %d in %s: %w", accountID, symbol, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// EquitySample is one equity snapshot as a series reader sees it.
type EquitySample struct {
	At     time.Time
	Source string
	Equity udecimal.Decimal
}

// equityPage is how many snapshots of one source EachEquitySample reads
// per query.
const equityPage = 4096

// EachEquitySample calls fn with every snapshot of scope from the given
// sources in [from, to), in time order, ties in the order of sources. It
// reads each source a page of equityPage rows at a time (an index range
// scan per page; no sort, no read connection held between pages) and
// merges them, so memory does not grow with the range: a PnL report over
// 240,000 minute snapshots streams them instead of holding them. fn's
// error stops the walk and is returned as is.
func (db *DB) EachEquitySample(ctx context.Context, scope string, sources []string, from, to time.Time,
	fn func(EquitySample) error) error {
	type cursor struct {
		source string
		page   []EquitySample
		pos    int   // page[pos] is the next sample
		next   int64 // micros: the next page starts here
		done   bool  // no rows after page
	}
	cs := make([]*cursor, len(sources))
	for i, s := range sources {
		cs[i] = &cursor{source: s, next: micros(from)}
	}
	end := micros(to)
	fill := func(c *cursor) error {
		c.page, c.pos = c.page[:0], 0
		rows, err := db.r.QueryContext(ctx, `SELECT at, equity FROM equity_snapshots
			WHERE scope = $1 AND source = $2 AND at >= $3 AND at < $4 ORDER BY at LIMIT $5`,
			scope, c.source, c.next, end, equityPage)
		if err != nil {
			return fmt.Errorf("equity of %s from %s: %w", scope, c.source, err)
		}
		defer rows.Close()
		for rows.Next() {
			s := EquitySample{Source: c.source}
			var at int64
			if err := rows.Scan(&at, &s.Equity); err != nil {
				return fmt.Errorf("equity of %s from %s: %w", scope, c.source, err)
			}
			s.At = fromMicros(at)
			c.page = append(c.page, s)
			c.next = at + 1
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("equity of %s from %s: %w", scope, c.source, err)
		}
		c.done = len(c.page) < equityPage
		return nil
	}
	for _, c := range cs {
		if err := fill(c); err != nil {
			return err
		}
	}
	for {
		var first *cursor
		for _, c := range cs {
			if c.pos < len(c.page) && (first == nil || c.page[c.pos].At.Before(first.page[first.pos].At)) {
				first = c
			}
		}
		if first == nil {
			return nil
		}
		if err := fn(first.page[first.pos]); err != nil {
			return err
		}
		first.pos++
		if first.pos == len(first.page) && !first.done {
			if err := fill(first); err != nil {
				return err
			}
		}
	}
}
