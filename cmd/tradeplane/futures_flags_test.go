package main

import (
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/venue"
)

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func TestParseFuturesFlags(t *testing.T) {
	t.Parallel()
	lev, err := parseFuturesLeverage([]string{"BTCUSDT=5", "ethusdt = 20"})
	if err != nil || lev["BTCUSDT"] != 5 || lev["ETHUSDT"] != 20 {
		t.Fatalf("leverage: got %v, %v", lev, err)
	}
	mt, err := parseFuturesMarginType([]string{"BTCUSDT=isolated", "ETHUSDT=CROSS"})
	if err != nil || mt["BTCUSDT"] != venue.MarginIsolated || mt["ETHUSDT"] != venue.MarginCross {
		t.Fatalf("margin type: got %v, %v", mt, err)
	}
	for _, bad := range []string{"BTCUSDT", "BTCUSDT=0", "BTCUSDT=126", "BTCUSDT=x", "=5", "BTC/USDT=5"} {
		if _, err := parseFuturesLeverage([]string{bad}); !isUsage(err) {
			t.Errorf("leverage %q: got %v, want a usage error", bad, err)
		}
	}
	for _, bad := range []string{"BTCUSDT", "BTCUSDT=crossed", "=isolated"} {
		if _, err := parseFuturesMarginType([]string{bad}); !isUsage(err) {
			t.Errorf("margin type %q: got %v, want a usage error", bad, err)
		}
	}
}
