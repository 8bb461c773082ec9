package paper

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Fault names a failure the simulator injects. The request faults carry the
// same names as venuetest's faults; the stream faults act on the user stream.
type Fault string

// Request faults. Each makes one request fail; see faultError for the class
// and code each one produces.
const (
	FaultRateLimited            Fault = "rate_limited"             // ClassRateLimited, code -1003, RetryAfter set
	FaultBanned                 Fault = "banned"                   // ClassBanned, code -1003, Until set
	FaultInsufficientFunds      Fault = "insufficient_funds"       // ClassInsufficientFunds, code -2010
	FaultFilterReject           Fault = "filter_reject"            // ClassRejected, code -1013
	FaultTimeoutBeforeExecution Fault = "timeout_before_execution" // ClassUnknown (reads: ClassUnavailable); nothing executed
	FaultTimeoutAfterExecution  Fault = "timeout_after_execution"  // ClassUnknown (reads: ClassUnavailable); the request executed
	FaultServerError            Fault = "server_error"             // place/cancel: ClassUnknown, code -1007; reads: ClassUnavailable
	FaultTimestamp              Fault = "timestamp"                // ClassTimestamp, code -1021
	FaultAuth                   Fault = "auth"                     // ClassAuth, code -2015
)

// Stream faults, injected into the user stream (op OpStream).
const (
	// FaultStreamDrop loses the event and then emits venue.EventReconnected,
	// as a dropped and re-established connection does.
	FaultStreamDrop Fault = "stream_drop"
	// FaultStreamClose closes the stream's channel; the consumer must
	// subscribe again and resync.
	FaultStreamClose Fault = "stream_close"
	// FaultStreamDuplicate delivers the event twice.
	FaultStreamDuplicate Fault = "stream_duplicate"
	// FaultStreamReorder holds the event back and delivers it after the
	// account's next event.
	FaultStreamReorder Fault = "stream_reorder"
)

// Ops name the requests faults apply to.
const (
	OpPlace       = "place"
	OpCancel      = "cancel"
	OpQuery       = "query"
	OpBalances    = "balances"
	OpTrades      = "trades"
	OpOpenOrders  = "open_orders"
	OpOrderTrades = "order_trades"
	OpKlines      = "klines"
	OpSymbols     = "symbols"
	OpStream      = "stream" // user-stream events; only stream faults apply
)

// FaultRates are per-request probabilities (0..1) of random faults. Rates
// for the order-only faults (insufficient funds, filter reject, timeouts)
// apply to place (timeouts also to cancel); the others apply to every
// request op. Stream rates apply per user-stream event. The sum of the rates
// that apply to one op should stay below 1.
type FaultRates struct {
	RateLimited            float64
	Banned                 float64
	InsufficientFunds      float64
	FilterReject           float64
	TimeoutBeforeExecution float64
	TimeoutAfterExecution  float64
	ServerError            float64
	Timestamp              float64
	Auth                   float64

	StreamDrop      float64
	StreamClose     float64
	StreamDuplicate float64
	StreamReorder   float64
}

// Faults is one account's fault injector: a script of faults per op, taken
// first, and random faults drawn from a seeded source. For a given seed and
// the same sequence of calls it makes the same decisions, so runs replay
// exactly. It is safe for concurrent use.
type Faults struct {
	mu     sync.Mutex
	script map[string][]Fault
	rates  FaultRates
	rng    *rand.Rand // request faults and latency jitter
	srng   *rand.Rand // stream faults, separate so streams do not shift requests
}

func newFaults(seed uint64, account string, rates FaultRates) *Faults {
	h := fnv.New64a()
	h.Write([]byte(account))
	s := h.Sum64()
	return &Faults{
		script: map[string][]Fault{},
		rates:  rates,
		rng:    rand.New(rand.NewPCG(seed, s)),
		srng:   rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, s)),
	}
}

// Next queues faults for the next requests of op, in order: the first call
// of op after this fails with faults[0], the second with faults[1], and so
// on. Scripted faults take precedence over random ones.
func (f *Faults) Next(op string, faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[op] = append(f.script[op], faults...)
}

// SetRates replaces the random fault rates.
func (f *Faults) SetRates(r FaultRates) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rates = r
}

// Clear drops every scripted fault and sets all rates to zero.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = map[string][]Fault{}
	f.rates = FaultRates{}
}

func (f *Faults) pop(op string) (Fault, bool) {
	q := f.script[op]
	if len(q) == 0 {
		return "", false
	}
	if len(q) == 1 {
		delete(f.script, op)
	} else {
		f.script[op] = q[1:]
	}
	return q[0], true
}

