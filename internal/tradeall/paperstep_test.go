package tradeall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// paperStepper is a small real stack standing in for the session manager
// and the journal on the paper venue, for Bench and the end-to-end tests:
// each session's step buys QuoteQty of its symbol at market through its own
// paper account. Like the journal it records an intent (an attempt number,
// and through journal a durable row) before a request leaves, derives the
// client order id from the step key and the attempt, reconciles an unknown
// outcome by client order id and never resends one.
type paperStepper struct {
	ex *paper.Exchange
	// journal, when set, makes each intent durable before the request
	// leaves (Bench: one synchronous store insert per order).
	journal func(ctx context.Context, clientOrderID, sessionID string) error

	mu       sync.Mutex
	sessions map[string]*paperSession
	order    []string
	attempts map[StepKey]int
	sent     map[string]int // PlaceOrder calls by client order id
}

// paperSession is one simulated session.
type paperSession struct {
	info       SessionInfo
	account    string // paper account name
	symbol     string
	quote      venue.Decimal
	allocation venue.Decimal
	skip       SkipReason // a state the session manager would refuse to step
	panics     bool
}

var (
	_ Stepper  = (*paperStepper)(nil)
	_ Sessions = (*paperStepper)(nil)
)

func newPaperStepper(ex *paper.Exchange) *paperStepper {
	return &paperStepper{ex: ex, sessions: map[string]*paperSession{}, attempts: map[StepKey]int{}, sent: map[string]int{}}
}

func (p *paperStepper) add(s *paperSession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions[s.info.ID] = s
	p.order = append(p.order, s.info.ID)
}

// Sessions lists the sessions in the order they were added.
func (p *paperStepper) Sessions(context.Context) ([]SessionInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]SessionInfo, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, p.sessions[id].info)
	}
	return out, nil
}

func (p *paperStepper) session(id string) (*paperSession, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[id]
	if !ok {
		return nil, fmt.Errorf("session %s: not found", id)
	}
	return s, nil
}

func (s *paperSession) planned() Order {
	return Order{Symbol: s.symbol, Side: venue.Buy, Type: venue.Market, QuoteQuantity: s.quote}
}

// Plan previews one market buy and its allocation check.
func (p *paperStepper) Plan(_ context.Context, id string) (Plan, error) {
	s, err := p.session(id)
	if err != nil {
		return Plan{}, err
	}
	pl := Plan{Skip: s.skip, Allocation: Allocation{OK: !s.quote.GreaterThan(s.allocation), Required: s.quote, Available: s.allocation}}
	switch {
	case pl.Skip != "":
	case !pl.Allocation.OK:
		pl.Skip = SkipAllocationExceeded
	default:
		pl.Orders = []Order{s.planned()}
	}
	return pl, nil
}

// Step places the session's one order.
func (p *paperStepper) Step(ctx context.Context, req StepRequest) (StepResult, error) {
	s, err := p.session(req.Key.SessionID)
	if err != nil {
		return StepResult{}, err
	}
	if s.panics {
		panic("strategy bug: index out of range")
	}
	if s.skip != "" {
		return StepResult{Skip: s.skip}, nil
	}
	if s.quote.GreaterThan(s.allocation) {
		return StepResult{Skip: SkipAllocationExceeded, Message: fmt.Sprintf("needs %s, allocation %s", s.quote, s.allocation)}, nil
	}
	// Intent first: the attempt number is taken, and made durable, before
	// the request can leave.
	p.mu.Lock()
	p.attempts[req.Key]++
	cid := req.Key.Ref() + "-" + strconv.Itoa(p.attempts[req.Key])
	p.mu.Unlock()
	if p.journal != nil {
		if err := p.journal(ctx, cid, s.info.ID); err != nil {
			return StepResult{}, fmt.Errorf("journal intent %s: %w", cid, err)
		}
	}
	if err := req.Pace(ctx); err != nil {
		return StepResult{}, err
	}
	acct := p.ex.Account(s.account)
	p.mu.Lock()
	p.sent[cid]++
	p.mu.Unlock()
	o, err := acct.PlaceOrder(ctx, venue.OrderRequest{ClientOrderID: cid, Symbol: s.symbol, Side: venue.Buy, Type: venue.Market, QuoteQuantity: s.quote})
	if venue.ClassOf(err) == venue.ClassUnknown && ctx.Err() == nil {
		// Never resend: settle by client order id.
		q, qerr := acct.QueryOrder(ctx, s.symbol, cid)
		if qerr == nil {
			return StepResult{Orders: []Order{p.toOrder(s, q)}, Message: "reconciled after unknown outcome"}, nil
		}
	}
	if err != nil {
		return StepResult{}, err
	}
	return StepResult{Orders: []Order{p.toOrder(s, o)}}, nil
}

func (p *paperStepper) toOrder(s *paperSession, o venue.Order) Order {
	out := s.planned()
	out.ClientOrderID, out.Quantity, out.Status, out.ExecutedQty = o.ClientOrderID, o.Quantity, string(o.Status), o.ExecutedQty
	if o.ExecutedQty.IsPos() {
		out.Fills = 1 // the paper venue fills a market order in one trade
	}
	return out
}

// Settle asks the venue about the step's last attempt.
func (p *paperStepper) Settle(ctx context.Context, key StepKey) (Settlement, error) {
	s, err := p.session(key.SessionID)
	if err != nil {
		return Settlement{}, err
	}
	p.mu.Lock()
	n := p.attempts[key]
	p.mu.Unlock()
	if n == 0 {
		return Settlement{}, nil
	}
	cid := key.Ref() + "-" + strconv.Itoa(n)
	o, err := p.ex.Account(s.account).QueryOrder(ctx, s.symbol, cid)
	if errors.Is(err, venue.ErrOrderNotFound) {
		// Certainly never executed; the next attempt takes a new id.
		return Settlement{}, nil
	}
	if err != nil {
		return Settlement{}, fmt.Errorf("settle %s: %w", cid, err)
	}
	return Settlement{Started: true, Result: StepResult{Orders: []Order{p.toOrder(s, o)}, Message: "settled after restart"}}, nil
}

// maxSends returns the most times one client order id was sent, and the
// number of distinct ids sent.
func (p *paperStepper) maxSends() (most, ids int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.sent {
		most = max(most, n)
	}
	return most, len(p.sent)
}

// sessionIDs lists the session ids in order.
func (p *paperStepper) sessionIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.order)
}
