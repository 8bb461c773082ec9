// Package strategy defines what a trading strategy is to the supervisor: a
// Strategy runs one trade step at a time against an Env, on the schedule
// its Interval gives, and a registry maps strategy names to factories.
//
// A strategy owns its decision logic only. Everything with a side effect
// goes through Env: prices and balances are read from it, orders are placed
// and canceled through it (the session behind it assigns client order ids
// and journals every intent), and the strategy's own memory is kept with
// State/SetState, which the session persists after each step so it
// survives restarts. Because every effect goes through Env, the same Step
// code serves preview ("what would you do now?", used by Trade All's
// preview): the session hands it an Env whose DryRun is true and whose
// Place and Cancel only record what was asked.
//
// A strategy whose state counts what its orders executed also implements
// Corrector: when the venue turns out to have executed an order the journal
// had closed (failed, canceled), the session hands it the late execution
// once, to fold into its state.
//
// Adding a strategy is one file in its own package with an init that calls
// Register; package strategy/builtin imports the built-ins.
//
// It does not own scheduling, restarts, persistence or order routing: those
// are package session's.
package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// Decimal is the exact decimal used for every price, quantity and amount.
type Decimal = venue.Decimal

// Strategy is one instance of a strategy bound to one session's
// parameters. The supervisor calls Step from one goroutine at a time; a
// Strategy needs no locking of its own.
type Strategy interface {
	// Interval is the time between scheduled trade steps; it must be
	// positive.
	Interval() time.Duration
	// Step makes one decision and executes it through env. It must honor
	// ctx (the supervisor cancels it when the step overruns its deadline)
	// and keep all state it needs across steps in env.State, never in the
	// Strategy value, which is rebuilt on every (re)start. An error makes
	// the step a recorded failure; return a StepResult with Skip set for
	// "nothing to do".
	Step(ctx context.Context, env Env) (StepResult, error)
}

// SymbolTrader is a Strategy whose parameters name the symbols it trades.
// A session refuses parameters that trade a symbol outside its own: the
// session's symbols are where it looks for its open orders (Env.OpenOrders
// with no symbol, reconciling after a restart, the check before a delete),
// and an order elsewhere would be missed there.
type SymbolTrader interface {
	TradedSymbols() []string
}

// StepResult is what a strategy says about its step. Orders placed and
// canceled are recorded by the Env; the result only explains.
type StepResult struct {
	// Skip, when non-empty, says why the step did nothing ("below min
	// notional", "drift 0.8% under threshold 2%"), for people.
	Skip string `json:"skip,omitempty"`
	// SkipCode classes a skip for Trade All, which reads it, never Skip's
	// text: apperr.AllocationExceeded when the allocation is spent; empty
	// for "nothing to do".
	SkipCode apperr.Code `json:"skip_code,omitempty"`
	// Note is a short human summary of what the step did.
	Note string `json:"note,omitempty"`
}

// Env is a strategy's view of the world for one step. Implementations are
// provided by package session (and by strategytest for tests); methods that
// talk to the venue take the step's ctx.
type Env interface {
	// Now is the time of the step (the supervisor's clock).
	Now() time.Time
	// SessionID identifies the session, for messages.
	SessionID() string
	// Symbols lists the session's configured symbols.
	Symbols() []string
	// Symbol returns a market's filters (tick, step, min notional).
	Symbol(ctx context.Context, name string) (venue.Symbol, error)
	// Price is the current price of a symbol.
	Price(ctx context.Context, symbol string) (Decimal, error)
	// Balances lists the account's balances (all wallets).
	Balances(ctx context.Context) ([]venue.Balance, error)
	// OpenOrders lists this session's open orders on symbol (all of the
	// session's symbols when empty); other sessions' orders are excluded.
	OpenOrders(ctx context.Context, symbol string) ([]venue.Order, error)
	// Order looks up one of this session's orders by client order id.
	Order(ctx context.Context, symbol, clientOrderID string) (venue.Order, error)
	// Place submits an order. The Env assigns ClientOrderID (any value in
	// req is replaced) deterministically from the session, its step number
	// and the order's index within the step. In dry run nothing is sent
	// and a synthetic new order is returned.
	Place(ctx context.Context, req venue.OrderRequest) (venue.Order, error)
	// Cancel cancels one of this session's orders.
	Cancel(ctx context.Context, symbol, clientOrderID string) (venue.Order, error)
	// Params decodes the session's parameters (JSON) into v.
	Params(v any) error
	// State decodes the strategy's persisted state into v; with no state
	// yet, v is left untouched.
	State(v any) error
	// SetState replaces the strategy's state with v (JSON-encoded). It is
	// persisted when the step ends, also when the step fails, so that a
	// strategy can record what it did before the failure.
	SetState(v any) error
	// Allocation is the quote amount the session may commit; zero means
	// the session has no allocation limit.
	Allocation(ctx context.Context) (Decimal, error)
	// DryRun reports preview mode: Place and Cancel send nothing.
	DryRun() bool
}

