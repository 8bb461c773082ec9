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
// time. Equity is Config.OpeningEquity plus net PnL, in the quote asset.
// Every sum row is mirrored into equity_snapshots with source "backfill".
// Fills before From count (they make the position at From); fills from every
// source count (live, imported, backfilled), each once by trade id.
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
