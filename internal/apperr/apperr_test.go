package apperr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

var errGone = apperr.New(apperr.NotFound, "thing not found")

type validation struct{ field string }

func (v *validation) Error() string          { return "field " + v.field + " is bad" }
func (v *validation) ErrorCode() apperr.Code { return apperr.Invalid }

func TestCodeOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want apperr.Code
	}{
		{"nil", nil, ""},
		{"plain", errors.New("disk on fire"), apperr.Internal},
		{"sentinel wrapped", fmt.Errorf("get %q: %w", "x", errGone), apperr.NotFound},
		{"coder type wrapped", fmt.Errorf("save: %w", &validation{"ratio"}), apperr.Invalid},
		{"outer code wins", apperr.Errorf(apperr.Conflict, "move: %w", errGone), apperr.Conflict},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), apperr.Timeout},
		{"wrap", apperr.Wrap(apperr.NotOwner, errors.New("lease lost")), apperr.NotOwner},
	}
	for _, c := range cases {
		if got := apperr.CodeOf(c.err); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if err := apperr.Errorf(apperr.Conflict, "move: %w", errGone); !errors.Is(err, errGone) {
		t.Errorf("Errorf with %%w: errors.Is lost the cause")
	}
	if apperr.Wrap(apperr.Invalid, nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
}

// TestMessage: only a public class's coded text is shown, never the
// context wrapped around it nor an uncoded error's text.
func TestMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("select * from secrets where k=1: %w", errGone), "thing not found"},
		{errors.New("dial tcp 10.0.0.1: refused"), ""},
		{fmt.Errorf("login: %w", apperr.New(apperr.Unauthenticated, "token tp_1_secret unknown")), ""},
		{&validation{"ratio"}, "field ratio is bad"},
		{apperr.Wrap(apperr.Conflict, errors.New("session s-1 is running")), "session s-1 is running"},
	}
	for _, c := range cases {
		if got := apperr.Message(c.err); got != c.want {
			t.Errorf("Message(%v): got %q, want %q", c.err, got, c.want)
		}
	}
}

// TestTable: every code has a class; a code the table does not know is
// Internal's (500, exit 1).
func TestTable(t *testing.T) {
	t.Parallel()
	for _, c := range apperr.Codes() {
		cl := apperr.Lookup(c)
		if cl.HTTPStatus < 400 || cl.HTTPStatus > 599 || (cl.ExitCode != 1 && cl.ExitCode != 2) {
			t.Errorf("code %q: class %+v", c, cl)
		}
	}
	if got := apperr.Lookup("no_such_code"); got != apperr.Lookup(apperr.Internal) || got.HTTPStatus != 500 || got.ExitCode != 1 {
		t.Errorf("unknown code: got %+v, want Internal's", got)
	}
	if apperr.Lookup(apperr.NotOwner).HTTPStatus != 409 {
		t.Errorf("not_owner: status %d, want 409", apperr.Lookup(apperr.NotOwner).HTTPStatus)
	}
}

func TestDetailsOf(t *testing.T) {
	t.Parallel()
	e := &apperr.Error{Code: apperr.NotOwner, Message: "elsewhere", Details: map[string]string{"node": "n2"}}
	if got := apperr.DetailsOf(fmt.Errorf("trade: %w", e)); got["node"] != "n2" {
		t.Errorf("details: got %v", got)
	}
}
