package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"
)

// FundingPayment is one stored funding settlement of a perpetual position of
// an account: Amount is signed (positive received, negative paid) in Asset.
// (AccountID, Symbol, PaymentID) is unique: storing it again is a no-op.
type FundingPayment struct {
	ID           int64
	AccountID    int64
	Symbol       string
	PaymentID    string // the venue's id of the payment
	Asset        string
	Amount       udecimal.Decimal
	PositionSize udecimal.Decimal // signed, zero when the venue does not say
	SessionID    string
	Source       string // "stream", "backfill", ...
	At           time.Time
}

// insertFunding stores f unless its key exists; it reports whether it did.
func (db *DB) insertFunding(ctx context.Context, tx *sql.Tx, f *FundingPayment) (bool, error) {
	err := tx.QueryRowContext(ctx,
		`INSERT INTO funding_payments (account_id, symbol, payment_id, asset, amount, position_size, session_id, source, at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		 ON CONFLICT (account_id, symbol, payment_id) DO NOTHING RETURNING id`,
		f.AccountID, f.Symbol, f.PaymentID, f.Asset, f.Amount, f.PositionSize, f.SessionID, f.Source, micros(f.At)).Scan(&f.ID)
	switch {
	case err == sql.ErrNoRows:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("insert funding payment %s/%s: %w", f.Symbol, f.PaymentID, db.mapErr(err))
	}
	return true, nil
}

// InsertFundingPayments stores payments in one transaction, skipping those
// stored already, and returns how many were new.
func (db *DB) InsertFundingPayments(ctx context.Context, fs []FundingPayment) (int, error) {
	n := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		for i := range fs {
			ok, err := db.insertFunding(ctx, tx, &fs[i])
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("insert %d funding payments: %w", len(fs), err)
	}
	return n, nil
}

// FundingPayments lists an account's funding payments with at < to (zero to:
// all), optionally of one symbol, oldest first (ties by id).
func (db *DB) FundingPayments(ctx context.Context, accountID int64, symbol string, to time.Time) ([]FundingPayment, error) {
	q := `SELECT id, account_id, symbol, payment_id, asset, amount, position_size, session_id, source, at
	      FROM funding_payments WHERE account_id = $1`
	args := []any{accountID}
	if symbol != "" {
		args = append(args, symbol)
		q += fmt.Sprintf(` AND symbol = $%d`, len(args))
	}
	if !to.IsZero() {
		args = append(args, micros(to))
		q += fmt.Sprintf(` AND at < $%d`, len(args))
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list funding payments of account %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []FundingPayment
	for rows.Next() {
		var f FundingPayment
		var at int64
		if err := rows.Scan(&f.ID, &f.AccountID, &f.Symbol, &f.PaymentID, &f.Asset, &f.Amount, &f.PositionSize,
			&f.SessionID, &f.Source, &at); err != nil {
			return nil, fmt.Errorf("list funding payments of account %d: %w", accountID, err)
		}
		f.At = fromMicros(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// FundingKey identifies a stored funding payment within an account.
type FundingKey struct {
	Symbol    string
	PaymentID string
}

// FundingKeys returns the keys of an account's funding payments with at in
// [from, to): what a read of that window has stored already.
func (db *DB) FundingKeys(ctx context.Context, accountID int64, from, to time.Time) (map[FundingKey]bool, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT symbol, payment_id FROM funding_payments WHERE account_id = $1 AND at >= $2 AND at < $3`,
		accountID, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("funding payment keys of account %d: %w", accountID, err)
	}
	defer rows.Close()
	out := map[FundingKey]bool{}
	for rows.Next() {
		var k FundingKey
		if err := rows.Scan(&k.Symbol, &k.PaymentID); err != nil {
			return nil, fmt.Errorf("funding payment keys of account %d: %w", accountID, err)
		}
		out[k] = true
	}
	return out, rows.Err()
}

// PositionFill is what summing a position by session needs of a fill.
type PositionFill struct {
	SessionID string
	Side      string
	Quantity  udecimal.Decimal
	Fee       udecimal.Decimal
	FeeAsset  string
	At        time.Time
}

// PositionFills lists an account's fills of symbol in time order (ties by
// id), with only the columns a position needs: the attribution of funding
// payments and liquidations reads every fill of a symbol.
func (db *DB) PositionFills(ctx context.Context, accountID int64, symbol string) ([]PositionFill, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT session_id, side, quantity, fee, fee_asset, at FROM fills
		WHERE account_id = $1 AND symbol = $2 ORDER BY at, id`, accountID, symbol)
	if err != nil {
		return nil, fmt.Errorf("position fills of account %d %s: %w", accountID, symbol, err)
	}
	defer rows.Close()
	var out []PositionFill
	for rows.Next() {
		var f PositionFill
		var at int64
		if err := rows.Scan(&f.SessionID, &f.Side, &f.Quantity, &f.Fee, &f.FeeAsset, &at); err != nil {
			return nil, fmt.Errorf("position fills of account %d %s: %w", accountID, symbol, err)
		}
		f.At = fromMicros(at)
		out = append(out, f)
	}
	return out, rows.Err()
}