// Factory builds a strategy from a session's parameters, validating them.
// It fails with a *ParamsError for bad parameters.
type Factory func(params json.RawMessage) (Strategy, error)

// Info describes a registered strategy.
type Info struct {
	Name        string
	Description string
	Factory     Factory
	// MinInterval is the shortest time between steps the strategy accepts;
	// zero means DefaultMinInterval. New refuses parameters that ask for
	// less (a "1ns" interval ran 10k steps in 5 s).
	MinInterval time.Duration
}

// DefaultMinInterval is the minimum step interval of a strategy that
// declares none.
const DefaultMinInterval = time.Second

// ErrUnknown: no strategy is registered under the name.
var ErrUnknown = apperr.New(apperr.Invalid, "unknown strategy")

// ParamsError is a bad strategy parameter.
type ParamsError struct {
	Strategy string
	Field    string
	Reason   string
}

// ErrorCode is apperr.Invalid.
func (e *ParamsError) ErrorCode() apperr.Code { return apperr.Invalid }

func (e *ParamsError) Error() string {
	return fmt.Sprintf("strategy %s: parameter %q: %s", e.Strategy, e.Field, e.Reason)
}

var registry = struct {
	sync.RWMutex
	m map[string]Info
}{m: map[string]Info{}}

// Register adds a strategy under info.Name. It panics on an empty or
// duplicate name or a nil factory: registration happens in init, where a
// mistake is a programming error.
func Register(info Info) {
	registry.Lock()
	defer registry.Unlock()
	if info.Name == "" || info.Factory == nil {
		panic("strategy: Register with empty name or nil factory")
	}
	if _, dup := registry.m[info.Name]; dup {
		panic("strategy: duplicate registration of " + info.Name)
	}
	registry.m[info.Name] = info
}

// Lookup returns the strategy registered as name, or ErrUnknown.
func Lookup(name string) (Info, error) {
	registry.RLock()
	defer registry.RUnlock()
	info, ok := registry.m[name]
	if !ok {
		return Info{}, fmt.Errorf("strategy %q: %w", name, ErrUnknown)
	}
	return info, nil
}

// New builds the strategy name with params. Parameters whose step
// interval is under the strategy's MinInterval are a *ParamsError naming
// "interval".
func New(name string, params json.RawMessage) (Strategy, error) {
	info, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	s, err := info.Factory(params)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("strategy %q: its factory returned no strategy", name)
	}
	min := info.MinInterval
	if min <= 0 {
		min = DefaultMinInterval
	}
	if iv := s.Interval(); iv < min {
		return nil, &ParamsError{Strategy: name, Field: "interval",
			Reason: fmt.Sprintf("the parameters make it step every %s; the least this strategy allows is %s", iv, min)}
	}
	return s, nil
}

// Names lists the registered strategies' names, sorted: what the CLI, the
// dashboard, the API's validation and its OpenAPI document offer.
func Names() []string {
	infos := Registered()
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Name
	}
	return out
}

// Registered lists the registered strategies by name.
func Registered() []Info {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Info, 0, len(registry.m))
	for _, i := range registry.m {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
