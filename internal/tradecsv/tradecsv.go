// Package tradecsv reads and writes trade files: the canonical trade CSV of
// ARCHITECTURE.md (time,symbol,side,price,quantity,fee,fee_asset[,trade_id])
// Binance's trade-history export (Date(UTC),Pair,Side,Price,Executed,
// Amount,Fee with units appended) and Bybit's spot trade-history export
// (Spot Pairs,Order Type,Direction,Filled Value,Filled Price,Filled
// Quantity,Fees,Transaction ID,Order No.,Timestamp (UTC)), told apart by
// their header.
//
// Reading streams: a Reader holds one record at a time, so memory does not
// grow with the file, and reports progress (bytes and rows read) to a
// callback. A bad row stops the read with a *ParseError naming its line and
// column; nothing after it is returned, so an importer that stops at the first
// error imports nothing. Trades without a trade id get a stable content hash
// id so that importing the same file twice is idempotent.
//
// It owns the file formats only: what a trade means for PnL is package pnl's,
// and storing trades is package store's.
package tradecsv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Trade is one fill read from a trade file.
type Trade struct {
	Time     time.Time     // UTC
	Symbol   string        // venue form, Base+Quote, e.g. BTCUSDT
	Base     string        // upper case, e.g. BTC
	Quote    string        // upper case, e.g. USDT
	Side     venue.Side    // venue.Buy or venue.Sell
	Price    venue.Decimal // quote per base, > 0
	Quantity venue.Decimal // base units, > 0
	Fee      venue.Decimal // in FeeAsset; zero for none, negative for a rebate
	FeeAsset string        // upper case; empty only when Fee is zero
	ID       string        // the file's trade_id, or a content hash (see HashID)
	Line     int           // line of the record in its file (1 is the header); 0 if not read from a file
}

// Format is a trade file format.
type Format int

// Formats. FormatUnknown is the zero value: a Reader that has not read its
// header yet.
const (
	FormatUnknown Format = iota
	FormatCanonical
	FormatBinance
	FormatBybit
)

// String names the format for messages.
func (f Format) String() string {
	switch f {
	case FormatCanonical:
		return "canonical"
	case FormatBinance:
		return "binance"
	case FormatBybit:
		return "bybit"
	}
	return "unknown"
}

// QuoteAssets are the quote assets a symbol without a separator (BTCUSDT) is
// split by. The longest matching suffix wins (BTCFDUSD is BTC/FDUSD, not
// BTCFD/USD); the base must not be empty.
var QuoteAssets = []string{"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY", "USD"}

// SplitSymbol returns the base and quote of "BTC/USDT" or "BTCUSDT" (any
// case; results are upper case). A symbol without "/" is split by
// QuoteAssets.
func SplitSymbol(s string) (base, quote string, err error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if b, q, ok := strings.Cut(s, "/"); ok {
		if !isAsset(b) || !isAsset(q) {
			return "", "", fmt.Errorf("split symbol %q: want BASE/QUOTE with letters and digits only", s)
		}
		return b, q, nil
	}
	if !isAsset(s) {
		return "", "", fmt.Errorf("split symbol %q: want letters and digits only", s)
	}
	best := ""
	for _, q := range QuoteAssets {
		if len(q) > len(best) && len(s) > len(q) && strings.HasSuffix(s, q) {
			best = q
		}
	}
	if best == "" {
		return "", "", fmt.Errorf("split symbol %q: no known quote asset (%s); write it as BASE/QUOTE", s, strings.Join(QuoteAssets, ", "))
	}
	return s[:len(s)-len(best)], best, nil
}

// isAsset reports whether s is a non-empty upper-case asset code.
func isAsset(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// HashID returns the content hash id of a trade that has no trade id: "h"
// followed by 32 hex digits of SHA-256 over its time (Unix nanoseconds),
// base, quote, side, price, quantity, fee and fee asset, with decimals in
// their shortest form so "9200" and "9200.00" hash alike. It does not depend
// on the file format or the line, so the same fill read from a canonical CSV
// or a Binance export (same timestamp) gets the same id.
//
// Identical fills in a row are told apart by the Reader, which appends "-2",
// "-3", ... to the second and later of a run of equal hashes.
func HashID(t Trade) string {
	var b strings.Builder
	b.Grow(128)
	b.WriteString("tradecsv/v1|")
	b.WriteString(strconv.FormatInt(t.Time.UnixNano(), 10))
	for _, s := range [...]string{t.Base, t.Quote, string(t.Side), t.Price.String(), t.Quantity.String(), t.Fee.String(), t.FeeAsset} {
		b.WriteByte('|')
		b.WriteString(s)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "h" + hex.EncodeToString(sum[:16])
}

// IsHashID reports whether id is a content hash id given by the Reader to a
// trade without a trade id (HashID, possibly with its "-N" suffix), rather
// than a trade id from a file or a venue.
func IsHashID(id string) bool {
	h, n, suffixed := strings.Cut(id, "-")
	if len(h) != 33 || h[0] != 'h' {
		return false
	}
	for i := 1; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	if suffixed {
		if k, err := strconv.Atoi(n); err != nil || k < 2 || strconv.Itoa(k) != n {
			return false
		}
	}
	return true
}
