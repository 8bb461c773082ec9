package binancetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// FundSubAccount credits amount of asset to a wallet (venue.WalletSpot or
// venue.WalletFutures) of the sub-account email, as the master reads it
// through /sapi/v3/sub-account/assets and /sapi/v2/sub-account/futures/account.
// The sub-account is listed (AddSubAccount) if it is not yet.
func (s *Server) FundSubAccount(email string, w venue.Wallet, asset string, amount venue.Decimal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	listed := false
	for _, sa := range s.subAccounts {
		listed = listed || sa.Email == email
	}
	if !listed {
		s.subAccounts = append(s.subAccounts, SubAccount{Email: email, Created: s.now()})
	}
	if s.subWallets == nil {
		s.subWallets = map[string]map[venue.Wallet]map[string]*holding{}
	}
	ws := s.subWallets[email]
	if ws == nil {
		ws = map[venue.Wallet]map[string]*holding{}
		s.subWallets[email] = ws
	}
	if ws[w] == nil {
		ws[w] = map[string]*holding{}
	}
	h := ws[w][asset]
	if h == nil {
		h = &holding{}
		ws[w][asset] = h
	}
	h.free = h.free.Add(amount)
}

// subWallet returns the sorted assets of a sub-account's wallet and
// whether email is a listed sub-account; s.mu is held.
func (s *Server) subWallet(email string, w venue.Wallet) ([]string, map[string]*holding, bool) {
	listed := false
	for _, sa := range s.subAccounts {
		listed = listed || sa.Email == email
	}
	hs := s.subWallets[email][w]
	var assets []string
	for a := range hs {
		assets = append(assets, a)
	}
	sort.Strings(assets)
	return assets, hs, listed
}

// noSubAccount is the answer to an email that is not a sub-account of this
// master. Binance's documentation names no code for it; the fake answers
// as for a malformed mandatory parameter, so a client sees an error.
func noSubAccount() (int, any) {
	return e400(-1102, "Mandatory parameter 'email' was not sent, was empty/null, or malformed.")
}

// handleSubAccountAssets is GET /sapi/v3/sub-account/assets: the
// documented example's first row per asset of the sub-account's spot
// wallet, free and locked as JSON numbers as documented.
func (s *Server) handleSubAccountAssets(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	assets, hs, ok := s.subWallet(q.Get("email"), venue.WalletSpot)
	if !ok {
		return noSubAccount()
	}
	doc := Doc("sub_account_assets.json")
	row := element(field(doc, "balances"), 0)
	rows := [][]byte{}
	for _, a := range assets {
		h := hs[a]
		rows = append(rows, mustEdit(row, "asset", jstr(a), "free", h.free.String(), "locked", h.locked.String()))
	}
	return 200, json.RawMessage(mustEdit(doc, "balances", string(join(rows))))
}

// handleSubAccountFutures is GET /sapi/v2/sub-account/futures/account
// with futuresType=1 (USDⓈ-M): the documented example with the
// sub-account's email and one asset row per futures asset.
func (s *Server) handleSubAccountFutures(_ http.ResponseWriter, q url.Values) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("futuresType") != "1" {
		return e400(-1102, "Mandatory parameter 'futuresType' was not sent, was empty/null, or malformed.")
	}
	email := q.Get("email")
	assets, hs, ok := s.subWallet(email, venue.WalletFutures)
	if !ok {
		return noSubAccount()
	}
	doc := Doc("sub_account_futures_account.json")
	inner := field(doc, "futureAccountResp")
	row := element(field(inner, "assets"), 0)
	rows := [][]byte{}
	var total venue.Decimal
	for _, a := range assets {
		h := hs[a]
		wallet := jstr(h.free.Add(h.locked).StringFixed(8))
		rows = append(rows, mustEdit(row, "asset", jstr(a), "marginBalance", wallet, "maxWithdrawAmount", jstr(h.free.StringFixed(8)),
			"walletBalance", wallet))
		total = total.Add(h.free.Add(h.locked))
	}
	inner = mustEdit(inner, "email", jstr(email), "assets", string(join(rows)),
		"totalWalletBalance", jstr(total.StringFixed(8)), "totalMarginBalance", jstr(total.StringFixed(8)),
		"updateTime", strconv.FormatInt(ms(s.now()), 10))
	return 200, json.RawMessage(mustEdit(doc, "futureAccountResp", string(inner)))
}
