package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"
)

// CollateralRatio is a stored override of an asset's collateral ratio.
// Account "" is desk-wide.
type CollateralRatio struct {
	Account   string
	Asset     string
	Ratio     udecimal.Decimal
	Version   int64
	UpdatedBy string
	UpdatedAt time.Time
}

// CollateralChange is one audited change of a ratio. OldRatio is "" when
// the asset had no stored ratio before.
type CollateralChange struct {
	Version  int64
	Account  string
	Asset    string
	OldRatio string
	NewRatio string
	Actor    string
	At       time.Time
}

// SetCollateralRatio stores a ratio override (nil removes it) and its audit
// record in one transaction; the change's version is returned.
func (db *DB) SetCollateralRatio(ctx context.Context, account, asset string, ratio *udecimal.Decimal, actor string, at time.Time) (int64, error) {
	var version int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT ratio FROM collateral_ratios WHERE account = $1 AND asset = $2`, account, asset).Scan(&old)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if old != "" {
			if d, err := udecimal.Parse(old); err == nil {
				old = d.String()
			}
		}
		newRatio := ""
		if ratio != nil {
			newRatio = ratio.String()
		}
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO collateral_changes (account, asset, old_ratio, new_ratio, actor, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING version`,
			account, asset, old, newRatio, actor, micros(at)).Scan(&version); err != nil {
			return err
		}
		if ratio == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM collateral_ratios WHERE account = $1 AND asset = $2`, account, asset)
			return err
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO collateral_ratios (account, asset, ratio, version, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
			 ON CONFLICT (account, asset) DO UPDATE SET ratio = excluded.ratio, version = excluded.version,
			   updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			account, asset, *ratio, version, actor, micros(at))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("set collateral ratio %s/%s: %w", account, asset, err)
	}
	return version, nil
}

// CollateralRatios lists every stored ratio.
func (db *DB) CollateralRatios(ctx context.Context) ([]CollateralRatio, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account, asset, ratio, version, updated_by, updated_at FROM collateral_ratios ORDER BY account, asset`)
	if err != nil {
		return nil, fmt.Errorf("list collateral ratios: %w", err)
	}
	defer rows.Close()
	var out []CollateralRatio
	for rows.Next() {
		var c CollateralRatio
		var at int64
		if err := rows.Scan(&c.Account, &c.Asset, &c.Ratio, &c.Version, &c.UpdatedBy, &at); err != nil {
			return nil, fmt.Errorf("list collateral ratios: %w", err)
		}
		c.UpdatedAt = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CollateralChangesAsc lists every ratio change, oldest first, to replay
// them at start-up.
func (db *DB) CollateralChangesAsc(ctx context.Context) ([]CollateralChange, error) {
	return db.collateralChanges(ctx, `ORDER BY version`, nil)
}

// CollateralChanges lists the audit trail of ratio changes, newest first.
func (db *DB) CollateralChanges(ctx context.Context, limit int) ([]CollateralChange, error) {
	return db.collateralChanges(ctx, `ORDER BY version DESC LIMIT $1`, []any{limitOr(limit, 100)})
}

func (db *DB) collateralChanges(ctx context.Context, tail string, args []any) ([]CollateralChange, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT version, account, asset, old_ratio, new_ratio, actor, at FROM collateral_changes `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("list collateral changes: %w", err)
	}
	defer rows.Close()
	var out []CollateralChange
	for rows.Next() {
		var c CollateralChange
		var at int64
		if err := rows.Scan(&c.Version, &c.Account, &c.Asset, &c.OldRatio, &c.NewRatio, &c.Actor, &at); err != nil {
			return nil, fmt.Errorf("list collateral changes: %w", err)
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// PriceSnapshot is a recorded price.
type PriceSnapshot struct {
	Symbol string
	At     time.Time
	Price  udecimal.Decimal
}

// InsertPriceSnapshots stores prices; a repeated (symbol, time) is ignored.
func (db *DB) InsertPriceSnapshots(ctx context.Context, ps []PriceSnapshot) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			if _, err := tx.ExecContext(ctx, `INSERT INTO price_snapshots (symbol, at, price) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				p.Symbol, micros(p.At), p.Price); err != nil {
				return fmt.Errorf("insert price %s: %w", p.Symbol, err)
			}
		}
		return nil
	})
}

