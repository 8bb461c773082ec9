package app

import (
	"context"
	"fmt"
	"time"

	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	"github.com/tradeplane/tradeplane/internal/venue/bybit"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// VenueFactory builds the venue.Venue of a stored account.
type VenueFactory struct {
	// Paper is the simulated exchange every paper account trades on; its
	// state lives in this process.
	Paper *paper.Exchange
	// Box opens sealed API secrets; nil when no master key is configured.
	Box *secrets.Box
	// OnBan is told when a Binance host stops taking our requests, for an
	// alert: an IP ban (HTTP 418) or a WAF block (HTTP 403); p says which
	// and until when.
	OnBan func(acct store.Account, p binance.Pause)
	// Budgets holds the request budgets (spot, USDⓈ-M futures and /sapi
	// weight, WebSocket connection attempts) of each Binance host, shared by every account of this process on that
	// host, since Binance counts weight per IP; nil means the binance
	// package's process-wide budgets.
	Budgets *binance.Budgets
	// Lookup finds a stored account by name: the master of a Binance
	// sub-account without a key of its own, whose key reads the
	// sub-account's balances. Nil: such a sub-account cannot be opened.
	Lookup func(ctx context.Context, name string) (store.Account, error)
	// FuturesLeverage and FuturesMarginType are the leverage and margin
	// type every binance-futures account sets per symbol before it first
	// trades the symbol, unless the account has its own for the symbol
	// (store.Account.FuturesLeverage, FuturesMarginType); a symbol without
	// either keeps what the account has at Binance.
	FuturesLeverage   map[string]int
	FuturesMarginType map[string]venue.MarginMode
	// KeyedIn tells whether an account of the venue kind has apiKey. One
	// key can be added twice, once per kind, and then both would report
	// the same wallet: a binance account leaves out the USDⓈ-M futures
	// wallet when a binance-futures account of its key exists, and a bybit
	// account leaves out the unified wallet and positions when a
	// bybit-linear one does. Nil counts them in both.
	KeyedIn func(kind, apiKey string) bool
	// RecvWindow is the recvWindow the venue's signed order requests carry
	// (0: the adapter's default, 5 s): the same value the journal's
	// certainty rule assumes (Config.RecvWindow), or a request could still
	// land after the journal concluded it never would.
	RecvWindow time.Duration
}

// Open returns the venue of a, opened by its kind in the venue registry
// (venue.Kind.Open): with a's API secret opened when the kind needs
// credentials, this factory's paper exchange and Binance budgets as the
// values the process shares, and Binance's pauses told to OnBan.
func (f VenueFactory) Open(a store.Account) (venue.Venue, error) {
	if a.Venue == binance.Name && a.SubAccountEmail != "" && a.APIKey == "" && len(a.APISecretEnc) == 0 {
		return f.openSubAccount(a)
	}
	kind, err := venue.Lookup(a.Venue)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	va := venue.Account{Name: a.Name, BaseURL: a.BaseURL, APIKey: a.APIKey}
	if kind.Credentials {
		if va.Secret, err = f.secret(a); err != nil {
			return nil, err
		}
	}
	shared := f.shared
	if a.Venue == binance.FuturesName {
		settings := f.futuresSettings(a)
		shared = func(kind string) any {
			if kind == binance.FuturesName {
				return settings
			}
			return f.shared(kind)
		}
	}
	return kind.Open(venue.Env{Shared: shared, RecvWindow: f.RecvWindow, Notify: func(_ string, ev any) {
		if p, ok := ev.(binance.Pause); ok && f.OnBan != nil {
			f.OnBan(a, p)
		}
	}}, va)
}

// futuresSettings are the leverage and margin type a binance-futures
// account sets per symbol: its own (accounts add --futures-leverage,
// --futures-margin-type, or the API's fields), and for a symbol it has none
// for, the server's (serve's flags of the same names).
func (f VenueFactory) futuresSettings(a store.Account) *binance.FuturesSettings {
	s := &binance.FuturesSettings{Leverage: map[string]int{}, MarginType: map[string]venue.MarginMode{}}
	for sym, l := range f.FuturesLeverage {
		s.Leverage[sym] = l
	}
	for sym, l := range a.FuturesLeverage {
		s.Leverage[sym] = l
	}
	for sym, m := range f.FuturesMarginType {
		s.MarginType[sym] = m
	}
	for sym, m := range a.FuturesMarginType {
		s.MarginType[sym] = venue.MarginMode(m)
	}
	return s
}

// shared is what this factory shares across the accounts of a kind.
func (f VenueFactory) shared(kind string) any {
	switch {
	case kind == paper.Name && f.Paper != nil:
		return f.Paper
	case kind == binance.Name && f.Budgets != nil:
		return f.Budgets
	case kind == binance.SharedFuturesKeys && f.KeyedIn != nil:
		return func(apiKey string) bool { return f.KeyedIn(binance.FuturesName, apiKey) }
	case kind == bybit.SharedLinearKeys && f.KeyedIn != nil:
		return func(apiKey string) bool { return f.KeyedIn(bybit.LinearName, apiKey) }
	}
	return nil
}

// openSubAccount opens a Binance sub-account without a key of its own: a
// view of it through its master's client (balances and market data; trading
// refused, see binance.SubAccountView).
func (f VenueFactory) openSubAccount(a store.Account) (venue.Venue, error) {
	c, err := f.MasterClient(context.Background(), a.Master)
	if err != nil {
		return nil, fmt.Errorf("account %q: sub-account %s: %w", a.Name, a.SubAccountEmail, err)
	}
	return binance.NewSubAccountView(c, a.SubAccountEmail), nil
}

// secret opens the sealed API secret of a.
func (f VenueFactory) secret(a store.Account) ([]byte, error) {
	if len(a.APISecretEnc) == 0 {
		return nil, fmt.Errorf("account %q has no API secret: add it again with --api-secret-file", a.Name)
	}
	if f.Box == nil {
		return nil, fmt.Errorf("account %q: no master key to decrypt its API secret (set TRADEPLANE_MASTER_KEY or --master-key-file)", a.Name)
	}
	secret, err := f.Box.Open(a.APISecretEnc)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", a.Name, err)
	}
	return secret, nil
}

// keyedIn tells whether an account of the venue kind among accts has
// apiKey.
func keyedIn(accts []store.Account, kind, apiKey string) bool {
	for _, a := range accts {
		if a.Venue == kind && a.APIKey != "" && a.APIKey == apiKey {
			return true
		}
	}
	return false
}
