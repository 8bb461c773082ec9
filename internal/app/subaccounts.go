package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
)

// ErrNotSubAccount is returned by CheckSubAccount for an email the master
// does not list (wrapped with the names).
var ErrNotSubAccount = errors.New("not a sub-account")

// MasterClient opens the Binance client of the master account named name
// (through Lookup): a Binance account with its own key.
func (f VenueFactory) MasterClient(ctx context.Context, name string) (*binance.Client, error) {
	if f.Lookup == nil {
		return nil, fmt.Errorf("master account %q: no account store is open here", name)
	}
	m, err := f.Lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("master account %q: %w", name, err)
	}
	if m.Venue != binance.Name || m.SubAccountEmail != "" || m.APIKey == "" {
		return nil, fmt.Errorf("master %q must be a Binance account with its own API key (venue %s)", name, m.Venue)
	}
	v, err := f.Open(m)
	if err != nil {
		return nil, fmt.Errorf("master %q: %w", name, err)
	}
	c, ok := v.(*binance.Client)
	if !ok {
		return nil, fmt.Errorf("master %q did not open as a Binance client", name)
	}
	return c, nil
}

// CheckSubAccount asks Binance, with the master's key, whether a's email is
// one of the master's sub-accounts; an email it does not list fails with
// ErrNotSubAccount. A sub-account is refused before it is stored, like an
// account whose venue cannot be opened.
func (f VenueFactory) CheckSubAccount(ctx context.Context, a store.Account) error {
	c, err := f.MasterClient(ctx, a.Master)
	if err != nil {
		return err
	}
	subs, err := c.SubAccounts(ctx)
	if err != nil {
		return fmt.Errorf("list the sub-accounts of %q: %w", a.Master, err)
	}
	for _, s := range subs {
		if strings.EqualFold(s.Email, a.SubAccountEmail) {
			return nil
		}
	}
	return fmt.Errorf("%s is %w of %q (it lists %d; see --discover-sub-accounts)", a.SubAccountEmail, ErrNotSubAccount, a.Master, len(subs))
}
