package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/polltest"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/watchdog/watchdogtest"
)

const testMasterKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// pushMonitor is a loopback Healthchecks: it records each ping's path and
// body.
type pushMonitor struct {
	*httptest.Server
	mu    sync.Mutex
	pings []string // path + " " + body
}

func newPushMonitor(t *testing.T) *pushMonitor {
	m := &pushMonitor{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.pings = append(m.pings, r.URL.Path+" "+string(b))
		m.mu.Unlock()
		io.WriteString(w, "OK")
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *pushMonitor) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.pings {
		if strings.HasPrefix(p, prefix) {
			n++
		}
	}
	return n
}

func (m *pushMonitor) find(prefix string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pings {
		if strings.HasPrefix(p, prefix) {
			return p
		}
	}
	return ""
}

// eventually polls cond until it holds, for up to within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, within, what, cond)
}

var servingRE = regexp.MustCompile(`serving on (http://\S+)`)

// startServe runs `tradeplane serve` in-process until the test ends and
// returns its base URL.
func startServe(t *testing.T, args ...string) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- execCLI(ctx, "", &out, &errb, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d\nstderr:\n%s", code, errb.String())
			}
		case <-time.After(60 * time.Second):
			t.Errorf("serve did not stop within 60s")
		}
	}
	t.Cleanup(stop)
	eventually(t, 60*time.Second, "serve to print its URL (stderr: see below)", func() bool {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited %d before serving\nstderr:\n%s", code, errb.String())
		default:
		}
		return servingRE.MatchString(out.String())
	})
	return servingRE.FindStringSubmatch(out.String())[1], stop
}

func getStatus(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestServeNotifiesSystemd: serve tells a fake systemd READY=1 once it
// serves, then WATCHDOG=1 every health interval, pings the push monitor,
// answers /readyz 200, and says STOPPING=1 on the way out.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := watchdogtest.ListenNotify(t)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("TRADEPLANE_MASTER_KEY", testMasterKey)
	hc := newPushMonitor(t)
	base, stop := startServe(t, "--db", storetest.SQLiteURL(t), "--health-interval", "50ms",
		"--heartbeat-url", hc.URL+"/ping/uuid-1", "--heartbeat-interval", "1s")
	eventually(t, 20*time.Second, "READY=1 and 3 watchdog pings", func() bool {
		return sock.Count("READY=1") == 1 && sock.Count("WATCHDOG=1") >= 3
	})
	eventually(t, 20*time.Second, "a heartbeat", func() bool { return hc.count("/ping/uuid-1 healthy") >= 1 })
	if code, body := getStatus(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz %d %v, want 200", code, body)
	}
	if code, body := getStatus(t, base+"/healthz"); code != 200 || body["ready"] != "true" {
		t.Errorf("/healthz %d %v, want 200 and ready", code, body)
	}
	if r := cli(t, "", "probe", "--url", base+"/readyz").want(t, 0); !strings.Contains(r.stdout, `"ready"`) {
		t.Errorf("probe printed %q", r.stdout)
	}
	stop()
	cli(t, "", "probe", "--url", base+"/readyz").want(t, 1) // stopped: nothing answers
	if n := sock.Count("STOPPING=1"); n != 1 {
		t.Errorf("STOPPING=1 sent %d times, want once", n)
	}
	if n := hc.count("/ping/uuid-1/fail"); n != 0 {
		t.Errorf("a graceful stop reported %d failures to the push monitor: %q", n, hc.find("/ping/uuid-1/fail"))
	}
}

// cutProxy forwards TCP to target until Cut, which closes every
// connection and refuses new ones: a database that went away.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { p.Cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
}

// TestServeStopsWatchdogWhenStoreGoes: with the database cut off, serve
// stops its watchdog pings (so systemd restarts it after WatchdogSec),
// reports /fail with the reason to the push monitor, and answers /readyz
// 503 while /healthz (liveness) stays 200.
func TestServeStopsWatchdogWhenStoreGoes(t *testing.T) {
	pgURL := storetest.PostgresURL(t) // skips without TRADEPLANE_TEST_POSTGRES
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()

	sock := watchdogtest.ListenNotify(t)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("TRADEPLANE_MASTER_KEY", testMasterKey)
	hc := newPushMonitor(t)
	base, _ := startServe(t, "--db", u.String(), "--node-id", "watchdog-test", "--health-interval", "50ms",
		"--heartbeat-url", hc.URL+"/ping/uuid-2", "--heartbeat-interval", "1s", "--lease-ttl", "3s")
	eventually(t, 20*time.Second, "READY=1 and 3 watchdog pings", func() bool {
		return sock.Count("READY=1") == 1 && sock.Count("WATCHDOG=1") >= 3
	})

	proxy.Cut()
	unhealthy := func() int {
		n := 0
		for _, m := range sock.Messages() {
			if strings.HasPrefix(m, "STATUS=unhealthy: store: ") {
				n++
			}
		}
		return n
	}
	eventually(t, 20*time.Second, "an unhealthy STATUS", func() bool { return unhealthy() >= 1 })
	// Datagrams arrive in the order sent: every ping sent before the first
	// unhealthy round has been read by now.
	pings := sock.Count("WATCHDOG=1")
	eventually(t, 20*time.Second, "a /fail heartbeat", func() bool { return hc.count("/ping/uuid-2/fail ") >= 1 })
	if p := hc.find("/ping/uuid-2/fail "); !strings.Contains(p, "store: database does not answer") {
		t.Errorf("fail ping %q, want the store check and its reason", p)
	}
	eventually(t, 20*time.Second, "twenty more unhealthy rounds", func() bool { return unhealthy() >= 21 })
	if got := sock.Count("WATCHDOG=1"); got != pings {
		t.Fatalf("watchdog pings went on with the store gone: %d, then %d", pings, got)
	}
	if code, body := getStatus(t, base+"/readyz"); code != 503 || !strings.Contains(body["reason"].(string), "store") {
		t.Errorf("/readyz %d %v, want 503 naming the store", code, body)
	}
	if code, body := getStatus(t, base+"/healthz"); code != 200 || body["ready"] != "false" {
		t.Errorf("/healthz %d %v, want 200 (alive) and ready false", code, body)
	}
}
