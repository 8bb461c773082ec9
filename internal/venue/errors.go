package venue

import (
	"errors"
	"fmt"
	"time"
)

// Class is what kind of failure a venue error is; callers act on the class.
type Class string

// Error classes.
const (
	// ClassRateLimited: slow down and retry after RetryAfter (HTTP 429).
	ClassRateLimited Class = "rate_limited"
	// ClassBanned: the venue refuses every request until Until (HTTP 418).
	ClassBanned Class = "banned"
	// ClassInsufficientFunds: the account lacks the balance.
	ClassInsufficientFunds Class = "insufficient_funds"
	// ClassRejected: a filter or rule refused the request; Code is the venue's.
	ClassRejected Class = "rejected"
	// ClassUnknown: the request may or may not have executed (timeout, 5xx,
	// connection reset, Binance -1007). Never resend: query by client id.
	ClassUnknown Class = "unknown_outcome"
	// ClassUnavailable: the request certainly did not execute and the venue
	// is down or unreachable; retry later.
	ClassUnavailable Class = "unavailable"
	// ClassAuth: credentials are wrong, expired or lack permission.
	ClassAuth Class = "auth"
	// ClassTimestamp: the request's timestamp was outside the venue's window
	// (Binance -1021); resync time and retry.
	ClassTimestamp Class = "timestamp"
	// ClassNotFound: the order (or other object) does not exist.
	ClassNotFound Class = "not_found"
	// ClassDuplicate: an order with this client order id already exists.
	ClassDuplicate Class = "duplicate"
	// ClassInvalid: the caller sent something malformed (our bug).
	ClassInvalid Class = "invalid"
)

// Error is the one error type venues return.
type Error struct {
	Class      Class
	Code       int           // venue's code, e.g. -2010; 0 when none
	Message    string        // venue's message
	RetryAfter time.Duration // ClassRateLimited
	Until      time.Time     // ClassBanned
	Op         string        // what we were doing: "place order", "query order"
}

func (e *Error) Error() string {
	s := string(e.Class)
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d)", e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	switch {
	case e.RetryAfter > 0:
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	case !e.Until.IsZero():
		s += fmt.Sprintf(" (until %s)", e.Until.UTC().Format(time.RFC3339))
	}
	return s
}

// Is makes errors.Is(err, venue.ErrRateLimited) and friends match on class.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Class == e.Class && t.Code == 0 && t.Message == "" && t.Op == ""
}

// Sentinels for errors.Is; they match any *Error of the same class.
var (
	ErrRateLimited       = &Error{Class: ClassRateLimited}
	ErrBanned            = &Error{Class: ClassBanned}
	ErrInsufficientFunds = &Error{Class: ClassInsufficientFunds}
	ErrRejected          = &Error{Class: ClassRejected}
	ErrUnknownOutcome    = &Error{Class: ClassUnknown}
	ErrUnavailable       = &Error{Class: ClassUnavailable}
	ErrAuth              = &Error{Class: ClassAuth}
	ErrTimestamp         = &Error{Class: ClassTimestamp}
	ErrOrderNotFound     = &Error{Class: ClassNotFound}
	ErrDuplicateOrder    = &Error{Class: ClassDuplicate}
	ErrInvalid           = &Error{Class: ClassInvalid}
)

// ClassOf returns the class of err; errors that are not *Error (a context
// deadline, a network error that escaped an adapter) count as unknown
// outcome, the safe assumption for an order.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var ve *Error
	if errors.As(err, &ve) {
		return ve.Class
	}
	return ClassUnknown
}

// Retryable reports whether the same request may simply be sent again later
// (it certainly did not execute).
func Retryable(c Class) bool {
	switch c {
	case ClassRateLimited, ClassUnavailable, ClassTimestamp:
		return true
	}
	return false
}
