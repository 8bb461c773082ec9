package venue

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// Kind is one kind of venue an account can be on: its name, what an
// account of it needs, what it can do, and how to open one. Each venue
// package registers its Kind in an init function (venue/builtin imports
// the built-in ones); the CLI, the API's validation and document and the
// dashboard read the registry, so adding a venue is its package and one
// import line.
type Kind struct {
	// Name is the account's venue ("paper", "binance"): the CLI's --venue
	// and the API's "venue".
	Name string
	// Description is one line for help texts and the API document.
	Description string
	// Credentials says an account needs an API key and secret.
	Credentials bool
	// InProcess says the venue lives in the serving process (the paper
	// exchange): an account of it opens only there, never offline.
	InProcess bool
	// Trades says sessions can place orders on it; false is a read-only
	// venue (balances and history).
	Trades bool
	// Positions says it reports derivatives positions (its venues
	// implement PositionReader).
	Positions bool
	// Open opens the venue of one account.
	Open func(env Env, a Account) (Venue, error)
}

// Account is what a venue's Open gets of a stored account.
type Account struct {
	Name    string
	BaseURL string // "" for the venue's own hosts
	APIKey  string
	// Secret is the opened API secret; nil for a Kind without Credentials.
	Secret []byte
}

// Env is what the process opening an account lends its venue: the values it
// keeps once for all its accounts of a kind and where to report events.
type Env struct {
	// Shared returns what the process keeps for venue kind name (the paper
	// exchange; Binance's request budgets per host, shared by its accounts
	// as Binance counts weight per IP), nil when it keeps nothing: Open
	// then uses its own default or refuses with a message.
	Shared func(kind string) any
	// Notify, when set, is told of an event about an account that deserves
	// an alert, in the venue's own type (binance.Pause: a host stopped
	// taking the account's requests).
	Notify func(account string, event any)
	// RecvWindow is how long after its timestamp a signed order request
	// may still be accepted, for venues that stamp one (0: the venue's
	// default): the journal's certainty rule assumes the same value.
	RecvWindow time.Duration
}

// Value is env.Shared(kind), nil when env has no Shared.
func (env Env) Value(kind string) any {
	if env.Shared == nil {
		return nil
	}
	return env.Shared(kind)
}

// ErrUnknownKind is the error of a venue name no Kind is registered under.
var ErrUnknownKind = apperr.New(apperr.Invalid, "unknown venue")

var kinds = struct {
	sync.RWMutex
	m map[string]Kind
}{m: map[string]Kind{}}

// Register adds k to the registry. It panics on an empty or duplicate name
// or a nil Open: registration happens in init, where a mistake is a
// programming error.
func Register(k Kind) {
	kinds.Lock()
	defer kinds.Unlock()
	if k.Name == "" || k.Open == nil {
		panic("venue: Register with empty name or nil Open")
	}
	if _, dup := kinds.m[k.Name]; dup {
		panic("venue: duplicate registration of " + k.Name)
	}
	kinds.m[k.Name] = k
}

// Lookup returns the Kind registered as name, or an error wrapping
// ErrUnknownKind that names the registered ones.
func Lookup(name string) (Kind, error) {
	kinds.RLock()
	k, ok := kinds.m[name]
	kinds.RUnlock()
	if !ok {
		return Kind{}, fmt.Errorf("venue %q: %w (want %s)", name, ErrUnknownKind, NamesText())
	}
	return k, nil
}

// Kinds lists the registered kinds by name.
func Kinds() []Kind {
	kinds.RLock()
	defer kinds.RUnlock()
	out := make([]Kind, 0, len(kinds.m))
	for _, k := range kinds.m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Kind) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Names lists the registered venue names, sorted.
func Names() []string {
	ks := Kinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

// NamesText is Names for a message: "binance, bybit or paper".
func NamesText() string {
	n := Names()
	switch len(n) {
	case 0:
		return "no venue registered"
	case 1:
		return n[0]
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}
