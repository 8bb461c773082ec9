// The store sets a PostgreSQL session timeout so a frozen node drops its locks.
package store_test

import (
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"testing"
)

func TestIdleTimeoutSet(t *testing.T) {
	db := storetest.Open(t, storetest.PostgresURL(t))
	var v string
	if err := db.QueryRowForTest(ctx, "SHOW idle_in_transaction_session_timeout").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "2s" {
		t.Fatalf("idle_in_transaction_session_timeout = %q, want 2s", v)
	}
}
