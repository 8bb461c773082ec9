package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
)

// fuzzRoutes are the routes that take a JSON body, by the fuzz input's
// first byte.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/sessions"},
	{"POST", "/api/v1/accounts"},
	{"POST", "/api/v1/pnl/backfill/preview"},
	{"POST", "/api/v1/pnl/backfill"},
	{"POST", "/api/v1/trade-all/preview"},
	{"PUT", "/api/v1/collateral/BTC"},
	{"PATCH", "/api/v1/sessions/s-0001/params"},
	{"POST", "/api/v1/tokens"},
}

// FuzzAPIBodies sends arbitrary JSON bodies to every route that reads one:
// the server never fails (5xx) or panics on a body, and every refusal is
// the one error shape with a message. The seed corpus is in
// testdata/fuzz/FuzzAPIBodies.
func FuzzAPIBodies(f *testing.F) {
	env := servertest.New(f, servertest.Options{})
	admin := env.MustToken(f, auth.RoleAdmin)
	f.Add(uint8(0), []byte(`{"strategy":"dca","account":"acct-0001","symbols":["BTCUSDT"],"allocation":"100","params":{"interval":"1h"}}`))
	f.Add(uint8(1), []byte(`{"name":"a/b","venue":"paper","base_url":"file:///etc/passwd"}`))
	f.Add(uint8(2), []byte(`{"account":"acct-0001","from":"0001-01-01","to":"9999-12-31"}`))
	f.Add(uint8(4), []byte(`{"all":true}`))
	f.Add(uint8(5), []byte(`{"ratio":""}`))
	f.Add(uint8(6), []byte(`{"max_price":"-5"}`))
	f.Add(uint8(7), []byte(`{"role":"admin","name":"x"}`))
	f.Add(uint8(0), []byte(`[1]`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		env.Server.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with %q: status %d: %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s with %q: status %d without the error shape: %s", rt.method, rt.path, body, rec.Code, rec.Body)
			}
		}
	})
}
