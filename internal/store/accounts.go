package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// Account is one set of credentials on one venue. APISecretEnc is the
// secret sealed by package secrets; the store never sees it in clear.
type Account struct {
	ID           int64
	Name         string
	Venue        string
	BaseURL      string
	APIKey       string
	APISecretEnc []byte
	Tags         []string
	CreatedAt    time.Time
	// Master names the master account of a Binance sub-account ("" for
	// none) and SubAccountEmail is the sub-account's email there. A
	// sub-account without APIKey is read through the master's key.
	Master          string
	SubAccountEmail string
	// FuturesLeverage and FuturesMarginType ("cross" or "isolated") are a
	// binance-futures account's own settings per symbol, set before it
	// first trades the symbol; a symbol without an entry takes the
	// server's (serve --futures-leverage/--futures-margin-type).
	FuturesLeverage   map[string]int
	FuturesMarginType map[string]string
}

// CreateAccount inserts a; it fails with ErrConflict when the name is taken.
func (db *DB) CreateAccount(ctx context.Context, a *Account) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now().UTC()
	}
	tags, _ := json.Marshal(nonNil(a.Tags))
	lev, _ := json.Marshal(nonNilMap(a.FuturesLeverage))
	mt, _ := json.Marshal(nonNilMap(a.FuturesMarginType))
	err := db.w.QueryRowContext(ctx,
		`INSERT INTO accounts (name, venue, base_url, api_key, api_secret_enc, tags, created_at, master, sub_account_email,
		 futures_leverage, futures_margin_type)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		a.Name, a.Venue, a.BaseURL, a.APIKey, a.APISecretEnc, string(tags), micros(a.CreatedAt), a.Master, a.SubAccountEmail,
		string(lev), string(mt)).Scan(&a.ID)
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.Name, db.mapErr(err))
	}
	return nil
}

const accountCols = `id, name, venue, base_url, api_key, api_secret_enc, tags, created_at, master, sub_account_email,
	futures_leverage, futures_margin_type`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var tags, lev, mt string
	var created int64
	if err := row.Scan(&a.ID, &a.Name, &a.Venue, &a.BaseURL, &a.APIKey, &a.APISecretEnc, &tags, &created, &a.Master,
		&a.SubAccountEmail, &lev, &mt); err != nil {
		return a, err
	}
	a.CreatedAt = fromMicros(created)
	if err := json.Unmarshal([]byte(tags), &a.Tags); err != nil {
		return a, fmt.Errorf("account %d tags: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(lev), &a.FuturesLeverage); err != nil {
		return a, fmt.Errorf("account %d futures leverage: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(mt), &a.FuturesMarginType); err != nil {
		return a, fmt.Errorf("account %d futures margin type: %w", a.ID, err)
	}
	if len(a.FuturesLeverage) == 0 {
		a.FuturesLeverage = nil
	}
	if len(a.FuturesMarginType) == 0 {
		a.FuturesMarginType = nil
	}
	return a, nil
}

// nonNilMap is m, or an empty map for nil (stored as {}).
func nonNilMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// Account returns the account named name.
func (db *DB) Account(ctx context.Context, name string) (Account, error) {
	a, err := scanAccount(db.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE name = $1`, name))
	if err != nil {
		return a, fmt.Errorf("account %q: %w", name, db.mapErr(err))
	}
	return a, nil
}

// AccountByID returns the account with id.
func (db *DB) AccountByID(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(db.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
	if err != nil {
		return a, fmt.Errorf("account %d: %w", id, db.mapErr(err))
	}
	return a, nil
}

// Accounts lists every account by name.
func (db *DB) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAccount removes an account with its wallets and balances. It fails
// with ErrConflict while sessions, orders or fills still refer to it, or
// while it is the master of a stored sub-account.
func (db *DB) DeleteAccount(ctx context.Context, name string) error {
	var subs int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE master = $1`, name).Scan(&subs); err != nil {
		return fmt.Errorf("delete account %q: %w", name, err)
	}
	// The messages are the error's own (a client is shown them): wrapped
	// around ErrConflict they showed as its "already exists".
	if subs > 0 {
		return &apperr.Error{Code: apperr.Conflict, Err: ErrConflict,
			Message: fmt.Sprintf("account %q is the master of %d sub-account(s): remove them first", name, subs)}
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM accounts WHERE name = $1`, name)
	if err != nil {
		return &apperr.Error{Code: apperr.Conflict, Err: ErrConflict,
			Message: fmt.Sprintf("account %q has sessions, orders or fills, which keep it: only an account without any can be removed", name)}
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete account %q: %w", name, ErrNotFound)
	}
	return nil
}

