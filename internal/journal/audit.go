package journal

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// The journal audit compares what the journal says an account did in a
// time range with the venue's own order and trade history, and lists every
// difference. One difference is reported per order (with every aspect in
// which the two disagree), and one per trade that belongs to no audited
// order.

// Audit difference kinds.
const (
	DiffMissing     = "missing"      // the venue has it, the journal does not
	DiffExtra       = "extra"        // the journal has it, the venue does not
	DiffStatus      = "status"       // both have the order, in different statuses
	DiffExecutedQty = "executed_qty" // both have it, with different executed quantities
	DiffFee         = "fee"          // the order's fees differ
	DiffFills       = "fills"        // the order's trades differ (trade ids)
)

// DiffKinds are every audit difference kind, in the order above: the list
// the API document names.
var DiffKinds = []string{DiffMissing, DiffExtra, DiffStatus, DiffExecutedQty, DiffFee, DiffFills}

// AuditDifference is one order (or one trade) on which the journal and the
// venue disagree.
type AuditDifference struct {
	Kinds         []string `json:"kinds"`
	Symbol        string   `json:"symbol"`
	ClientOrderID string   `json:"client_order_id,omitempty"`
	VenueOrderID  string   `json:"venue_order_id,omitempty"`
	TradeID       string   `json:"trade_id,omitempty"`
	Journal       string   `json:"journal"` // what the journal says
	Venue         string   `json:"venue"`   // what the venue says
}

// AuditReport is the outcome of one audit.
type AuditReport struct {
	AccountID   int64             `json:"account_id"`
	From        time.Time         `json:"from"`
	To          time.Time         `json:"to"`
	Symbols     []string          `json:"symbols"`
	Orders      int               `json:"orders"` // orders compared (journal ∪ venue)
	Trades      int               `json:"trades"` // trades compared (journal ∪ venue)
	Differences []AuditDifference `json:"differences"`
}

// ErrNoOrderHistory: the venue cannot list its order history, so it cannot
// be audited.
var ErrNoOrderHistory = fmt.Errorf("the venue keeps no order history to audit against")

// FillSourceReplayed is the source of stored fills that were replayed,
// never traded (the demo's history, which the backfill reads as the
// account's trades): an audit leaves them out, the venue never saw them.
const FillSourceReplayed = "history"

// Audit compares the journal of account accountID with v's history of the
// orders created, and the trades made, in [from, to). The symbols are those
// of the journal's orders and fills in the range plus extra (a session's
// symbols: where the venue may hold what the journal never saw).
func Audit(ctx context.Context, db *store.DB, v venue.Venue, accountID int64, from, to time.Time, extra []string) (AuditReport, error) {
	rep := AuditReport{AccountID: accountID, From: from.UTC(), To: to.UTC(), Differences: []AuditDifference{}}
	h, ok := v.(OrderHistory)
	if !ok {
		return rep, fmt.Errorf("audit account %d on %s: %w", accountID, v.Name(), ErrNoOrderHistory)
	}
	jorders, err := db.OrdersCreated(ctx, accountID, from, to)
	if err != nil {
		return rep, fmt.Errorf("audit account %d: %w", accountID, err)
	}
	var jfills []store.Fill
	q := store.FillQuery{AccountID: accountID, From: from, To: to, Limit: 100000}
	for {
		page, err := db.Fills(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("audit account %d: %w", accountID, err)
		}
		for _, f := range page {
			if f.Source != FillSourceReplayed {
				jfills = append(jfills, f)
			}
		}
		if len(page) < q.Limit {
			break
		}
		q.AfterAt, q.AfterID = page[len(page)-1].At, page[len(page)-1].ID
	}
	syms := map[string]bool{}
	for _, s := range extra {
		syms[s] = true
	}
	for _, o := range jorders {
		syms[o.Symbol] = true
	}
	for _, f := range jfills {
		syms[f.Symbol] = true
	}
	for s := range syms {
		rep.Symbols = append(rep.Symbols, s)
	}
	sort.Strings(rep.Symbols)

	var vorders []venue.Order
	var vtrades []venue.Trade
	for _, sym := range rep.Symbols {
		os, err := h.OrderHistory(ctx, sym, from, to)
		if err != nil {
			return rep, fmt.Errorf("audit account %d: order history of %s: %w", accountID, sym, err)
		}
		vorders = append(vorders, os...)
		tq := venue.TradeQuery{Symbol: sym, From: from, To: to}
		for {
			page, err := v.Trades(ctx, tq)
			if err != nil {
				return rep, fmt.Errorf("audit account %d: trades of %s: %w", accountID, sym, err)
			}
			vtrades = append(vtrades, page.Trades...)
			if page.Next == "" {
				break
			}
			tq.Cursor = page.Next
		}
	}
	rep.Differences = compare(jorders, jfills, vorders, vtrades, &rep)
	return rep, nil
}

