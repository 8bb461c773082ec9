package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// sseEvent is one server-sent event.
type sseEvent struct{ event, data string }

// streamEvents opens n's event stream on topics and returns its events; the
// stream closes when t ends.
func (n *node) streamEvents(t *testing.T, topics ...string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	q := "topic=" + strings.Join(topics, "&topic=")
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/api/v1/events?"+q, nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("GET /api/v1/events: %d", resp.StatusCode)
	}
	out := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.event != "":
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// TestEventsReachOtherNodes runs two nodes on one PostgreSQL schema and
// proves that what one node produces (its sessions' journal events, a
// session command, a Trade All run) reaches an event stream opened on the
// other node.
func TestEventsReachOtherNodes(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	const ttl = 2 * time.Second
	// node-a runs the demo desk and owns its sessions; node-b only serves.
	a := startNode(t, app.Config{DBURL: dbURL, Demo: true, DataDir: app.DefaultDataDir(), NodeID: "fan-a", LeaseTTL: ttl})
	b := startNode(t, app.Config{DBURL: dbURL, NodeID: "fan-b", LeaseTTL: ttl})
	events := b.streamEvents(t, "journal", "sessions", "trade-all")

	// Pause a session fan-a has started, once every demo session runs (the
	// demo seeds them one by one as it starts): Trade All by tag selects
	// running sessions only, so the other "core" sessions must be up.
	var paused string
	eventually(t, 20*time.Second, "every demo session running", func() bool {
		var sessions struct {
			Sessions []struct {
				ID, State string
				Tags      []string
			} `json:"sessions"`
		}
		a.do(t, "GET", "/api/v1/sessions", nil, nil, &sessions)
		running, core := 0, ""
		for _, s := range sessions.Sessions {
			if s.State == "running" {
				running++
				if core == "" && slices.Contains(s.Tags, "core") {
					core = s.ID
				}
			}
		}
		paused = core
		return running >= 6 && core != ""
	})
	if code := a.do(t, "POST", "/api/v1/sessions/"+paused+"/pause", nil, nil, &struct{}{}); code != 200 {
		t.Fatalf("pause %s on fan-a: %d", paused, code)
	}
	var run struct{ ID string }
	if code := a.do(t, "POST", "/api/v1/trade-all", map[string]any{"tag": "core"},
		map[string]string{"Idempotency-Key": "fanout-test"}, &run); code/100 != 2 || run.ID == "" {
		t.Fatalf("trade-all on fan-a: %d %+v", code, run)
	}

	seen := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for !(seen["journal"] && seen["sessions"] && seen["trade-all"]) {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("fan-b's stream ended; seen %v", seen)
			}
			var d struct{ ID, State, Node string }
			json.Unmarshal([]byte(ev.data), &d)
			switch {
			case ev.event == "journal" && d.Node == "fan-a":
				seen["journal"] = true
			case ev.event == "sessions" && d.ID == paused && d.State == "paused":
				seen["sessions"] = true
			case ev.event == "trade-all" && d.ID == run.ID:
				seen["trade-all"] = true
			}
		case <-deadline:
			t.Fatalf("within 30 s, fan-b's stream carried of fan-a's events only %v", seen)
		}
	}
}
