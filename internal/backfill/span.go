package backfill

import (
	"fmt"
	"time"
)

// MaxSpan is the longest range one backfill may cover: 3 years, 1096
// trade windows per symbol. A longer range (year 1 to 9999 is 3.65 M
// windows, resumed on every start) is refused before anything is stored;
// backfill a long history as several ranges.
const MaxSpan = 1096 * 24 * time.Hour

// Size is how big a backfill of [from, to) is, for a preview before it
// starts: trade windows per symbol (each one paged venue query at least)
// and the points per series it writes.
type Size struct {
	Days              int64 `json:"days"`
	WindowsPerSymbol  int64 `json:"windows_per_symbol"`
	PointsPerSeries   int64 `json:"points_per_series"`
	MaxDays           int64 `json:"max_days"`
	WindowHours       int64 `json:"window_hours"`
	IntervalInSeconds int64 `json:"interval_seconds"`
}

// CheckSpan refuses a range that is empty, reversed or longer than
// MaxSpan with an error wrapping ErrInput that names the limit.
func CheckSpan(from, to time.Time) error {
	if !from.Before(to) {
		return fmt.Errorf("backfill range: from %s is not before to %s: %w",
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), ErrInput)
	}
	// A Duration saturates past 292 years; compare years first.
	if to.Year()-from.Year() > 4 || to.Sub(from) > MaxSpan {
		return fmt.Errorf("backfill range %s..%s is longer than %d days, the most one backfill may cover: split it into several ranges: %w",
			from.UTC().Format(time.DateOnly), to.UTC().Format(time.DateOnly), int64(MaxSpan/(24*time.Hour)), ErrInput)
	}
	return nil
}

// SizeOf is the size of a backfill of [from, to) at interval; the range
// must pass CheckSpan.
func SizeOf(from, to time.Time, interval time.Duration) (Size, error) {
	if err := CheckSpan(from, to); err != nil {
		return Size{}, err
	}
	if interval <= 0 {
		interval = time.Hour
	}
	span := to.Sub(from)
	return Size{
		Days:              int64((span + 24*time.Hour - 1) / (24 * time.Hour)),
		WindowsPerSymbol:  int64((span + Window - 1) / Window),
		PointsPerSeries:   int64((span + interval - 1) / interval),
		MaxDays:           int64(MaxSpan / (24 * time.Hour)),
		WindowHours:       int64(Window / time.Hour),
		IntervalInSeconds: int64(interval / time.Second),
	}, nil
}
