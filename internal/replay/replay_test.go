package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/replay"
	_ "github.com/tradeplane/tradeplane/internal/strategy/builtin"
	"github.com/tradeplane/tradeplane/internal/venue"
)

const sharedBTC = "../../../shared/data/BTCUSDT-1m.csv"

func d(s string) udecimal.Decimal { return udecimal.MustParse(s) }

// btc returns the first n 1 m BTCUSDT klines of the shared data.
func btc(t testing.TB, n int) []venue.Kline {
	t.Helper()
	ks, err := marketdata.ReadKlinesFile(sharedBTC)
	if err != nil {
		t.Skipf("shared data: %v", err)
	}
	if n > 0 && n < len(ks) {
		ks = ks[:n]
	}
	return ks
}

func dcaConfig(ks []venue.Kline) replay.Config {
	return replay.Config{
		Accounts: []replay.Account{{Name: "alpha", Balances: []replay.Balance{{Asset: "USDT", Amount: d("10000")}}}},
		Sessions: []replay.Session{{Name: "btc-dca", Strategy: "dca", Account: "alpha", Symbols: []string{"BTCUSDT"},
			Params: json.RawMessage(`{"symbol":"BTCUSDT","quote_amount":"25","interval":"1h"}`)}},
		Sources: []replay.Source{{Symbol: "BTCUSDT", Interval: time.Minute, Stream: &replay.SliceStream{Klines: ks}, Name: "btc"}},
		Fill:    replay.Fill{Slippage: d("0.0005")},
		Seed:    7,
	}
}

func TestDCAReplay(t *testing.T) {
	t.Parallel()
	res, err := replay.Run(context.Background(), dcaConfig(btc(t, 3*24*60)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(res.Summary, "", " ")
	t.Logf("%s", b)
	var buf bytes.Buffer
	res.WriteTrades(&buf)
	t.Logf("%s", buf.String()[:min(400, buf.Len())])
}
