package backfill

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

// Errors callers branch on with errors.Is.
var (
	// ErrInput marks bad input: a bad trade file (the error also holds a
	// *tradecsv.ParseError naming line and column), an unknown account, a
	// bad range or interval. The CLI exits 2 on it.
	ErrInput = errors.New("bad input")
)

// Reason is err's text without the trailing ": bad input" of ErrInput, for
// a message that gives the class its own way (a usage error, a 400).
func Reason(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+ErrInput.Error())
}

// ImportBatch is how many fills ImportTrades commits per transaction.
const ImportBatch = 20_000

// SourceImport is the source of fills stored by ImportTrades.
const SourceImport = "import"

// ImportResult is what an import did.
type ImportResult struct {
	Format     string `json:"format"`     // "canonical", "binance" or "bybit"
	Rows       int64  `json:"rows"`       // data rows read
	New        int64  `json:"new"`        // fills stored
	Duplicates int64  `json:"duplicates"` // fills already stored (same account, symbol, trade id)
}

// ImportTrades stores the trades of a trade file (the canonical CSV or
// Binance's or Bybit's export, see package tradecsv) as fills of the account named
// accountName, with source "import".
//
// The whole file is validated first: a bad row fails the import with an
// error wrapping ErrInput and the *tradecsv.ParseError that names its line and
// column, and nothing is stored. Then fills are inserted in transactions of
// ImportBatch rows, idempotently: a fill whose (account, symbol, trade id) is
// stored already counts as a duplicate, so importing a file twice adds
// nothing. A trade without a trade id is keyed by tradecsv's content hash;
// such a row and the same trade stored with the venue's trade id (by a
// backfill or the live journal) are both kept, and the rebuild counts them
// once (MergeSources).
//
// r is read twice: directly when it is an io.ReadSeeker (a file), otherwise
// through a temporary file it is copied to during validation. size is r's
// length in bytes when known (≤ 0 when not). progress, when not nil, is
// called every 10,000 rows with done and total bytes over both passes
// (total = 2 × size; while size is unknown, total is 0 until validation
// ends). An error after validation (the database failing) may leave the
// batches committed so far; rerunning the import completes it.
func ImportTrades(ctx context.Context, db *store.DB, accountName string, r io.Reader, size int64,
	progress func(done, total int64)) (ImportResult, error) {
	acct, err := db.Account(ctx, accountName)
	if errors.Is(err, store.ErrNotFound) {
		return ImportResult{}, fmt.Errorf("import trades into account %q: no such account: %w", accountName, ErrInput)
	}
	if err != nil {
		return ImportResult{}, fmt.Errorf("import trades into account %q: %w", accountName, err)
	}
	report := func(done, total int64) {
		if progress != nil {
			progress(done, total)
		}
	}

	// Pass 1: validate, keeping a copy when r cannot be rewound.
	src := r
	seeker, canSeek := r.(io.ReadSeeker)
	var start int64
	if canSeek {
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			canSeek = false
		}
	}
	var spool *os.File
	if !canSeek {
		if spool, err = os.CreateTemp("", "tradeplane-import-*.csv"); err != nil {
			return ImportResult{}, fmt.Errorf("import trades: spool file: %w", err)
		}
		defer func() { spool.Close(); os.Remove(spool.Name()) }()
		src = io.TeeReader(r, spool)
	}
	var res ImportResult
	total := func() int64 {
		if size > 0 {
			return 2 * size
		}
		return 0
	}
	rd := tradecsv.NewReader(src)
	var fileBytes int64
	rd.OnProgress(10_000, func(p tradecsv.Progress) {
		fileBytes = p.Bytes
		if !p.Done {
			report(p.Bytes, total())
		}
	})
	conflicts := newConflictCheck(db, acct.ID)
	for {
		t, err := rd.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return ImportResult{}, importError(accountName, err)
		}
		res.Rows++
		if err := conflicts.add(ctx, t); err != nil {
			return ImportResult{}, importError(accountName, err)
		}
		if res.Rows%ImportBatch == 0 && ctx.Err() != nil {
			return ImportResult{}, fmt.Errorf("import trades into account %q: %w", accountName, ctx.Err())
		}
	}
	if err := conflicts.flush(ctx); err != nil {
		return ImportResult{}, importError(accountName, err)
	}
	f, _ := rd.Format()
	res.Format = f.String()
	if size <= 0 {
		size = fileBytes
	}
	report(size, total())

	// Pass 2: insert.
	if canSeek {
		if _, err := seeker.Seek(start, io.SeekStart); err != nil {
			return ImportResult{}, fmt.Errorf("import trades: rewind: %w", err)
		}
		src = seeker
	} else {
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return ImportResult{}, fmt.Errorf("import trades: rewind spool: %w", err)
		}
		src = spool
	}
	rd = tradecsv.NewReader(src)
	rd.OnProgress(10_000, func(p tradecsv.Progress) { report(size+min(p.Bytes, size), total()) })
	batch := make([]store.Fill, 0, ImportBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := db.InsertFills(ctx, batch)
		if err != nil {
			return fmt.Errorf("import trades into account %q: %w", accountName, err)
		}
		res.New += int64(n)
		res.Duplicates += int64(len(batch) - n)
		batch = batch[:0]
		return nil
	}
	for {
		t, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil { // the file changed under us
			return res, importError(accountName, err)
		}
		batch = append(batch, FillFromTrade(acct.ID, t, SourceImport))
		if len(batch) == ImportBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	report(total(), total())
	return res, nil
}

