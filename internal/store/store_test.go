package store_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

var ctx = context.Background()

func dec(s string) udecimal.Decimal { return udecimal.MustParse(s) }

// TestConformance runs one suite against every engine.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			for name, fn := range suite {
				t.Run(name, func(t *testing.T) {
					db := storetest.Open(t, eng.URL(t))
					fn(t, db)
				})
			}
		})
	}
}

var suite = map[string]func(t *testing.T, db *store.DB){
	"accounts": func(t *testing.T, db *store.DB) {
		a := &store.Account{Name: "main", Venue: "paper", Tags: []string{"desk-a"}, APISecretEnc: []byte{1, 2, 3}}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if a.ID == 0 {
			t.Fatal("no id assigned")
		}
		if err := db.CreateAccount(ctx, &store.Account{Name: "main", Venue: "paper"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: got %v, want ErrConflict", err)
		}
		got, err := db.Account(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		if got.Venue != "paper" || len(got.Tags) != 1 || got.Tags[0] != "desk-a" || string(got.APISecretEnc) != "\x01\x02\x03" {
			t.Fatalf("got %+v", got)
		}
		if _, err := db.Account(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: got %v, want ErrNotFound", err)
		}
		// An account with a fill stays, and the error says why (it said
		// "already exists").
		kept := &store.Account{Name: "kept", Venue: "paper"}
		if err := db.CreateAccount(ctx, kept); err != nil {
			t.Fatal(err)
		}
		if _, err := db.InsertFill(ctx, store.Fill{AccountID: kept.ID, Symbol: "BTCUSDT", TradeID: "1", Side: "buy",
			FeeAsset: "USDT", Source: "import", At: time.Unix(1, 0)}); err != nil {
			t.Fatal(err)
		}
		err = db.DeleteAccount(ctx, "kept")
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "orders or fills") || strings.Contains(err.Error(), "already exists") {
			t.Fatalf("delete an account with a fill: got %v, want ErrConflict saying what keeps it", err)
		}
		if err := db.DeleteAccount(ctx, "main"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteAccount(ctx, "main"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: got %v", err)
		}
	},
	"balances are exact": func(t *testing.T, db *store.DB) {
		a := &store.Account{Name: "whale", Venue: "paper"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		big := dec("1000000000000000.12345678") // a memecoin balance
		now := time.Now().UTC().Truncate(time.Microsecond)
		err := db.ReplaceWallet(ctx, a.ID, "spot", []store.Balance{
			{Asset: "PEPE", Free: big, Locked: dec("0.00000001"), Borrowed: dec("0")},
			{Asset: "USDT", Free: dec("12.5"), Locked: dec("0"), Borrowed: dec("0")},
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		bals, err := db.Balances(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(bals) != 2 || !bals[0].Free.Equal(big) || bals[0].Free.String() != "1000000000000000.12345678" {
			t.Fatalf("got %+v", bals)
		}
		if !bals[0].Locked.Equal(dec("0.00000001")) || !bals[0].UpdatedAt.Equal(now) {
			t.Fatalf("got %+v", bals[0])
		}
		// A second full read replaces the first.
		if err := db.ReplaceWallet(ctx, a.ID, "spot", []store.Balance{{Asset: "USDT", Free: dec("1"), Locked: dec("0"), Borrowed: dec("0")}}, now); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkWalletFailed(ctx, a.ID, "futures-usdm", "venue unavailable", now); err != nil {
			t.Fatal(err)
		}
		bals, _ = db.Balances(ctx, 0)
		if len(bals) != 1 || bals[0].Asset != "USDT" {
			t.Fatalf("after replace got %+v", bals)
		}
		st, err := db.WalletStatuses(ctx)
		if err != nil || len(st) != 2 || st[0].Wallet != "futures-usdm" || st[0].Status != "error" || st[1].Status != "ok" {
			t.Fatalf("statuses %+v %v", st, err)
		}
	},
	"collateral ratios are versioned": func(t *testing.T, db *store.DB) {
		now := time.Now().UTC()
		r1, r2 := dec("0.9"), dec("0.85")
		v1, err := db.SetCollateralRatio(ctx, "", "BTC", &r1, "alice", now)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := db.SetCollateralRatio(ctx, "", "BTC", &r2, "bob", now)
		if err != nil {
			t.Fatal(err)
		}
		if v2 <= v1 {
			t.Fatalf("versions %d then %d", v1, v2)
		}
		rs, _ := db.CollateralRatios(ctx)
		if len(rs) != 1 || !rs[0].Ratio.Equal(dec("0.85")) || rs[0].Version != v2 || rs[0].UpdatedBy != "bob" {
			t.Fatalf("ratios %+v", rs)
		}
		ch, _ := db.CollateralChanges(ctx, 10)
		if len(ch) != 2 || ch[0].OldRatio != "0.9" || ch[0].NewRatio != "0.85" || ch[1].OldRatio != "" {
			t.Fatalf("changes %+v", ch)
		}
		if _, err := db.SetCollateralRatio(ctx, "", "BTC", nil, "carol", now); err != nil {
			t.Fatal(err)
		}
		if rs, _ := db.CollateralRatios(ctx); len(rs) != 0 {
			t.Fatalf("override not removed: %+v", rs)
		}
		asc, _ := db.CollateralChangesAsc(ctx)
		if len(asc) != 3 || asc[2].NewRatio != "" || asc[2].OldRatio != "0.85" || asc[0].Version >= asc[1].Version {
			t.Fatalf("ascending changes %+v", asc)
		}
	},
	"equity snapshots upsert": func(t *testing.T, db *store.DB) {
		t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		s := store.EquitySnapshot{Scope: "total", Source: "live", At: t0, Equity: dec("100.5"), Collateral: dec("90"), Realized: dec("1"), Unrealized: dec("-0.25")}
		if err := db.UpsertEquitySnapshots(ctx, []store.EquitySnapshot{s}); err != nil {
			t.Fatal(err)
		}
		s.Equity = dec("101")
		if err := db.UpsertEquitySnapshots(ctx, []store.EquitySnapshot{s}); err != nil {
			t.Fatal(err)
		}
		got, err := db.EquitySnapshots(ctx, "total", "live", t0, t0.Add(time.Hour))
		if err != nil || len(got) != 1 || !got[0].Equity.Equal(dec("101")) || !got[0].Unrealized.Equal(dec("-0.25")) {
			t.Fatalf("got %+v %v", got, err)
		}
		if err := db.InsertPriceSnapshots(ctx, []store.PriceSnapshot{{Symbol: "BTCUSDT", At: t0, Price: dec("42000.01")}}); err != nil {
			t.Fatal(err)
		}
		if err := db.InsertPriceSnapshots(ctx, []store.PriceSnapshot{{Symbol: "BTCUSDT", At: t0.Add(time.Second), Price: dec("42001")}, {Symbol: "ETHUSDT", At: t0, Price: dec("3000")}}); err != nil {
			t.Fatal(err)
		}
		if lp, err := db.LatestPrices(ctx); err != nil || len(lp) != 2 || !lp[0].Price.Equal(dec("42001")) {
			t.Fatalf("latest prices %+v %v", lp, err)
		}
		p, err := db.PriceAt(ctx, "BTCUSDT", t0.Add(time.Minute/2))
		if err != nil || !p.Price.Equal(dec("42001")) {
			t.Fatalf("price %+v %v", p, err)
		}
		if _, err := db.PriceAt(ctx, "BTCUSDT", t0.Add(-time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("price before first: %v", err)
		}
	},
	"jobs tokens audit alerts": func(t *testing.T, db *store.DB) {
		now := time.Now().UTC()
		if err := db.CreateJob(ctx, store.Job{ID: "j1", Kind: "backfill", State: "queued", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateJob(ctx, store.Job{ID: "j1", State: "running", Done: 5, Total: 10, Checkpoint: `{"BTCUSDT":7}`, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		j, err := db.Job(ctx, "j1")
		if err != nil || j.State != "running" || j.Done != 5 || j.Checkpoint != `{"BTCUSDT":7}` {
			t.Fatalf("job %+v %v", j, err)
		}
		if js, _ := db.JobsInState(ctx, "running"); len(js) != 1 {
			t.Fatalf("running jobs %+v", js)
		}
		if err := db.CreateToken(ctx, store.Token{ID: "t1", Role: "admin", Hash: "h1", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if tok, err := db.TokenByHash(ctx, "h1"); err != nil || tok.Role != "admin" {
			t.Fatalf("token %+v %v", tok, err)
		}
		if err := db.RevokeToken(ctx, "t1", now); err != nil {
			t.Fatal(err)
		}
		if tok, _ := db.TokenByHash(ctx, "h1"); tok.RevokedAt.IsZero() {
			t.Fatal("revoke not stored")
		}
		for i := 0; i < 3; i++ {
			if err := db.Audit(ctx, store.AuditEntry{At: now, Actor: "alice", Action: "session.start", Target: "s1", Remote: "127.0.0.1"}); err != nil {
				t.Fatal(err)
			}
		}
		page1, _ := db.AuditLog(ctx, 0, 2)
		page2, _ := db.AuditLog(ctx, page1[1].ID, 2)
		if len(page1) != 2 || len(page2) != 1 || page2[0].ID >= page1[1].ID {
			t.Fatalf("audit pages %+v %+v", page1, page2)
		}
		id, err := db.InsertAlert(ctx, store.Alert{At: now, Severity: "critical", Source: "journal", Message: "order x failed"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AckAlert(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		as, _ := db.Alerts(ctx, 0, 10)
		if len(as) != 1 || as[0].AckedAt.IsZero() {
			t.Fatalf("alerts %+v", as)
		}
	},
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		want string
	}{
		{"", "empty"},
		{"mysql://x", "unknown scheme"},
		{"sqlite:", "missing file path"},
		{"postgres://", "missing host"},
		{"sqlite:/no/such/dir/x.db", "does not exist"},
	}
	for _, c := range cases {
		_, err := store.Open(ctx, c.url, store.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want error containing %q", c.url, err, c.want)
		}
	}
	// Unreachable PostgreSQL: a closed port on loopback.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := store.Open(cctx, "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", store.Options{})
	var ue *store.UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("unreachable postgres: got %v", err)
	}
}

// TestOpenMustExist: a command that only reads refuses a SQLite file that
// is not there, and leaves none behind; an existing file and an in-memory
// database open.
func TestOpenMustExist(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.db")
	_, err := store.Open(ctx, "sqlite:"+path, store.Options{MustExist: true})
	var nd *store.NoDatabaseError
	if !errors.As(err, &nd) || nd.Path != path {
		t.Fatalf("missing file: got %v, want *NoDatabaseError naming %s", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused open left %s behind (%v)", path, err)
	}
	db, err := store.Open(ctx, "sqlite:"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, url := range []string{"sqlite:" + path, "sqlite::memory:"} {
		db, err := store.Open(ctx, url, store.Options{MustExist: true})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		db.Close()
	}
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	url := storetest.SQLiteURL(t)
	db := storetest.Open(t, url)
	_, known, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Pretend a newer binary migrated this database.
	if err := db.ExecForTest(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, TRUE)`, known+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = store.Open(ctx, url, store.Options{})
	var tn *store.SchemaTooNewError
	if !errors.As(err, &tn) || tn.Database != known+1 {
		t.Fatalf("got %v, want SchemaTooNewError", err)
	}
}

// TestKillLosesNoCommittedRow commits rows from a child process, SIGKILLs it
// mid-stream, and checks that every row it reported committed is there.
func TestKillLosesNoCommittedRow(t *testing.T) {
	if os.Getenv("STORE_KILL_CHILD") != "" {
		killChild()
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kill.db")
	db := storetest.Open(t, "sqlite:"+path)
	a := &store.Account{Name: "acct", Venue: "paper"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillLosesNoCommittedRow$")
	cmd.Env = append(os.Environ(), "STORE_KILL_CHILD=sqlite:"+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	var acked string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n, err := out.Read(buf)
		acked += string(buf[:n])
		if strings.Count(acked, "\n") >= 200 || err != nil {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	lines := strings.Split(strings.TrimSpace(acked), "\n")
	if len(lines) < 200 {
		t.Fatalf("child committed only %d rows before the deadline", len(lines))
	}
	db2 := storetest.Open(t, "sqlite:"+path)
	alerts, err := db2.Alerts(ctx, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, a := range alerts {
		have[a.Message] = true
	}
	for _, l := range lines {
		if l != "" && strings.HasPrefix(l, "row-") && !have[l] {
			t.Fatalf("row %s was reported committed but is missing after kill -9", l)
		}
	}
	t.Logf("%d committed rows all present after SIGKILL (%d stored)", len(lines), len(alerts))
}

func killChild() {
	db, err := store.Open(ctx, os.Getenv("STORE_KILL_CHILD"), store.Options{})
	if err != nil {
		panic(err)
	}
	for i := 0; ; i++ {
		msg := "row-" + strings.Repeat("x", i%7) + time.Now().Format("150405.000000000")
		if _, err := db.InsertAlert(ctx, store.Alert{At: time.Now(), Severity: "info", Source: "test", Message: msg}); err != nil {
			panic(err)
		}
		os.Stdout.WriteString(msg + "\n")
	}
}
