package portfolio

// Cause says what kind of input produced a change.
type Cause string

// Causes of a change.
const (
	CauseTick       Cause = "tick"
	CauseBalance    Cause = "balance"
	CauseAccount    Cause = "account"
	CauseCollateral Cause = "collateral"
	CauseMarkets    Cause = "markets"
)

// Change tells a subscriber that the portfolio moved to Version. Changes are
// coalesced: a subscriber that reads slowly sees only the latest, so Cause is
// that of the latest change and earlier causes may be lost. Read Total for
// the flags, GroupsSince for the groups that changed, Snapshot for lines.
type Change struct {
	Version         uint64  `json:"version"`
	Cause           Cause   `json:"cause"`
	Value           Decimal `json:"value"`
	CollateralValue Decimal `json:"collateral_value"`
}

type subscriber struct {
	ch chan Change
}

// Subscribe returns a channel that receives a Change after every update, and
// a cancel function that closes it. The channel holds one pending change; a
// newer change replaces an unread one, so a slow consumer never blocks ticks
// and always catches up to the latest version.
func (p *Portfolio) Subscribe() (<-chan Change, func()) {
	s := &subscriber{ch: make(chan Change, 1)}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	return s.ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, ok := p.subs[s]; ok {
			delete(p.subs, s)
			close(s.ch)
		}
	}
}

// notify runs under the write lock, so it is the only sender: after
// draining a stale pending change the second send cannot block.
func (p *Portfolio) notify(c Cause) {
	ch := Change{Version: p.version, Cause: c, Value: p.value, CollateralValue: p.coll}
	for s := range p.subs {
		select {
		case s.ch <- ch:
		default:
			select {
			case <-s.ch:
			default:
			}
			select {
			case s.ch <- ch:
			default:
			}
		}
	}
}
