package portfolio

import (
	"fmt"
	"strings"
)

// Allocation is how much of its account's capital a session may use: a
// fixed amount in the valuation currency, or a share in (0,1] of the
// account's collateral value. Exactly one of Fixed and Share is non-zero.
type Allocation struct {
	Session string  `json:"session"`
	Account string  `json:"account"`
	Fixed   Decimal `json:"fixed"`
	Share   Decimal `json:"share"`
}

func (al Allocation) validate() []Problem {
	var out []Problem
	switch {
	case al.Session == "":
		out = append(out, Problem{Field: "session", Message: "allocation has no session"})
	case al.Fixed.Sign() < 0:
		out = append(out, Problem{Field: al.Session, Value: al.Fixed.String(), Message: fmt.Sprintf("session %s: fixed allocation %s is negative", al.Session, al.Fixed)})
	case al.Share.Sign() < 0 || al.Share.GreaterThan(one):
		out = append(out, Problem{Field: al.Session, Value: al.Share.String(), Message: fmt.Sprintf("session %s: allocation share %s is outside [0,1]", al.Session, al.Share)})
	case !al.Fixed.IsZero() && !al.Share.IsZero():
		out = append(out, Problem{Field: al.Session, Message: fmt.Sprintf("session %s: allocation has both a fixed amount and a share", al.Session)})
	}
	return out
}

// OrderCheck asks whether one more order fits a session's allocation.
// Exposure is what the session already uses and Order the quote value of the
// new order, both in the valuation currency, as the caller computes them.
type OrderCheck struct {
	Allocation Allocation `json:"allocation"`
	Exposure   Decimal    `json:"exposure"`
	Order      Decimal    `json:"order"`
}

// Decision is the answer of CheckOrder. When OK is false, Reason says why in
// one sentence naming the session and the amounts.
type Decision struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
	// Limit is the allocation in the valuation currency.
	Limit Decimal `json:"limit"`
	// NewExposure is Exposure + Order.
	NewExposure Decimal `json:"new_exposure"`
	// Collateral is the account's collateral value used for a share.
	Collateral Decimal `json:"collateral"`
	// Partial: the collateral value omits unpriced assets or includes
	// wallets whose last query failed.
	Partial bool `json:"partial"`
}

