package session

import (
	"fmt"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// State is where a session is in its life cycle.
type State string

// States. Created is where every session begins; Stopped and Quarantined
// are the resting states an operator acts on; Running and Paused are
// steady; the rest are passages the supervisor moves through.
const (
	Created     State = "created"
	Starting    State = "starting"
	Running     State = "running"
	Paused      State = "paused"
	Stopping    State = "stopping"
	Stopped     State = "stopped"
	Failed      State = "failed"
	Restarting  State = "restarting"
	Quarantined State = "quarantined"
)

// States lists every state.
var States = []State{Created, Starting, Running, Paused, Stopping, Stopped, Failed, Restarting, Quarantined}

// transitions is the table of legal moves: from → allowed destinations.
var transitions = map[State][]State{
	Created:     {Starting, Stopping},
	Starting:    {Running, Failed, Stopping, Restarting},
	Running:     {Paused, Stopping, Failed, Restarting},
	Paused:      {Starting, Stopping, Restarting},
	Stopping:    {Stopped, Failed},
	Stopped:     {Starting, Restarting},
	Failed:      {Restarting, Quarantined, Stopping, Starting, Paused},
	Restarting:  {Starting, Stopping, Failed, Quarantined, Paused},
	Quarantined: {Restarting, Stopping},
}

// CanTransition reports whether a session may move from one state to
// another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// ErrIllegalState matches every *StateError with errors.Is.
var ErrIllegalState = apperr.New(apperr.Conflict, "illegal session state")

// StateError refuses an action that the session's state does not allow:
// "cannot pause session s-1 in state stopped".
type StateError struct {
	SessionID string
	Action    string // verb: "pause", "start", "trade"
	State     State  // the state the session is in
	To        State  // the state the action would have moved to, if any
}

func (e *StateError) Error() string {
	s := fmt.Sprintf("cannot %s session %s in state %s", e.Action, e.SessionID, e.State)
	if e.To != "" {
		s += fmt.Sprintf(" (no transition %s -> %s)", e.State, e.To)
	}
	return s
}

// Is makes errors.Is(err, ErrIllegalState) true.
func (e *StateError) Is(target error) bool { return target == ErrIllegalState }

// ErrorCode: the session's state refuses the action (apperr.Conflict).
func (e *StateError) ErrorCode() apperr.Code { return apperr.Conflict }

// check returns a *StateError unless from → to is legal.
func check(id, action string, from, to State) error {
	if CanTransition(from, to) {
		return nil
	}
	return &StateError{SessionID: id, Action: action, State: from, To: to}
}
