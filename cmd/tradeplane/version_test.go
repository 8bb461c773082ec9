package main

import (
	"encoding/json"
	"testing"

	"github.com/tradeplane/tradeplane/internal/store"
)

func TestVersionJSON(t *testing.T) {
	r := cli(t, "", "version", "--json").want(t, 0)
	var b buildInfo
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatalf("version --json: %v\n%s", err, r.stdout)
	}
	if b.Version != Version || b.Commit == "" || b.Schema != store.KnownSchemaVersion() || b.Schema < 11 {
		t.Errorf("got %+v", b)
	}
}
