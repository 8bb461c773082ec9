package server_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// The post-login redirect stays on this site: control characters, spaces,
// backslashes and hosts send the user to "/". "/\t/evil.example/x" passed
// (a browser drops the tab and goes to //evil.example/x).
func TestLoginNextStaysOnSite(t *testing.T) {
	t.Parallel()
	b := setup(t, servertest.Options{})
	field := regexp.MustCompile(`name="next" value="([^"]*)"`)
	for next, want := range map[string]string{
		"/sessions?tag=a":       "/sessions?tag=a",
		"/\t/evil.example/x":    "/",
		"/\n/evil.example/x":    "/",
		"/\r\n/evil.example":    "/",
		"/\\evil.example":       "/",
		"//evil.example":        "/",
		"/ /evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"/\u200b/evil.example":  "/",
		"/%2F%2Fevil.example":   "/", // decodes to //evil.example
	} {
		r := b.do(t, "GET", "/login?next="+url.QueryEscape(next), "", nil)
		m := field.FindSubmatch(r.body)
		if r.status != http.StatusOK || m == nil {
			t.Fatalf("login page: %d", r.status)
		}
		if got := html.UnescapeString(string(m[1])); got != want {
			t.Errorf("next %q: form carries %q, want %q", next, got, want)
		}
	}
}
