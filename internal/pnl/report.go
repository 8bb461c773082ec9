package pnl

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/tradecsv"
)

// Report is the result of a PnL computation. Its JSON is the contract of
// `tradeplane pnl compute --json` (ARCHITECTURE.md): decimals as strings,
// symbols sorted by name, fees_unconverted always an array.
//
// Amounts are in each symbol's quote asset, and amounts in different assets
// are never added: 40.1 USDT and 0.003 BTC are not 40.103 of anything.
// TotalsByQuote ("totals_by_quote", always an array, sorted by quote) sums
// the symbols of each quote asset. Total ("total") is the sum over every
// symbol only when they all share one quote asset, named in Total.Quote; when
// the quotes differ (Mixed) Total is the zero Total and the JSON says
// "total": null. Converting to one valuation currency would need a price of
// each quote asset in it, and for realized PnL the price at each realization;
// the report does not guess one.
type Report struct {
	Method        Method         `json:"method"`
	Symbols       []SymbolReport `json:"symbols"`
	Total         Total          `json:"total"`
	TotalsByQuote []QuoteTotal   `json:"totals_by_quote"`
}

// SymbolReport is the PnL of one symbol, in its quote asset.
type SymbolReport struct {
	Symbol          string        `json:"symbol"` // BASEQUOTE as the fills spelled it
	Base            string        `json:"base"`
	Quote           string        `json:"quote"`
	Trades          int           `json:"trades"`
	Position        Decimal       `json:"position"`                  // Q, signed base units
	AvgEntry        Decimal       `json:"avg_entry"`                 // C / Q truncated to Scale places; 0 when flat
	RealizedPnL     Decimal       `json:"realized_pnl"`              // R
	UnrealizedPnL   Decimal       `json:"unrealized_pnl"`            // Q × mark − C
	FeesQuote       Decimal       `json:"fees_quote"`                // F
	FeesUnconverted []AssetAmount `json:"fees_unconverted"`          // fees no price was known for, by asset in order of first fill
	Funding         Decimal       `json:"funding,omitzero"`          // Σ perpetual funding payments: received positive, paid negative
	Fundings        int           `json:"funding_payments,omitzero"` // how many
	NetPnL          Decimal       `json:"net_pnl"`                   // R − F + funding + unrealized
	Mark            Decimal       `json:"mark"`                      // the given mark, else the last fill price

	// The identity's terms, for checks; not part of the JSON contract.
	BuyNotional  Decimal `json:"-"` // Σ price × quantity of buys
	SellNotional Decimal `json:"-"` // Σ price × quantity of sells
	FeesNotBase  Decimal `json:"-"` // the part of FeesQuote not paid in the base asset
}

// Total sums every symbol of a report whose symbols share one quote asset,
// Quote ("" only for a report without symbols). See Report.
type Total struct {
	Quote       string  `json:"quote,omitempty"`
	RealizedPnL Decimal `json:"realized_pnl"`
	FeesQuote   Decimal `json:"fees_quote"`
	Funding     Decimal `json:"funding,omitzero"`
	NetPnL      Decimal `json:"net_pnl"`
}

// QuoteTotal sums the symbols quoted in one asset, in that asset.
type QuoteTotal struct {
	Quote         string  `json:"quote"`
	Symbols       int     `json:"symbols"`
	Trades        int     `json:"trades"`
	RealizedPnL   Decimal `json:"realized_pnl"`
	UnrealizedPnL Decimal `json:"unrealized_pnl"`
	FeesQuote     Decimal `json:"fees_quote"`
	Funding       Decimal `json:"funding,omitzero"`
	NetPnL        Decimal `json:"net_pnl"`
}

// Mixed reports whether the symbols have more than one quote asset, so that
// there is no single Total.
func (r Report) Mixed() bool { return len(r.TotalsByQuote) > 1 }

// reportJSON is Report on the wire: total is null when Mixed.
type reportJSON struct {
	Method        Method         `json:"method"`
	Symbols       []SymbolReport `json:"symbols"`
	Total         *Total         `json:"total"`
	TotalsByQuote []QuoteTotal   `json:"totals_by_quote"`
}