// PriceAt returns the last recorded price of symbol at or before t.
func (db *DB) PriceAt(ctx context.Context, symbol string, t time.Time) (PriceSnapshot, error) {
	p := PriceSnapshot{Symbol: symbol}
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT at, price FROM price_snapshots WHERE symbol = $1 AND at <= $2 ORDER BY at DESC LIMIT 1`,
		symbol, micros(t)).Scan(&at, &p.Price)
	if err != nil {
		return p, fmt.Errorf("price of %s at %s: %w", symbol, t.Format(time.RFC3339), db.mapErr(err))
	}
	p.At = fromMicros(at)
	return p, nil
}

// LatestPrices returns the newest recorded price of every symbol.
func (db *DB) LatestPrices(ctx context.Context) ([]PriceSnapshot, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT p.symbol, p.at, p.price FROM price_snapshots p
		 JOIN (SELECT symbol, MAX(at) AS at FROM price_snapshots GROUP BY symbol) m ON m.symbol = p.symbol AND m.at = p.at
		 ORDER BY p.symbol`)
	if err != nil {
		return nil, fmt.Errorf("latest prices: %w", err)
	}
	defer rows.Close()
	var out []PriceSnapshot
	for rows.Next() {
		var p PriceSnapshot
		var at int64
		if err := rows.Scan(&p.Symbol, &at, &p.Price); err != nil {
			return nil, fmt.Errorf("latest prices: %w", err)
		}
		p.At = fromMicros(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// EquitySnapshot is the value of a scope at a time. Source is "live" or
// "backfill".
type EquitySnapshot struct {
	Scope      string
	Source     string
	At         time.Time
	Equity     udecimal.Decimal
	Collateral udecimal.Decimal
	Realized   udecimal.Decimal
	Unrealized udecimal.Decimal
	Partial    bool
}

// UpsertEquitySnapshots stores snapshots, replacing any with the same
// scope, source and time (so a rerun of a backfill changes nothing).
func (db *DB) UpsertEquitySnapshots(ctx context.Context, ss []EquitySnapshot) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		for _, s := range ss {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO equity_snapshots (scope, source, at, equity, collateral, realized, unrealized, partial)
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				 ON CONFLICT (scope, source, at) DO UPDATE SET equity = excluded.equity, collateral = excluded.collateral,
				   realized = excluded.realized, unrealized = excluded.unrealized, partial = excluded.partial`,
				s.Scope, s.Source, micros(s.At), s.Equity, s.Collateral, s.Realized, s.Unrealized, s.Partial); err != nil {
				return fmt.Errorf("equity snapshot %s/%s: %w", s.Scope, s.Source, err)
			}
		}
		return nil
	})
}

// EquitySnapshots lists a scope's snapshots from one source in [from, to).
func (db *DB) EquitySnapshots(ctx context.Context, scope, source string, from, to time.Time) ([]EquitySnapshot, error) {
	rows, err := db.r.QueryContext(ctx,
		`SELECT at, equity, collateral, realized, unrealized, partial FROM equity_snapshots
		 WHERE scope = $1 AND source = $2 AND at >= $3 AND at < $4 ORDER BY at`,
		scope, source, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("equity snapshots %s: %w", scope, err)
	}
	defer rows.Close()
	var out []EquitySnapshot
	for rows.Next() {
		s := EquitySnapshot{Scope: scope, Source: source}
		var at int64
		if err := rows.Scan(&at, &s.Equity, &s.Collateral, &s.Realized, &s.Unrealized, &s.Partial); err != nil {
			return nil, fmt.Errorf("equity snapshots %s: %w", scope, err)
		}
		s.At = fromMicros(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}
