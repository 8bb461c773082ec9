package binance_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
)

const (
	docKey    = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	docSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
	docSig    = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
)

func leaks(s string) []string {
	var out []string
	for _, secret := range []string{docKey, docSecret, docSig, "signature=", "timestamp="} {
		if strings.Contains(s, secret) {
			out = append(out, secret)
		}
	}
	return out
}

// TestRedact: the documented SIGNED request (rest-api.md "SIGNED Endpoint
// examples for POST /api/v3/order": its key, secret, query and signature)
// quoted the ways errors quote it.
func TestRedact(t *testing.T) {
	t.Parallel()
	query := "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=" + docSig
	for _, in := range []string{
		`Post "https://api.binance.com/api/v3/order?` + query + `": dial tcp 52.84.150.34:443: i/o timeout`,
		`request body ` + query,
		`{"apiKey":"` + docKey + `","signature":"` + docSig + `","timestamp":1499827319559}`,
		`X-MBX-APIKEY: ` + docKey,
		`secret ` + docSecret + ` in a message`,
	} {
		out := binance.Redact(in)
		if l := leaks(out); len(l) > 0 {
			t.Errorf("Redact(%q) = %q: still has %v", in, out, l)
		}
	}
	if got := binance.Redact(`Post "https://api.binance.com/api/v3/order?` + query + `": EOF`); !strings.Contains(got, "https://api.binance.com/api/v3/order") || !strings.HasSuffix(got, ": EOF") {
		t.Errorf("Redact kept too little: %q", got)
	}
}

// TestErrorsAreRedacted: a connection cut during a signed request gives
// net/http's error, which quotes the signed URL; what the venue error says
// has neither the signature, the signed query nor the key.
func TestErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v3/time" {
			_, _ = w.Write([]byte(`{"serverTime": ` + "1499827319559" + `}`))
			return
		}
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		_ = conn.Close() // cut: net/http reports EOF with the URL
	}))
	defer srv.Close()
	c, err := binance.New(binance.Config{APIKey: docKey, APISecret: docSecret, BaseURL: srv.URL, FuturesBaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.OpenOrders(t.Context(), "BTCUSDT")
	if err == nil {
		t.Fatal("no error")
	}
	if l := leaks(err.Error()); len(l) > 0 || !strings.Contains(err.Error(), "/api/v3/openOrders") {
		t.Errorf("error %q: leaks %v (or does not say what failed)", err, l)
	}
}

// TestRedirectToAnotherHostRefused: a redirect to another host is not
// followed, so the API key header and the signed query never reach it.
func TestRedirectToAnotherHostRefused(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = w.Write([]byte(`[]`))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v3/time" {
			_, _ = w.Write([]byte(`{"serverTime": 1499827319559}`))
			return
		}
		http.Redirect(w, r, other.URL+r.URL.Path+"?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := binance.New(binance.Config{APIKey: docKey, APISecret: docSecret, BaseURL: srv.URL, FuturesBaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.OpenOrders(t.Context(), "BTCUSDT")
	if err == nil || !strings.Contains(err.Error(), "redirect to another host refused") {
		t.Errorf("got %v, want the redirect refused", err)
	}
	if venue.ClassOf(err) == "" || reached.Load() != 0 {
		t.Errorf("the other host got %d requests, want none", reached.Load())
	}
	if l := leaks(err.Error()); len(l) > 0 {
		t.Errorf("error %q leaks %v", err, l)
	}
}
