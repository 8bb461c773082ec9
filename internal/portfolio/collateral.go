package portfolio

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quagmt/udecimal"
)

// RatioSource says where an effective collateral ratio comes from.
type RatioSource string

// Ratio sources, from weakest to strongest.
const (
	// SourceDefault: stablecoins 1, BTC and ETH 0.95, other listed assets
	// 0.5, unknown assets 0.
	SourceDefault RatioSource = "default"
	// SourceGlobal: set for every account by SetRatios with no account.
	SourceGlobal RatioSource = "global"
	// SourceAccount: set for one account.
	SourceAccount RatioSource = "account"
)

// RatioInput is one requested ratio change as the user typed it. An empty
// Ratio removes the override so the weaker source applies again.
type RatioInput struct {
	Asset string `json:"asset"`
	Ratio string `json:"ratio"`
}

// RatioChange is one asset's override before and after a change; nil means
// no override at that level.
type RatioChange struct {
	Asset string   `json:"asset"`
	Old   *Decimal `json:"old"`
	New   *Decimal `json:"new"`
}

// CollateralVersion is the record of one SetRatios call, for the store to
// persist and RestoreCollateral to replay. Versions are consecutive from 1.
type CollateralVersion struct {
	Version uint64    `json:"version"`
	Who     string    `json:"who"`
	At      time.Time `json:"at"`
	// Account is empty for a change to the global ratios.
	Account string        `json:"account,omitempty"`
	Changes []RatioChange `json:"changes"`
}

// RatioView is the effective ratio of one asset and where it comes from.
type RatioView struct {
	Asset  string      `json:"asset"`
	Ratio  Decimal     `json:"ratio"`
	Source RatioSource `json:"source"`
	// Venues are the venues' own ratios of the asset, where known (see
	// RatiosWithVenues).
	Venues []VenueRatio `json:"venues,omitempty"`
}

var (
	ratioMajor  = mustDec("0.95")
	ratioListed = mustDec("0.5")
)

func parseDec(s string) (Decimal, error) { return udecimal.Parse(strings.TrimSpace(s)) }

// DefaultRatio is the ratio an asset has without overrides.
func (p *Portfolio) DefaultRatio(asset string) Decimal {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.defaultRatio(strings.ToUpper(asset))
}

func (p *Portfolio) defaultRatio(asset string) Decimal {
	switch {
	case p.stable[asset]:
		return one
	case asset == "BTC" || asset == "ETH":
		return ratioMajor
	case p.listed[asset] != nil:
		return ratioListed
	}
	return zero
}

func (p *Portfolio) ratioOf(accountID, asset string) (Decimal, RatioSource) {
	if r, ok := p.acctRatios[accountID][asset]; ok && accountID != "" {
		return r, SourceAccount
	}
	if r, ok := p.ratios[asset]; ok {
		return r, SourceGlobal
	}
	return p.defaultRatio(asset), SourceDefault
}

func (p *Portfolio) effectiveRatio(acc *account, asset string) Decimal {
	r, _ := p.ratioOf(acc.meta.ID, asset)
	return r
}

// refreshRatios recomputes the ratio of every line of asset (of one account
// when accountID is not empty): O(lines holding the asset).
func (p *Portfolio) refreshRatios(asset, accountID string) {
	a := p.assets[asset]
	if a == nil {
		return
	}
	for l := range a.lines {
		if accountID != "" && l.w.acct.meta.ID != accountID {
			continue
		}
		r := p.effectiveRatio(l.w.acct, asset)
		if r.Equal(l.ratio) {
			continue
		}
		l.ratio = r
		wnet := p.weighted(l.net, r)
		a.wqty = a.wqty.Sub(l.wnet).Add(wnet)
		p.moveCells(l, zero, wnet.Sub(l.wnet))
		l.wnet = wnet
	}
	p.revalueHoldings(a)
}

