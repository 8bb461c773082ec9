// Package backfill builds PnL history you can trust: it imports trade files
// into the store (ImportTrades), downloads an account's past trades and
// candles from its venue and reconstructs PnL and equity over time with the
// exact engine of package pnl (Run, and Jobs for durable background runs),
// and reports hourly or daily series with time-weighted averages and their
// accuracy against live snapshots (Report, CompareLive).
//
// # Series
//
// A backfill stores, per scope ("account:NAME" and "session:ID") and per
// symbol plus a sum row (symbol ""), one store.PnLPoint at every step of
// Config.Interval in [From, To): the state after every stored fill at or
// before the step's time, marked at the open of the 1h candle holding that
// time. Amounts in different quote assets are never added as one unit:
//   - a symbol row is in its quote asset;
//   - the sum row is in the valuation asset (Config.Valuation, default the
//     symbols' quote when they share one, else DefaultValuation: USDT before
//     other stablecoins before BTC). A quote asset Q other than it is
//     converted at the step's mark of Q+VALUATION (the BTCUSDT candle for
//     BTC), the value at that time of the PnL earned in Q, as live equity
//     values holdings; when the venue has no such market Q's amounts are
//     left out of the sum row and it is partial;
//   - whenever the sum row converts, one row per quote asset (Symbol
//     QuoteRow(Q), "quote:BTC") keeps that quote's exact sums.
//
// Equity is Config.OpeningEquity (in the valuation asset) plus the sum row's
// net PnL. Every sum row is mirrored into equity_snapshots with source
// "backfill".
// Fills before From count (they make the position at From); fills from every
// source count (live, imported, backfilled), each once: once by trade id,
// and an imported row without a trade id (keyed by content hash) that matches
// a fill with the venue's trade id (MergeSources: symbol, side, time to the
// second, price, quantity, fee) is the same execution, counted once as the
// venue's row. Result.Merged says how many rows were merged.
//
// # Attribution
//
// A fill belongs to session S only when its order's client order id is one of
// S's orders (the orders table, by client order id, or by venue order id when
// the venue's history does not carry the client id). Fills of orders placed
// by hand or by other tools count for the account only.
//
// # What it does not own
//
// The PnL arithmetic is package pnl's, file formats package tradecsv's, SQL
// package store's, and the venue's wire format and rate limits its adapter's.
// It knows no HTTP and no flags: cmd/tradeplane and server wire it.
package backfill
