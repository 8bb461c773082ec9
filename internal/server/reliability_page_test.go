package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/reliability"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestReliabilityPageMatchesJournalAndMetrics records a known history (five
// orders over two days, a failure with an automatic restart and a manual
// restart) in a real store, makes known API calls, and checks that the
// page, GET /api/v1/reliability and a count made here straight from the
// journal, the session transitions and /metrics all agree.
func TestReliabilityPageMatchesJournalAndMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.SQLiteURL(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acct := &store.Account{Name: "acc", Venue: "paper"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC) // a Monday
	day2 := day1.Add(24 * time.Hour)
	sess := &store.Session{ID: "s_rel", Name: "rel", Strategy: "dca", AccountID: acct.ID, State: "created", Allocation: udecimal.MustParse("100"), CreatedAt: day1}
	if err := db.CreateSession(ctx, sess, "test"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		from, to, reason, actor string
		at                      time.Duration
	}{
		{"created", "starting", "start", "alice", 0},
		{"starting", "running", "started", "supervisor", time.Second},
		{"running", "failed", "step failed: banned", "supervisor", time.Hour},
		{"failed", "restarting", "restart 1 in 2s", "supervisor", time.Hour + time.Second},
		{"restarting", "starting", "restart 1", "supervisor", time.Hour + 3*time.Second},
		{"starting", "running", "started", "supervisor", time.Hour + 90*time.Second},
		{"running", "restarting", "manual restart", "alice", 26 * time.Hour},
		{"restarting", "starting", "manual restart", "alice", 26*time.Hour + time.Second},
		{"starting", "running", "started", "supervisor", 26*time.Hour + 2*time.Second},
		{"running", "failed", "step failed: auth", "supervisor", 30 * time.Hour},
	}
	for _, s := range steps {
		if err := db.TransitionSession(ctx, sess.ID, store.StateChange{From: s.from, To: s.to, Reason: s.reason, Actor: s.actor, At: day1.Add(s.at)}); err != nil {
			t.Fatalf("%s→%s: %v", s.from, s.to, err)
		}
	}
	ev := func(at time.Time, kind, coid, class string) store.JournalEvent {
		return store.JournalEvent{At: at, Kind: kind, SessionID: sess.ID, AccountID: acct.ID, Symbol: "BTCUSDT", ClientOrderID: coid, ErrorClass: class}
	}
	evs := []store.JournalEvent{
		ev(day1, "intent", "o1", ""), ev(day1.Add(time.Second), "sent", "o1", ""), ev(day1.Add(2*time.Second), "acknowledged", "o1", ""), ev(day1.Add(3*time.Second), "filled", "o1", ""),
		ev(day1.Add(time.Minute), "intent", "o2", ""), ev(day1.Add(time.Minute+time.Second), "retry", "o2", "rate_limited"), ev(day1.Add(time.Minute+2*time.Second), "failed", "o2", "banned"),
		ev(day2, "intent", "o3", ""), ev(day2.Add(time.Second), "unknown_outcome", "o3", "unknown_outcome"),
		ev(day2.Add(time.Minute), "intent", "o4", ""), ev(day2.Add(time.Minute+time.Second), "sent", "o4", ""),
		ev(day2.Add(2*time.Minute), "intent", "o5", ""), ev(day2.Add(2*time.Minute+time.Second), "rejected", "o5", "rejected"),
		ev(day2.Add(3*time.Minute), "drift", "", "drift"),
		ev(day1.Add(-time.Hour), "history", "", ""), // the demo's replayed history: in no figure
	}
	if err := db.AppendJournalEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	tok, _, err := auth.CreateToken(ctx, db, auth.RoleViewer, "rel")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"},
		server.Deps{Store: db, Gatherer: prometheus.NewRegistry()})
	get := func(path string) string {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	for range 3 {
		get("/api/v1/me")
	}
	window := "from=2026-11-29T00:00:00Z&to=2026-12-03T00:00:00Z"

	// What the journal, the transitions and /metrics say, counted here.
	all, err := db.JournalEvents(ctx, store.EventQuery{Ascending: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]store.JournalEvent{}
	first := map[string]time.Time{}
	classes := map[string]int{}
	history := 0
	for _, e := range all {
		if e.Kind == "history" {
			history++
			continue
		}
		if e.ErrorClass != "" {
			classes[e.ErrorClass]++
		}
		if e.ClientOrderID != "" {
			if _, ok := first[e.ClientOrderID]; !ok {
				first[e.ClientOrderID] = e.At
			}
			last[e.ClientOrderID] = e
		}
	}
	type day struct{ orders, ok, failed, pending int }
	days := map[string]*day{}
	for id, e := range last {
		k := first[id].Format("2006-01-02")
		if days[k] == nil {
			days[k] = &day{}
		}
		d := days[k]
		d.orders++
		switch e.Kind {
		case "filled", "rejected", "canceled", "acknowledged", "partially_filled", "reconciled":
			d.ok++
		case "failed", "unknown_outcome":
			d.failed++
		default:
			d.pending++
		}
	}
	if fmt.Sprint(*days["2026-11-30"], *days["2026-12-01"]) != "{2 1 1 0} {3 1 1 1}" {
		t.Fatalf("the fixture is not what this test thinks: %v %v", *days["2026-11-30"], *days["2026-12-01"])
	}
	metrics := get("/metrics")
	m := regexp.MustCompile(`tradeplane_http_request_duration_seconds_count\{kind="api",route="GET /api/v1/me"\} (\d+)`).FindStringSubmatch(metrics)
	if m == nil || m[1] != "3" {
		t.Fatalf("/metrics: GET /api/v1/me count %v, want 3", m)
	}

	// The API.
	var rep reliability.Report
	if err := json.Unmarshal([]byte(get("/api/v1/reliability?"+window)), &rep); err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Execution {
		w := days[d.Day]
		if w == nil || d.Orders != w.orders || d.Succeeded != w.ok || d.Failed != w.failed || d.Pending != w.pending {
			t.Errorf("API execution %+v, journal says %+v", d, w)
		}
		if d.SuccessRate != "0.5" {
			t.Errorf("%s success rate %q, want 0.5", d.Day, d.SuccessRate)
		}
	}
	if len(rep.Execution) != len(days) {
		t.Errorf("API has %d days, journal %d", len(rep.Execution), len(days))
	}
	for _, f := range rep.Failures {
		if classes[f.Class] != f.Count {
			t.Errorf("API failures %s=%d, journal %d", f.Class, f.Count, classes[f.Class])
		}
	}
	if len(rep.Failures) != len(classes) {
		t.Errorf("API failure classes %v, journal %v", rep.Failures, classes)
	}
	if fmt.Sprint(rep.Restarts) != "[{2026-11-30 1 1}]" {
		t.Errorf("restarts %v, want one automatic and one manual in the week of 2026-11-30", rep.Restarts)
	}
	// failed at +1h, running again at +1h+90s: 90 s; the failure at +30h has not recovered.
	if rep.Recovery.Recovered != 1 || rep.Recovery.Unrecovered != 1 || rep.Recovery.MedianSeconds != "90" {
		t.Errorf("recovery %+v, want 1 recovered in 90 s and 1 not", rep.Recovery)
	}
	if rep.Journal.Events != len(all)-history || rep.Journal.ReplayedHistory != history || history != 1 {
		t.Errorf("journal writes %d and %d replayed history rows; journal has %d events, %d of them history", rep.Journal.Events,
			rep.Journal.ReplayedHistory, len(all), history)
	}
	var me *reliability.Latency
	for i, l := range rep.Latency {
		if l.Labels == "kind=api,route=GET /api/v1/me" {
			me = &rep.Latency[i]
		}
	}
	if me == nil || me.Count != 3 {
		t.Errorf("API latency of GET /api/v1/me: %+v, /metrics says 3", me)
	}

	// The page shows the same figures.
	page := get("/reliability?" + window)
	cell := func(table string) string {
		i := strings.Index(page, `id="`+table+`"`)
		if i < 0 {
			t.Fatalf("page has no table %s", table)
		}
		s := page[i:]
		return s[:strings.Index(s, "</table>")]
	}
	exec := cell("rel-execution")
	for k, d := range days {
		row := fmt.Sprintf(`<tr><td>%s</td><td class="num">%d</td><td class="num">%d</td><td class="num">%d</td><td class="num">%d</td><td class="num">50%%</td></tr>`, k, d.orders, d.ok, d.failed, d.pending)
		if !strings.Contains(exec, row) {
			t.Errorf("page execution table lacks %s:\n%s", row, exec)
		}
	}
	fails := cell("rel-failures")
	for c, n := range classes {
		if !strings.Contains(fails, fmt.Sprintf(`<td>%s</td><td class="num">%d</td>`, c, n)) {
			t.Errorf("page failures lack %s=%d", c, n)
		}
	}
	if !strings.Contains(cell("rel-restarts"), `<td>2026-11-30</td><td class="num">1</td><td class="num">1</td>`) {
		t.Error("page restarts lack the week of 2026-11-30 with 1 automatic and 1 manual")
	}
	if !strings.Contains(page, `id="rel-recovery">90 s</p>`) {
		t.Error("page lacks the recovery median of 90 s")
	}
	if !strings.Contains(cell("rel-latency"), `<td>kind=api,route=GET /api/v1/me</td><td class="num">3</td>`) {
		t.Errorf("page latency lacks GET /api/v1/me with 3 requests:\n%s", cell("rel-latency"))
	}
	if !strings.Contains(cell("rel-journal-days"), `<td>2026-11-30</td><td class="num">`+strconv.Itoa(7)+`</td>`) {
		t.Error("page journal writes lack 7 events on 2026-11-30")
	}
	for _, src := range reliability.Sources {
		if !strings.Contains(page, template(src)) {
			t.Errorf("page does not name the source %q", src)
		}
	}
}

// template is s as html/template writes it in text.
func template(s string) string {
	r := strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "+", "&#43;")
	return r.Replace(s)
}
