package store_test

import (
	"slices"
	"testing"

	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestOrdersByClientPrefix checks the prefix lookup on every engine: exact,
// case-sensitive, with LIKE metacharacters taken literally.
func TestOrdersByClientPrefix(t *testing.T) {
	t.Parallel()
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, eng.URL(t))
			a := &store.Account{Name: "main", Venue: "paper"}
			if err := db.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"tabc-0", "tabc-1", "tabc-10", "tabd-0", "TABC-2", "tab-0", "x_y-1", "xzy-1", "x%y-1", "xay-1", `x\y-1`} {
				if err := db.InsertOrder(ctx, testOrder(a.ID, id)); err != nil {
					t.Fatal(err)
				}
			}
			tests := []struct {
				prefix string
				want   []string
			}{
				{"tabc-", []string{"tabc-0", "tabc-1", "tabc-10"}},
				{"tabc-1", []string{"tabc-1", "tabc-10"}},
				{"tab", []string{"tab-0", "tabc-0", "tabc-1", "tabc-10", "tabd-0"}},
				{"x_y", []string{"x_y-1"}},
				{"x%y", []string{"x%y-1"}},
				{`x\y`, []string{`x\y-1`}},
				{"nope", nil},
			}
			for _, tc := range tests {
				got, err := db.OrdersByClientPrefix(ctx, tc.prefix)
				if err != nil {
					t.Fatalf("prefix %q: %v", tc.prefix, err)
				}
				var ids []string
				for _, o := range got {
					ids = append(ids, o.ClientOrderID)
				}
				slices.Sort(ids)
				if !slices.Equal(ids, tc.want) {
					t.Errorf("prefix %q: got %q, want %q", tc.prefix, ids, tc.want)
				}
				if len(got) > 0 && (got[0].SessionID != "s1" || got[0].AccountID != a.ID) {
					t.Errorf("prefix %q: order %+v", tc.prefix, got[0])
				}
			}
			if _, err := db.OrdersByClientPrefix(ctx, ""); err == nil {
				t.Error("empty prefix: got nil error")
			}
		})
	}
}
