package app

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// demoQuote is what every demo market is quoted in, and the desk valued in.
const demoQuote = "USDT"

// demoSeries is one symbol's klines as the demo history replayed them
// (shifted to end at the current hour).
type demoSeries struct {
	klines   []venue.Kline
	interval time.Duration
}

// demoSessionPnL is the hourly PnL of each replayed session, written as
// equity snapshots of scope "session:ID" (ID of the live session of the
// same name) and source history: what the session page charts. At each
// hour from from+1h to end it is the session's net PnL (realized −
// fees + unrealized, package pnl, average cost) over its replayed fills
// up to that hour, marked at each symbol's last close by then. A session
// without a fill yet is at 0. Live equity is not recorded per session, so
// without this the demo's session pages had only an empty PnL chart.
func demoSessionPnL(entries []replay.JournalEntry, liveIDOf map[string]string, series map[string]demoSeries, from, end time.Time) ([]store.EquitySnapshot, error) {
	type sess struct {
		live  string
		fills []tradecsv.Trade
	}
	var order []string
	byID := map[string]*sess{}
	for rid, live := range liveIDOf {
		byID[rid] = &sess{live: live}
		order = append(order, rid)
	}
	for _, e := range entries {
		s, ok := byID[e.SessionID]
		if !ok || e.Kind != string(journal.KindFill) {
			continue
		}
		s.fills = append(s.fills, tradecsv.Trade{Time: e.At, Symbol: e.Symbol, Side: venue.Side(e.Side), Price: e.Price,
			Quantity: e.Quantity, Fee: e.Fee, FeeAsset: e.FeeAsset, ID: strconv.FormatInt(e.Seq, 10)})
	}
	// Marks: each symbol's last close at or before each hour.
	var hours []time.Time
	for t := from.Add(time.Hour); !t.After(end); t = t.Add(time.Hour) {
		hours = append(hours, t)
	}
	marks := make([]map[string]venue.Decimal, len(hours))
	for i := range marks {
		marks[i] = map[string]venue.Decimal{}
	}
	for sym, sr := range series {
		k := 0
		var last venue.Decimal
		have := false
		for i, t := range hours {
			for k < len(sr.klines) && !sr.klines[k].OpenTime.Add(sr.interval).After(t) {
				last, have = sr.klines[k].Close, true
				k++
			}
			if have {
				marks[i][sym] = last
			}
		}
	}
	var out []store.EquitySnapshot
	for _, rid := range order {
		s := byID[rid]
		eng, err := pnl.NewEngine(pnl.AvgCost, nil)
		if err != nil {
			return nil, err
		}
		f := 0
		for i, t := range hours {
			for ; f < len(s.fills) && !s.fills[f].Time.After(t); f++ {
				if err := eng.Add(&s.fills[f]); err != nil {
					return nil, fmt.Errorf("demo history: PnL of session %s: %w", s.live, err)
				}
			}
			rep, err := eng.Report(marks[i])
			if err != nil {
				return nil, fmt.Errorf("demo history: PnL of session %s: %w", s.live, err)
			}
			var realized, unrealized venue.Decimal
			for _, q := range rep.TotalsByQuote {
				if q.Quote != demoQuote {
					return nil, fmt.Errorf("demo history: session %s trades in %s; the demo values in %s", s.live, q.Quote, demoQuote)
				}
				realized, unrealized = realized.Add(q.RealizedPnL).Sub(q.FeesQuote), unrealized.Add(q.UnrealizedPnL)
			}
			out = append(out, store.EquitySnapshot{Scope: "session:" + s.live, Source: HistorySource, At: t,
				Equity: realized.Add(unrealized), Realized: realized, Unrealized: unrealized})
		}
	}
	return out, nil
}
