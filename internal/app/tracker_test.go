package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestTrackerLogsWhatItCannotCount: a fill or funding payment the session's
// PnL engine refuses leaves the live PnL short; it must say so in the log,
// naming the session, not vanish.
func TestTrackerLogsWhatItCannotCount(t *testing.T) {
	t.Parallel()
	pf, err := portfolio.New(portfolio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr := newTracker(pf, slog.New(slog.NewTextHandler(&out, nil)))
	at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	one := udecimal.MustParse("1")
	tr.add("s-ok", "BTCUSDT", venue.Buy, udecimal.MustParse("40000"), one, udecimal.Zero, "USDT", at, "1")
	if out.Len() != 0 {
		t.Fatalf("a good fill was logged: %s", out.String())
	}
	tr.add("s-bad", "BTCUSDT", venue.Buy, udecimal.Zero, one, udecimal.Zero, "USDT", at, "2") // price 0: bad input
	tr.addFunding("s-fund", pnl.Funding{Symbol: "BTCUSDT", Asset: "BNB", Amount: one, Time: at, ID: "f1"})
	for _, want := range []string{"fill not counted", "session=s-bad", "funding payment not counted", "session=s-fund"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out.String())
		}
	}
}
