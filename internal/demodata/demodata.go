// Package demodata carries real Binance klines inside the binary, so the
// demo replays real prices from any folder: BTCUSDT at 1m (Binance.US,
// 2023-03-01 to 2023-03-21), ETHUSDT at 1h (2024-05-13 to 2026-05-13) and
// BNBUSDT at 1h (2021-04-04 to 2023-12-30). The files are the klines CSVs of
// the shared market data (see klines/README.md for their sources), gzipped:
// 1.3 MB embedded for 3.9 MB of CSV.
//
// It owns the embedded bytes and their decoding, not the format (package
// marketdata reads it) nor the replay (marketdata.Feed, the replay engine).
// Decoded klines are cached per symbol and shared: callers must not modify
// the slices they get.
package demodata

import (
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/venue"
)

//go:embed klines/*.csv.gz
var files embed.FS

// ErrUnknownSymbol is returned for a symbol with no embedded klines.
var ErrUnknownSymbol = errors.New("no embedded klines for this symbol")

// Set describes one embedded klines file.
type Set struct {
	Symbol   string        // BTCUSDT
	Interval time.Duration // candle length
	Name     string        // interval as Binance names it: "1m", "1h"
	File     string        // embedded file name, BTCUSDT-1m.csv.gz
	Size     int64         // compressed bytes
}

var nameRE = regexp.MustCompile(`^([A-Z0-9]+)-([1-9][0-9]*[smhdw])\.csv\.gz$`)

// sets lists the embedded files once; the list is fixed at build time.
var sets = sync.OnceValues(func() ([]Set, error) {
	ents, err := files.ReadDir("klines")
	if err != nil {
		return nil, fmt.Errorf("demodata: list embedded klines: %w", err)
	}
	var out []Set
	for _, e := range ents {
		m := nameRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		iv, err := marketdata.ParseInterval(m[2])
		if err != nil {
			return nil, fmt.Errorf("demodata: %s: %w", e.Name(), err)
		}
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("demodata: %s: %w", e.Name(), err)
		}
		out = append(out, Set{Symbol: m[1], Interval: iv, Name: m[2], File: e.Name(), Size: fi.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out, nil
})

// Sets lists the embedded klines files, sorted by symbol.
func Sets() []Set {
	s, err := sets()
	if err != nil {
		// The embedded directory is part of the binary; failing to list
		// it is a build defect, not a runtime condition.
		panic(err)
	}
	return append([]Set(nil), s...)
}

// Symbols lists the symbols with embedded klines, sorted.
func Symbols() []string {
	var out []string
	for _, s := range Sets() {
		out = append(out, s.Symbol)
	}
	return out
}

func lookup(symbol string) (Set, error) {
	for _, s := range Sets() {
		if s.Symbol == symbol {
			return s, nil
		}
	}
	return Set{}, fmt.Errorf("demodata: %s: %w (have %s)", symbol, ErrUnknownSymbol, strings.Join(Symbols(), ", "))
}

// Open returns the symbol's klines CSV, decompressed, exactly as in the
// shared data folder (header open_time,open,high,low,close,volume). The
// caller closes it.
func Open(symbol string) (io.ReadCloser, error) {
	s, err := lookup(symbol)
	if err != nil {
		return nil, err
	}
	f, err := files.Open(path.Join("klines", s.File))
	if err != nil {
		return nil, fmt.Errorf("demodata: open %s: %w", s.File, err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("demodata: %s: %w", s.File, err)
	}
	return &gzipFile{zr: zr, f: f}, nil
}

type gzipFile struct {
	zr *gzip.Reader
	f  io.Closer
}

func (g *gzipFile) Read(p []byte) (int, error) { return g.zr.Read(p) }

func (g *gzipFile) Close() error { return errors.Join(g.zr.Close(), g.f.Close()) }

var cache sync.Map // symbol → func() (marketdata.Source, error)

// Source returns the symbol's decoded klines, oldest first. The first call
// per symbol decodes them (BTCUSDT's 30,240 candles take tens of
// milliseconds); later calls share the result.
func Source(symbol string) (marketdata.Source, error) {
	f, _ := cache.LoadOrStore(symbol, sync.OnceValues(func() (marketdata.Source, error) { return decode(symbol) }))
	return f.(func() (marketdata.Source, error))()
}

func decode(symbol string) (marketdata.Source, error) {
	s, err := lookup(symbol)
	if err != nil {
		return marketdata.Source{}, err
	}
	r, err := Open(symbol)
	if err != nil {
		return marketdata.Source{}, err
	}
	defer r.Close()
	ks, err := marketdata.ReadKlines(r)
	if err != nil {
		return marketdata.Source{}, fmt.Errorf("demodata: decode %s: %w", s.File, err)
	}
	if len(ks) == 0 {
		return marketdata.Source{}, fmt.Errorf("demodata: decode %s: no candles", s.File)
	}
	return marketdata.Source{Symbol: s.Symbol, Interval: s.Interval, Klines: ks}, nil
}

// Sources returns every embedded symbol's klines, sorted by symbol.
func Sources() ([]marketdata.Source, error) {
	var out []marketdata.Source
	for _, sym := range Symbols() {
		s, err := Source(sym)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Klines streams the symbol's candles that open in [from, to), oldest
// first; a zero from or to leaves that end open. An unknown symbol or a
// decoding failure is yielded once as the error.
func Klines(symbol string, from, to time.Time) iter.Seq2[venue.Kline, error] {
	return func(yield func(venue.Kline, error) bool) {
		s, err := Source(symbol)
		if err != nil {
			yield(venue.Kline{}, err)
			return
		}
		for _, k := range Between(s.Klines, from, to) {
			if !yield(k, nil) {
				return
			}
		}
	}
}

// Between returns the sub-slice of ks (oldest first) whose candles open in
// [from, to); a zero from or to leaves that end open. It does not copy.
func Between(ks []venue.Kline, from, to time.Time) []venue.Kline {
	lo, hi := 0, len(ks)
	if !from.IsZero() {
		lo = sort.Search(len(ks), func(i int) bool { return !ks[i].OpenTime.Before(from) })
	}
	if !to.IsZero() {
		hi = sort.Search(len(ks), func(i int) bool { return !ks[i].OpenTime.Before(to) })
	}
	if hi < lo {
		hi = lo
	}
	return ks[lo:hi]
}

// Last returns the symbol's last d of candles: those opening at or after
// the last candle's close minus d. The demo's history replays the last 30
// days of each symbol this way.
func Last(symbol string, d time.Duration) (marketdata.Source, error) {
	s, err := Source(symbol)
	if err != nil {
		return marketdata.Source{}, err
	}
	end := s.Klines[len(s.Klines)-1].OpenTime.Add(s.Interval)
	s.Klines = Between(s.Klines, end.Add(-d), time.Time{})
	return s, nil
}
