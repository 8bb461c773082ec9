package server

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/tradeplane/tradeplane/internal/fieldcheck"
)

// FuzzAPIBodies feeds arbitrary bytes to the API's JSON body parsing and
// checks, as the handlers run them before calling any service: session
// specs, accounts, backfills, collateral ratios, params patches and
// tokens. Nothing panics, and every refusal is a client-visible *Error of
// class ErrInvalid or ErrTooLarge whose message names what is wrong. The
// seed corpus (the probe's hostile bodies) is in testdata/fuzz/FuzzAPIBodies.
func FuzzAPIBodies(f *testing.F) {
	f.Add(uint8(0), []byte(`{"strategy":"dca","account":"acct-0001","symbols":["BTCUSDT"],"allocation":"100","params":{"interval":"1h"}}`))
	f.Add(uint8(1), []byte(`{"name":"a/b","venue":"paper","base_url":"file:///etc/passwd"}`))
	f.Add(uint8(2), []byte(`{"account":"acct-0001","from":"0001-01-01","to":"9999-12-31"}`))
	f.Add(uint8(3), []byte(`{"ratio":""}`))
	f.Add(uint8(4), []byte(`{"max_price":"-5"}`))
	f.Add(uint8(5), []byte(`{"role":"admin","name":"x"}`))
	f.Add(uint8(0), []byte(`[1]`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(body))
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Message == "" || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge)) {
				t.Fatalf("%s of %q: %T %v is not a client-visible invalid error", what, body, err, err)
			}
		}
		switch route % 6 {
		case 0:
			var b sessionSpecBody
			if err := decodeBody(req, &b); err != nil {
				check("session body", err)
				return
			}
			_, err := sessionSpec(b)
			check("session spec", err)
		case 1:
			var in NewAccount
			if err := decodeBody(req, &in); err != nil {
				check("account body", err)
				return
			}
			err := fieldcheck.CheckAccount(fieldcheck.Account{Name: in.Name, Venue: in.Venue, BaseURL: in.BaseURL, APIKey: in.APIKey,
				APISecret: in.APISecret, Tags: in.Tags}, fieldcheck.JSONFields)
			var fe *fieldcheck.Error
			if err != nil && (!errors.As(err, &fe) || fe.Field == "") {
				t.Fatalf("account check of %q: %T %v does not name a field", body, err, err)
			}
		case 2:
			var b backfillBody
			if err := decodeBody(req, &b); err != nil {
				check("backfill body", err)
				return
			}
			_, err := backfillRequest(b)
			check("backfill request", err)
		case 3:
			var b ratioBody
			check("ratio body", decodeBody(req, &b))
		case 4:
			var params map[string]any
			if err := decodeBody(req, &params); err != nil {
				check("params body", err)
				return
			}
			err := fieldcheck.Params("params", body)
			var fe *fieldcheck.Error
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("params check of %q: %T %v", body, err, err)
			}
		case 5:
			var b newTokenBody
			check("token body", decodeBody(req, &b))
		}
	})
}
