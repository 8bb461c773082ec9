package app_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/alert"
	"github.com/tradeplane/tradeplane/internal/app"
)

// childEnv carries a node's configuration to a re-executed test binary.
const childEnv = "TRADEPLANE_TEST_CHILD_NODE"

// childConfig is what a child node runs with.
type childConfig struct {
	DBURL          string        `json:"db"`
	NodeID         string        `json:"node"`
	MasterKey      string        `json:"key"` // hex
	LeaseTTL       time.Duration `json:"ttl"`
	ReconcileEvery time.Duration `json:"reconcile"`
	LogFile        string        `json:"log"`
	// Lag is the consistency lag of Binance and Bybit on the node (0:
	// none, as the fakes show an order at once unless told otherwise);
	// UnknownEvery how often it asks again about unknown orders (0: the
	// default).
	Lag          time.Duration `json:"lag"`
	UnknownEvery time.Duration `json:"unknown"`
	RecvWindow   time.Duration `json:"recv_window"`        // 0: the default, 5 s
	Webhooks     []string      `json:"webhooks,omitempty"` // alert webhook URLs
}

func TestMain(m *testing.M) {
	if raw := os.Getenv(childEnv); raw != "" {
		os.Exit(runChild(raw))
	}
	os.Exit(m.Run())
}

// runChild runs one node until SIGTERM; it prints "READY <url>" once
// serving. A SIGKILL ends it wherever it is, as in production.
func runChild(raw string) int {
	var cc childConfig
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	key, _ := hex.DecodeString(cc.MasterKey)
	var logw io.Writer = io.Discard
	if cc.LogFile != "" {
		if f, err := os.OpenFile(cc.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			logw = f
		}
	}
	var hooks []alert.Webhook
	for i, u := range cc.Webhooks {
		hooks = append(hooks, alert.Webhook{Name: fmt.Sprint("hook", i+1), URL: u})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lag := cc.Lag
	if lag == 0 {
		lag = -1
	}
	a, err := app.New(ctx, app.Config{
		Addr: "127.0.0.1:0", DBURL: cc.DBURL, NodeID: cc.NodeID, MasterKey: key, LeaseTTL: cc.LeaseTTL,
		ReconcileEvery: cc.ReconcileEvery, NoDemoLogin: true, UnknownEvery: cc.UnknownEvery, RecvWindow: cc.RecvWindow,
		Webhooks: hooks,
		// The nodes trade on the loopback fake Binance, which shows an
		// order in its lookup and history as soon as it accepts it unless
		// a test delays it (harness_proc_test.go): its consistency lag is
		// then none, so the certainty rule waits recvWindow only.
		BinanceLag: lag,
		// The fake Bybit shows an order at once too: without this, an
		// order whose request a SIGKILL cut off would wait the default
		// 90 s before it can be proven never executed.
		ConsistencyLag: map[string]time.Duration{"bybit": lag, "bybit-linear": lag},
		Logger:         slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child node:", err)
		return 1
	}
	err = a.Run(ctx, func(url string) { fmt.Printf("READY %s\n", url) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "child node:", err)
		return 1
	}
	return 0
}

// proc is a node running in a child process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// startProc starts a node process and waits until it serves.
func startProc(t *testing.T, cc childConfig) *proc {
	t.Helper()
	p, wait := spawnProc(t, cc)
	wait()
	return p
}

// spawnProc starts a node process; wait waits until it serves (call it
// from the test's goroutine). Several nodes spawned before their waits
// start together.
func spawnProc(t *testing.T, cc childConfig) (p *proc, wait func()) {
	t.Helper()
	raw, _ := json.Marshal(cc)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p = &proc{cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				urls <- u
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.signal(syscall.SIGCONT); p.kill() })
	return p, func() {
		t.Helper()
		select {
		case p.url = <-urls:
		case <-p.done:
			t.Fatalf("node %s exited before serving", cc.NodeID)
		case <-time.After(60 * time.Second):
			t.Fatalf("node %s did not serve within 60 s", cc.NodeID)
		}
	}
}

func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// kill SIGKILLs the node and waits for it to be gone.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// stop asks the node to shut down gracefully.
func (p *proc) stop(t *testing.T) {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Error("node did not stop within 30 s of SIGTERM; killing it")
		p.kill()
	}
}