// SetRatios validates and applies ratio overrides for every account
// (accountID empty) or one account, and returns the new version record. Each
// ratio must be a decimal in [0,1] and each asset listed by a registered
// market or a known stablecoin; otherwise a *ValidationError names every
// offender and nothing changes.
func (p *Portfolio) SetRatios(who, accountID string, inputs []RatioInput) (CollateralVersion, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if accountID != "" {
		if _, err := p.account(accountID); err != nil {
			return CollateralVersion{}, fmt.Errorf("set collateral ratios: %w", err)
		}
	}
	var problems []Problem
	inputs = slices.Clone(inputs)
	parsed := make([]*Decimal, len(inputs))
	seen := map[string]bool{}
	for i, in := range inputs {
		asset := strings.ToUpper(strings.TrimSpace(in.Asset))
		inputs[i].Asset = asset
		switch {
		case asset == "":
			problems = append(problems, Problem{Field: "asset", Message: fmt.Sprintf("ratio %q has no asset", in.Ratio)})
			continue
		case seen[asset]:
			problems = append(problems, Problem{Field: asset, Value: in.Ratio, Message: fmt.Sprintf("asset %s is given more than once", asset)})
			continue
		case p.listed[asset] == nil && !p.stable[asset]:
			problems = append(problems, Problem{Field: asset, Value: in.Ratio, Message: fmt.Sprintf("asset %s is unknown: no registered market lists it and it is not a known stablecoin", asset)})
		}
		seen[asset] = true
		if strings.TrimSpace(in.Ratio) == "" {
			continue
		}
		r, err := parseDec(in.Ratio)
		if err != nil {
			problems = append(problems, Problem{Field: asset, Value: in.Ratio, Message: fmt.Sprintf("collateral ratio for %s: %q is not a decimal", asset, in.Ratio)})
			continue
		}
		if r.Sign() < 0 || r.GreaterThan(one) {
			problems = append(problems, Problem{Field: asset, Value: in.Ratio, Message: fmt.Sprintf("collateral ratio for %s: %s is outside [0,1]", asset, in.Ratio)})
			continue
		}
		parsed[i] = &r
	}
	if len(inputs) == 0 {
		problems = append(problems, Problem{Field: "ratios", Message: "no ratio given"})
	}
	if len(problems) > 0 {
		return CollateralVersion{}, &ValidationError{Problems: problems}
	}
	v := CollateralVersion{Version: p.collVersion + 1, Who: who, At: p.clk.Now().UTC(), Account: accountID}
	for i, in := range inputs {
		v.Changes = append(v.Changes, RatioChange{Asset: in.Asset, New: parsed[i]})
	}
	p.applyCollateral(&v)
	return cloneVersion(v), nil
}

// applyCollateral fills in the Old values of v, applies it and records it.
func (p *Portfolio) applyCollateral(v *CollateralVersion) {
	table := p.ratios
	if v.Account != "" {
		table = p.acctRatios[v.Account]
		if table == nil {
			table = map[string]Decimal{}
			p.acctRatios[v.Account] = table
		}
	}
	for i, c := range v.Changes {
		if old, ok := table[c.Asset]; ok {
			v.Changes[i].Old = &old
		} else {
			v.Changes[i].Old = nil
		}
		if c.New == nil {
			delete(table, c.Asset)
		} else {
			table[c.Asset] = *c.New
		}
		p.refreshRatios(c.Asset, v.Account)
	}
	p.collVersion = v.Version
	p.collHistory = append(p.collHistory, cloneVersion(*v))
	p.bump(CauseCollateral)
}

func cloneVersion(v CollateralVersion) CollateralVersion {
	v.Changes = slices.Clone(v.Changes)
	return v
}

// CollateralVersion returns the current collateral version (0 before any
// change).
func (p *Portfolio) CollateralVersion() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.collVersion
}

// CollateralHistory returns every version recorded or restored, oldest first.
func (p *Portfolio) CollateralHistory() []CollateralVersion {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]CollateralVersion, len(p.collHistory))
	for i, v := range p.collHistory {
		out[i] = cloneVersion(v)
	}
	return out
}

// RestoreCollateral replays persisted versions, oldest first, at start-up.
// Versions must continue the current one without gaps; ratios are
// range-checked but assets need not be listed yet (markets may register
// later) and accounts need not exist yet.
func (p *Portfolio) RestoreCollateral(history []CollateralVersion) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.collVersion + 1
	for _, v := range history {
		if v.Version != next {
			return invalid("version", fmt.Sprint(v.Version), fmt.Sprintf("collateral version %d does not follow %d", v.Version, next-1))
		}
		next++
		for _, c := range v.Changes {
			if c.New != nil && (c.New.Sign() < 0 || c.New.GreaterThan(one)) {
				return invalid(c.Asset, c.New.String(), fmt.Sprintf("collateral version %d: ratio for %s: %s is outside [0,1]", v.Version, c.Asset, c.New))
			}
		}
	}
	for _, v := range history {
		v = cloneVersion(v)
		p.applyCollateral(&v)
	}
	return nil
}

// Ratios returns the effective ratio of every known asset for an account
// (accountID empty: the global view), sorted by asset.
func (p *Portfolio) Ratios(accountID string) ([]RatioView, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if accountID != "" {
		if _, err := p.account(accountID); err != nil {
			return nil, fmt.Errorf("collateral ratios: %w", err)
		}
	}
	names := map[string]bool{}
	for a := range p.assets {
		names[a] = true
	}
	for a := range p.stable {
		names[a] = true
	}
	out := make([]RatioView, 0, len(names))
	for _, a := range slices.Sorted(mapKeys(names)) {
		r, src := p.ratioOf(accountID, a)
		out = append(out, RatioView{Asset: a, Ratio: r, Source: src})
	}
	return out, nil
}
