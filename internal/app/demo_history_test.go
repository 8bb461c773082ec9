package app_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestDemoStartsWithHistory starts the demo on a fresh store and checks
// that, after /healthz already answers, the replayed history fills in:
// the desk equity the overview charts spans 30 days, and every demo
// session's page shows replayed fills as history rows and charts its
// replayed hourly PnL.
func TestDemoStartsWithHistory(t *testing.T) {
	t.Parallel()
	n := startNode(t, app.Config{DBURL: storetest.SQLiteURL(t), Demo: true, DataDir: ""})
	if code := n.do(t, "GET", "/healthz", nil, nil, nil); code != http.StatusOK {
		t.Fatalf("/healthz: %d before history", code)
	}
	now := time.Now().UTC()
	q := "/api/v1/pnl?scope=desk&interval=1h&from=" + url.QueryEscape(now.Add(-30*24*time.Hour).Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339))
	var hist []server.EquityPoint
	var rep server.PnLReport
	eventually(t, 120*time.Second, "30 days of replayed desk equity", func() bool {
		rep = server.PnLReport{}
		if code := n.do(t, "GET", q, nil, nil, &rep); code != http.StatusOK {
			t.Fatalf("GET %s: %d", q, code)
		}
		hist = hist[:0]
		for _, p := range rep.Equity {
			if p.Source == app.HistorySource {
				hist = append(hist, p)
			}
		}
		return len(hist) > 0
	})
	span := hist[len(hist)-1].At.Sub(hist[0].At)
	if len(hist) < 29*24 || span < 29*24*time.Hour {
		t.Fatalf("history has %d hourly points over %s; want 30 days", len(hist), span)
	}
	// Its hourly averages say they are replayed history, up to the hour
	// the live snapshots begin in.
	histAvg := 0
	for _, a := range rep.Averages {
		if a.History {
			histAvg++
		}
	}
	if last := rep.Averages[len(rep.Averages)-1]; histAvg < 29*24 || last.History {
		t.Errorf("%d of %d hourly averages marked history (want 30 days' worth), the current hour's: %v (want live)", histAvg, len(rep.Averages), last.History)
	}
	// The overview's equity chart draws them, one titled point an hour,
	// once the progress note is gone.
	var overview string
	eventually(t, 30*time.Second, "the overview without the history progress note", func() bool {
		overview = n.page(t, "/")
		return !strings.Contains(overview, `id="history-progress"`)
	})
	chart := overview[strings.Index(overview, `id="overview-equity"`):]
	chart = chart[:strings.Index(chart, "</svg>")]
	if pts := strings.Count(chart, " · replayed history</title>"); pts < 29*24 {
		t.Fatalf("the overview equity chart has %d replayed history points; want 30 days of hourly points", pts)
	}
	var list struct {
		Sessions []struct{ ID, Name string }
	}
	if code := n.do(t, "GET", "/api/v1/sessions", nil, nil, &list); code != http.StatusOK {
		t.Fatalf("sessions: %d", code)
	}
	sessions := list.Sessions
	withHistory := 0
	for _, s := range sessions {
		page := n.page(t, "/sessions/"+s.ID)
		if strings.Contains(page, "replayed history: a fill of "+s.Name) {
			withHistory++
		}
		// Its PnL chart draws the replayed hours of the last 7 days.
		m := regexp.MustCompile(`id="chart-session-pnl"[^>]* data-points="(\d+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("session page of %s has no PnL chart", s.Name)
		}
		if pts, _ := strconv.Atoi(m[1]); pts < 6*24 {
			t.Errorf("the PnL chart of %s has %s points; want the replayed hours of the last 7 days", s.Name, m[1])
		}
	}
	if withHistory != len(sessions) || withHistory == 0 {
		t.Fatalf("%d of %d session pages show replayed history rows; want all", withHistory, len(sessions))
	}
}

// page GETs a page with the node's token and returns its HTML.
func (n *node) page(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", n.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(body)
}
