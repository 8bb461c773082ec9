package auth

import (
	"crypto/subtle"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/clock"
)

// Login is one dashboard login: the principal it acts as and the CSRF
// token every state-changing request of the login must carry.
type Login struct {
	ID        string
	Principal Principal
	CSRF      string
	Created   time.Time
	Expires   time.Time
}

// Sessions holds dashboard logins and one-time login tickets in memory
// (a restart logs everyone out). Logins expire after an idle TTL, renewed
// on use; tickets expire after 15 minutes and work once. Safe for
// concurrent use.
type Sessions struct {
	clk clock.Clock
	ttl time.Duration

	mu      sync.Mutex
	logins  map[string]*Login
	tickets map[string]ticket
}

type ticket struct {
	p       Principal
	expires time.Time
}

// NewSessions returns a login store; ttl 0 means 12 hours of inactivity.
func NewSessions(clk clock.Clock, ttl time.Duration) *Sessions {
	if clk == nil {
		clk = clock.Real{}
	}
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	return &Sessions{clk: clk, ttl: ttl, logins: map[string]*Login{}, tickets: map[string]ticket{}}
}

// Create starts a login for p and returns it; its ID goes in the cookie.
func (s *Sessions) Create(p Principal) Login {
	now := s.clk.Now()
	l := &Login{ID: randomString(32), Principal: p, CSRF: randomString(32), Created: now, Expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gc(now)
	s.logins[l.ID] = l
	return *l
}

// Get returns the live login with id and renews it; ok is false when there
// is none or it expired.
func (s *Sessions) Get(id string) (Login, bool) {
	if id == "" {
		return Login{}, false
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.logins[id]
	if !ok {
		return Login{}, false
	}
	if !now.Before(l.Expires) {
		delete(s.logins, id)
		return Login{}, false
	}
	l.Expires = now.Add(s.ttl)
	return *l, true
}

// Delete ends a login (logout).
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.logins, id)
}

// DeleteToken ends every login made with the token id (on revoke).
func (s *Sessions) DeleteToken(tokenID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.logins {
		if l.Principal.TokenID == tokenID {
			delete(s.logins, k)
		}
	}
}

// CheckCSRF reports, in constant time, whether got is the login's token.
func CheckCSRF(l Login, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(l.CSRF), []byte(got)) == 1
}

// NewTicket returns a one-time login code for p, valid for 15 minutes.
func (s *Sessions) NewTicket(p Principal) string {
	code := randomString(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickets[code] = ticket{p: p, expires: s.clk.Now().Add(15 * time.Minute)}
	return code
}

// RedeemTicket consumes a one-time code; ok is false when it is unknown,
// used or expired.
func (s *Sessions) RedeemTicket(code string) (Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[code]
	if !ok {
		return Principal{}, false
	}
	delete(s.tickets, code)
	if !s.clk.Now().Before(t.expires) {
		return Principal{}, false
	}
	return t.p, true
}

func (s *Sessions) gc(now time.Time) {
	if len(s.logins)%64 != 0 {
		return
	}
	for k, l := range s.logins {
		if !now.Before(l.Expires) {
			delete(s.logins, k)
		}
	}
	for k, t := range s.tickets {
		if !now.Before(t.expires) {
			delete(s.tickets, k)
		}
	}
}

// NewCSRFToken returns a fresh random token for a double-submit form.
func NewCSRFToken() string { return randomString(32) }
