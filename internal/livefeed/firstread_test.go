package livefeed_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/tradeplane/tradeplane/internal/livefeed"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// TestFirstFailedReadIsUnknown: an account whose very first balance query
// fails (nothing stored about it yet, or no store at all) is shown unknown
// with the reason and makes the total partial, instead of counting as an
// account worth 0; the next good read clears it.
func TestFirstFailedReadIsUnknown(t *testing.T) {
	t.Parallel()
	for _, withStore := range []bool{true, false} {
		name := "no store"
		if withStore {
			name = "store"
		}
		t.Run(name, func(t *testing.T) {
			bd := setup(t)
			ctx := context.Background()
			pf, err := portfolio.New(portfolio.Config{})
			must(t, err)
			cfg := livefeed.Config{Portfolio: pf, Log: slog.New(slog.DiscardHandler)}
			if withStore {
				cfg.Store = bd.db
			}
			feed := livefeed.New(cfg)
			bd.ex.Account("a").Faults().Next(paper.OpBalances, paper.FaultServerError)
			must(t, feed.AddAccount(ctx, bd.a, bd.ex.Account("a")))
			must(t, feed.AddAccount(ctx, bd.b, bd.ex.Account("b")))
			for _, s := range []string{"BTCUSDT", "ETHUSDT"} {
				tk, _ := bd.ex.Price(s)
				must(t, pf.Tick(tk))
			}

			tot := pf.Total()
			if !tot.Partial || len(tot.UnknownWallets) == 0 {
				t.Fatalf("total after a's first read failed: %+v, want partial with a's wallet unknown", tot)
			}
			at, err := pf.AccountTotal(livefeed.AccountKey(bd.a))
			must(t, err)
			if !at.Partial {
				t.Errorf("account a totals %+v, want partial", at)
			}
			if bt, _ := pf.AccountTotal(livefeed.AccountKey(bd.b)); bt.Partial {
				t.Errorf("account b totals %+v: b's read worked", bt)
			}
			var reason string
			for _, av := range pf.Snapshot().Accounts {
				for _, w := range av.Wallets {
					if av.ID == livefeed.AccountKey(bd.a) && w.Unknown {
						reason = w.Reason
					}
				}
			}
			if reason == "" {
				t.Fatalf("no unknown wallet with a reason for account a in %+v", pf.Snapshot().Accounts)
			}
			if withStore {
				st, err := bd.db.WalletStatuses(ctx)
				must(t, err)
				if !slices.ContainsFunc(st, func(s store.WalletStatus) bool {
					return s.AccountID == bd.a.ID && s.Status == "error" && strings.Contains(s.Error, reason)
				}) {
					t.Errorf("stored statuses %+v: want account a's failed read recorded", st)
				}
			}

			feed.Resync(ctx, bd.a.ID)
			// 1000 + 0.5×50000 + 2×3000 = 32000
			if tot := pf.Total(); tot.Partial || len(tot.UnknownWallets) != 0 || !tot.Value.Equal(dec("32000")) {
				t.Errorf("total after a good read: %+v, want 32000 and complete", tot)
			}
		})
	}
}
