package app

import (
	"strings"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// TestDemoSessionPnL works one session's replayed fills through by hand:
// buy 1 BTC at 100 (fee 0.10 USDT) in the first hour, closes 110 then
// 90, sell it at 120 (fee 0.12) in the third hour. Hour by hour the PnL is
// 110 − 100 − 0.10 = 9.90, then 90 − 100 − 0.10 = −10.10 (a 1m series:
// the mark is the last close by the hour, not the hour's open), then
// 120 − 100 − 0.22 = 19.78 realized. A session without fills is at 0 every
// hour; fills of sessions the live demo does not have are left out.
func TestDemoSessionPnL(t *testing.T) {
	t.Parallel()
	d := udecimal.MustParse
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	end := from.Add(3 * time.Hour)
	kl := func(at time.Duration, close string) venue.Kline {
		return venue.Kline{OpenTime: from.Add(at), Open: d(close), High: d(close), Low: d(close), Close: d(close)}
	}
	series := map[string]demoSeries{"BTCUSDT": {interval: time.Minute, klines: []venue.Kline{
		kl(10*time.Minute, "100"), kl(59*time.Minute, "110"), kl(60*time.Minute, "105"), kl(119*time.Minute, "90"),
		kl(120*time.Minute, "95"), kl(179*time.Minute, "130"), kl(180*time.Minute, "999"), // closes after end: never a mark
	}}}
	fill := func(seq int64, sid string, at time.Duration, side venue.Side, price, fee string) replay.JournalEntry {
		return replay.JournalEntry{Seq: seq, At: from.Add(at), Kind: "fill", SessionID: sid, Symbol: "BTCUSDT", Side: string(side),
			Quantity: d("1"), Price: d(price), Fee: d(fee), FeeAsset: "USDT"}
	}
	entries := []replay.JournalEntry{
		{Seq: 1, At: from.Add(10 * time.Minute), Kind: "intent", SessionID: "r1", Symbol: "BTCUSDT", Side: "buy", Quantity: d("1")},
		fill(2, "r1", 10*time.Minute, venue.Buy, "100", "0.10"),
		fill(3, "gone", 20*time.Minute, venue.Buy, "100", "0"),
		fill(4, "r1", 150*time.Minute, venue.Sell, "120", "0.12"),
	}
	snaps, err := demoSessionPnL(entries, map[string]string{"r1": "s-live", "r2": "s-idle"}, series, from, end)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, s := range snaps {
		if s.Source != HistorySource {
			t.Errorf("source %q", s.Source)
		}
		if !s.Equity.Equal(s.Realized.Add(s.Unrealized)) {
			t.Errorf("%s at %s: equity %s is not realized %s + unrealized %s", s.Scope, s.At, s.Equity, s.Realized, s.Unrealized)
		}
		want := from.Add(time.Duration(len(got[s.Scope])+1) * time.Hour)
		if !s.At.Equal(want) {
			t.Errorf("%s point %d at %s, want %s", s.Scope, len(got[s.Scope]), s.At, want)
		}
		got[s.Scope] = append(got[s.Scope], s.Equity.String())
	}
	if g := strings.Join(got["session:s-live"], " "); g != "9.9 -10.1 19.78" {
		t.Errorf("session:s-live PnL by hour: %s, want 9.9 -10.1 19.78", g)
	}
	if g := strings.Join(got["session:s-idle"], " "); g != "0 0 0" {
		t.Errorf("session:s-idle PnL by hour: %s, want 0 0 0", g)
	}
	if len(got) != 2 {
		t.Errorf("scopes %v, want the two live sessions only", got)
	}

	// A market quoted in something else than the demo's currency is an
	// error, not a sum of USDT and BTC.
	entries = append(entries, replay.JournalEntry{Seq: 5, At: from.Add(30 * time.Minute), Kind: "fill", SessionID: "r1", Symbol: "ETHBTC",
		Side: "buy", Quantity: d("1"), Price: d("0.05")})
	if _, err := demoSessionPnL(entries, map[string]string{"r1": "s-live"}, series, from, end); err == nil || !strings.Contains(err.Error(), "BTC") {
		t.Errorf("ETHBTC fill: err %v, want one naming the quote", err)
	}
}
