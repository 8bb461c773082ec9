// Package session owns trading sessions: the model (strategy, account,
// symbols, parameters, allocation, tags, restart policy), the state machine
// every session moves through with each transition recorded, and the
// Manager, which is both the API the CLI and HTTP layers call and the
// supervisor that runs each running session's trade steps in its own
// goroutine on an injected clock.
//
// The supervisor turns a panic, an error or an overrun of a step into a
// recorded failure (last_error, a journal callback, an alert), restarts the
// session with exponential backoff and seeded jitter, and quarantines it
// after too many restarts in a window; a manual restart clears that.
//
// It does not know HTTP, SQL or any venue's wire format, and it does not
// import the journal: orders leave through the OrderPlacer the server wires
// (the journal's Executor behind a two-line adapter), and alerts, failure
// records and the reconcile-before-resume hook are injected functions and
// interfaces. Strategies live in package strategy.
package session

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// AllocationKind says how a session's capital is measured.
type AllocationKind string

// Allocation kinds.
const (
	// AllocFixed: Amount is a quote amount (e.g. 1000 USDT).
	AllocFixed AllocationKind = "fixed"
	// AllocShare: Amount is a share (0 < x ≤ 1) of the account's
	// collateral value.
	AllocShare AllocationKind = "share"
)

// Allocation is the capital a session may commit.
type Allocation struct {
	Kind   AllocationKind `json:"kind"`
	Amount venue.Decimal  `json:"amount"`
}

// Desired is the state an operator asked for; the supervisor brings the
// session back to it after a server restart.
type Desired string

// Desired states.
const (
	WantRunning Desired = "running"
	WantPaused  Desired = "paused"
	WantStopped Desired = "stopped"
)

// RestartPolicy governs automatic restarts after a failure. Zero fields
// take the Manager's defaults (see DefaultRestartPolicy).
type RestartPolicy struct {
	// MaxRestarts is how many automatic restarts are allowed within
	// Window; the next failure quarantines the session.
	MaxRestarts int `json:"max_restarts,omitempty"`
	// Window is the sliding window MaxRestarts counts over.
	Window strategy.Duration `json:"window,omitempty"`
	// BackoffInitial is the wait before the first restart; each further
	// restart in the window doubles it up to BackoffMax.
	BackoffInitial strategy.Duration `json:"backoff_initial,omitempty"`
	BackoffMax     strategy.Duration `json:"backoff_max,omitempty"`
	// Jitter is the ± share of the backoff drawn from the Manager's seeded
	// source (0.2 = ±20%); negative means none.
	Jitter float64 `json:"jitter,omitempty"`
}

// DefaultRestartPolicy is used where neither the session nor the Manager
// options say otherwise: 5 restarts in 10 minutes, backoff 1s doubling to
// 1m, ±20% jitter.
var DefaultRestartPolicy = RestartPolicy{
	MaxRestarts:    5,
	Window:         strategy.Duration(10 * time.Minute),
	BackoffInitial: strategy.Duration(time.Second),
	BackoffMax:     strategy.Duration(time.Minute),
	Jitter:         0.2,
}

// withDefaults fills zero fields from d.
func (p RestartPolicy) withDefaults(d RestartPolicy) RestartPolicy {
	if p.MaxRestarts == 0 {
		p.MaxRestarts = d.MaxRestarts
	}
	if p.Window == 0 {
		p.Window = d.Window
	}
	if p.BackoffInitial == 0 {
		p.BackoffInitial = d.BackoffInitial
	}
	if p.BackoffMax == 0 {
		p.BackoffMax = d.BackoffMax
	}
	if p.Jitter == 0 {
		p.Jitter = d.Jitter
	}
	return p
}

// Session is one instance of a strategy on one account, as stored.
type Session struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Strategy       string          `json:"strategy"`
	AccountID      int64           `json:"account_id"`
	Symbols        []string        `json:"symbols"`
	Params         json.RawMessage `json:"params"`
	Allocation     Allocation      `json:"allocation"`
	Tags           []string        `json:"tags"`
	State          State           `json:"state"`
	StateReason    string          `json:"state_reason,omitempty"`
	Desired        Desired         `json:"desired"`
	RestartPolicy  RestartPolicy   `json:"restart_policy"`
	RestartsAuto   int64           `json:"restarts_auto"`
	RestartsManual int64           `json:"restarts_manual"`
	StepSeq        int64           `json:"step_seq"`
	// ClosedStep is the StepOptions.StepID of the last caller-named step
	// whose outcome was saved with the strategy state.
	ClosedStep string    `json:"closed_step,omitempty"`
	LastStepAt time.Time `json:"last_step_at,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// StrategyState is the strategy's persisted JSON state.
	StrategyState json.RawMessage `json:"strategy_state,omitempty"`
}

// Spec is what Create needs.
type Spec struct {
	Name          string
	Strategy      string
	AccountID     int64
	Symbols       []string
	Params        json.RawMessage
	Allocation    Allocation
	Tags          []string
	RestartPolicy RestartPolicy
}

// Transition is one recorded state change.
type Transition struct {
	From   State     `json:"from"`
	To     State     `json:"to"`
	Reason string    `json:"reason"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
}

// Filter selects sessions for List; zero fields match all.
type Filter struct {
	AccountID int64
	Tag       string
	State     State
	IDs       []string
}

func fromStore(s store.Session) (Session, error) {
	out := Session{
		ID: s.ID, Name: s.Name, Strategy: s.Strategy, AccountID: s.AccountID, Symbols: s.Symbols, Params: s.Params,
		Allocation: Allocation{Kind: AllocationKind(s.AllocationKind), Amount: s.Allocation}, Tags: s.Tags,
		State: State(s.State), StateReason: s.StateReason, Desired: Desired(s.Desired), RestartsAuto: s.RestartsAuto,
		RestartsManual: s.RestartsManual, StepSeq: s.StepSeq, ClosedStep: s.ClosedStep, LastStepAt: s.LastStepAt, LastError: s.LastError,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, StrategyState: s.StrategyState,
	}
	if len(s.RestartPolicy) > 0 {
		if err := json.Unmarshal(s.RestartPolicy, &out.RestartPolicy); err != nil {
			return out, fmt.Errorf("session %s restart policy: %w", s.ID, err)
		}
	}
	return out, nil
}

func (s Spec) validate() error {
	bad := func(field, reason string) error { return &InvalidError{Field: field, Reason: reason} }
	switch {
	case s.Name == "":
		return bad("name", "required")
	case s.AccountID == 0:
		return bad("account", "required")
	case len(s.Symbols) == 0:
		return bad("symbols", "at least one symbol is required")
	}
	switch s.Allocation.Kind {
	case "", AllocFixed:
		if s.Allocation.Amount.IsNeg() {
			return bad("allocation", "must not be negative")
		}
	case AllocShare:
		if !s.Allocation.Amount.IsPos() || s.Allocation.Amount.GreaterThan(udecimal.One) {
			return bad("allocation", "a share must be in (0, 1]")
		}
	default:
		return bad("allocation", fmt.Sprintf("kind %q is not fixed or share", s.Allocation.Kind))
	}
	p := s.RestartPolicy
	if p.MaxRestarts < 0 || p.Window < 0 || p.BackoffInitial < 0 || p.BackoffMax < 0 || p.Jitter > 1 {
		return bad("restart_policy", "values must not be negative and jitter at most 1")
	}
	return nil
}
