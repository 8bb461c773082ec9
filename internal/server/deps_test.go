package server_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tradeplane/tradeplane/internal/server"
)

// TestMergeParams: a key sent replaces, a key not sent stays, a null
// removes, an object value is replaced whole; a patch that is not an object
// is invalid.
func TestMergeParams(t *testing.T) {
	t.Parallel()
	cur := json.RawMessage(`{"symbol":"BTCUSDT","levels":5,"weights":{"BTC":"0.5","USDT":"0.5"},"note":"x"}`)
	got, err := server.MergeParams(cur, json.RawMessage(`{"levels":12,"note":null,"weights":{"ETH":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"levels":12,"symbol":"BTCUSDT","weights":{"ETH":"1"}}` {
		t.Errorf("merged: %s", got)
	}
	for _, bad := range []string{`[1]`, `"x"`, `null`, `{`} {
		if _, err := server.MergeParams(cur, json.RawMessage(bad)); !errors.Is(err, server.ErrInvalid) {
			t.Errorf("patch %s: %v, want ErrInvalid", bad, err)
		}
	}
	if got, err := server.MergeParams(nil, json.RawMessage(`{"a":1}`)); err != nil || string(got) != `{"a":1}` {
		t.Errorf("onto no params: %s %v", got, err)
	}
}
