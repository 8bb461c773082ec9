package venue_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/venue"
)

func openNothing(venue.Env, venue.Account) (venue.Venue, error) {
	return nil, errors.New("not in this test")
}

func TestRegistry(t *testing.T) {
	venue.Register(venue.Kind{Name: "registry-test-b", Credentials: true, Open: openNothing})
	venue.Register(venue.Kind{Name: "registry-test-a", Open: openNothing})
	k, err := venue.Lookup("registry-test-b")
	if err != nil || !k.Credentials {
		t.Fatalf("Lookup: %+v, %v", k, err)
	}
	if n := venue.Names(); !slices.IsSorted(n) || !slices.Contains(n, "registry-test-a") {
		t.Errorf("Names %q: want sorted, with registry-test-a", n)
	}
	_, err = venue.Lookup("nope")
	if !errors.Is(err, venue.ErrUnknownKind) || apperr.CodeOf(err) != apperr.Invalid || !strings.Contains(err.Error(), "registry-test-a") {
		t.Errorf("Lookup of an unknown venue: %v (code %s), want ErrUnknownKind, invalid, naming the registered ones", err, apperr.CodeOf(err))
	}
	for name, k := range map[string]venue.Kind{
		"duplicate": {Name: "registry-test-a", Open: openNothing},
		"no name":   {Open: openNothing},
		"no Open":   {Name: "registry-test-c"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register with %s did not panic", name)
				}
			}()
			venue.Register(k)
		}()
	}
}
