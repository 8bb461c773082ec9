// Package auth is tradeplane's authentication and authorization: API
// tokens (generation, hashing, verification against the store), roles,
// dashboard login sessions, CSRF tokens and a login rate limiter.
//
// It owns no HTTP routing: package server calls it from its middleware.
// Tokens look like tp_<id>_<secret>: id is 16 hex characters and names the
// token in lists, audit entries and `tokens revoke`; secret is 256 random
// bits (base64url). Only the hex SHA-256 of the secret is stored, and a
// presented token is checked by hash lookup plus a constant-time compare of
// both the hash and the id, so neither the secret nor its hash ever leaves
// the process in clear. Login sessions and one-time login tickets live in
// memory: a restart logs every dashboard user out (API tokens are
// unaffected).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tradeplane/tradeplane/internal/apperr"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Errors callers branch on with errors.Is.
var (
	// ErrUnauthenticated: no credentials, or credentials that do not verify
	// (malformed, unknown, revoked, expired). Maps to HTTP 401.
	ErrUnauthenticated = apperr.New(apperr.Unauthenticated, "unauthenticated")
	// ErrForbidden: the principal's role is too low. Maps to HTTP 403.
	ErrForbidden = apperr.New(apperr.Forbidden, "forbidden")
	// ErrRateLimited: too many failed login attempts. Maps to HTTP 429.
	ErrRateLimited = apperr.New(apperr.RateLimited, "too many attempts")
	// ErrBadRole: a role name that is not viewer, trader or admin.
	ErrBadRole = apperr.New(apperr.Invalid, "unknown role")
)

// Role orders what a principal may do: viewer < trader < admin.
type Role int

// Roles, weakest first. The zero value is no role at all.
const (
	RoleNone Role = iota
	// RoleViewer reads everything except the audit log and tokens.
	RoleViewer
	// RoleTrader also trades: sessions start/stop, Trade All, alert acks.
	RoleTrader
	// RoleAdmin also manages accounts, credentials, tokens and collateral.
	RoleAdmin
)

// String is the role's name as stored and typed: viewer, trader, admin.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleTrader:
		return "trader"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// Allows reports whether a principal of role r may do what needs min.
func (r Role) Allows(min Role) bool { return r >= min && r != RoleNone }

// ParseRole parses viewer, trader or admin (case-insensitive).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "viewer":
		return RoleViewer, nil
	case "trader":
		return RoleTrader, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("role %q: %w (want viewer, trader or admin)", s, ErrBadRole)
}

// Principal is who a request acts as.
type Principal struct {
	TokenID string
	Name    string
	Role    Role
}

// Actor is the principal as audit entries and records name it:
// "token:<id>" plus the token's name when it has one.
func (p Principal) Actor() string {
	if p.Name == "" {
		return "token:" + p.TokenID
	}
	return "token:" + p.TokenID + " (" + p.Name + ")"
}

// TokenStore is the part of the store tokens live in; *store.DB satisfies it.
type TokenStore interface {
	CreateToken(ctx context.Context, t store.Token) error
	TokenByHash(ctx context.Context, hash string) (store.Token, error)
	Tokens(ctx context.Context) ([]store.Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	TouchToken(ctx context.Context, id string, at time.Time) error
}

var _ TokenStore = (*store.DB)(nil)

const tokenPrefix = "tp_"

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("auth: crypto/rand failed: %v", err)) // never returns an error on supported platforms
	}
	return b
}

