package binancetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// assetIndex is one asset's Multi-Assets mode index: its USD index price
// and haircut (bid buffer; the ask buffer is the same).
type assetIndex struct {
	index, buffer venue.Decimal
	at            time.Time
}

// SetAssetIndex sets the Multi-Assets mode index price (in USD) and
// haircut (bidBuffer, a share from 0 to 1) of asset, as
// /fapi/v1/assetIndex reports it under the pair ASSET+"USD".
func (s *Server) SetAssetIndex(asset string, index, haircut venue.Decimal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.haircuts == nil {
		s.haircuts = map[string]assetIndex{}
	}
	s.haircuts[asset] = assetIndex{index: index, buffer: haircut, at: s.now()}
}

// handleAssetIndex is GET /fapi/v1/assetIndex: the documented row per set
// asset (the object alone when symbol is sent), rates derived from the
// index and buffers as Binance's are (bidRate = index × (1 − bidBuffer),
// askRate = index × (1 + askBuffer)); the auto-exchange buffers stay as
// documented and their rates follow from them.
func (s *Server) handleAssetIndex(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := Doc("futures_asset_index.json")
	row := element(doc, 0)
	docDec := func(key string) venue.Decimal {
		var v string
		if err := json.Unmarshal(field(row, key), &v); err != nil {
			panic("binancetest: futures_asset_index.json " + key + ": " + err.Error())
		}
		return udecimal.MustParse(v)
	}
	autoBid, autoAsk := docDec("autoExchangeBidBuffer"), docDec("autoExchangeAskBuffer")
	one := udecimal.One
	rowOf := func(asset string, ai assetIndex) []byte {
		f8 := func(d venue.Decimal) string { return jstr(d.StringFixed(8)) }
		return mustEdit(row, "symbol", jstr(asset+"USD"), "time", strconv.FormatInt(ms(ai.at), 10), "index", f8(ai.index),
			"bidBuffer", f8(ai.buffer), "askBuffer", f8(ai.buffer),
			"bidRate", f8(ai.index.Mul(one.Sub(ai.buffer))), "askRate", f8(ai.index.Mul(one.Add(ai.buffer))),
			"autoExchangeBidRate", f8(ai.index.Mul(one.Sub(autoBid))), "autoExchangeAskRate", f8(ai.index.Mul(one.Add(autoAsk))))
	}
	if sym := q.Get("symbol"); sym != "" {
		for a, ai := range s.haircuts {
			if a+"USD" == sym {
				return 200, json.RawMessage(rowOf(a, ai))
			}
		}
		return e400(-1121, "Invalid symbol.")
	}
	assets := make([]string, 0, len(s.haircuts))
	for a := range s.haircuts {
		assets = append(assets, a)
	}
	sort.Strings(assets)
	rows := [][]byte{}
	for _, a := range assets {
		rows = append(rows, rowOf(a, s.haircuts[a]))
	}
	return 200, json.RawMessage(join(rows))
}
