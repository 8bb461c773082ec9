package fieldcheck

import (
	"errors"
	"strings"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
	"github.com/tradeplane/tradeplane/internal/venue/binance"
	_ "github.com/tradeplane/tradeplane/internal/venue/builtin" // paper, binance, bybit
)

// registryVenue is a venue registered by this test only: CheckAccount
// knows it from the registry, with no list in fieldcheck edited.
const registryVenue = "fieldcheck-probe"

func init() {
	venue.Register(venue.Kind{Name: registryVenue, Credentials: true, Trades: true,
		Open: func(venue.Env, venue.Account) (venue.Venue, error) { return nil, errors.New("not opened in this test") }})
}

// TestCheckAccountReadsTheVenueRegistry: a registered venue is accepted
// and its Kind says whether it needs credentials; an unknown venue's
// refusal names every registered one.
func TestCheckAccountReadsTheVenueRegistry(t *testing.T) {
	t.Parallel()
	if err := CheckAccount(Account{Name: "m", Venue: registryVenue, APIKey: "k", APISecret: "s"}, JSONFields); err != nil {
		t.Errorf("registered venue refused: %v", err)
	}
	if err := CheckAccount(Account{Name: "m", Venue: registryVenue}, JSONFields); err == nil || !strings.Contains(err.Error(), "api_key") {
		t.Errorf("registered venue with credentials but none given: got %v, want an api_key refusal", err)
	}
	err := CheckAccount(Account{Name: "m", Venue: "nope"}, FlagFields)
	if err == nil || !strings.Contains(err.Error(), "--venue") {
		t.Fatalf("unknown venue: got %v, want a --venue refusal", err)
	}
	for _, name := range venue.Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("refusal %q does not name registered venue %s", err, name)
		}
	}
}

func TestCheckAccount(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a     Account
		field string // "" when accepted
	}{
		{Account{Name: "main", Venue: "paper"}, ""},
		{Account{Name: "sub-1.b_x", Venue: "binance", APIKey: "k", APISecret: "s", BaseURL: "https://testnet.binance.vision"}, ""},
		{Account{Name: "a/b", Venue: "paper"}, "name"},
		{Account{Name: strings.Repeat("n", 65), Venue: "paper"}, "name"},
		{Account{Name: "", Venue: "paper"}, "name"},
		{Account{Name: "m", Venue: "ftx"}, "venue"},
		{Account{Name: "m", Venue: "paper", BaseURL: "file:///etc/passwd"}, "base_url"},
		{Account{Name: "m", Venue: "paper", BaseURL: "javascript:alert(1)"}, "base_url"},
		{Account{Name: "m", Venue: "paper", BaseURL: "https://user:pw@host"}, "base_url"},
		{Account{Name: "m", Venue: "binance"}, "api_key"},
		{Account{Name: "m", Venue: "binance", APIKey: "k"}, "api_key"},
		{Account{Name: "m", Venue: "paper", Tags: make([]string, 10_000)}, "tags"},
		{Account{Name: "m", Venue: "paper", Tags: []string{strings.Repeat("t", 100_000)}}, "tags[0]"},
		{Account{Name: "f", Venue: "binance-futures", APIKey: "k", APISecret: "s", FuturesLeverage: map[string]int{"BTCUSDT": 1, "ETHUSDT": 125},
			FuturesMarginType: map[string]string{"BTCUSDT": "isolated", "ETHUSDT": "cross"}}, ""},
		{Account{Name: "f", Venue: "binance", APIKey: "k", APISecret: "s", FuturesLeverage: map[string]int{"BTCUSDT": 5}}, "futures_leverage"},
		{Account{Name: "f", Venue: "paper", FuturesMarginType: map[string]string{"BTCUSDT": "cross"}}, "futures_margin_type"},
		{Account{Name: "f", Venue: "binance-futures", APIKey: "k", APISecret: "s", FuturesLeverage: map[string]int{"BTCUSDT": 0}}, "futures_leverage"},
		{Account{Name: "f", Venue: "binance-futures", APIKey: "k", APISecret: "s", FuturesLeverage: map[string]int{"BTCUSDT": 126}}, "futures_leverage"},
		{Account{Name: "f", Venue: "binance-futures", APIKey: "k", APISecret: "s", FuturesLeverage: map[string]int{"btcusdt": 5}}, "futures_leverage"},
		{Account{Name: "f", Venue: "binance-futures", APIKey: "k", APISecret: "s", FuturesMarginType: map[string]string{"BTCUSDT": "CROSSED"}}, "futures_margin_type"},
	} {
		err := CheckAccount(c.a, JSONFields)
		var fe *Error
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%.40q: %v, want accepted", c.a.Name, err)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalid)):
			t.Errorf("%.40q: %v, want a refusal naming %s", c.a.Name, err, c.field)
		}
	}
}

func TestParamsAndAmounts(t *testing.T) {
	t.Parallel()
	for raw, field := range map[string]string{
		`{"lower":"45000","levels":3}`:        "",
		`{"max_price":"-5"}`:                  "params.max_price",
		`{"levels":-3}`:                       "params.levels",
		`{"quantity":1e41}`:                   "params.quantity",
		`{"x":{"y":["1","-1"]}}`:              "params.x.y[1]",
		`[1]`:                                 "params",
		`{"quote_amount":"1000000000000001"}`: "params.quote_amount",
	} {
		err := Params("params", []byte(raw))
		var fe *Error
		if field == "" && err != nil || field != "" && (!errors.As(err, &fe) || fe.Field != field) {
			t.Errorf("%s: %v, want field %q", raw, err, field)
		}
	}
	if err := Amount("allocation", udecimal.MustParse("100")); err != nil {
		t.Error(err)
	}
	if Amount("allocation", udecimal.MustParse("10000000000000000")) == nil {
		t.Error("an allocation over the cap was accepted")
	}
	if Symbols("symbols", []string{"ＢＴＣＵＳＤＴ"}) == nil || Symbols("symbols", []string{"BTCUSDT"}) != nil {
		t.Error("symbol shape check is wrong")
	}
}

// TestFuturesVenueIsBinanceFutures: the venue name fieldcheck lets set
// leverage is the registry's binance-futures.
func TestFuturesVenueIsBinanceFutures(t *testing.T) {
	if FuturesVenue != binance.FuturesName {
		t.Errorf("FuturesVenue %q, binance.FuturesName %q", FuturesVenue, binance.FuturesName)
	}
}
