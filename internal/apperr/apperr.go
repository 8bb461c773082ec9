// Package apperr is tradeplane's one application error type and its one
// mapping table. A service says what kind of failure it returns by giving
// it a Code (an *Error, or any error with an ErrorCode method); the HTTP
// API's status, the CLI's exit code and Trade All's skip classes are read
// from the table by that code, never from an error's text.
//
// The package depends on the standard library only, so every layer (store,
// session, portfolio, server, cmd) can return and read coded errors
// without importing each other. It does not know HTTP: the statuses in
// Table are plain integers the server uses as they are.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Code is a class of failure. Its string is the API's error code
// ({"error":{"code":...}}), a contract: add codes, never rename one.
type Code string

// The codes. Internal is the code of any error that has none.
const (
	// Invalid: the request is malformed or breaks a rule; nothing changed.
	Invalid Code = "invalid"
	// NotFound: no such resource.
	NotFound Code = "not_found"
	// Conflict: the action conflicts with the current state (starting a
	// running session, reusing an idempotency key, a stale update).
	Conflict Code = "conflict"
	// NotOwner: another node owns the session; send the command to it
	// (the error's Details name the owner node and its address if known).
	NotOwner Code = "not_owner"
	// Unauthenticated: missing or invalid credentials.
	Unauthenticated Code = "unauthenticated"
	// Forbidden: the caller's role does not allow the action.
	Forbidden Code = "forbidden"
	// CSRF: a state-changing cookie request without a valid CSRF token.
	CSRF Code = "csrf"
	// RateLimited: too many attempts; wait and retry.
	RateLimited Code = "rate_limited"
	// TooLarge: the request body is over the limit.
	TooLarge Code = "too_large"
	// Unavailable: the service behind the request is not running here.
	Unavailable Code = "unavailable"
	// Timeout: the operation ran out of time; it may or may not have
	// taken effect.
	Timeout Code = "timeout"
	// Internal: a fault of ours; its details are logged, never shown.
	Internal Code = "internal"

	// The codes of a session that cannot step now; a Trade All step of it
	// is skipped with the code as its reason, not failed.

	// Paused: the session is paused.
	Paused Code = "paused"
	// Quarantined: the session is quarantined until an operator looks.
	Quarantined Code = "quarantined"
	// NotRunning: the session is not running (created, stopped, failed,
	// restarting, stopping).
	NotRunning Code = "not_running"
	// AllocationExceeded: an order would take the session over its
	// allocation, or the allocation is spent; nothing was sent.
	AllocationExceeded Code = "allocation_exceeded"
)

// Class is what one code means to each consumer.
type Class struct {
	// HTTPStatus is the API's response status.
	HTTPStatus int
	// ExitCode is the CLI's exit status: 1 the operation failed, 2 bad
	// usage or bad input.
	ExitCode int
	// Public says the error's message is written for users and may be
	// shown as it is; otherwise only the status text is shown.
	Public bool
	// Skip says a Trade All step that did nothing for this reason is
	// skipped, with the code as its skip reason, rather than failed.
	Skip bool
}

// table is the one mapping from codes to HTTP status and CLI exit code;
// consumers read it through Lookup. A request the caller must change
// (bad input, a wrong name, missing credentials) exits 2; one that failed
// against the state of the world (a conflict, another node's session, an
// outage) exits 1.
var table = map[Code]Class{
	Invalid:         {HTTPStatus: 400, ExitCode: 2, Public: true},
	NotFound:        {HTTPStatus: 404, ExitCode: 2, Public: true},
	Conflict:        {HTTPStatus: 409, ExitCode: 1, Public: true},
	NotOwner:        {HTTPStatus: 409, ExitCode: 1, Public: true},
	Unauthenticated: {HTTPStatus: 401, ExitCode: 2},
	Forbidden:       {HTTPStatus: 403, ExitCode: 2},
	CSRF:            {HTTPStatus: 403, ExitCode: 2},
	RateLimited:     {HTTPStatus: 429, ExitCode: 2},
	TooLarge:        {HTTPStatus: 413, ExitCode: 2, Public: true},
	Unavailable:     {HTTPStatus: 503, ExitCode: 1, Public: true},
	Timeout:         {HTTPStatus: 503, ExitCode: 1},
	Internal:        {HTTPStatus: 500, ExitCode: 1},

	Paused:             {HTTPStatus: 409, ExitCode: 1, Public: true, Skip: true},
	Quarantined:        {HTTPStatus: 409, ExitCode: 1, Public: true, Skip: true},
	NotRunning:         {HTTPStatus: 409, ExitCode: 1, Public: true, Skip: true},
	AllocationExceeded: {HTTPStatus: 409, ExitCode: 1, Public: true, Skip: true},
}

// Lookup returns the class of code; an unknown code is Internal's.
func Lookup(code Code) Class {
	if c, ok := table[code]; ok {
		return c
	}
	return table[Internal]
}

// Codes lists every code, sorted.
func Codes() []Code { return slices.Sorted(maps.Keys(table)) }

// Error is an error with a code and a message written for users. Err, if
// set, is the cause (errors.Is and errors.As see it); Details are extra
// facts for a client (e.g. "node" and "addr" for NotOwner).
type Error struct {
	Code    Code
	Message string
	Details map[string]string
	Err     error
}

// Error returns the message, with the cause's text when there is no
// message of its own.
func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return string(e.Code)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the code.
func (e *Error) ErrorCode() Code { return e.Code }

// New returns an error with code and message; use it for sentinel classes
// (var ErrX = apperr.New(apperr.NotFound, "x not found")), which
// errors.Is still tells apart by identity.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Errorf returns an error with code and a formatted message (%w wraps a
// cause as fmt.Errorf does).
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap gives err a code while keeping it (and its text) as the cause; nil
// stays nil.
func Wrap(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Coder is any error that knows its code (an *Error, or a domain error type
// such as a validation error).
type Coder interface {
	error
	ErrorCode() Code
}

// CodeOf is the code of err: the first coded error in its chain, Timeout
// for a context deadline, Internal for anything else; "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Timeout
	}
	return Internal
}

// Message is what a user may be shown of err: the text of the first coded
// error in its chain (not the context wrapped around it, which may name
// internals) when its code's class is Public, else "" (the caller shows a
// generic text for the code and logs err).
func Message(err error) string {
	var c Coder
	if !errors.As(err, &c) || !Lookup(c.ErrorCode()).Public {
		return ""
	}
	return c.Error()
}

// DetailsOf returns the details of the first *Error in err's chain that has
// any.
func DetailsOf(err error) map[string]string {
	for err != nil {
		if e, ok := err.(*Error); ok && len(e.Details) > 0 {
			return e.Details
		}
		err = errors.Unwrap(err)
	}
	return nil
}
