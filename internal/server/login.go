package server

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tradeplane/tradeplane/internal/auth"
)

// The login form takes an API token (or a one-time ticket from DemoLogin)
// and starts a dashboard login: an HttpOnly, SameSite=Strict cookie (Secure
// under TLS) naming an in-memory login with its own CSRF token. The form
// itself is protected by a double-submit token (cookie + hidden field),
// and failed attempts are rate limited per remote address.

const loginCSRFCookie = "tp_login_csrf"

type loginData struct {
	Next   string
	Ticket string
	Error  string
}

// safeNext keeps a post-login redirect on this site: a path that starts
// with one '/', names no scheme or host, and holds no control character,
// space or backslash (browsers drop tabs and line breaks from a URL and
// read '\' as '/', so "/\t/evil.example" would leave the site).
// Anything else goes to "/".
func safeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next")), Ticket: r.URL.Query().Get("ticket")})
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	tok := ""
	if c, err := r.Cookie(loginCSRFCookie); err == nil && len(c.Value) >= 32 {
		tok = c.Value
	} else {
		tok = auth.NewCSRFToken()
	}
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, "login.html", view{Page: "login", Title: "Log in", Version: s.cfg.Version, CSRF: tok, Data: d}); err != nil {
		s.log.Error("render login", "err", err)
	}
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	remote := remoteAddr(r)
	d := loginData{Next: safeNext(r.PostFormValue("next"))}
	if ok, wait := s.limiter.Allow(remote); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		d.Error = "Too many failed attempts from your address. Wait a minute and retry."
		s.renderLogin(w, r, http.StatusTooManyRequests, d)
		return
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		d.Error = "The form expired. Please try again."
		s.renderLogin(w, r, http.StatusForbidden, d)
		return
	}
	var p auth.Principal
	if ticket := r.PostFormValue("ticket"); ticket != "" {
		var ok bool
		if p, ok = s.logins.RedeemTicket(ticket); !ok {
			err = auth.ErrUnauthenticated
		}
	} else {
		p, err = s.verifier.Verify(r.Context(), strings.TrimSpace(r.PostFormValue("token")))
	}
	if err != nil {
		s.limiter.Fail(remote)
		s.audit(r, auth.Principal{}, "POST /login", &auditNote{target: "login", detail: "failed"}, http.StatusUnauthorized)
		d.Error = "That token is not valid."
		s.renderLogin(w, r, http.StatusUnauthorized, d)
		return
	}
	l := s.logins.Create(p)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: l.ID, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1})
	s.audit(r, p, "POST /login", &auditNote{target: "login", detail: "role " + p.Role.String()}, http.StatusSeeOther)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.logins.Delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0), HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