// randomString is n random bytes in base64url without padding.
func randomString(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// hashSecret is the stored form of a token secret: hex SHA-256.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// parseToken splits tp_<id>_<secret>; ok is false for anything else.
func parseToken(plain string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(plain, tokenPrefix)
	if !found {
		return "", "", false
	}
	id, secret, found = strings.Cut(rest, "_")
	if !found || len(id) != 16 || len(secret) != 43 {
		return "", "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// CreateToken makes a new token of role named name, stores its hash and
// returns the plain token: it is shown once and cannot be recovered.
func CreateToken(ctx context.Context, db TokenStore, role Role, name string) (string, store.Token, error) {
	if role == RoleNone {
		return "", store.Token{}, fmt.Errorf("create token: %w", ErrBadRole)
	}
	id := hex.EncodeToString(randomBytes(8))
	secret := randomString(32)
	t := store.Token{ID: id, Name: name, Role: role.String(), Hash: hashSecret(secret), CreatedAt: time.Now().UTC()}
	if err := db.CreateToken(ctx, t); err != nil {
		return "", store.Token{}, fmt.Errorf("create %s token %q: %w", role, name, err)
	}
	return tokenPrefix + id + "_" + secret, t, nil
}

// ListTokens lists every token, revoked ones included (hashes blanked).
func ListTokens(ctx context.Context, db TokenStore) ([]store.Token, error) {
	ts, err := db.Tokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	for i := range ts {
		ts[i].Hash = ""
	}
	return ts, nil
}

// RevokeToken revokes the token with id; store.ErrNotFound when no live
// token has it.
func RevokeToken(ctx context.Context, db TokenStore, id string) error {
	if err := db.RevokeToken(ctx, id, time.Now().UTC()); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// Verifier checks presented API tokens against the store. Verified tokens
// are cached for CacheTTL so a busy API does not read the store on every
// request; Forget drops one at once (the server calls it on revoke), and a
// revoke made by another process takes effect within CacheTTL. Use is
// recorded with TouchToken at most once a minute per token.
type Verifier struct {
	db  TokenStore
	clk clock.Clock
	ttl time.Duration

	mu    sync.Mutex
	cache map[string]cached // by hash
	// live is the set of unrevoked token ids as read from the store at
	// liveAt; Live trusts it for ttl.
	live   map[string]bool
	liveAt time.Time
}

type cached struct {
	p       Principal
	id      string
	until   time.Time
	touched time.Time
}

// NewVerifier returns a Verifier over db; ttl 0 means 10 s, clk nil means
// the real clock.
func NewVerifier(db TokenStore, clk clock.Clock, ttl time.Duration) *Verifier {
	if clk == nil {
		clk = clock.Real{}
	}
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &Verifier{db: db, clk: clk, ttl: ttl, cache: map[string]cached{}}
}

// Verify returns the principal of a plain token, or an error matching
// ErrUnauthenticated. The error never contains the token.
func (v *Verifier) Verify(ctx context.Context, plain string) (Principal, error) {
	id, secret, ok := parseToken(plain)
	if !ok {
		return Principal{}, fmt.Errorf("verify token: malformed: %w", ErrUnauthenticated)
	}
	hash := hashSecret(secret)
	now := v.clk.Now()
	v.mu.Lock()
	c, hit := v.cache[hash]
	v.mu.Unlock()
	if hit && now.Before(c.until) && subtle.ConstantTimeCompare([]byte(c.id), []byte(id)) == 1 {
		if now.Sub(c.touched) > time.Minute {
			v.touch(ctx, hash, id, now)
		}
		return c.p, nil
	}
	t, err := v.db.TokenByHash(ctx, hash)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, fmt.Errorf("verify token %s: unknown: %w", id, ErrUnauthenticated)
		}
		return Principal{}, fmt.Errorf("verify token %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 || subtle.ConstantTimeCompare([]byte(t.ID), []byte(id)) != 1 {
		return Principal{}, fmt.Errorf("verify token %s: mismatch: %w", id, ErrUnauthenticated)
	}
	if !t.RevokedAt.IsZero() {
		return Principal{}, fmt.Errorf("verify token %s: revoked: %w", id, ErrUnauthenticated)
	}
	role, err := ParseRole(t.Role)
	if err != nil {
		return Principal{}, fmt.Errorf("verify token %s: %w: %w", id, err, ErrUnauthenticated)
	}
	p := Principal{TokenID: t.ID, Name: t.Name, Role: role}
	v.mu.Lock()
	v.cache[hash] = cached{p: p, id: id, until: now.Add(v.ttl), touched: now}
	if len(v.cache) > 10000 {
		for k, e := range v.cache {
			if !now.Before(e.until) {
				delete(v.cache, k)
			}
		}
	}
	v.mu.Unlock()
	if err := v.db.TouchToken(ctx, t.ID, now); err != nil {
		return p, nil // a failed touch must not lock anyone out
	}
	return p, nil
}

func (v *Verifier) touch(ctx context.Context, hash, id string, now time.Time) {
	v.mu.Lock()
	if c, ok := v.cache[hash]; ok {
		c.touched = now
		v.cache[hash] = c
	}
	v.mu.Unlock()
	_ = v.db.TouchToken(ctx, id, now)
}

// Forget drops any cached verification of the token with id, so a revoke
// through this process takes effect on the next request.
func (v *Verifier) Forget(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, c := range v.cache {
		if c.p.TokenID == id {
			delete(v.cache, k)
		}
	}
	delete(v.live, id)
}

// Live reports whether the token with id still exists unrevoked: a
// dashboard login lasts only as long as the token it was made with. The
// answer comes from a list of live token ids read from the store at most
// once per CacheTTL, so a revoke by any process (the CLI, another node)
// ends the token's logins everywhere within CacheTTL. A failed read is an
// error, never a yes.
func (v *Verifier) Live(ctx context.Context, id string) (bool, error) {
	now := v.clk.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live == nil || !now.Before(v.liveAt.Add(v.ttl)) || now.Before(v.liveAt) {
		// The list is shared by every caller, so one caller's cancellation
		// (a browser leaving a page mid-request) must not cut the read: on
		// SQLite a canceled query interrupts its connection, and the next
		// request failed too (a page bounced to the login form).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		ts, err := v.db.Tokens(rctx)
		cancel()
		if err != nil {
			return false, fmt.Errorf("check token %s is live: %w", id, err)
		}
		live := make(map[string]bool, len(ts))
		for _, t := range ts {
			if t.RevokedAt.IsZero() {
				live[t.ID] = true
			}
		}
		v.live, v.liveAt = live, now
	}
	return v.live[id], nil
}
