package binancetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// This file holds the fault knobs of the process-level fault harness
// (internal/app/harness_proc_test.go): a plan that decides, per order
// request, how the fake mistreats it; eventually consistent order
// visibility; and a log of every arrival of a client order id.

// FaultDropAfterExecution executes the request, then closes the connection
// without an answer, as when the venue's answer is lost on the way back.
const FaultDropAfterExecution Fault = "drop_after_execution"

// PlaceFault is what the fake does to one order request (POST
// /api/v3/order).
type PlaceFault struct {
	// Wait, when not nil, holds the request after it arrived and before the
	// fake reads its signature and timestamp, until Wait is closed: the
	// venue sees a request stamped, then delayed, as one a node sends after
	// being frozen between its lease check and the send. A request held
	// past its recvWindow is refused (-1021) like any late one.
	Wait <-chan struct{}
	// After is FaultTimeoutAfterExecution (503, -1007, the order executed)
	// or FaultDropAfterExecution, or "" for an answer.
	After Fault
	// Visibility hides the accepted order from GET /api/v3/order (-2013),
	// allOrders, openOrders, cancels (-2011) and myTrades for this long
	// after acceptance, as Binance's eventually consistent views can; the
	// new-order answer and the user stream report it at once.
	Visibility time.Duration
	// Silent leaves the order's events at placement (its NEW and, when it
	// fills at once, TRADE executionReports and the balance update) out of
	// the user stream, as when the stream was down at that moment: Binance
	// does not replay missed events, so only the lookups can tell.
	Silent bool
}

// PlacePlan decides the fault of each order request by its client order id;
// it is called once per arrival, without the fake's lock held.
type PlacePlan func(clientOrderID string) PlaceFault

// Arrival is one order request that reached the fake, refused or not.
type Arrival struct {
	ClientOrderID string
	At            time.Time // when the fake read it (after any Wait)
	Status        int       // the HTTP status answered (0: dropped)
	Code          int       // Binance's error code of a refusal (-1021: late)
	Accepted      bool      // an order was created for it
	OrderID       int64     // the order created, when Accepted
}

// TradeFee is one fill with the commission the fake charged.
type TradeFee struct {
	ID, OrderID int64
	Symbol      string
	Quantity    venue.Decimal
	Fee         venue.Decimal
	FeeAsset    string
}

// placeFaults is the state of the knobs above.
type placeFaults struct {
	plan       PlacePlan
	hiddenTill map[int64]time.Time   // order id → end of its invisibility
	pending    map[string]PlaceFault // by client order id, until accepted or answered
	arrivals   []Arrival
}

// SetPlacePlan installs plan for every later order request (nil removes
// it). Arrivals are logged whether or not a plan is installed.
func (s *Server) SetPlacePlan(plan PlacePlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pf.plan = plan
}

// Arrivals lists every order request the fake read, in order: an id that
// appears twice was sent twice, even when the second was refused.
func (s *Server) Arrivals() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.pf.arrivals...)
}

// TradeFees lists every spot fill with its commission, by symbol then id.
func (s *Server) TradeFees() []TradeFee {
	s.mu.Lock()
	defer s.mu.Unlock()
	syms := make([]string, 0, len(s.trades))
	for sym := range s.trades {
		syms = append(syms, sym)
	}
	sort.Strings(syms)
	var out []TradeFee
	for _, sym := range syms {
		for _, t := range s.trades[sym] {
			out = append(out, TradeFee{ID: t.id, OrderID: t.orderID, Symbol: t.symbol, Quantity: t.qty, Fee: t.fee, FeeAsset: t.feeAsset})
		}
	}
	return out
}

// hiddenLocked reports whether the order with id is not visible yet.
func (s *Server) hiddenLocked(id int64) bool {
	till, ok := s.pf.hiddenTill[id]
	return ok && s.now().Before(till)
}

// acceptedLocked is called for every order the fake creates.
func (s *Server) acceptedLocked(o *order) {
	if d := s.pf.pending[o.clientID].Visibility; d > 0 {
		if s.pf.hiddenTill == nil {
			s.pf.hiddenTill = map[int64]time.Time{}
		}
		s.pf.hiddenTill[o.id] = o.created.Add(d)
	}
}

// silenceLocked returns the user stream events of a new order request
// with client order id cid: none when its plan says Silent.
func (s *Server) silenceLocked(cid string, events [][]byte) [][]byte {
	if s.pf.pending[cid].Silent {
		return nil
	}
	return events
}

// planPlace draws the fault of one order request, holds it if the plan
// says so, and notes its visibility for acceptedLocked.
func (s *Server) planPlace(q url.Values) Fault {
	s.mu.Lock()
	plan := s.pf.plan
	s.mu.Unlock()
	if plan == nil {
		return ""
	}
	cid := q.Get("newClientOrderId")
	pf := plan(cid)
	if pf.Wait != nil {
		<-pf.Wait
	}
	if (pf.Visibility > 0 || pf.Silent) && cid != "" {
		s.mu.Lock()
		if s.pf.pending == nil {
			s.pf.pending = map[string]PlaceFault{}
		}
		s.pf.pending[cid] = PlaceFault{Visibility: pf.Visibility, Silent: pf.Silent}
		s.mu.Unlock()
	}
	return pf.After
}

// arrivalWriter records the status an order request was answered with.
type arrivalWriter struct {
	http.ResponseWriter
	status, code int
}

func (w *arrivalWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *arrivalWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 400 && w.code == 0 {
		var e apiError
		if json.Unmarshal(b, &e) == nil {
			w.code = e.Code
		}
	}
	return w.ResponseWriter.Write(b)
}

// logArrival appends one arrival; it finds the order created for it, if
// any, as the newest order with its id created at or after at.
func (s *Server) logArrival(cid string, at time.Time, status, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := Arrival{ClientOrderID: cid, At: at, Status: status, Code: code}
	delete(s.pf.pending, cid)
	if o := s.byClientID[cid]; o != nil && !o.created.Before(at) && !s.pf.claimed(o.id) {
		a.Accepted, a.OrderID = true, o.id
	}
	s.pf.arrivals = append(s.pf.arrivals, a)
}

// claimed reports whether an earlier arrival already owns order id.
func (p *placeFaults) claimed(id int64) bool {
	for i := len(p.arrivals) - 1; i >= 0; i-- {
		if p.arrivals[i].OrderID == id {
			return true
		}
	}
	return false
}

// dropAnswer closes the connection without writing an answer.
func dropAnswer(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http closes the connection unanswered
}
