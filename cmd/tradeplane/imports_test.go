package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductLinksNoTestPackage: the tradeplane binary is the product; the
// fakes (servertest, binancetest, bybittest, venuetest, strategytest) and
// the standard library's test harness (testing, net/http/httptest) belong
// to tests and to cmd/tradeplane-bench. go list names every package the
// binary links.
func TestProductLinksNoTestPackage(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on $PATH to list the binary's packages")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/tradeplane/tradeplane/"
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "testing", p == "net/http/httptest":
			bad = append(bad, p)
		case strings.HasPrefix(p, module) && strings.HasSuffix(p, "test"):
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Errorf("cmd/tradeplane links test packages %v: move what needs them to _test.go files or cmd/tradeplane-bench", bad)
	}
}
