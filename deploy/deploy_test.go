package deploy_test

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/watchdog"
)

// tool finds a command or skips; .ci/run installs every one of them.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (.ci/run installs it): %v", name, err)
	}
	return p
}

func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze := tool(t, "systemd-analyze")
	unit, err := os.ReadFile("systemd/tradeplane.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "Restart=always", "DynamicUser=yes", "StateDirectory=tradeplane",
		"ProtectSystem=strict", "NoNewPrivileges=yes", "ExecStart=/usr/local/bin/tradeplane serve"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// verify wants ExecStart's binary to exist: point it at one that does.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "tradeplane.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/tradeplane", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// verify exits 0 on a mistyped value and only prints it: any output is
	// a finding.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every alerting rule has a unit test.
	rules := readYAML(t, "prometheus/rules.yml")
	tests, err := os.ReadFile("prometheus/rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			name := r.(map[string]any)["alert"].(string)
			if !strings.Contains(string(tests), "alertname: "+name+"\n") {
				t.Errorf("alert %s has no test in rules_test.yml", name)
			}
		}
	}
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

var metricRE = regexp.MustCompile(`\b(tradeplane_[a-z0-9_]+|process_[a-z0-9_]+)`)

// query is one PromQL expression of a rule or a dashboard panel.
type query struct{ where, expr string }

// usedQueries lists the expressions of the rules and the dashboard.
func usedQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	rules := readYAML(t, "prometheus/rules.yml")
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			r := r.(map[string]any)
			qs = append(qs, query{"rule " + r["alert"].(string), r["expr"].(string)})
		}
	}
	raw, err := os.ReadFile("grafana/tradeplane.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana/tradeplane.json: %v", err)
	}
	if len(dash.Panels) < 10 {
		t.Fatalf("dashboard has %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			qs = append(qs, query{"panel " + p.Title, tg.Expr})
		}
	}
	return qs
}

// baseName strips a histogram's series suffix.
func baseName(m string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		m = strings.TrimSuffix(m, suf)
	}
	return m
}

// usedMetrics lists the metric names the rules and the dashboard query.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, q := range usedQueries(t) {
		for _, m := range metricRE.FindAllString(q.expr, -1) {
			used[baseName(m)] = append(used[baseName(m)], q.where)
		}
	}
	return used
}

// vecDefined reports whether name is a labelled metric (a *Vec, exposed
// only once a label value is seen) defined in the code under internal/.
func vecDefined(t *testing.T, name string) bool {
	t.Helper()
	found := false
	filepath.WalkDir("../internal", func(p string, d fs.DirEntry, err error) error {
		if err != nil || found || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		src, _ := os.ReadFile(p)
		i := strings.Index(string(src), `"`+name+`"`)
		if i < 0 {
			return nil
		}
		before := string(src[max(0, i-200):i])
		found = strings.Contains(before, "NewCounterVec") || strings.Contains(before, "NewHistogramVec") || strings.Contains(before, "NewGaugeVec")
		return nil
	})
	return found
}

// TestRulesUseRealMetrics scrapes a real node's /metrics and checks that
// every metric a rule or a dashboard panel uses is served; a labelled
// metric that has seen no label value yet must at least be defined.
func TestRulesUseRealMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := app.New(ctx, app.Config{Addr: "127.0.0.1:0", DBURL: storetest.SQLiteURL(t), Currency: "USDT"})
	if err != nil {
		t.Fatal(err)
	}
	// serve registers the watchdog's metrics on the node's registry.
	if _, err := watchdog.New(watchdog.Config{Checks: a.HealthChecks(), Registerer: a.Registerer(), WatchdogInterval: -1}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			served[f[2]] = true
		}
	}
	used := usedMetrics(t)
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch {
		case served[n]:
		case vecDefined(t, n):
			t.Logf("%s: labelled, not yet observed on an idle node; defined in internal/", n)
		default:
			t.Errorf("%s (used by %s) is not served by /metrics", n, strings.Join(used[n], ", "))
		}
	}
	for _, must := range []string{"tradeplane_health_ok", "tradeplane_sessions_quarantined", "tradeplane_orders_unknown_oldest_seconds",
		"tradeplane_prices_stale", "tradeplane_backfill_progress_age_seconds", "tradeplane_cluster_lease_changes_total",
		"tradeplane_journal_write_failures_total", "tradeplane_heartbeat_failures_total", "process_start_time_seconds"} {
		if !served[must] {
			t.Errorf("%s is not served", must)
		}
	}
	checkLabels(t, string(body))
}

