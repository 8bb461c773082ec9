package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tradeplane.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// settingLine finds the row of one setting in config check's table.
func settingLine(t *testing.T, out, name string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l
		}
	}
	t.Fatalf("no row for %s in:\n%s", name, out)
	return ""
}

func TestConfigCheckPrecedenceAndMasking(t *testing.T) {
	t.Setenv("TRADEPLANE_ADDR", "127.0.0.1:9999")
	p := writeConfig(t, `# a node
addr: 0.0.0.0:8080
db: postgres://tp:hunter2@db.internal:5432/tradeplane?sslmode=require
lease-ttl: 20s
currency: usdc
heartbeat-url: https://hc-ping.com/5f1b2c3d-secret-uuid
alert-webhook:
  - https://hooks.example.com/T000/B000/XXXXsecret
  - https://other.example.com/hook
log-level: warn
token: tp_supersecrettoken
`)
	r := cli(t, "", "--config", p, "--log-level", "debug", "config", "check").want(t, 0)
	out := r.stdout
	for _, secret := range []string{"hunter2", "secret-uuid", "XXXXsecret", "supersecrettoken", "sslmode"} {
		if strings.Contains(out, secret) {
			t.Errorf("config check shows %q:\n%s", secret, out)
		}
	}
	for name, want := range map[string][]string{
		"addr":               {"127.0.0.1:9999", "env TRADEPLANE_ADDR"}, // env beats file
		"db":                 {"postgres://tp:****@db.internal:5432/tradeplane?****", "file"},
		"lease-ttl":          {"20s", "file"},
		"currency":           {"usdc", "file"},
		"heartbeat-url":      {"https://hc-ping.com/****", "file"},
		"alert-webhook":      {"https://hooks.example.com/****", "https://other.example.com/****", "file"},
		"log-level":          {"debug", "flag"}, // flag beats file
		"token":              {"****", "file"},
		"heartbeat-interval": {"1m0s", "default"},
	} {
		line := settingLine(t, out, name)
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: row %q, want %q", name, line, w)
			}
		}
	}
}

func TestConfigCheckRejects(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "addr: 127.0.0.1:8080\nlistn: x\n", `line 2: unknown setting "listn"`},
		{"bad duration", "lease-ttl: soon\n", `line 1: lease-ttl: "soon" is not valid`},
		{"bad addr", "addr: nowhere\n", `addr "nowhere": want host:port`},
		{"list for one value", "db: [a, b]\n", "line 1: db takes one value"},
		{"twice", "addr: a:1\naddr: b:2\n", "line 2: addr is set twice (first on line 1)"},
		{"not a mapping", "- a\n- b\n", "want a mapping"},
		{"bad yaml", "addr: [\n", "not valid YAML"},
		{"bad heartbeat", "heartbeat-url: ftp://x\n", "--heartbeat-url: want an http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, "", "--config", writeConfig(t, tc.body), "config", "check").want(t, 2)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q, want %q", r.stderr, tc.want)
			}
		})
	}
	cli(t, "", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "config", "check").want(t, 2)
}

// TestServeReadsConfig: serve runs with the database and intervals the
// file names, and a command that has no such flag (balances) ignores the
// serve settings instead of failing.
func TestServeReadsConfig(t *testing.T) {
	t.Setenv("TRADEPLANE_MASTER_KEY", testMasterKey)
	t.Setenv("TRADEPLANE_ADDR", "")
	dbPath := filepath.Join(t.TempDir(), "from-config.db")
	p := writeConfig(t, "db: sqlite:"+dbPath+"\nhealth-interval: 50ms\nlease-ttl: 5s\n")
	base, stop := startServe(t, "--config", p)
	if code, _ := getStatus(t, base+"/readyz"); code != 200 && code != 503 {
		t.Errorf("/readyz %d", code)
	}
	stop()
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("serve did not use the database from the config file: %v", err)
	}
	cli(t, "", "--config", p, "journal", "--json").want(t, 0)
}

// TestExampleConfigChecks: deploy/tradeplane.example.yaml, the file the
// systemd unit reads, passes config check.
func TestExampleConfigChecks(t *testing.T) {
	for _, env := range []string{"TRADEPLANE_DB", "TRADEPLANE_ADDR", "TRADEPLANE_MASTER_KEY_FILE", "TRADEPLANE_LOG_LEVEL"} {
		t.Setenv(env, "")
	}
	r := cli(t, "", "--config", "../../deploy/tradeplane.example.yaml", "config", "check").want(t, 0)
	if line := settingLine(t, r.stdout, "db"); !strings.Contains(line, "sqlite:/var/lib/tradeplane/tradeplane.db") || !strings.Contains(line, "file") {
		t.Errorf("db row %q", line)
	}
	unit, err := os.ReadFile("../../deploy/systemd/tradeplane.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "serve --config /etc/tradeplane/tradeplane.yaml") {
		t.Error("the systemd unit does not read the config file")
	}
}
