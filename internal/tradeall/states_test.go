package tradeall_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/tradeall"
)

// constsOfType parses this package's source and returns the values of the
// constants declared with the named type.
func constsOfType(t *testing.T, typ string) []string {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out = append(out, s)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestStateListsAreComplete: RunStates and ItemStates list every constant
// of their type, so the API's mapping (internal/app) and the OpenAPI
// document, which are checked against the lists, see a state added here.
func TestStateListsAreComplete(t *testing.T) {
	t.Parallel()
	var runs, items []string
	for _, s := range tradeall.RunStates {
		runs = append(runs, string(s))
	}
	for _, s := range tradeall.ItemStates {
		items = append(items, string(s))
	}
	slices.Sort(runs)
	slices.Sort(items)
	if want := constsOfType(t, "RunState"); !slices.Equal(runs, want) {
		t.Errorf("RunStates %q, constants %q", runs, want)
	}
	if want := constsOfType(t, "ItemState"); !slices.Equal(items, want) {
		t.Errorf("ItemStates %q, constants %q", items, want)
	}
}

// TestSkipOfReadsTheCode: the skip reason comes from the code's class in
// apperr's table; a code that is not a skip class, or none, is
// nothing_to_do.
func TestSkipOfReadsTheCode(t *testing.T) {
	t.Parallel()
	for code, want := range map[apperr.Code]tradeall.SkipReason{
		apperr.Paused: tradeall.SkipPaused, apperr.Quarantined: tradeall.SkipQuarantined, apperr.NotRunning: tradeall.SkipNotRunning,
		apperr.AllocationExceeded: tradeall.SkipAllocationExceeded, "": tradeall.SkipNothingToDo, apperr.Conflict: tradeall.SkipNothingToDo,
		"paused, but not a code": tradeall.SkipNothingToDo,
	} {
		if got := tradeall.SkipOf(code); got != want {
			t.Errorf("SkipOf(%q) = %q, want %q", code, got, want)
		}
	}
}
