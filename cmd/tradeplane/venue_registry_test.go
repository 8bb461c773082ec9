package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// probeVenue is a venue defined outside internal/venue: adding one is its
// package and one registration (an import line in venue/builtin in a real
// build). Its accounts need no credentials and open offline, on a paper
// exchange of their own.
const probeVenue = "probe-venue-from-test"

func init() {
	venue.Register(venue.Kind{Name: probeVenue, Description: "registered by a test", Trades: true,
		Open: func(_ venue.Env, a venue.Account) (venue.Venue, error) {
			ex, err := paper.New(paper.Config{Prices: map[string]venue.Decimal{"BTCUSDT": udecimal.MustParse("50000")}})
			if err != nil {
				return nil, err
			}
			return ex.Account(a.Name), nil
		}})
}

// TestRegisteredVenueIsOfferedEverywhere: a venue registered from a test
// package shows in the CLI's help, passes the CLI's and the API's
// validation, is listed by the OpenAPI document and the dashboard's
// accounts page, with no list edited; an unknown venue's refusal names it.
func TestRegisteredVenueIsOfferedEverywhere(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{{"accounts", "add", "--help"}, {"trade-all", "--help"}} {
		if r := cli(t, "", cmd...).want(t, 0); !strings.Contains(r.stdout, probeVenue) {
			t.Errorf("%s does not offer %s:\n%s", strings.Join(cmd, " "), probeVenue, r.stdout)
		}
	}
	db := tempDB(t)
	cli(t, "", "--db", db, "accounts", "add", "--name", "probe-1", "--venue", probeVenue).want(t, 0)
	if r := cli(t, "", "--db", db, "accounts", "list", "--json").want(t, 0); !strings.Contains(r.stdout, `"venue":"`+probeVenue+`"`) {
		t.Errorf("accounts list does not show the %s account: %s", probeVenue, r.stdout)
	}
	if r := cli(t, "", "--db", db, "accounts", "add", "--name", "nope-1", "--venue", "nope").want(t, 2); !strings.Contains(r.stderr, probeVenue) {
		t.Errorf("refusal of an unknown venue does not name %s: %s", probeVenue, r.stderr)
	}

	b := setupServer(t, servertest.Options{})
	base := strings.TrimSuffix(b.flags[1], "/")
	admin := b.env.MustToken(t, auth.RoleAdmin)
	do := func(method, path string, body any) (int, string) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequestWithContext(context.Background(), method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if code, body := do("POST", "/api/v1/accounts", map[string]any{"name": "probe-api", "venue": probeVenue}); code != http.StatusCreated && code != http.StatusOK {
		t.Errorf("POST /api/v1/accounts venue %s: %d %s", probeVenue, code, body)
	}
	if code, body := do("POST", "/api/v1/accounts", map[string]any{"name": "nope-api", "venue": "nope"}); code != http.StatusBadRequest || !strings.Contains(body, probeVenue) {
		t.Errorf("POST /api/v1/accounts venue nope: %d %s, want 400 naming %s", code, body, probeVenue)
	}

	_, data := do("GET", "/api/v1/openapi.json", nil)
	var doc struct {
		Components struct {
			Schemas struct {
				NewAccount struct {
					Properties struct {
						Venue struct {
							Enum []string `json:"enum"`
						} `json:"venue"`
					} `json:"properties"`
				} `json:"NewAccount"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(data), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if enum := doc.Components.Schemas.NewAccount.Properties.Venue.Enum; !strings.Contains(strings.Join(enum, ","), probeVenue) {
		t.Errorf("OpenAPI NewAccount.venue enum %q lacks %s", enum, probeVenue)
	}
	if code, page := do("GET", "/accounts", nil); code != http.StatusOK || !strings.Contains(page, probeVenue) {
		t.Errorf("accounts page (%d) does not name the venue %s", code, probeVenue)
	}
}
