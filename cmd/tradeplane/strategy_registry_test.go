package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/server/servertest"
	"github.com/tradeplane/tradeplane/internal/strategy"
)

// probeStrategy is a strategy defined outside internal/strategy: adding one
// is its package and one registration (an import line in a real build).
type probeStrategy struct{}

func (probeStrategy) Interval() time.Duration { return time.Hour }
func (probeStrategy) Step(context.Context, strategy.Env) (strategy.StepResult, error) {
	return strategy.StepResult{Skip: "probe"}, nil
}

const probeName = "probe-from-test"

func init() {
	strategy.Register(strategy.Info{Name: probeName, Description: "registered by a test",
		Factory: func(json.RawMessage) (strategy.Strategy, error) { return probeStrategy{}, nil }})
}

// TestRegisteredStrategyIsOfferedEverywhere: a strategy registered from a
// test package shows in the CLI's help, passes the CLI's and the API's
// validation, and is listed by the OpenAPI document, with no list edited.
func TestRegisteredStrategyIsOfferedEverywhere(t *testing.T) {
	t.Parallel()
	if r := cli(t, "", "sessions", "create", "--help").want(t, 0); !strings.Contains(r.stdout, probeName) {
		t.Errorf("sessions create --help does not offer %s:\n%s", probeName, r.stdout)
	}
	b := setupServer(t, servertest.Options{})
	r := cli(t, "", b.args("sessions", "create", "--name", "probe-1", "--strategy", probeName, "--account", "acct-0001",
		"--symbol", "BTCUSDT", "--allocation", "100", "--json")...).want(t, 0)
	var v struct{ Strategy string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Strategy != probeName {
		t.Errorf("created session %q (%v), want strategy %s", r.stdout, err, probeName)
	}
	// An unknown one is refused, naming the registered ones.
	if r := cli(t, "", b.args("sessions", "create", "--strategy", "nope", "--account", "acct-0001", "--symbol", "BTCUSDT",
		"--allocation", "100")...).want(t, 2); !strings.Contains(r.stderr, probeName) {
		t.Errorf("refusal of an unknown strategy does not name %s: %s", probeName, r.stderr)
	}
	req, _ := http.NewRequest("GET", strings.TrimSuffix(b.flags[1], "/")+"/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+b.flags[3])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var doc struct {
		Components struct {
			Schemas struct {
				NewSession struct {
					Properties struct {
						Strategy struct {
							Enum []string `json:"enum"`
						} `json:"strategy"`
					} `json:"properties"`
				} `json:"NewSession"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	enum := doc.Components.Schemas.NewSession.Properties.Strategy.Enum
	if !strings.Contains(strings.Join(enum, ","), probeName) {
		t.Errorf("OpenAPI NewSession.strategy enum %q lacks %s", enum, probeName)
	}
}
