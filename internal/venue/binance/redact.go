package binance

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
)

var (
	// signedQueryRE is the query string of a URL that carries a signature:
	// all of it goes (it names the order and the timestamp the signature
	// covers, and the signature itself).
	signedQueryRE = regexp.MustCompile(`\?[^\s"'<>]*signature=[^\s"'<>]*`)
	// signedFormRE is a signed query or form body standing alone.
	signedFormRE = regexp.MustCompile(`[^\s"'<>?]*signature=[^\s"'<>]*`)
	// secretParamRE is a signature or API key outside such a URL: a form
	// body, a WebSocket API payload, a header echoed in a message.
	secretParamRE = regexp.MustCompile(`(?i)("?(?:signature|apiKey|api_key|x-mbx-apikey)"?\s*[=:]\s*"?)[^\s"&,}]+`)
	// keyLikeRE is a bare 64-character token: Binance API keys and secrets
	// and HMAC-SHA256 signatures in hex all have that length.
	keyLikeRE = regexp.MustCompile(`\b[A-Za-z0-9]{64}\b`)
)

// Redact strips signatures, API keys and signed query strings from a text
// bound for a log, an alert or the journal (an error message that quotes
// the request URL, as net/http's do). It is the one redaction every venue
// error of this package passes through.
func Redact(s string) string {
	s = signedQueryRE.ReplaceAllString(s, "?[signed query redacted]")
	s = signedFormRE.ReplaceAllString(s, "[signed query redacted]")
	s = secretParamRE.ReplaceAllString(s, "${1}[redacted]")
	return keyLikeRE.ReplaceAllString(s, "[redacted]")
}

// errRedirect refuses a redirect that would carry the API key header and
// the signed query to another host.
var errRedirect = errors.New("redirect to another host refused: it would carry the API key and the signed request there")

// checkRedirect follows a redirect only within the host the request was
// sent to, at most 3 times; Go forwards custom headers such as
// X-MBX-APIKEY to the redirect target, so another host never gets one.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > 0 && (req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme) {
		return fmt.Errorf("%w (%s)", errRedirect, req.URL.Host)
	}
	if len(via) >= 3 {
		return errors.New("stopped after 3 redirects")
	}
	return nil
}
