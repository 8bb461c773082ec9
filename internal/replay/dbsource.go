package replay

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// dbPage is how many stored klines a DBStream reads at a time: memory stays
// bounded over a year of 1 m klines.
const dbPage = 5000

// DBStream streams the klines stored by backfill (store.PutKlines) of one
// series, oldest first, a page at a time.
type DBStream struct {
	// Page is how many klines one read fetches; 0 means dbPage.
	Page int
	ctx  context.Context
	db   *store.DB
	key  store.KlineKey
	from time.Time // next page starts here
	to   time.Time
	page []store.Kline
	i    int
	n    int64
	done bool
	last time.Time
}

// NewDBStream streams key's stored klines opening in [from, to) (zero
// bounds are open) from db; ctx bounds its reads.
func NewDBStream(ctx context.Context, db *store.DB, key store.KlineKey, from, to time.Time) *DBStream {
	return &DBStream{ctx: ctx, db: db, key: key, from: from, to: to}
}

// DBSource is the Source of key's stored klines.
func DBSource(ctx context.Context, db *store.DB, key store.KlineKey, from, to time.Time) Source {
	return Source{Symbol: key.Symbol, Interval: key.Interval, Stream: NewDBStream(ctx, db, key, from, to),
		Name: fmt.Sprintf("stored %s %s klines of %s", key.Symbol, intervalName(key.Interval), key.Venue)}
}

// Next returns the next stored kline or io.EOF.
func (s *DBStream) Next() (venue.Kline, error) {
	if s.i >= len(s.page) {
		if s.done {
			return venue.Kline{}, io.EOF
		}
		n := cmp.Or(s.Page, dbPage)
		page, err := s.db.Klines(s.ctx, s.key, s.from, s.to, n)
		if err != nil {
			return venue.Kline{}, &ReadError{Place: s.Position(), Err: err}
		}
		s.page, s.i = page, 0
		if len(page) < n {
			s.done = true
		}
		if len(page) == 0 {
			return venue.Kline{}, io.EOF
		}
		s.from = page[len(page)-1].OpenTime.Add(time.Millisecond)
	}
	k := s.page[s.i]
	s.i++
	s.n++
	s.last = k.OpenTime
	return venue.Kline{OpenTime: k.OpenTime, Open: k.Open, High: k.High, Low: k.Low, Close: k.Close, Volume: k.Volume}, nil
}

// Position names the last kline read.
func (s *DBStream) Position() string {
	return fmt.Sprintf("stored %s %s klines of %s, kline %d (%s)", s.key.Symbol, intervalName(s.key.Interval), s.key.Venue, s.n,
		s.last.Format(time.RFC3339))
}

// intervalName writes an interval as venues do: 1m, 4h, 1d.
func intervalName(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// ReadError is a source that could not be read for a reason that is not
// its data's (the store failed, the context ended): not bad input.
type ReadError struct {
	Place string
	Err   error
}

func (e *ReadError) Error() string { return "read " + e.Place + ": " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }
