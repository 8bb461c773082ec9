package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Errors the consumed services and the handlers return; errorTable maps
// them, with the store's, auth's and portfolio's, to HTTP.
var (
	// ErrInvalid: the request is malformed or breaks a rule (400).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the action conflicts with the current state, e.g.
	// starting a running session or reusing an idempotency key (409).
	ErrConflict = errors.New("conflict")
	// ErrNotFound: no such resource (404).
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the service behind the route is not wired on this
	// node (503).
	ErrUnavailable = errors.New("service unavailable")
	// ErrTooLarge: the request body is over the limit (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrCSRF: a state-changing dashboard request without a valid CSRF token
	// (403).
	ErrCSRF = errors.New("missing or invalid CSRF token")
)

// Error is an error whose message is safe to show a client: handlers
// build it with invalidf and friends. Any other error is logged and shown
// as its class only.
type Error struct {
	Kind    error // one of the Err* classes above
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// invalidf returns a client-visible ErrInvalid.
func invalidf(format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// errorClass is one row of the table: what matches, the status, the code.
type errorClass struct {
	match  func(error) bool
	status int
	code   string
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

// errorTable is the ONE mapping from typed errors to HTTP status and error
// code; the first match wins.
var errorTable = []errorClass{
	{is(auth.ErrUnauthenticated), http.StatusUnauthorized, "unauthenticated"},
	{is(auth.ErrForbidden), http.StatusForbidden, "forbidden"},
	{is(ErrCSRF), http.StatusForbidden, "csrf"},
	{is(auth.ErrRateLimited), http.StatusTooManyRequests, "rate_limited"},
	{is(ErrTooLarge), http.StatusRequestEntityTooLarge, "too_large"},
	{portfolio.IsValidation, http.StatusBadRequest, "invalid"},
	{is(auth.ErrBadRole), http.StatusBadRequest, "invalid"},
	{is(ErrInvalid), http.StatusBadRequest, "invalid"},
	{is(ErrNotFound), http.StatusNotFound, "not_found"},
	{is(store.ErrNotFound), http.StatusNotFound, "not_found"},
	{is(portfolio.ErrNotFound), http.StatusNotFound, "not_found"},
	{is(ErrConflict), http.StatusConflict, "conflict"},
	{is(store.ErrConflict), http.StatusConflict, "conflict"},
	{is(store.ErrStale), http.StatusConflict, "conflict"},
	{is(ErrUnavailable), http.StatusServiceUnavailable, "unavailable"},
	{is(context.DeadlineExceeded), http.StatusServiceUnavailable, "timeout"},
}

// classify returns the status, code and client-safe message of err.
// Only *Error and *portfolio.ValidationError messages are shown; anything
// else shows the status text, so internal details (SQL, paths, upstream
// bodies, credentials) never reach a client.
func classify(err error) (status int, code, message string) {
	status, code = http.StatusInternalServerError, "internal"
	for _, c := range errorTable {
		if c.match(err) {
			status, code = c.status, c.code
			break
		}
	}
	message = http.StatusText(status)
	var e *Error
	var ve *portfolio.ValidationError
	switch {
	case errors.As(err, &e):
		message = e.Message
	case errors.As(err, &ve):
		message = ve.Error()
	case status == http.StatusUnauthorized:
		message = "missing or invalid credentials"
	case status == http.StatusForbidden && code == "forbidden":
		message = "your role does not allow this"
	case status == http.StatusForbidden:
		message = ErrCSRF.Error()
	case status == http.StatusTooManyRequests:
		message = "too many attempts; wait and retry"
	}
	return status, code, message
}

// errorBody is the API's one error shape: {"error":{"code","message"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
