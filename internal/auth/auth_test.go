package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/clock"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.MustOpenSQLite(t)
	plain, tok, err := auth.CreateToken(ctx, db, auth.RoleTrader, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, "tp_"+tok.ID+"_") || len(plain) != 3+16+1+43 {
		t.Fatalf("token %q does not look like tp_<id>_<secret>", plain)
	}
	if strings.Contains(tok.Hash, plain[20:]) {
		t.Fatal("the stored hash contains the secret")
	}
	v := auth.NewVerifier(db, nil, time.Hour)
	p, err := v.Verify(ctx, plain)
	if err != nil || p.Role != auth.RoleTrader || p.TokenID != tok.ID {
		t.Fatalf("verify: %+v %v", p, err)
	}
	last := "A" // a different last character (a secret ending in A verified as "bad" 1 run in 64)
	if strings.HasSuffix(plain, "A") {
		last = "B"
	}
	for _, bad := range []string{"", "tp_", plain + "x", plain[:len(plain)-1] + last, "tp_ffffffffffffffff_" + plain[20:]} {
		if _, err := v.Verify(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Verify(%q): %v, want ErrUnauthenticated", bad, err)
		} else if bad != "" && strings.Contains(err.Error(), bad[min(len(bad), 20):]) && len(bad) > 20 {
			t.Errorf("error %q quotes the secret", err)
		}
	}
	if err := auth.RevokeToken(ctx, db, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, plain); err != nil {
		t.Fatalf("cached token refused before Forget: %v (cache TTL is the documented bound)", err)
	}
	v.Forget(tok.ID)
	if _, err := v.Verify(ctx, plain); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked token: %v", err)
	}
	ts, err := auth.ListTokens(ctx, db)
	if err != nil || len(ts) != 1 || ts[0].Hash != "" || ts[0].RevokedAt.IsZero() {
		t.Fatalf("list: %+v %v", ts, err)
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		have, need auth.Role
		want       bool
	}{{auth.RoleViewer, auth.RoleViewer, true}, {auth.RoleViewer, auth.RoleTrader, false}, {auth.RoleTrader, auth.RoleViewer, true},
		{auth.RoleAdmin, auth.RoleTrader, true}, {auth.RoleTrader, auth.RoleAdmin, false}, {auth.RoleNone, auth.RoleNone, false}} {
		if got := c.have.Allows(c.need); got != c.want {
			t.Errorf("%s allows %s: got %t, want %t", c.have, c.need, got, c.want)
		}
	}
	if _, err := auth.ParseRole("root"); !errors.Is(err, auth.ErrBadRole) {
		t.Errorf("ParseRole(root): %v", err)
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1e9, 0))
	l := auth.NewLimiter(clk, 3, 10*time.Second)
	for range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("refused within the burst")
		}
		l.Fail("a")
	}
	if ok, wait := l.Allow("a"); ok || wait != 10*time.Second {
		t.Fatalf("after burst: ok %t wait %s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another address is limited too")
	}
	clk.Advance(4 * time.Second)
	l.Fail("a") // a failure past the limit adds no debt
	if ok, wait := l.Allow("a"); ok || wait != 6*time.Second {
		t.Fatalf("4 s later: ok %t wait %s, want 6 s", ok, wait)
	}
	clk.Advance(6 * time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("not refilled")
	}
	l.Fail("a")
	if ok, wait := l.Allow("a"); ok || wait != 10*time.Second {
		t.Fatalf("refilled one, failed it: ok %t wait %s, want 10 s", ok, wait)
	}
}

func TestSessionsAndTickets(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1e9, 0))
	s := auth.NewSessions(clk, time.Hour)
	p := auth.Principal{TokenID: "t1", Role: auth.RoleAdmin}
	l := s.Create(p)
	if got, ok := s.Get(l.ID); !ok || got.Principal != p || !auth.CheckCSRF(got, l.CSRF) || auth.CheckCSRF(got, "") || auth.CheckCSRF(got, l.CSRF+"x") {
		t.Fatalf("get: %+v %t", got, ok)
	}
	clk.Advance(2 * time.Hour)
	if _, ok := s.Get(l.ID); ok {
		t.Fatal("expired login still valid")
	}
	code := s.NewTicket(p)
	if got, ok := s.RedeemTicket(code); !ok || got != p {
		t.Fatal("ticket refused")
	}
	if _, ok := s.RedeemTicket(code); ok {
		t.Fatal("ticket worked twice")
	}
}

// TestLiveIgnoresOneCallersCancel: the live-token list is shared, so a
// caller that went away (a browser leaving a page) must not fail the read
// for itself and, on SQLite, interrupt the connection under the next one.
func TestLiveIgnoresOneCallersCancel(t *testing.T) {
	t.Parallel()
	db := storetest.MustOpenSQLite(t)
	_, tok, err := auth.CreateToken(context.Background(), db, auth.RoleViewer, "page")
	if err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(db, nil, time.Hour)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	live, err := v.Live(gone, tok.ID)
	if err != nil || !live {
		t.Fatalf("Live with a canceled caller: %v %v, want true <nil>", live, err)
	}
	if live, err := v.Live(context.Background(), tok.ID); err != nil || !live {
		t.Fatalf("Live after: %v %v", live, err)
	}
}