// importError wraps a reader error: a *tradecsv.ParseError is bad input.
func importError(account string, err error) error {
	var pe *tradecsv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("import trades into account %q: %w: %w", account, ErrInput, err)
	}
	return fmt.Errorf("import trades into account %q: %w", account, err)
}

// FillFromTrade is the store row of a trade read from a file.
func FillFromTrade(accountID int64, t tradecsv.Trade, source string) store.Fill {
	return store.Fill{
		AccountID: accountID, Symbol: t.Symbol, TradeID: t.ID, Side: string(t.Side),
		Price: t.Price, Quantity: t.Quantity, QuoteQty: t.Price.Mul(t.Quantity),
		Fee: t.Fee, FeeAsset: t.FeeAsset, Source: source, At: t.Time,
	}
}

// conflictCheck finds, while a file is validated, rows that reuse a trade
// id (per account and symbol) for a different fill: two rows of the file,
// or a row and a fill stored already. Such a row would be dropped as
// "already imported"; it is refused as a *tradecsv.ParseError naming its
// line instead. Rows with the same values are duplicates, not conflicts.
type conflictCheck struct {
	db      *store.DB
	account int64
	seen    map[store.FillKey]seenRow
	pending []tradecsv.Trade
}

type seenRow struct {
	line int
	sum  [16]byte
}

func newConflictCheck(db *store.DB, account int64) *conflictCheck {
	return &conflictCheck{db: db, account: account, seen: map[store.FillKey]seenRow{}}
}

// sameFill is what must agree for two records of one trade id to be the
// same fill: side, price, quantity and the time to the second (exports
// round times); fees are left out (their asset and rounding vary by
// source).
func sameFill(side string, price, qty Decimal, at time.Time) [16]byte {
	h := sha256.Sum256([]byte(side + "|" + price.String() + "|" + qty.String() + "|" + at.UTC().Truncate(time.Second).Format(time.RFC3339)))
	var out [16]byte
	copy(out[:], h[:16])
	return out
}

func (c *conflictCheck) add(ctx context.Context, t tradecsv.Trade) error {
	if tradecsv.IsHashID(t.ID) {
		return nil // keyed by its content: it cannot conflict
	}
	k := store.FillKey{Symbol: t.Symbol, TradeID: t.ID}
	sum := sameFill(string(t.Side), t.Price, t.Quantity, t.Time)
	if prev, ok := c.seen[k]; ok {
		if prev.sum != sum {
			return &tradecsv.ParseError{Line: t.Line, Column: "trade_id", Value: t.ID,
				Reason: fmt.Sprintf("is used by line %d for a different %s fill; one trade id names one fill (fix or remove one of the rows)", prev.line, t.Symbol)}
		}
		return nil
	}
	c.seen[k] = seenRow{line: t.Line, sum: sum}
	c.pending = append(c.pending, t)
	if len(c.pending) >= 500 {
		return c.flush(ctx)
	}
	return nil
}

// flush compares the pending rows with the fills stored under their keys.
func (c *conflictCheck) flush(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	keys := make([]store.FillKey, len(c.pending))
	for i, t := range c.pending {
		keys[i] = store.FillKey{Symbol: t.Symbol, TradeID: t.ID}
	}
	stored, err := c.db.FillsByKey(ctx, c.account, keys)
	if err != nil {
		return err
	}
	for _, t := range c.pending {
		f, ok := stored[store.FillKey{Symbol: t.Symbol, TradeID: t.ID}]
		if ok && sameFill(f.Side, f.Price, f.Quantity, f.At) != sameFill(string(t.Side), t.Price, t.Quantity, t.Time) {
			return &tradecsv.ParseError{Line: t.Line, Column: "trade_id", Value: t.ID,
				Reason: fmt.Sprintf("is stored already for a different %s fill (%s %s at %s, %s); one trade id names one fill",
					t.Symbol, f.Side, f.Quantity, f.Price, f.At.UTC().Format(time.RFC3339))}
		}
	}
	c.pending = c.pending[:0]
	return nil
}
