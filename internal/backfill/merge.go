package backfill

import (
	"strconv"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

// MergeSources recognises the same execution stored twice by different
// sources and keeps one copy. The store's dedupe key is (account, symbol,
// trade id), but a trade file without trade ids (Binance's trade-history
// export) is keyed by tradecsv's content hash, while a backfill or the live
// journal stores the venue's trade id: the same trade then has two rows.
//
// A fill whose id is a content hash (tradecsv.IsHashID) is the same
// execution as a fill with a venue trade id when they agree on symbol, side,
// time to the second (the export's resolution; both truncated), price,
// quantity, fee and fee asset (decimals by value). Each id-less fill matches
// at most one fill with an id and the other way round, so two identical
// trades in one second are still two; the copy with the venue's id is kept
// (it carries the session attribution and the exact time). Fills of one
// account are expected; fs keeps its order. It returns the kept fills and how
// many were merged away.
func MergeSources(fs []Fill) ([]Fill, int) {
	withID := map[string]int{} // key → fills with a venue id not yet matched
	hashed := 0
	for i := range fs {
		if tradecsv.IsHashID(fs[i].ID) {
			hashed++
		} else {
			withID[executionKey(&fs[i])]++
		}
	}
	if hashed == 0 || len(withID) == 0 {
		return fs, 0
	}
	out := fs[:0:0]
	merged := 0
	for i := range fs {
		f := &fs[i]
		if tradecsv.IsHashID(f.ID) {
			k := executionKey(f)
			if withID[k] > 0 {
				withID[k]--
				merged++
				continue
			}
		}
		out = append(out, *f)
	}
	return out, merged
}

// executionKey is what identifies an execution across sources.
func executionKey(f *Fill) string {
	var b strings.Builder
	b.Grow(96)
	b.WriteString(f.Symbol)
	b.WriteByte('|')
	b.WriteString(string(f.Side))
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(f.Time.Truncate(time.Second).Unix(), 10))
	for _, s := range [...]string{f.Price.String(), f.Quantity.String(), f.Fee.String(), strings.ToUpper(f.FeeAsset)} {
		b.WriteByte('|')
		b.WriteString(s)
	}
	return b.String()
}
