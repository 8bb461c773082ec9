package portfolio

import (
	"errors"
	"strings"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// ErrNotFound is matched (errors.Is) by errors about an account or market the
// portfolio does not know.
var ErrNotFound = apperr.New(apperr.NotFound, "not found")

// Problem is one reason an input was refused; Field names the offender (an
// asset, an account, a session) and Message says what is wrong with it.
type Problem struct {
	Field   string `json:"field"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

// ValidationError is returned when caller input is malformed or breaks a
// rule (a ratio outside [0,1], an unknown asset, allocations over 100% of
// collateral). It maps to HTTP 400 / exit code 2; nothing was changed.
type ValidationError struct {
	Problems []Problem
}

// ErrorCode is apperr.Invalid: the input was refused, nothing changed.
func (e *ValidationError) ErrorCode() apperr.Code { return apperr.Invalid }

// Error joins the problems, each naming its offender.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

func invalid(field, value, msg string) *ValidationError {
	return &ValidationError{Problems: []Problem{{Field: field, Value: value, Message: msg}}}
}

// IsValidation reports whether err is or wraps a *ValidationError.
func IsValidation(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}
