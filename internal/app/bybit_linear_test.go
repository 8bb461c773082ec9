package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/app"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
	"github.com/tradeplane/tradeplane/internal/venue/bybit"
	"github.com/tradeplane/tradeplane/internal/venue/bybittest"
)

// TestBybitLinearSessionsUnderFaults runs DCA sessions on the linear
// perpetuals of a bybit-linear account at the fake Bybit while order
// requests time out before and after the order executed (three after),
// hit a server error and a rate limit, and a fifth of reads fail; then,
// faults off and sessions paused, the venue is checked against the
// journal (pauseAndCheck: no orderLinkId taken twice, every order settled,
// every linear fill recorded once, each session's buys what the venue
// executed for it), and the position is the sum of those buys.
func TestBybitLinearSessionsUnderFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rates := map[string]float64{bybittest.OpQuery: 0.2, bybittest.OpTrades: 0.2,
		bybittest.OpBalances: 0.2, bybittest.OpOpenOrders: 0.2, bybittest.OpCancel: 0.2}
	dbURL := storetest.SQLiteURL(t)
	d, fake := newBybitLinearDesk(t, dbURL, bybittest.Config{FaultRates: rates, Seed: uint64(time.Now().UnixNano())})
	ids := d.createSessions(t, 4, "1s")

	// The fake shows an order in its lookups as soon as it takes it: no
	// consistency lag.
	n := startNode(t, app.Config{DBURL: dbURL, MasterKey: d.masterKey(t), ReconcileEvery: time.Second, ResyncEvery: time.Second,
		ConsistencyLag: map[string]time.Duration{bybit.LinearName: -1}})
	faults := []bybittest.Fault{bybittest.FaultTimeoutAfterExecution, bybittest.FaultTimeoutBeforeExecution,
		bybittest.FaultServerError, bybittest.FaultRateLimited, bybittest.FaultTimeoutAfterExecution,
		bybittest.FaultTimeoutBeforeExecution, bybittest.FaultTimeoutAfterExecution}
	for i, f := range faults {
		eventually(t, time.Minute, "linear orders flowing", func() bool { return len(fake.LinearOrders()) >= 2*i })
		fake.FailNext(bybittest.OpPlace, f)
	}
	eventually(t, 2*time.Minute, "16 linear orders at the fake Bybit", func() bool { return len(fake.LinearOrders()) >= 16 })
	eventually(t, time.Minute, "every order fault taken", func() bool {
		n := 0
		for k, v := range fake.FaultsTaken() {
			if strings.HasPrefix(k, bybittest.OpPlace+"/") {
				n += v
			}
		}
		return n == len(faults)
	})
	fake.SetFaultRates(nil)
	pauseAndCheck(t, n, d, ids, 90*time.Second)

	var position udecimal.Decimal
	for _, o := range fake.LinearOrders() {
		position = position.Add(o.ExecutedQty)
	}
	l, err := bybit.NewLinear(bybit.Config{APIKey: bybittest.APIKey, APISecret: bybittest.APISecret, BaseURL: fake.BaseURL()})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := l.Positions(ctx)
	if err != nil || len(ps) != 1 || !ps[0].Size.Equal(position) {
		t.Errorf("positions %+v (%v), want one BTCUSDT long of %s, the sum of the executed buys", ps, err, position)
	}
}