// Balance is one asset in one wallet of one account.
type Balance struct {
	AccountID int64
	Wallet    string
	Asset     string
	Free      udecimal.Decimal
	Locked    udecimal.Decimal
	Borrowed  udecimal.Decimal
	UpdatedAt time.Time
}

// WalletStatus is the result of the last read of a wallet from its venue.
type WalletStatus struct {
	AccountID int64
	Wallet    string
	Status    string // "ok" or "error"
	Error     string
	UpdatedAt time.Time
}

// ReplaceWallet stores a full read of one wallet: its balances replace the
// previous ones and its status becomes ok.
func (db *DB) ReplaceWallet(ctx context.Context, accountID int64, wallet string, bals []Balance, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM balances WHERE account_id = $1 AND wallet = $2`, accountID, wallet); err != nil {
			return fmt.Errorf("replace wallet %d/%s: %w", accountID, wallet, err)
		}
		for _, b := range bals {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO balances (account_id, wallet, asset, free, locked, borrowed, updated_at)
				 VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				accountID, wallet, b.Asset, b.Free, b.Locked, b.Borrowed, micros(at)); err != nil {
				return fmt.Errorf("replace wallet %d/%s asset %s: %w", accountID, wallet, b.Asset, db.mapErr(err))
			}
		}
		return upsertWalletStatus(ctx, tx, WalletStatus{AccountID: accountID, Wallet: wallet, Status: "ok", UpdatedAt: at})
	})
}

// MarkWalletFailed records that reading a wallet failed; its last known
// balances stay.
func (db *DB) MarkWalletFailed(ctx context.Context, accountID int64, wallet, reason string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		return upsertWalletStatus(ctx, tx, WalletStatus{AccountID: accountID, Wallet: wallet, Status: "error", Error: reason, UpdatedAt: at})
	})
}

func upsertWalletStatus(ctx context.Context, tx *sql.Tx, s WalletStatus) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO wallets (account_id, wallet, status, error, updated_at) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (account_id, wallet) DO UPDATE SET status = excluded.status, error = excluded.error, updated_at = excluded.updated_at`,
		s.AccountID, s.Wallet, s.Status, s.Error, micros(s.UpdatedAt))
	if err != nil {
		return fmt.Errorf("wallet status %d/%s: %w", s.AccountID, s.Wallet, err)
	}
	return nil
}

// Balances lists the stored balances of an account (all accounts when
// accountID is 0).
func (db *DB) Balances(ctx context.Context, accountID int64) ([]Balance, error) {
	q := `SELECT account_id, wallet, asset, free, locked, borrowed, updated_at FROM balances`
	var args []any
	if accountID != 0 {
		q += ` WHERE account_id = $1`
		args = append(args, accountID)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY account_id, wallet, asset`, args...)
	if err != nil {
		return nil, fmt.Errorf("list balances: %w", err)
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var b Balance
		var at int64
		if err := rows.Scan(&b.AccountID, &b.Wallet, &b.Asset, &b.Free, &b.Locked, &b.Borrowed, &at); err != nil {
			return nil, fmt.Errorf("list balances: %w", err)
		}
		b.UpdatedAt = fromMicros(at)
		out = append(out, b)
	}
	return out, rows.Err()
}

// WalletStatuses lists the last read result of every wallet.
func (db *DB) WalletStatuses(ctx context.Context) ([]WalletStatus, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account_id, wallet, status, error, updated_at FROM wallets ORDER BY account_id, wallet`)
	if err != nil {
		return nil, fmt.Errorf("list wallets: %w", err)
	}
	defer rows.Close()
	var out []WalletStatus
	for rows.Next() {
		var s WalletStatus
		var at int64
		if err := rows.Scan(&s.AccountID, &s.Wallet, &s.Status, &s.Error, &at); err != nil {
			return nil, fmt.Errorf("list wallets: %w", err)
		}
		s.UpdatedAt = fromMicros(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
