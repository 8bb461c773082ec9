package store

import (
	"context"
	"strings"
	"testing"
)

// TestUnsettledOrdersUseTheirIndex: the lookup every order placement makes
// reads only the session's unsettled orders (orders_unsettled), not every
// order the session ever placed; with orders_session it walked them all,
// and a year-long replay spent half its time there.
func TestUnsettledOrdersUseTheirIndex(t *testing.T) {
	t.Parallel()
	db, err := Open(context.Background(), "sqlite::memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rows, err := db.r.Query(`EXPLAIN QUERY PLAN `+unsettledOrdersQuery, "s1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "USING INDEX orders_unsettled") {
		t.Fatalf("plan %q, want a search of orders_unsettled", got)
	}
}
