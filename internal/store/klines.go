package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"
)

// Kline is one stored candle of a venue's market: what backfill downloaded,
// kept so a replay can stream it (tradeplane replay --source db).
type Kline struct {
	OpenTime time.Time
	Open     udecimal.Decimal
	High     udecimal.Decimal
	Low      udecimal.Decimal
	Close    udecimal.Decimal
	Volume   udecimal.Decimal
}

// KlineKey names one series: a venue's market at one interval.
type KlineKey struct {
	Venue    string
	Symbol   string
	Interval time.Duration
}

func (k KlineKey) String() string { return fmt.Sprintf("%s %s %s", k.Venue, k.Symbol, k.Interval) }

// PutKlines stores candles of one series in one transaction; a candle
// already stored at the same open time is replaced (a venue's last,
// still-open candle is downloaded again complete on the next backfill).
func (db *DB) PutKlines(ctx context.Context, key KlineKey, ks []Kline) error {
	if key.Venue == "" || key.Symbol == "" || key.Interval <= 0 {
		return fmt.Errorf("store klines %s: want a venue, a symbol and a positive interval", key)
	}
	if len(ks) == 0 {
		return nil
	}
	iv := key.Interval.Milliseconds()
	return db.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range ks {
			if _, err := tx.ExecContext(ctx, `INSERT INTO klines (venue, symbol, interval_ms, open_time, open, high, low, close, volume)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (venue, symbol, interval_ms, open_time) DO UPDATE SET open = excluded.open, high = excluded.high,
				low = excluded.low, close = excluded.close, volume = excluded.volume`,
				key.Venue, key.Symbol, iv, k.OpenTime.UnixMilli(), k.Open, k.High, k.Low, k.Close, k.Volume); err != nil {
				return fmt.Errorf("store klines %s at %s: %w", key, k.OpenTime.UTC().Format(time.RFC3339), err)
			}
		}
		return nil
	})
}

// Klines lists up to limit stored candles of one series opening in
// [from, to), oldest first; a zero to means no end. A caller pages by
// passing the last open time + 1 ms as the next from.
func (db *DB) Klines(ctx context.Context, key KlineKey, from, to time.Time, limit int) ([]Kline, error) {
	end := int64(1<<63 - 1)
	if !to.IsZero() {
		end = to.UnixMilli()
	}
	start := int64(0)
	if !from.IsZero() {
		start = from.UnixMilli()
	}
	rows, err := db.r.QueryContext(ctx, `SELECT open_time, open, high, low, close, volume FROM klines
		WHERE venue = $1 AND symbol = $2 AND interval_ms = $3 AND open_time >= $4 AND open_time < $5
		ORDER BY open_time LIMIT $6`, key.Venue, key.Symbol, key.Interval.Milliseconds(), start, end, min(limitOr(limit, 1000), 100000))
	if err != nil {
		return nil, fmt.Errorf("klines %s: %w", key, err)
	}
	defer rows.Close()
	var out []Kline
	for rows.Next() {
		var k Kline
		var ms int64
		if err := rows.Scan(&ms, &k.Open, &k.High, &k.Low, &k.Close, &k.Volume); err != nil {
			return nil, fmt.Errorf("klines %s: %w", key, err)
		}
		k.OpenTime = time.UnixMilli(ms).UTC()
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("klines %s: %w", key, err)
	}
	return out, nil
}

// KlineSeries lists the stored series (venue, symbol, interval) with their
// first and last open times, for messages that say what is there.
func (db *DB) KlineSeries(ctx context.Context) ([]KlineRange, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT venue, symbol, interval_ms, MIN(open_time), MAX(open_time), COUNT(*) FROM klines
		GROUP BY venue, symbol, interval_ms ORDER BY venue, symbol, interval_ms`)
	if err != nil {
		return nil, fmt.Errorf("kline series: %w", err)
	}
	defer rows.Close()
	var out []KlineRange
	for rows.Next() {
		var r KlineRange
		var iv, first, last int64
		if err := rows.Scan(&r.Venue, &r.Symbol, &iv, &first, &last, &r.Count); err != nil {
			return nil, fmt.Errorf("kline series: %w", err)
		}
		r.Interval = time.Duration(iv) * time.Millisecond
		r.First, r.Last = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// KlineRange is one stored series and what it spans.
type KlineRange struct {
	KlineKey
	First, Last time.Time
	Count       int64
}

// CountKlines counts the stored candles of one series opening in
// [from, to): a caller compares it with the span's bar count to know
// whether the store holds the span whole.
func (db *DB) CountKlines(ctx context.Context, key KlineKey, from, to time.Time) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM klines WHERE venue = $1 AND symbol = $2 AND interval_ms = $3
		AND open_time >= $4 AND open_time < $5`, key.Venue, key.Symbol, key.Interval.Milliseconds(), from.UnixMilli(), to.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count klines %s: %w", key, err)
	}
	return n, nil
}
