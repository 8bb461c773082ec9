package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServeCurrencyBadInput: a valuation currency that is no asset code is a
// usage error (exit 2) in one line, before anything starts.
func TestServeCurrencyBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := cli(t, "", "--db", "sqlite:"+filepath.Join(dir, "x.db"), "--master-key-file", filepath.Join(dir, "key"),
		"serve", "--addr", "127.0.0.1:0", "--currency", "us dollars").want(t, 2)
	if !strings.Contains(r.stderr, `--currency "US DOLLARS": want an asset code`) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("stderr %q", r.stderr)
	}
}