var (
	selectorRE = regexp.MustCompile(`\b((?:tradeplane|process)_[a-z0-9_]+)(\{[^}]*\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	stringsRE  = regexp.MustCompile(`\[\]string\{([^}]*)\}`)
	quotedRE   = regexp.MustCompile(`"([^"]*)"`)
)

// targetLabels are attached by Prometheus (scrape config, service
// discovery), not by the code.
var targetLabels = map[string]bool{"job": true, "instance": true, "pod": true}

// metricLabels is what a metric's series can carry: the label names (and
// the values seen) in the scrape, and the label names it is defined with
// under internal/ (the []string after its name), with the folder of the
// definition, where its label values are written.
type metricLabels struct {
	names  map[string]bool
	values map[string]bool // label=value pairs seen in the scrape
	dir    string
}

func labelsOf(t *testing.T, name, scrape string) metricLabels {
	t.Helper()
	ml := metricLabels{names: map[string]bool{}, values: map[string]bool{}}
	for _, line := range strings.Split(scrape, "\n") {
		i := strings.IndexByte(line, '{')
		if i < 0 || strings.HasPrefix(line, "#") || baseName(line[:i]) != name {
			continue
		}
		if line[:i] == name+"_bucket" {
			ml.names["le"] = true
		}
		for _, m := range matcherRE.FindAllStringSubmatch(line[i:], -1) {
			ml.names[m[1]] = true
			ml.values[m[1]+"="+m[3]] = true
		}
	}
	filepath.WalkDir("../internal", func(p string, d fs.DirEntry, err error) error {
		if err != nil || ml.dir != "" || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		raw, _ := os.ReadFile(p)
		src := string(raw)
		i := strings.Index(src, `"`+name+`"`)
		if i < 0 || !strings.Contains(src[max(0, i-200):i], "prometheus.New") {
			return nil
		}
		ml.dir = filepath.Dir(p)
		def := src[i+len(name)+2 : min(len(src), i+len(name)+2+600)]
		if j := strings.Index(def, "prometheus.New"); j >= 0 {
			def = def[:j] // the next metric's definition
		}
		if m := stringsRE.FindStringSubmatch(def); m != nil {
			for _, q := range quotedRE.FindAllStringSubmatch(m[1], -1) {
				ml.names[q[1]] = true
			}
		}
		return nil
	})
	return ml
}

// literalIn reports whether the Go string literal "v" appears in the
// non-test sources of dir.
func literalIn(dir, v string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if raw, err := os.ReadFile(f); err == nil && strings.Contains(string(raw), `"`+v+`"`) {
			return true
		}
	}
	return false
}

