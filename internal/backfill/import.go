package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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

// ImportBatch is how many fills ImportTrades commits per transaction.
const ImportBatch = 20_000

// SourceImport is the source of fills stored by ImportTrades.
const SourceImport = "import"

// ImportResult is what an import did.
type ImportResult struct {
	Format     string `json:"format"`     // "canonical" or "binance"
	Rows       int64  `json:"rows"`       // data rows read
	New        int64  `json:"new"`        // fills stored
	Duplicates int64  `json:"duplicates"` // fills already stored (same account, symbol, trade id)
}

// ImportTrades stores the trades of a trade file (the canonical CSV or
// Binance's export, see package tradecsv) as fills of the account named
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
	for {
		if _, err := rd.Next(); err == io.EOF {
			break
		} else if err != nil {
			return ImportResult{}, importError(accountName, err)
		}
		res.Rows++
		if res.Rows%ImportBatch == 0 && ctx.Err() != nil {
			return ImportResult{}, fmt.Errorf("import trades into account %q: %w", accountName, ctx.Err())
		}
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
