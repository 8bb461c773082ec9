package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// Errors the consumed services and the handlers return. Each is a coded
// error (internal/apperr): the one table there gives its HTTP status, as it
// does for the coded errors of store, auth, portfolio and session.
var (
	// ErrInvalid: the request is malformed or breaks a rule (400).
	ErrInvalid = apperr.New(apperr.Invalid, "invalid request")
	// ErrConflict: the action conflicts with the current state, e.g.
	// starting a running session or reusing an idempotency key (409).
	ErrConflict = apperr.New(apperr.Conflict, "conflict")
	// ErrNotFound: no such resource (404).
	ErrNotFound = apperr.New(apperr.NotFound, "not found")
	// ErrUnavailable: the service behind the route is not wired on this
	// node (503).
	ErrUnavailable = apperr.New(apperr.Unavailable, "service unavailable")
	// ErrTooLarge: the request body is over the limit (413).
	ErrTooLarge = apperr.New(apperr.TooLarge, "request body too large")
	// ErrCSRF: a state-changing dashboard request without a valid CSRF token
	// (403).
	ErrCSRF = apperr.New(apperr.CSRF, "missing or invalid CSRF token")
)

// Error is an error whose message is safe to show a client: handlers
// build it with invalidf and friends. Kind is one of the Err* classes
// above (or any coded error); the error's code is Kind's.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// ErrorCode is Kind's code, so the message shown is this one.
func (e *Error) ErrorCode() apperr.Code { return apperr.CodeOf(e.Kind) }

// invalidf returns a client-visible ErrInvalid.
func invalidf(format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// defaultMessages are shown for codes whose errors are not written for
// users (apperr's Class.Public is false).
var defaultMessages = map[apperr.Code]string{
	apperr.Unauthenticated: "missing or invalid credentials",
	apperr.Forbidden:       "your role does not allow this",
	apperr.CSRF:            "missing or invalid CSRF token",
	apperr.RateLimited:     "too many attempts; wait and retry",
}

// classify returns the status, code and client-safe message of err, from
// apperr's one table. Only the messages of coded errors whose class is
// public are shown; anything else shows a fixed text, so internal details
// (SQL, paths, upstream bodies, credentials) never reach a client.
func classify(err error) (status int, code, message string) {
	c := apperr.CodeOf(err)
	status = apperr.Lookup(c).HTTPStatus
	message = apperr.Message(err)
	if message == "" {
		message = defaultMessages[c]
	}
	if message == "" {
		message = http.StatusText(status)
	}
	return status, string(c), message
}

// errorBody is the API's one error shape: {"error":{"code","message"}},
// with details for codes that carry them (not_owner: node, addr).
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Details map[string]string `json:"details,omitempty"`
}

// errorDetails returns the details of a coded error that is shown to a
// client, nil otherwise.
func errorDetails(err error) map[string]string {
	var c apperr.Coder
	if !errors.As(err, &c) || !apperr.Lookup(c.ErrorCode()).Public {
		return nil
	}
	return apperr.DetailsOf(err)
}
