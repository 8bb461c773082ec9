package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
)

// benchCluster is what `tradeplane-bench cluster` runs with.
type benchCluster struct {
	db          string
	tradeplane  string // the node binary
	nodes       int
	sessions    int
	perAccount  int
	interval    time.Duration
	ttl         time.Duration
	idleTimeout time.Duration
	keepLogs    bool
}

func newClusterCmd() *cobra.Command {
	b := benchCluster{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Sessions per node and failover time of several nodes on PostgreSQL",
		Long: `Starts --nodes processes of the tradeplane binary named by --tradeplane
("serve --node-id --lease-ttl") on a fresh
schema of the PostgreSQL database named by --db (dropped afterwards), a loopback
fake Binance account per --per-account sessions in this process, and --sessions
DCA sessions stepping every --interval. It waits until every session trades and
the sessions are spread, SIGKILLs one node and reports the sessions per node
before and after and the failover time: from the kill until each orphaned
session places an order again (p50, max). Sessions trade on the fake's
loopback only; nothing reaches a real venue.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !strings.HasPrefix(b.db, "postgres://") && !strings.HasPrefix(b.db, "postgresql://") {
				return usagef("--db must name a PostgreSQL database (postgres://...): several nodes share one")
			}
			if b.nodes < 2 || b.sessions <= 0 || b.perAccount <= 0 || b.ttl <= 0 || b.interval <= 0 {
				return usagef("--nodes must be at least 2; --sessions, --per-account, --ttl and --interval positive")
			}
			exe, err := nodeBinary(b.tradeplane)
			if err != nil {
				return err
			}
			return b.run(cmd.Context(), exe, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&b.db, "db", os.Getenv("TRADEPLANE_DB"), "PostgreSQL database the nodes share (postgres://...; default $TRADEPLANE_DB)")
	f.StringVar(&b.tradeplane, "tradeplane", "", "the tradeplane binary the nodes run (default: tradeplane beside this binary, else on $PATH)")
	f.IntVar(&b.nodes, "nodes", 3, "node processes")
	f.IntVar(&b.sessions, "sessions", 300, "DCA sessions")
	f.IntVar(&b.perAccount, "per-account", 20, "sessions per fake Binance account (the nodes pace orders at 50 per 10 s per account)")
	f.DurationVar(&b.interval, "interval", 5*time.Second, "DCA step interval")
	f.DurationVar(&b.ttl, "ttl", 5*time.Second, "lease TTL of the nodes (--lease-ttl)")
	f.DurationVar(&b.idleTimeout, "idle-tx-timeout", 2*time.Second, "PostgreSQL idle_in_transaction_session_timeout of the nodes' connections; 0 leaves the server's")
	f.BoolVar(&b.keepLogs, "keep-logs", false, "keep the nodes' logs (their directory is printed)")
	return cmd
}

// benchNode is one node process.
type benchNode struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{}
}

// nodeBinary is the tradeplane binary the nodes run: path when given, else
// tradeplane in this binary's directory, else tradeplane on $PATH.
func nodeBinary(path string) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", usagef("--tradeplane: %v", err)
		}
		return path, nil
	}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), "tradeplane")
		if st, err := os.Stat(beside); err == nil && !st.IsDir() {
			return beside, nil
		}
	}
	p, err := exec.LookPath("tradeplane")
	if err != nil {
		return "", usagef("no tradeplane binary beside this one or on $PATH: build it (go build ./cmd/tradeplane) and pass --tradeplane PATH")
	}
	return p, nil
}

func (b benchCluster) run(ctx context.Context, exe string, out io.Writer) error {
	base := b.db
	// A fresh schema: the bench never touches the database's own tables.
	var rb [6]byte
	rand.Read(rb[:])
	schema := "tp_bench_" + hex.EncodeToString(rb[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return fmt.Errorf("open %s: %w", base, err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		return describeDBError(fmt.Errorf("create schema %s: %w", schema, err))
	}
	defer admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	u, err := url.Parse(base)
	if err != nil {
		return usagef("--db: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if b.idleTimeout > 0 {
		q.Set("idle_in_transaction_session_timeout", fmt.Sprint(b.idleTimeout.Milliseconds()))
	}
	u.RawQuery = q.Encode()
	dbURL := u.String()

	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return describeDBError(err)
	}
	defer db.Close()
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	box, err := secrets.New(key)
	if err != nil {
		return err
	}

	// Fake Binance accounts and the sessions on them.
	var all []string
	params, _ := json.Marshal(map[string]any{"symbol": "BTCUSDT", "quote_amount": "20", "interval": b.interval.String()})
	mgr, err := session.New(session.Options{Store: db, Accounts: session.AccountsFunc(func(context.Context, int64) (session.Account, error) {
		return session.Account{}, fmt.Errorf("the bench process runs no session")
	})})
	if err != nil {
		return err
	}
	defer mgr.Close()
	var fakes []*binancetest.Server
	defer func() {
		for _, f := range fakes {
			f.Close()
		}
	}()
	for i := 0; len(all) < b.sessions; i++ {
		fake := binancetest.New(binancetest.Config{WeightLimit: 1_000_000, OrderLimit10s: 100_000, OrderLimitDay: 10_000_000})
		fakes = append(fakes, fake)
		fake.SetPrice("BTCUSDT", udecimal.MustParse("30000"))
		fake.Fund(venue.WalletSpot, "USDT", udecimal.MustParse("100000000"))
		sealed, err := box.Seal([]byte(fake.APISecret()))
		if err != nil {
			return err
		}
		acct := &store.Account{Name: fmt.Sprintf("bench%02d", i), Venue: "binance", BaseURL: fake.URL, APIKey: fake.APIKey(), APISecretEnc: sealed}
		if err := db.CreateAccount(ctx, acct); err != nil {
			return err
		}
		for j := 0; j < b.perAccount && len(all) < b.sessions; j++ {
			s, err := mgr.Create(ctx, session.Spec{Name: fmt.Sprintf("bench-%02d-%03d", i, j), Strategy: "dca", AccountID: acct.ID,
				Symbols: []string{"BTCUSDT"}, Params: params}, "bench")
			if err != nil {
				return err
			}
			all = append(all, s.ID)
		}
	}

	// Node processes of the tradeplane binary.
	logDir, err := os.MkdirTemp("", "tradeplane-bench-cluster-")
	if err != nil {
		return err
	}
	if !b.keepLogs {
		defer os.RemoveAll(logDir)
	} else {
		fmt.Fprintf(out, "node logs in %s\n", logDir)
	}
	var nodes []*benchNode
	defer func() {
		for _, n := range nodes {
			n.cmd.Process.Kill()
			<-n.done
		}
	}()
	for i := range b.nodes {
		n, err := b.startNode(ctx, exe, dbURL, hex.EncodeToString(key), fmt.Sprintf("bench-node-%d", i), logDir)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	// Every node serves before the sessions should run, so they share them
	// from the first heartbeat.
	created := time.Now()
	for _, id := range all {
		if err := db.SetSessionDesired(ctx, id, "running", created); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%d nodes, %d sessions on %d fake Binance accounts, DCA every %s, lease TTL %s\n", b.nodes, len(all), len(fakes), b.interval, b.ttl)

	if err := pollUntil(ctx, 2*time.Minute, func() (bool, error) {
		own, err := leaseOwners(ctx, db)
		if err != nil {
			return false, err
		}
		total := 0
		for _, ids := range own {
			total += len(ids)
		}
		if total < len(all) || len(own) < b.nodes {
			return false, nil
		}
		last, err := lastIntents(ctx, db)
		if err != nil {
			return false, err
		}
		for _, id := range all {
			if !last[id].After(created) {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return fmt.Errorf("sessions not spread and trading: %w", err)
	}
	own, err := leaseOwners(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "spread and trading after %s; sessions per node: %s\n", time.Since(created).Round(100*time.Millisecond), perNode(own))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.interval):
	}

	victim := nodes[0]
	orphans := own[victim.id]
	killed := time.Now()
	victim.cmd.Process.Kill()
	<-victim.done
	delays := map[string]time.Duration{}
	if err := pollUntil(ctx, b.ttl+2*time.Minute, func() (bool, error) {
		evs, err := db.JournalEvents(ctx, store.EventQuery{Kind: string(journal.KindIntent), From: killed, Ascending: true, Limit: 10000})
		if err != nil {
			return false, err
		}
		for _, e := range evs {
			if _, ok := delays[e.SessionID]; !ok && e.At.After(killed) {
				delays[e.SessionID] = e.At.Sub(killed)
			}
		}
		for _, id := range orphans {
			if _, ok := delays[id]; !ok {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return fmt.Errorf("orphaned sessions not trading again: %w", err)
	}
	var ds []time.Duration
	for _, id := range orphans {
		ds = append(ds, delays[id])
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	after, err := leaseOwners(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "SIGKILL %s (%d sessions): every orphaned session trading again after %s (p50 %s, max %s; TTL %s, DCA interval %s)\n",
		victim.id, len(orphans), ds[len(ds)-1].Round(10*time.Millisecond), ds[len(ds)/2].Round(10*time.Millisecond),
		ds[len(ds)-1].Round(10*time.Millisecond), b.ttl, b.interval)
	fmt.Fprintf(out, "sessions per node after: %s\n", perNode(after))

	// Graceful stop of the survivors.
	for _, n := range nodes[1:] {
		n.cmd.Process.Signal(os.Interrupt)
	}
	for _, n := range nodes[1:] {
		select {
		case <-n.done:
		case <-time.After(30 * time.Second):
			n.cmd.Process.Kill()
			<-n.done
		}
	}
	return nil
}

func (b benchCluster) startNode(ctx context.Context, exe, dbURL, key, id, logDir string) (*benchNode, error) {
	logf, err := os.Create(filepath.Join(logDir, id+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "serve", "--db", dbURL, "--addr", "127.0.0.1:0", "--node-id", id, "--lease-ttl", b.ttl.String(), "--log-format", "text")
	cmd.Env = append(os.Environ(), "TRADEPLANE_MASTER_KEY="+key)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start node %s: %w", id, err)
	}
	n := &benchNode{id: id, cmd: cmd, done: make(chan struct{})}
	serving := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), " serving on ") {
				serving <- struct{}{}
			}
		}
	}()
	go func() { cmd.Wait(); logf.Close(); close(n.done) }()
	select {
	case <-serving:
		return n, nil
	case <-n.done:
		return nil, fmt.Errorf("node %s exited before serving; see %s", id, logf.Name())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-n.done
		return nil, fmt.Errorf("node %s did not serve within 60 s", id)
	case <-ctx.Done():
		cmd.Process.Kill()
		<-n.done
		return nil, ctx.Err()
	}
}

// pollUntil polls ok every 500 ms until it holds, fails, or within passes.
func pollUntil(ctx context.Context, within time.Duration, ok func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// leaseOwners maps each node to the sessions whose unexpired lease it holds.
func leaseOwners(ctx context.Context, db *store.DB) (map[string][]string, error) {
	ls, err := db.Leases(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := map[string][]string{}
	for _, l := range ls {
		if l.NodeID != "" && l.ExpiresAt.After(now) {
			out[l.NodeID] = append(out[l.NodeID], l.SessionID)
		}
	}
	return out, nil
}

// lastIntents returns each session's newest intent time.
func lastIntents(ctx context.Context, db *store.DB) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	var after int64
	for {
		evs, err := db.JournalEvents(ctx, store.EventQuery{Kind: string(journal.KindIntent), AfterSeq: after, Ascending: true, Limit: 10000})
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if e.At.After(out[e.SessionID]) {
				out[e.SessionID] = e.At
			}
		}
		if len(evs) < 10000 {
			return out, nil
		}
		after = evs[len(evs)-1].Seq
	}
}

func perNode(own map[string][]string) string {
	ids := make([]string, 0, len(own))
	for id := range own {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%s=%d", id, len(own[id])))
	}
	return strings.Join(parts, " ")
}
