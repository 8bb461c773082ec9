package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// hookReceiver is a webhook receiver that dedupes on the Idempotency-Key
// header, as the README asks of one. It is down (503), up, or swallowing:
// it takes one alert and never answers, so the node dies with that delivery
// taken by the receiver but not recorded in the outbox.
type hookReceiver struct {
	mode     atomic.Int32 // hookDown, hookUp, hookSwallow
	released chan struct{}
	mu       sync.Mutex
	posts    map[string]int // Idempotency-Key → POSTs taken
	swallow  string         // the key taken while swallowing
	badKeys  []string       // keys that do not name the body's alert
}

const (
	hookDown int32 = iota
	hookUp
	hookSwallow
)

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := h.mode.Load()
	if mode == hookDown {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var body struct {
		ID int64 `json:"id"`
	}
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &body)
	key := r.Header.Get("Idempotency-Key")
	h.mu.Lock()
	if key != alert.IdempotencyKey(body.ID) {
		h.badKeys = append(h.badKeys, key)
	}
	h.posts[key]++
	swallowing := mode == hookSwallow && h.swallow == ""
	if swallowing {
		h.swallow = key
	}
	h.mu.Unlock()
	if swallowing {
		<-h.released // taken; the answer never comes while the node lives
	}
}

func (h *hookReceiver) taken() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.posts))
	for k, n := range h.posts {
		out[k] = n
	}
	return out
}

// TestAlertsSurviveSIGKILL: a node raises alerts (every order it sends is
// rejected) while its webhook receiver is down, so they sit in the outbox;
// the receiver comes back swallowing one delivery and the node is
// SIGKILLed with it in flight. After a restart every stored alert reaches
// the receiver, and each exactly once once deduplicated on its
// Idempotency-Key: only the swallowed one (taken, never recorded) arrives
// twice, under the same key.
func TestAlertsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	dir := t.TempDir()
	d := newDesk(t, "sqlite:"+filepath.Join(dir, "alerts.db"), "main")
	rule := d.fake.FailEvery(binancetest.FaultRule{Op: binancetest.OpPlace, Fault: binancetest.FaultFilterReject})
	d.createSessions(t, 3, "1s")
	h := &hookReceiver{released: make(chan struct{}), posts: map[string]int{}}
	hook := httptest.NewServer(h)
	defer hook.Close()
	defer close(h.released)
	cc := childConfig{DBURL: d.dbURL, NodeID: "solo", MasterKey: d.keyHex, ReconcileEvery: time.Second,
		LogFile: filepath.Join(dir, "node.log"), Webhooks: []string{hook.URL}}
	ctx := context.Background()
	p := startProc(t, cc)
	eventually(t, 30*time.Second, "alerts stored and failing to deliver", func() bool {
		st, _ := d.db.AlertOutbox(ctx)
		return len(st) == 1 && st[0].Failing >= 3
	})
	// The failures show in the node's /metrics.
	eventually(t, 30*time.Second, "failed deliveries and pending alerts in /metrics", func() bool {
		resp, err := http.Get(p.url + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := string(b)
		return strings.Contains(m, `tradeplane_alert_deliveries_total{result="failed",sink="webhook:hook1"}`) &&
			regexp.MustCompile(`tradeplane_alert_outbox_pending\{sink="webhook:hook1"\} [1-9]`).MatchString(m)
	})
	h.mode.Store(hookSwallow)
	eventually(t, 30*time.Second, "a delivery in flight", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.swallow != ""
	})
	p.kill()
	rule.Remove() // the next life trades without alerts of its own
	h.mode.Store(hookUp)
	p = startProc(t, cc)
	defer p.stop(t)
	stored := func() []int64 {
		als, err := d.db.Alerts(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, a := range als {
			ids = append(ids, a.ID)
		}
		return ids
	}
	// A delivery the dead node had claimed waits out its claim (30 s).
	eventually(t, 90*time.Second, "every stored alert delivered", func() bool {
		st, _ := d.db.AlertOutbox(ctx)
		if len(st) != 0 && st[0].Pending != 0 {
			return false
		}
		got := h.taken()
		for _, id := range stored() {
			if got[alert.IdempotencyKey(id)] == 0 {
				return false
			}
		}
		return true
	})
	got := h.taken()
	ids := stored()
	h.mu.Lock()
	swallowed, bad := h.swallow, h.badKeys
	h.mu.Unlock()
	if len(bad) != 0 {
		t.Fatalf("POSTs whose Idempotency-Key does not name their alert: %q", bad)
	}
	if len(got) != len(ids) {
		t.Fatalf("the receiver took %d distinct alerts, the outbox holds %d", len(got), len(ids))
	}
	for _, id := range ids {
		k := alert.IdempotencyKey(id)
		if n := got[k]; n != 1 && !(k == swallowed && n == 2) {
			t.Fatalf("alert %d POSTed %d times (swallowed: %s)", id, n, swallowed)
		}
	}
	t.Logf("%d alerts, each delivered once per key; the one in flight at the kill (%s) %d times", len(ids), swallowed, got[swallowed])
}