// CheckOrder decides whether an order fits the session's allocation:
// refused when Exposure + Order exceeds the allocation. A share allocation
// is taken of the account's current collateral value (partial collateral
// only ever counts less, so the check stays conservative). Malformed input
// is a *ValidationError; an unknown account wraps ErrNotFound.
func (p *Portfolio) CheckOrder(c OrderCheck) (Decision, error) {
	al := c.Allocation
	probs := al.validate()
	if c.Order.Sign() < 0 {
		probs = append(probs, Problem{Field: "order", Value: c.Order.String(), Message: fmt.Sprintf("session %s: order value %s is negative", al.Session, c.Order)})
	}
	if len(probs) > 0 {
		return Decision{}, &ValidationError{Problems: probs}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	limit, coll, partial, err := p.limit(al)
	if err != nil {
		return Decision{}, fmt.Errorf("check order of session %s: %w", al.Session, err)
	}
	d := Decision{OK: true, Limit: limit, NewExposure: c.Exposure.Add(c.Order), Collateral: coll, Partial: partial}
	if d.NewExposure.GreaterThan(limit) {
		d.OK = false
		d.Reason = fmt.Sprintf("order %s %s would raise session %s exposure to %s %s over its allocation %s",
			FormatMoney(c.Order), p.cur, al.Session, FormatMoney(d.NewExposure), p.cur, p.describe(al, limit, coll))
		if partial {
			d.Reason += " (collateral is partial)"
		}
	}
	return d, nil
}

func (p *Portfolio) describe(al Allocation, limit, coll Decimal) string {
	if al.Share.IsZero() {
		return fmt.Sprintf("%s %s (fixed)", FormatMoney(limit), p.cur)
	}
	return fmt.Sprintf("%s %s (%s%% of collateral %s %s)", FormatMoney(limit), p.cur, percent(al.Share), FormatMoney(coll), p.cur)
}

// limit returns the allocation in the valuation currency and the account's
// collateral value.
func (p *Portfolio) limit(al Allocation) (limit, coll Decimal, partial bool, err error) {
	acc, err := p.account(al.Account)
	if err != nil {
		return zero, zero, false, err
	}
	coll, partial = p.accountCollateral(acc)
	if al.Share.IsZero() {
		return al.Fixed, coll, partial, nil
	}
	return al.Share.Mul(coll), coll, partial, nil
}

// accountCollateral is Σ wnet × price over the account's lines: O(lines).
func (p *Portfolio) accountCollateral(acc *account) (Decimal, bool) {
	sum, partial := zero, false
	for _, w := range acc.wallets {
		partial = partial || w.unknown
		for _, l := range w.lines {
			if !l.a.priced {
				partial = true
				continue
			}
			sum = sum.Add(l.wnet.Mul(l.a.price))
		}
	}
	return sum, partial
}

// ValidateAllocations checks a set of allocations of one account: each
// well-formed, and their total at most 100% of the account's collateral
// value. The *ValidationError names the offending sessions.
func (p *Portfolio) ValidateAllocations(accountID string, allocs []Allocation) error {
	if err := validateAll(accountID, allocs); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	acc, err := p.account(accountID)
	if err != nil {
		return fmt.Errorf("validate allocations: %w", err)
	}
	if msg, total := p.overCollateral(acc, allocs); msg != "" {
		return invalid(accountID, total.String(), msg)
	}
	return nil
}

// CheckAllocations is the rule for creating or changing a session: the
// share allocations of one account may total at most 1 (100% of its
// collateral value), or a *ValidationError names the account, the total and
// the sessions. Fixed amounts that bring the allocations over the account's
// current collateral value are allowed, since prices move, and returned as
// a warning sentence. An account the portfolio does not hold (yet) gets the
// share rule only; the warning needs its collateral value.
func (p *Portfolio) CheckAllocations(accountID string, allocs []Allocation) (warning string, err error) {
	if err := validateAll(accountID, allocs); err != nil {
		return "", err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	acc, _ := p.account(accountID)
	label := accountID
	if acc != nil && acc.meta.Name != "" {
		label = acc.meta.Name
	}
	shares := zero
	var parts []string
	for _, al := range allocs {
		if !al.Share.IsZero() {
			shares = shares.Add(al.Share)
			parts = append(parts, fmt.Sprintf("%s %s%%", al.Session, percent(al.Share)))
		}
	}
	if shares.GreaterThan(one) {
		return "", invalid(label, shares.String(), fmt.Sprintf("share allocations of account %s would total %s%% of its collateral value, over 100%%: %s",
			label, percent(shares), strings.Join(parts, ", ")))
	}
	if acc == nil {
		return "", nil
	}
	msg, _ := p.overCollateral(acc, allocs)
	return msg, nil
}

func validateAll(accountID string, allocs []Allocation) error {
	var probs []Problem
	for _, al := range allocs {
		probs = append(probs, al.validate()...)
		if al.Account != "" && al.Account != accountID {
			probs = append(probs, Problem{Field: al.Session, Value: al.Account, Message: fmt.Sprintf("session %s: allocation is for account %s, not %s", al.Session, al.Account, accountID)})
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

// overCollateral describes allocations that total more than the account's
// collateral value, or returns "" when they fit; total is their sum in the
// valuation currency. Callers hold p.mu.
func (p *Portfolio) overCollateral(acc *account, allocs []Allocation) (msg string, total Decimal) {
	label := acc.meta.Name
	if label == "" {
		label = acc.meta.ID
	}
	coll, _ := p.accountCollateral(acc)
	total = zero
	parts := make([]string, 0, len(allocs))
	for _, al := range allocs {
		amount := al.Fixed
		if !al.Share.IsZero() {
			amount = al.Share.Mul(coll)
			parts = append(parts, fmt.Sprintf("%s %s%% = %s %s", al.Session, percent(al.Share), FormatMoney(amount), p.cur))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s %s", al.Session, FormatMoney(amount), p.cur))
		}
		total = total.Add(amount)
	}
	if total.LessThanOrEqual(coll) {
		return "", total
	}
	share := "over 100%"
	if coll.Sign() > 0 {
		if q, err := total.Mul(mustDec("100")).Div(coll); err == nil {
			share = strings.TrimSuffix(FormatMoney(q.RoundHAZ(2)), ".00") + "%"
		}
	}
	return fmt.Sprintf("allocations of account %s total %s %s, %s of its collateral %s %s: %s",
		label, FormatMoney(total), p.cur, share, FormatMoney(coll), p.cur, strings.Join(parts, ", ")), total
}

// percent renders a share as a percentage without trailing zeros: 0.1 → 10.
func percent(share Decimal) string {
	return share.Mul(mustDec("100")).String()
}

// FormatMoney renders d with thousands separators and at least two
// decimals, never rounding: 1050 → "1,050.00", 0.123 → "0.123".
func FormatMoney(d Decimal) string {
	s := d.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	for len(fp) < 2 {
		fp += "0"
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	b.WriteByte('.')
	b.WriteString(fp)
	return b.String()
}
