package store_test

import (
	"testing"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// runAccountSuite runs every case of a conformance suite on every engine,
// each on a fresh store holding one paper account.
func runAccountSuite(t *testing.T, suite map[string]func(t *testing.T, db *store.DB, account int64)) {
	t.Helper()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			for name, fn := range suite {
				t.Run(name, func(t *testing.T) {
					db := storetest.Open(t, eng.URL(t))
					a := &store.Account{Name: "main", Venue: "paper"}
					if err := db.CreateAccount(ctx, a); err != nil {
						t.Fatal(err)
					}
					fn(t, db, a.ID)
				})
			}
		})
	}
}
