package main

import (
	"context"
	"testing"
)

// TestClusterRefusesANonPostgresDB: several nodes share one PostgreSQL
// database; any other --db is bad usage (exit 2), before anything starts.
func TestClusterRefusesANonPostgresDB(t *testing.T) {
	t.Parallel()
	if got := run(context.Background(), []string{"cluster", "--db", "sqlite:bench.db"}); got != 2 {
		t.Errorf("exit %d, want 2", got)
	}
	if got := run(context.Background(), []string{"cluster", "--db", "postgres://127.0.0.1:1/x", "--tradeplane", "/nonexistent/tradeplane"}); got != 2 {
		t.Errorf("missing --tradeplane binary: exit %d, want 2", got)
	}
}