type tradeKey struct{ symbol, id string }

// compare is the audit proper, on what both sides said.
func compare(jorders []store.Order, jfills []store.Fill, vorders []venue.Order, vtrades []venue.Trade, rep *AuditReport) []AuditDifference {
	diffs := []AuditDifference{}
	jo := map[string]store.Order{}
	for _, o := range jorders {
		jo[o.ClientOrderID] = o
	}
	vo := map[string]venue.Order{}
	vByVID := map[string]string{} // symbol/venue order id → client order id
	for _, o := range vorders {
		vo[o.ClientOrderID] = o
		vByVID[o.Symbol+"/"+o.VenueOrderID] = o.ClientOrderID
	}
	// Trades by order (client order id) on each side; trades of no
	// audited order go to the loose sets.
	jt := map[string][]store.Fill{}
	vt := map[string][]venue.Trade{}
	jLoose := map[tradeKey]store.Fill{}
	vLoose := map[tradeKey]venue.Trade{}
	for _, f := range jfills {
		if _, ok := jo[f.ClientOrderID]; ok && f.ClientOrderID != "" {
			jt[f.ClientOrderID] = append(jt[f.ClientOrderID], f)
		} else if _, ok := vo[f.ClientOrderID]; ok && f.ClientOrderID != "" {
			jt[f.ClientOrderID] = append(jt[f.ClientOrderID], f)
		} else {
			jLoose[tradeKey{f.Symbol, f.TradeID}] = f
		}
	}
	for _, t := range vtrades {
		id := t.ClientOrderID
		if c, ok := vByVID[t.Symbol+"/"+t.VenueOrderID]; ok {
			id = c
		}
		_, inJ := jo[id]
		_, inV := vo[id]
		if id != "" && (inJ || inV) {
			vt[id] = append(vt[id], t)
		} else {
			vLoose[tradeKey{t.Symbol, t.ID}] = t
		}
	}
	ids := map[string]bool{}
	for id := range jo {
		ids[id] = true
	}
	for id := range vo {
		ids[id] = true
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	for _, id := range sorted {
		j, inJ := jo[id]
		v, inV := vo[id]
		switch {
		case inJ && !inV:
			if !reachedVenue(j) {
				continue // failed or refused before it left, or still being settled
			}
			rep.Orders++
			diffs = append(diffs, AuditDifference{Kinds: []string{DiffExtra}, Symbol: j.Symbol, ClientOrderID: id, VenueOrderID: j.VenueOrderID,
				Journal: describeStored(j, jt[id]), Venue: "no such order"})
			continue
		case !inJ && inV:
			rep.Orders++
			rep.Trades += len(vt[id])
			diffs = append(diffs, AuditDifference{Kinds: []string{DiffMissing}, Symbol: v.Symbol, ClientOrderID: id, VenueOrderID: v.VenueOrderID,
				Journal: "no such order", Venue: describeVenue(v, vt[id])})
			continue
		}
		rep.Orders++
		rep.Trades += max(len(jt[id]), len(vt[id]))
		var kinds []string
		if !sameStatus(j.Status, v.Status) {
			kinds = append(kinds, DiffStatus)
		}
		if !j.ExecutedQty.Equal(v.ExecutedQty) {
			kinds = append(kinds, DiffExecutedQty)
		}
		if feesOf(jt[id]) != feesOfTrades(vt[id]) {
			kinds = append(kinds, DiffFee)
		}
		if !slices.Equal(tradeIDs(jt[id]), venueTradeIDs(vt[id])) {
			kinds = append(kinds, DiffFills)
		}
		if len(kinds) > 0 {
			diffs = append(diffs, AuditDifference{Kinds: kinds, Symbol: v.Symbol, ClientOrderID: id, VenueOrderID: v.VenueOrderID,
				Journal: describeStored(j, jt[id]), Venue: describeVenue(v, vt[id])})
		}
	}
	// Trades of no audited order (their order was created before the
	// range, or is unknown to both order lists): compared by trade id.
	keys := map[tradeKey]bool{}
	for k := range jLoose {
		keys[k] = true
	}
	for k := range vLoose {
		keys[k] = true
	}
	loose := make([]tradeKey, 0, len(keys))
	for k := range keys {
		loose = append(loose, k)
	}
	sort.Slice(loose, func(a, b int) bool {
		if loose[a].symbol != loose[b].symbol {
			return loose[a].symbol < loose[b].symbol
		}
		return loose[a].id < loose[b].id
	})
	for _, k := range loose {
		rep.Trades++
		jf, inJ := jLoose[k]
		vtr, inV := vLoose[k]
		switch {
		case inJ && !inV:
			diffs = append(diffs, AuditDifference{Kinds: []string{DiffExtra}, Symbol: k.symbol, TradeID: k.id, ClientOrderID: jf.ClientOrderID,
				Journal: fmt.Sprintf("fill %s %s at %s, fee %s %s", jf.Side, jf.Quantity, jf.Price, jf.Fee, jf.FeeAsset), Venue: "no such trade"})
		case !inJ && inV:
			diffs = append(diffs, AuditDifference{Kinds: []string{DiffMissing}, Symbol: k.symbol, TradeID: k.id, ClientOrderID: vtr.ClientOrderID,
				VenueOrderID: vtr.VenueOrderID, Journal: "no such fill",
				Venue: fmt.Sprintf("trade %s %s at %s, fee %s %s", vtr.Side, vtr.Quantity, vtr.Price, vtr.Fee, vtr.FeeAsset)})
		default:
			var kinds []string
			if !jf.Quantity.Equal(vtr.Quantity) || !jf.Price.Equal(vtr.Price) {
				kinds = append(kinds, DiffExecutedQty)
			}
			if !jf.Fee.Equal(vtr.Fee) || jf.FeeAsset != vtr.FeeAsset {
				kinds = append(kinds, DiffFee)
			}
			if len(kinds) > 0 {
				diffs = append(diffs, AuditDifference{Kinds: kinds, Symbol: k.symbol, TradeID: k.id, ClientOrderID: jf.ClientOrderID,
					Journal: fmt.Sprintf("fill %s at %s, fee %s %s", jf.Quantity, jf.Price, jf.Fee, jf.FeeAsset),
					Venue:   fmt.Sprintf("trade %s at %s, fee %s %s", vtr.Quantity, vtr.Price, vtr.Fee, vtr.FeeAsset)})
			}
		}
	}
	return diffs
}

// reachedVenue reports whether a journaled order claims the venue holds
// it: it was acknowledged or executed. Failed, refused and rejected orders
// never reached it (a venue rejection leaves no order), and intent or
// unknown ones are still being settled.
func reachedVenue(o store.Order) bool {
	switch o.Status {
	case store.OrderFailed, store.OrderIntent, store.OrderUnknown, string(venue.StatusRejected):
		return o.ExecutedQty.IsPos()
	}
	return true
}

// sameStatus: the venue's expired is the journal's canceled or expired.
func sameStatus(stored string, v venue.OrderStatus) bool {
	if stored == string(v) {
		return true
	}
	canc := func(s string) bool { return s == string(venue.StatusCanceled) || s == string(venue.StatusExpired) }
	return canc(stored) && canc(string(v))
}

func feesOf(fs []store.Fill) string {
	m := map[string]venue.Decimal{}
	for _, f := range fs {
		m[f.FeeAsset] = m[f.FeeAsset].Add(f.Fee)
	}
	return feeString(m)
}

func feesOfTrades(ts []venue.Trade) string {
	m := map[string]venue.Decimal{}
	for _, t := range ts {
		m[t.FeeAsset] = m[t.FeeAsset].Add(t.Fee)
	}
	return feeString(m)
}

func feeString(m map[string]venue.Decimal) string {
	var parts []string
	for a, d := range m {
		if d.IsZero() {
			continue
		}
		parts = append(parts, d.String()+" "+a)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " + ")
}

func tradeIDs(fs []store.Fill) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.TradeID
	}
	sort.Strings(out)
	return out
}

func venueTradeIDs(ts []venue.Trade) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	sort.Strings(out)
	return out
}

func describeStored(o store.Order, fs []store.Fill) string {
	return fmt.Sprintf("%s %s %s %s, executed %s, %d fills, fees %s", o.Status, o.Side, o.Quantity, o.Symbol, o.ExecutedQty, len(fs), feesOf(fs))
}

func describeVenue(o venue.Order, ts []venue.Trade) string {
	return fmt.Sprintf("%s %s %s %s, executed %s, %d trades, fees %s", o.Status, o.Side, o.Quantity, o.Symbol, o.ExecutedQty, len(ts), feesOfTrades(ts))
}