// MarshalJSON writes the contract's JSON: "total" is null when the symbols'
// quotes differ, and totals_by_quote is always an array.
func (r Report) MarshalJSON() ([]byte, error) {
	w := reportJSON{Method: r.Method, Symbols: r.Symbols, TotalsByQuote: r.TotalsByQuote}
	if w.Symbols == nil {
		w.Symbols = []SymbolReport{}
	}
	if w.TotalsByQuote == nil {
		w.TotalsByQuote = []QuoteTotal{}
	}
	if !r.Mixed() {
		t := r.Total
		w.Total = &t
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Report) UnmarshalJSON(b []byte) error {
	var w reportJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Report{Method: w.Method, Symbols: w.Symbols, TotalsByQuote: w.TotalsByQuote}
	if w.Total != nil {
		r.Total = *w.Total
	}
	return nil
}

// Quotes returns the distinct quote assets of the report, sorted.
func (r Report) Quotes() []string {
	var qs []string
	for _, s := range r.Symbols {
		if !slices.Contains(qs, s.Quote) {
			qs = append(qs, s.Quote)
		}
	}
	slices.Sort(qs)
	return qs
}

// totals fills TotalsByQuote from the symbols and Total when they share one
// quote asset.
func (r *Report) totals() {
	r.TotalsByQuote = []QuoteTotal{}
	for _, s := range r.Symbols {
		i := slices.IndexFunc(r.TotalsByQuote, func(q QuoteTotal) bool { return q.Quote == s.Quote })
		if i < 0 {
			r.TotalsByQuote = append(r.TotalsByQuote, QuoteTotal{Quote: s.Quote})
			i = len(r.TotalsByQuote) - 1
		}
		q := &r.TotalsByQuote[i]
		q.Symbols++
		q.Trades += s.Trades
		q.RealizedPnL = q.RealizedPnL.Add(s.RealizedPnL)
		q.UnrealizedPnL = q.UnrealizedPnL.Add(s.UnrealizedPnL)
		q.FeesQuote = q.FeesQuote.Add(s.FeesQuote)
		q.Funding = q.Funding.Add(s.Funding)
		q.NetPnL = q.NetPnL.Add(s.NetPnL)
	}
	slices.SortFunc(r.TotalsByQuote, func(a, b QuoteTotal) int { return cmp.Compare(a.Quote, b.Quote) })
	r.Total = Total{}
	if len(r.TotalsByQuote) == 1 {
		q := r.TotalsByQuote[0]
		r.Total = Total{Quote: q.Quote, RealizedPnL: q.RealizedPnL, FeesQuote: q.FeesQuote, Funding: q.Funding, NetPnL: q.NetPnL}
	}
}

// Identity returns both sides of the contract's check for s:
// net_pnl and Σ sell notional − Σ buy notional − (fees not paid in base) +
// funding + Q × mark. The engine guarantees they are equal.
func (s SymbolReport) Identity() (net, flows Decimal) {
	return s.NetPnL, s.SellNotional.Sub(s.BuyNotional).Sub(s.FeesNotBase).Add(s.Funding).Add(s.Position.Mul(s.Mark))
}

// Report returns the PnL so far. marks maps a symbol ("BTCUSDT" or
// "BTC/USDT") to its mark price; a symbol without one is marked at its last
// fill price. It fails (wrapping ErrPrecision) if a mark's product with the
// position could not be exact, and, as an internal check, if a symbol's
// identity does not hold.
func (e *Engine) Report(marks map[string]Decimal) (Report, error) {
	rep := Report{Method: e.method, Symbols: make([]SymbolReport, 0, len(e.positions))}
	for _, p := range e.positions {
		mark, ok := marks[p.symbol]
		if !ok {
			mark, ok = marks[p.base+"/"+p.quote]
		}
		if !ok {
			mark = p.lastPrice
		}
		if p.qPrec+fracDigits(mark) > maxPrec {
			return Report{}, fmt.Errorf("report %s: mark %s × position %s: %w", p.symbol, mark, p.q, ErrPrecision)
		}
		s := SymbolReport{
			Symbol: p.symbol, Base: p.base, Quote: p.quote, Trades: p.trades,
			Position: p.q, RealizedPnL: p.r, FeesQuote: p.f, Mark: mark, Funding: p.funding, Fundings: p.fundings,
			FeesUnconverted: slices.Clone(p.unconverted),
			BuyNotional:     p.buys, SellNotional: p.sells, FeesNotBase: p.feesNotBase,
		}
		if s.FeesUnconverted == nil {
			s.FeesUnconverted = []AssetAmount{}
		}
		if !p.q.IsZero() {
			avg, err := p.c.Div(p.q)
			if err != nil {
				return Report{}, fmt.Errorf("report %s: average entry: %w", p.symbol, err)
			}
			s.AvgEntry = avg.Trunc(Scale)
		}
		s.UnrealizedPnL = p.q.Mul(mark).Sub(p.c)
		s.NetPnL = p.r.Sub(p.f).Add(p.funding).Add(s.UnrealizedPnL)
		if net, flows := s.Identity(); !net.Equal(flows) {
			return Report{}, fmt.Errorf("report %s: internal error: net %s != flows %s", p.symbol, net, flows)
		}
		rep.Symbols = append(rep.Symbols, s)
	}
	slices.SortFunc(rep.Symbols, func(a, b SymbolReport) int { return cmp.Compare(a.Symbol, b.Symbol) })
	rep.totals()
	return rep, nil
}

// Compute is the entry point of `tradeplane pnl compute`: it orders trades by
// time (ties by trade id), runs them through an Engine with method ("" is
// AvgCost) and feePrices (nil: third-asset fees stay unconverted), and reports
// with marks (see Engine.Report). trades is not modified. Errors wrap
// ErrInput when the input is at fault.
func Compute(trades []tradecsv.Trade, method Method, marks map[string]Decimal, feePrices FeePricer) (Report, error) {
	e, err := NewEngine(method, feePrices)
	if err != nil {
		return Report{}, fmt.Errorf("compute pnl: %w", err)
	}
	for _, i := range timeOrder(len(trades), func(i int) *tradecsv.Trade { return &trades[i] }) {
		if err := e.Add(&trades[i]); err != nil {
			return Report{}, fmt.Errorf("compute pnl: %w", err)
		}
	}
	rep, err := e.Report(marks)
	if err != nil {
		return Report{}, fmt.Errorf("compute pnl: %w", err)
	}
	return rep, nil
}

// timeOrder returns the indexes 0..n-1 ordered by time, ties by trade id,
// then by index (stable).
func timeOrder(n int, at func(int) *tradecsv.Trade) []int {
	idx := make([]int, n)
	sorted := true
	for i := range idx {
		idx[i] = i
		if i > 0 && tradeLess(at(i), at(i-1)) {
			sorted = false
		}
	}
	if !sorted {
		slices.SortStableFunc(idx, func(a, b int) int {
			ta, tb := at(a), at(b)
			switch {
			case tradeLess(ta, tb):
				return -1
			case tradeLess(tb, ta):
				return 1
			}
			return 0
		})
	}
	return idx
}

func tradeLess(a, b *tradecsv.Trade) bool {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	return idLess(a.ID, b.ID)
}

// Fill is a trade with the labels PnL is aggregated by.
type Fill struct {
	tradecsv.Trade
	Account string   // account name
	Session string   // session id; empty for fills outside a session
	Tags    []string // the session's tags
}

// GroupBy names the label ComputeGroups aggregates by.
type GroupBy string

// Groupings. A fill with an empty label falls in the group with key "";
// with ByTag, a fill counts in every one of its tags' groups (and in "" when
// it has none), so tag groups can overlap.
const (
	ByAccount GroupBy = "account"
	BySession GroupBy = "session"
	ByTag     GroupBy = "tag"
)

// Group is the report of one label value.
type Group struct {
	Key    string `json:"key"`
	Report Report `json:"report"`
}

// ComputeGroups computes one Report per value of the label `by`, each with
// its own positions (a session's PnL is its own fills' PnL), sorted by key.
// Arguments are as for Compute.
func ComputeGroups(fills []Fill, by GroupBy, method Method, marks map[string]Decimal, feePrices FeePricer) ([]Group, error) {
	switch by {
	case ByAccount, BySession, ByTag:
	default:
		return nil, fmt.Errorf("compute pnl groups by %q: want account, session or tag: %w", by, ErrInput)
	}
	if _, err := ParseMethod(string(method)); err != nil {
		return nil, fmt.Errorf("compute pnl groups: %w", err)
	}
	engines := map[string]*Engine{}
	add := func(key string, t *tradecsv.Trade) error {
		e := engines[key]
		if e == nil {
			e, _ = NewEngine(method, feePrices) // method checked above
			engines[key] = e
		}
		if err := e.Add(t); err != nil {
			return fmt.Errorf("compute pnl for %s %q: %w", by, key, err)
		}
		return nil
	}
	var one [1]string
	for _, i := range timeOrder(len(fills), func(i int) *tradecsv.Trade { return &fills[i].Trade }) {
		f := &fills[i]
		keys := one[:]
		switch by {
		case ByAccount:
			one[0] = f.Account
		case BySession:
			one[0] = f.Session
		case ByTag:
			one[0] = ""
			if len(f.Tags) > 0 {
				keys = f.Tags
			}
		}
		for _, k := range keys {
			if err := add(k, &f.Trade); err != nil {
				return nil, err
			}
		}
	}
	groups := make([]Group, 0, len(engines))
	for key, e := range engines {
		rep, err := e.Report(marks)
		if err != nil {
			return nil, fmt.Errorf("compute pnl for %s %q: %w", by, key, err)
		}
		groups = append(groups, Group{Key: key, Report: rep})
	}
	slices.SortFunc(groups, func(a, b Group) int { return cmp.Compare(a.Key, b.Key) })
	return groups, nil
}

// WriteTable writes r as an aligned table for people (package numfmt):
// one row per symbol, a TOTAL row per quote asset (amounts in different
// quotes are never added), amounts to their quote asset's precision
// (USDT to cents, BTC to at most 8 decimals), PnL signed, thousands
// separated, unconverted fees as "0.15 BNB". The JSON report is exact.
func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	signed := numfmt.SignedAmount
	qty := func(d Decimal) string { return numfmt.Trim(d, 8) }
	fmt.Fprintf(tw, "SYMBOL\tTRADES\tPOSITION\tAVG ENTRY\tMARK\tREALIZED\tUNREALIZED\tFEES\tNET\tQUOTE\tUNCONVERTED FEES\t\n")
	for _, s := range r.Symbols {
		var unconv []string
		for _, a := range s.FeesUnconverted {
			unconv = append(unconv, numfmt.Amount(a.Amount, a.Asset)+" "+a.Asset)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Symbol, s.Trades, qty(s.Position), numfmt.Price(s.AvgEntry),
			numfmt.Price(s.Mark), signed(s.RealizedPnL, s.Quote), signed(s.UnrealizedPnL, s.Quote), numfmt.Amount(s.FeesQuote, s.Quote), signed(s.NetPnL, s.Quote),
			s.Quote, strings.Join(unconv, ", "))
	}
	for _, q := range r.TotalsByQuote {
		fmt.Fprintf(tw, "TOTAL\t%d\t\t\t\t%s\t%s\t%s\t%s\t%s\t\t\n", q.Trades, signed(q.RealizedPnL, q.Quote), signed(q.UnrealizedPnL, q.Quote),
			numfmt.Amount(q.FeesQuote, q.Quote), signed(q.NetPnL, q.Quote), q.Quote)
	}
	if len(r.TotalsByQuote) == 0 {
		fmt.Fprintf(tw, "TOTAL\t0\t\t\t\t0\t0\t0\t0\t\t\t\n")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write pnl table: %w", err)
	}
	var funding []string
	for _, s := range r.Symbols {
		if s.Fundings > 0 {
			funding = append(funding, fmt.Sprintf("%s %s %s (%d payments)", s.Symbol, signed(s.Funding, s.Quote), s.Quote, s.Fundings))
		}
	}
	if len(funding) > 0 {
		if _, err := fmt.Fprintf(w, "funding, in NET (received +, paid -): %s\n", strings.Join(funding, ", ")); err != nil {
			return fmt.Errorf("write pnl table: %w", err)
		}
	}
	note := ""
	if r.Mixed() {
		note = " (one total per quote asset: amounts in " + strings.Join(r.Quotes(), " and ") + " are not added)"
	}
	if _, err := fmt.Fprintf(w, "method: %s%s\n", r.Method, note); err != nil {
		return fmt.Errorf("write pnl table: %w", err)
	}
	return nil
}