// draw decides the fault (or none) for the next request of op and the
// latency jitter in [0, jitter]. It always consumes the same amount of
// randomness, whatever it decides.
func (f *Faults) draw(op string, jitter time.Duration) (Fault, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.rng.Float64()
	var j time.Duration
	if jitter > 0 {
		j = time.Duration(f.rng.Int64N(int64(jitter) + 1))
	}
	if fl, ok := f.pop(op); ok {
		return fl, j
	}
	r := f.rates
	cands := []rated{
		{r.RateLimited, FaultRateLimited},
		{r.Banned, FaultBanned},
		{r.ServerError, FaultServerError},
		{r.Timestamp, FaultTimestamp},
		{r.Auth, FaultAuth},
	}
	switch op {
	case OpPlace:
		cands = append(cands,
			rated{r.InsufficientFunds, FaultInsufficientFunds},
			rated{r.FilterReject, FaultFilterReject})
		fallthrough
	case OpCancel:
		cands = append(cands,
			rated{r.TimeoutBeforeExecution, FaultTimeoutBeforeExecution},
			rated{r.TimeoutAfterExecution, FaultTimeoutAfterExecution})
	}
	acc := 0.0
	for _, c := range cands {
		acc += c.p
		if u < acc {
			return c.f, j
		}
	}
	return "", j
}

// rated is a fault with its probability.
type rated struct {
	p float64
	f Fault
}

// drawStream decides the fault (or none) for the next user-stream event.
func (f *Faults) drawStream() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.pop(OpStream); ok {
		return fl
	}
	r := f.rates
	if r.StreamDrop+r.StreamClose+r.StreamDuplicate+r.StreamReorder == 0 {
		return ""
	}
	u := f.srng.Float64()
	acc := 0.0
	for _, c := range []rated{
		{r.StreamDrop, FaultStreamDrop},
		{r.StreamClose, FaultStreamClose},
		{r.StreamDuplicate, FaultStreamDuplicate},
		{r.StreamReorder, FaultStreamReorder},
	} {
		acc += c.p
		if u < acc {
			return c.f
		}
	}
	return ""
}

// Binance-like codes the simulator returns.
const (
	CodeTooManyRequests   = -1003
	CodeUnknownExecution  = -1007
	CodeFilterFailure     = -1013
	CodeTimestamp         = -1021
	CodeIllegalParam      = -1100
	CodeMandatoryParam    = -1102
	CodeInvalidSymbol     = -1121
	CodeNewOrderRejected  = -2010 // insufficient balance, duplicate order
	CodeCancelRejected    = -2011 // unknown order sent (cancel)
	CodeNoSuchOrder       = -2013 // order does not exist (query)
	CodeInvalidAPIKeyPerm = -2015
)

// faultError is the error a request fault produces for op at now.
func (e *Exchange) faultError(op, what string, f Fault, now time.Time) *venue.Error {
	write := op == OpPlace || op == OpCancel
	switch f {
	case FaultRateLimited:
		return &venue.Error{Class: venue.ClassRateLimited, Code: CodeTooManyRequests, Op: what,
			Message: "Too many requests; current limit is exceeded.", RetryAfter: e.cfg.RetryAfter}
	case FaultBanned:
		until := now.Add(e.cfg.BanDuration)
		return &venue.Error{Class: venue.ClassBanned, Code: CodeTooManyRequests, Op: what, Until: until,
			Message: fmt.Sprintf("Way too many requests; IP banned until %d.", until.UnixMilli())}
	case FaultInsufficientFunds:
		return &venue.Error{Class: venue.ClassInsufficientFunds, Code: CodeNewOrderRejected, Op: what,
			Message: "Account has insufficient balance for requested action."}
	case FaultFilterReject:
		return &venue.Error{Class: venue.ClassRejected, Code: CodeFilterFailure, Op: what,
			Message: "Filter failure: NOTIONAL"}
	case FaultTimeoutBeforeExecution, FaultTimeoutAfterExecution:
		if write {
			return &venue.Error{Class: venue.ClassUnknown, Op: what, Message: "request timed out"}
		}
		return &venue.Error{Class: venue.ClassUnavailable, Op: what, Message: "request timed out"}
	case FaultServerError:
		if write {
			return &venue.Error{Class: venue.ClassUnknown, Code: CodeUnknownExecution, Op: what,
				Message: "Timeout waiting for response from backend server. Send status unknown; execution status unknown."}
		}
		return &venue.Error{Class: venue.ClassUnavailable, Op: what, Message: "internal server error (HTTP 503)"}
	case FaultTimestamp:
		return &venue.Error{Class: venue.ClassTimestamp, Code: CodeTimestamp, Op: what,
			Message: "Timestamp for this request is outside of the recvWindow."}
	case FaultAuth:
		return &venue.Error{Class: venue.ClassAuth, Code: CodeInvalidAPIKeyPerm, Op: what,
			Message: "Invalid API-key, IP, or permissions for action."}
	}
	return &venue.Error{Class: venue.ClassUnavailable, Op: what, Message: fmt.Sprintf("injected fault %q", f)}
}