// checkLabels: every label a rule or panel selects on or groups by is one
// the code puts on the metric (or one Prometheus adds), and every label
// value selected with = is one the code writes. A rule that selects
// kind="automatic" where the code says "auto" never fires, and promtool's
// unit tests, which make up their own series, cannot tell.
func checkLabels(t *testing.T, scrape string) {
	t.Helper()
	cache := map[string]metricLabels{}
	get := func(name string) metricLabels {
		if _, ok := cache[name]; !ok {
			cache[name] = labelsOf(t, name, scrape)
		}
		return cache[name]
	}
	for _, q := range usedQueries(t) {
		inExpr := map[string]bool{}
		for _, sel := range selectorRE.FindAllStringSubmatch(q.expr, -1) {
			name := baseName(sel[1])
			ml := get(name)
			for l := range ml.names {
				inExpr[l] = true
			}
			if strings.HasSuffix(sel[1], "_bucket") {
				inExpr["le"] = true // a histogram's buckets, observed or not
			}
			for _, m := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
				label, op, value := m[1], m[2], m[3]
				switch {
				case targetLabels[label]:
				case !ml.names[label]:
					t.Errorf("%s: %s has no label %q (it has %v)", q.where, name, label, keys(ml.names))
				case op == "=" && !ml.values[label+"="+value] && (ml.dir == "" || !literalIn(ml.dir, value)):
					t.Errorf("%s: %s{%s=%q}: the code never writes that value", q.where, name, label, value)
				}
			}
		}
		for _, g := range groupingRE.FindAllStringSubmatch(q.expr, -1) {
			for _, l := range strings.Split(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !targetLabels[l] && !inExpr[l] {
					t.Errorf("%s: groups by %q, a label none of its metrics has", q.where, l)
				}
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestKubernetesProbes checks that the manifests probe the paths whose
// meaning they assume, and run as the restricted Pod Security profile
// wants. (deploy/kubernetes/check validates every field against the
// Kubernetes API types; .ci/run runs it.)
func TestKubernetesProbes(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("kubernetes/statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	var sts map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc["kind"] == "StatefulSet" {
			sts = doc
		}
	}
	if sts == nil {
		t.Fatal("no StatefulSet")
	}
	get := func(m any, path ...string) any {
		for _, p := range path {
			mm, ok := m.(map[string]any)
			if !ok {
				return nil
			}
			m = mm[p]
		}
		return m
	}
	pod := get(sts, "spec", "template", "spec")
	c := get(pod, "containers").([]any)[0]
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if got := get(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %v, want %s", probe, got, path)
		}
	}
	if get(pod, "securityContext", "runAsNonRoot") != true || get(c, "securityContext", "readOnlyRootFilesystem") != true ||
		get(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("pod or container security context is not restricted: %v / %v", get(pod, "securityContext"), get(c, "securityContext"))
	}
	if get(sts, "spec", "replicas") != 3 {
		t.Errorf("replicas %v, want 3", get(sts, "spec", "replicas"))
	}
}

// TestComposeFiles checks the compose files' shape: one SQLite node; three
// PostgreSQL nodes with distinct node ids and one database, started after
// the schema is migrated once.
func TestComposeFiles(t *testing.T) {
	t.Parallel()
	single := readYAML(t, "compose/single.yaml")["services"].(map[string]any)
	if len(single) != 1 || !strings.HasPrefix(single["tradeplane"].(map[string]any)["environment"].(map[string]any)["TRADEPLANE_DB"].(string), "sqlite:/var/lib/tradeplane/") {
		t.Errorf("single.yaml: want one SQLite node in the volume, got %v", single)
	}
	cluster := readYAML(t, "compose/cluster.yaml")["services"].(map[string]any)
	ids := map[string]bool{}
	dbs := map[string]bool{}
	for name, s := range cluster {
		if !strings.HasPrefix(name, "tp") {
			continue
		}
		s := s.(map[string]any)
		env := s["environment"].(map[string]any)
		ids[env["TRADEPLANE_NODE_ID"].(string)] = true
		dbs[env["TRADEPLANE_DB"].(string)] = true
		if dep := s["depends_on"].(map[string]any)["migrate"].(map[string]any)["condition"]; dep != "service_completed_successfully" {
			t.Errorf("%s starts before the schema is migrated (%v)", name, dep)
		}
	}
	if len(ids) != 3 || len(dbs) != 1 {
		t.Errorf("cluster.yaml: node ids %v, databases %v; want 3 distinct ids on one database", ids, dbs)
	}
}

func TestContainerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	if n := strings.Count(src, "\nFROM "); n < 2 {
		t.Errorf("%d stages, want a multi-stage build", n)
	}
	final := src[strings.LastIndex(src, "\nFROM "):]
	for _, want := range []string{"distroless/static", "USER 65532:65532", "tradeplane\", \"probe\"", "VOLUME"} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q", want)
		}
	}
	rel, err := os.ReadFile("release.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-buildid=", "-X main.Version=", "-X main.Commit="} {
		if !strings.Contains(string(rel), want) {
			t.Errorf("release.sh lacks %q", want)
		}
	}
}
