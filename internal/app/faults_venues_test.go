package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue/binancetest"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestBinanceFuturesSessionsUnderFaults runs DCA sessions on the fake's
// USDⓈ-M perpetuals while order requests time out before and after the
// order executed (503, -1007), hit server errors and rate limits, and
// reads fail too; then, sessions paused, the venue is checked against the
// journal: an unknown outcome was settled by origClientOrderId, never by
// sending the order again.
func TestBinanceFuturesSessionsUnderFaults(t *testing.T) {
	t.Parallel()
	dbURL := storetest.SQLiteURL(t)
	d := newFuturesDesk(t, dbURL, binancetest.Config{})
	ids := d.createSessions(t, 4, "1s")
	// The fake answers consistently at once: a short consistency lag lets
	// an order lost before execution be proven never executed quickly.
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: d.masterKey(t), ReconcileEvery: time.Second, ResyncEvery: time.Second,
		BinanceLag: 2 * time.Second})
	faults := []binancetest.Fault{binancetest.FaultTimeoutAfterExecution, binancetest.FaultTimeoutBeforeExecution,
		binancetest.FaultServerError, binancetest.FaultRateLimited, binancetest.FaultTimeoutAfterExecution,
		binancetest.FaultTimeoutBeforeExecution, binancetest.FaultTimeoutAfterExecution}
	for i, f := range faults {
		eventually(t, time.Minute, "orders flowing", func() bool { return len(d.fake.FuturesOrders()) >= 2*i })
		d.fake.FailNext(binancetest.OpPlace, f)
		d.fake.FailNext(binancetest.OpQuery, binancetest.FaultServerError)
		d.fake.FailNext(binancetest.OpFuturesTrades, binancetest.FaultServerError)
	}
	eventually(t, 2*time.Minute, "20 orders at the fake", func() bool { return len(d.fake.FuturesOrders()) >= 20 })
	pauseAndCheck(t, n, d, ids, time.Minute)
}

// TestBybitSessionsUnderFaults runs DCA sessions on the fake Bybit while a
// fifth of order requests fail (timeouts before and after the order
// executed, rate limits, server errors) and a fifth of reads fail too;
// then, faults off and sessions paused, the venue is checked against the
// journal: an unknown outcome was settled by orderLinkId, never by sending
// the order again.
func TestBybitSessionsUnderFaults(t *testing.T) {
	t.Parallel()
	rates := map[string]float64{bybittest.OpPlace: 0.2, bybittest.OpQuery: 0.2, bybittest.OpTrades: 0.2,
		bybittest.OpBalances: 0.2, bybittest.OpOpenOrders: 0.2, bybittest.OpCancel: 0.2}
	dbURL := storetest.SQLiteURL(t)
	d, fake := newBybitDesk(t, dbURL, bybittest.Config{FaultRates: rates, Seed: uint64(time.Now().UnixNano())})
	ids := d.createSessions(t, 6, "1s")
	// The fake shows an order in its lookups as soon as it takes it, so
	// the consistency lag is none (as the Binance fakes' tests set it).
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: d.masterKey(t), ReconcileEvery: time.Second, ResyncEvery: time.Second,
		ConsistencyLag: map[string]time.Duration{"bybit": -1}})
	// A session whose order may not have reached Bybit waits for the
	// proof (see below) before its next step, so the desk slows down as
	// faults accumulate.
	eventually(t, 2*time.Minute, "20 orders at the fake Bybit", func() bool { return len(fake.Orders()) >= 20 })
	fake.SetFaultRates(nil)
	// An order whose request timed out before Bybit took it is proven
	// never executed once its recvWindow has passed (no consistency lag).
	pauseAndCheck(t, n, d, ids, 90*time.Second)
}

// pauseAndCheck pauses the sessions, waits up to settle for every
// journaled order to be settled and then for every venue fill to be
// recorded, and checks the venue against the journal and each session's
// state against the venue's buys.
func pauseAndCheck(t *testing.T, n *node, d *desk, ids []string, settle time.Duration) {
	t.Helper()
	ctx := context.Background()
	pauseSessions(t, n, ids)
	eventually(t, settle, "every journaled order settled", func() bool {
		open, err := d.db.NonTerminalOrders(ctx, d.acct.ID)
		return err == nil && len(open) == 0
	})
	eventually(t, 30*time.Second, "every venue fill recorded", func() bool {
		fills, _ := d.db.Fills(ctx, store.FillQuery{AccountID: d.acct.ID, Limit: 100000})
		return len(fills) >= len(d.view().orders())
	})
	orders, fills := checkJournal(t, d, false)
	checkStrategyStateAgainstVenue(t, d, orders, ids)
	t.Logf("under faults on %s: %d orders at the venue, %d fills recorded, none duplicated or lost", d.view().name, len(orders), fills)
}
