package app

import (
	"slices"
	"testing"

	"github.com/tradeplane/tradeplane/internal/cluster"
	"github.com/tradeplane/tradeplane/internal/server"
)

// TestNodeHealthsMatchTheAPI: the API's node health enum is the cluster's
// judgement, value for value.
func TestNodeHealthsMatchTheAPI(t *testing.T) {
	t.Parallel()
	var got []string
	for _, h := range cluster.Healths {
		got = append(got, string(h))
	}
	if !slices.Equal(got, server.NodeHealths) {
		t.Fatalf("cluster healths %q, API enum %q", got, server.NodeHealths)
	}
}
