package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/backfill"
	"github.com/tradeplane/tradeplane/internal/fieldcheck"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// registerAPI registers every /api/v1 route with the least role it needs.
// The OpenAPI document (openapi.go) must list exactly these.
func (s *Server) registerAPI() {
	v, t, a := auth.RoleViewer, auth.RoleTrader, auth.RoleAdmin
	api := func(role auth.Role, pattern string, h http.HandlerFunc) { s.handle(KindAPI, role, pattern, h) }
	api(v, "GET /api/v1/openapi.json", s.openAPI)
	api(v, "GET /api/v1/me", s.me)
	api(v, "GET /api/v1/accounts", s.listAccounts)
	api(a, "POST /api/v1/accounts", s.createAccount)
	api(a, "DELETE /api/v1/accounts/{name}", s.removeAccount)
	api(v, "GET /api/v1/sessions", s.listSessions)
	api(t, "POST /api/v1/sessions", s.createSession)
	s.handleStream(v, "GET /api/v1/sessions/stream", s.topicStream(TopicSessions))
	api(v, "GET /api/v1/sessions/{id}", s.getSession)
	api(t, "DELETE /api/v1/sessions/{id}", s.deleteSession)
	for _, c := range SessionCommands {
		api(t, "POST /api/v1/sessions/{id}/"+string(c), s.sessionCommand(c))
	}
	api(t, "PATCH /api/v1/sessions/{id}/params", s.patchParams)
	api(t, "POST /api/v1/trade-all", s.startTradeAll)
	api(t, "POST /api/v1/trade-all/preview", s.previewTradeAll)
	api(v, "GET /api/v1/trade-all/{run}", s.getTradeAll)
	s.handleStream(v, "GET /api/v1/trade-all/{run}/stream", s.tradeAllStream)
	api(t, "POST /api/v1/trade-all/{run}/cancel", s.cancelTradeAll)
	api(v, "GET /api/v1/portfolio", s.getPortfolio)
	s.handleStream(v, "GET /api/v1/portfolio/stream", s.portfolioStream)
	api(v, "GET /api/v1/collateral", s.getCollateral)
	api(a, "PUT /api/v1/collateral/{asset}", s.putCollateral)
	api(v, "GET /api/v1/journal", s.getJournal)
	api(v, "GET /api/v1/journal/audit", s.auditJournal)
	s.handleStream(v, "GET /api/v1/journal/stream", s.topicStream(TopicJournal))
	api(v, "GET /api/v1/pnl", s.getPnL)
	api(t, "POST /api/v1/pnl/backfill", s.startBackfill)
	api(t, "POST /api/v1/pnl/backfill/preview", s.previewBackfill)
	api(v, "GET /api/v1/jobs/{id}", s.getJob)
	api(t, "POST /api/v1/jobs/{id}/cancel", s.cancelJob)
	api(v, "GET /api/v1/alerts", s.listAlerts)
	s.handleStream(v, "GET /api/v1/alerts/stream", s.topicStream(TopicAlerts))
	api(t, "POST /api/v1/alerts/{id}/ack", s.ackAlert)
	s.handleStream(v, "GET /api/v1/events", s.eventsStream)
	api(v, "GET /api/v1/nodes", s.listNodes)
	api(v, "GET /api/v1/stats", s.getStats)
	api(a, "GET /api/v1/audit", s.listAudit)
	api(a, "GET /api/v1/tokens", s.listTokens)
	api(a, "POST /api/v1/tokens", s.createToken)
	api(a, "DELETE /api/v1/tokens/{id}", s.revokeToken)
	s.registerReplay()
}

// --- request helpers -------------------------------------------------------

// decodeBody reads one JSON object into v, refusing unknown fields and
// trailing data; a body over the limit is ErrTooLarge.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("read body: %w", ErrTooLarge)
		}
		if errors.Is(err, io.EOF) {
			return invalidf("request body is empty; want a JSON object")
		}
		return invalidf("request body is not valid JSON for this route: %s", jsonProblem(err))
	}
	if dec.More() {
		return invalidf("request body has data after the JSON object")
	}
	return nil
}

// jsonKind names what a Go type reads from JSON in the words of JSON (a
// message names fields and JSON kinds, never Go types).
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a different JSON value"
	}
	if t.Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		if t.Kind() == reflect.Struct || t.Kind() == reflect.Array { // decimals, times
			return "a string"
		}
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a different JSON value"
}

// jsonProblem describes a decode error without echoing input values.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			return fmt.Sprintf("the body must be %s", jsonKind(ute.Type))
		}
		return fmt.Sprintf("field %q must be %s", field, jsonKind(ute.Type))
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON"
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// pageParams reads limit (1..1000, default 100) and the opaque cursor.
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	limit = defaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, "", invalidf("limit %q: want an integer from 1 to %d", v, maxLimit)
		}
		limit = n
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(b) == 0 {
			return 0, "", invalidf("cursor %q is not one this server issued", c)
		}
		cursor = string(b)
	}
	return limit, cursor, nil
}

func encodeCursor(key string) string {
	if key == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// pageOf pages a list sorted by key ascending: the items after cursor, at
// most limit, and the next cursor ("" at the end).
func pageOf[T any](items []T, key func(T) string, cursor string, limit int) ([]T, string) {
	start := 0
	if cursor != "" {
		start, _ = slices.BinarySearchFunc(items, cursor, func(it T, c string) int { return strings.Compare(key(it), c) })
		if start < len(items) && key(items[start]) == cursor {
			start++
		}
	}
	end := min(start+limit, len(items))
	out := items[start:end]
	if end < len(items) && len(out) > 0 {
		return out, encodeCursor(key(out[len(out)-1]))
	}
	return out, ""
}

// int64Cursor parses a keyset cursor holding an id.
func int64Cursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalidf("cursor is not one this server issued")
	}
	return n, nil
}

// list is the shape of every paginated list: items under a named key plus
// next_cursor ("" on the last page).
func list(key string, items any, next string) map[string]any {
	return map[string]any{key: items, "next_cursor": next}
}

func unavailable(what string) error {
	return &Error{Kind: ErrUnavailable, Message: what + " is not available on this node"}
}

// --- who am I --------------------------------------------------------------

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	writeJSON(w, http.StatusOK, map[string]string{"token_id": p.TokenID, "name": p.Name, "role": p.Role.String()})
}

// --- accounts --------------------------------------------------------------

// AccountView is an account as the API shows it: never its credentials.
type AccountView struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Venue          string    `json:"venue"`
	Tags           []string  `json:"tags"`
	HasCredentials bool      `json:"has_credentials"`
	CreatedAt      time.Time `json:"created_at"`
	// A Binance sub-account: its master account and its email there.
	Master          string `json:"master,omitempty"`
	SubAccountEmail string `json:"sub_account_email,omitempty"`
	// A binance-futures account's own leverage and margin type per symbol.
	FuturesLeverage   map[string]int    `json:"futures_leverage,omitempty"`
	FuturesMarginType map[string]string `json:"futures_margin_type,omitempty"`
}

func toAccountJSON(a store.Account) AccountView {
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	return AccountView{ID: a.ID, Name: a.Name, Venue: a.Venue, Tags: tags, HasCredentials: a.APIKey != "" || len(a.APISecretEnc) > 0, CreatedAt: a.CreatedAt,
		Master: a.Master, SubAccountEmail: a.SubAccountEmail, FuturesLeverage: a.FuturesLeverage, FuturesMarginType: a.FuturesMarginType}
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	accts, err := s.deps.Store.Accounts(r.Context())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	page, next := pageOf(accts, func(a store.Account) string { return a.Name }, cursor, limit)
	out := make([]AccountView, 0, len(page))
	for _, a := range page {
		out = append(out, toAccountJSON(a))
	}
	writeJSON(w, http.StatusOK, list("accounts", out, next))
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) {
	if s.deps.Accounts == nil {
		s.writeErr(w, r, unavailable("account management"))
		return
	}
	var in NewAccount
	if err := decodeBody(r, &in); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := fieldcheck.CheckAccount(fieldcheck.Account{Name: in.Name, Venue: in.Venue, BaseURL: in.BaseURL, APIKey: in.APIKey,
		APISecret: in.APISecret, Tags: in.Tags, Master: in.Master, SubAccountEmail: in.SubAccountEmail,
		FuturesLeverage: in.FuturesLeverage, FuturesMarginType: in.FuturesMarginType}, fieldcheck.JSONFields); err != nil {
		s.writeErr(w, r, invalidf("%s", redactErr(err, in.APIKey, in.APISecret).Error()))
		return
	}
	noteAudit(r, "account:"+in.Name, "venue "+in.Venue+", credentials "+strconv.FormatBool(in.APIKey != "" || in.APISecret != ""))
	a, err := s.deps.Accounts.CreateAccount(r.Context(), in, principalOf(r).Actor())
	if err != nil {
		// The adapter's error may quote what it was given: scrub the
		// credentials before the error is logged or classified.
		s.writeErr(w, r, redactErr(err, in.APIKey, in.APISecret))
		return
	}
	writeJSON(w, http.StatusCreated, toAccountJSON(a))
}

// redactErr returns err with every secret replaced by [redacted] in its
// message, keeping its class for the error table.
func redactErr(err error, secrets ...string) error {
	msg := err.Error()
	changed := false
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(msg, sec) {
			msg = strings.ReplaceAll(msg, sec, "[redacted]")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }

// Is keeps the class of the wrapped error without exposing its text.
func (e *redacted) Is(target error) bool { return errors.Is(e.err, target) }

func (s *Server) removeAccount(w http.ResponseWriter, r *http.Request) {
	if s.deps.Accounts == nil {
		s.writeErr(w, r, unavailable("account management"))
		return
	}
	name := r.PathValue("name")
	noteAudit(r, "account:"+name, "remove")
	if err := s.deps.Accounts.RemoveAccount(r.Context(), name, principalOf(r).Actor()); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- sessions --------------------------------------------------------------

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	if s.deps.Sessions == nil {
		s.writeErr(w, r, unavailable("the session supervisor"))
		return
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	q := r.URL.Query()
	ss, err := s.deps.Sessions.Sessions(r.Context(), SessionQuery{Tag: q.Get("tag"), State: q.Get("state"), Account: q.Get("account")})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	page, next := pageOf(ss, func(v SessionView) string { return v.ID }, cursor, limit)
	writeJSON(w, http.StatusOK, list("sessions", nonNilSlice(page), next))
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	if s.deps.Sessions == nil {
		s.writeErr(w, r, unavailable("the session supervisor"))
		return
	}
	v, err := s.deps.Sessions.Session(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) sessionCommand(c SessionCommand) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.deps.Sessions == nil {
			s.writeErr(w, r, unavailable("the session supervisor"))
			return
		}
		id := r.PathValue("id")
		noteAudit(r, "session:"+id, string(c))
		v, err := s.deps.Sessions.Command(r.Context(), id, c, principalOf(r).Actor())
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		s.PublishSession(v)
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) patchParams(w http.ResponseWriter, r *http.Request) {
	if s.deps.Sessions == nil {
		s.writeErr(w, r, unavailable("the session supervisor"))
		return
	}
	var params map[string]json.RawMessage
	if err := decodeBody(r, &params); err != nil {
		s.writeErr(w, r, err)
		return
	}
	raw, _ := json.Marshal(params)
	id := r.PathValue("id")
	noteAudit(r, "session:"+id, "params "+truncate(string(raw), 500))
	if err := fieldcheck.Params("params", raw); err != nil {
		s.writeErr(w, r, invalidf("%s", err.Error()))
		return
	}
	v, err := s.deps.Sessions.UpdateParams(r.Context(), id, raw, principalOf(r).Actor())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.PublishSession(v)
	writeJSON(w, http.StatusOK, v)
}

// sessionSpecBody is the body of POST /api/v1/sessions.
type sessionSpecBody struct {
	Name           string          `json:"name"`
	Strategy       string          `json:"strategy"`
	Account        string          `json:"account"`
	Symbols        []string        `json:"symbols"`
	Params         json.RawMessage `json:"params"`
	AllocationKind string          `json:"allocation_kind"`
	Allocation     string          `json:"allocation"`
	Tags           []string        `json:"tags"`
	Start          bool            `json:"start"`
}

// sessionSpec checks the body and turns it into a SessionSpec; every
// refusal names the field.
func sessionSpec(b sessionSpecBody) (SessionSpec, error) {
	spec := SessionSpec{Name: strings.TrimSpace(b.Name), Strategy: strings.TrimSpace(b.Strategy), Account: strings.TrimSpace(b.Account),
		AllocationKind: b.AllocationKind, Start: b.Start}
	if spec.Strategy == "" {
		return spec, invalidf("strategy is required")
	}
	if spec.Account == "" {
		return spec, invalidf("account is required")
	}
	if spec.Name != "" {
		if err := fieldcheck.Name("name", spec.Name); err != nil {
			return spec, invalidf("%s", err.Error())
		}
	}
	if err := fieldcheck.AccountName("account", spec.Account); err != nil {
		return spec, invalidf("%s", err.Error())
	}
	for i, sym := range b.Symbols {
		sym = strings.ToUpper(strings.TrimSpace(sym))
		if sym == "" {
			return spec, invalidf("symbols[%d] is empty", i)
		}
		if !slices.Contains(spec.Symbols, sym) {
			spec.Symbols = append(spec.Symbols, sym)
		}
	}
	if err := fieldcheck.Symbols("symbols", spec.Symbols); err != nil {
		return spec, invalidf("%s", err.Error())
	}
	for i, tag := range b.Tags {
		tag = strings.TrimSpace(tag)
		if tag == "" {
			return spec, invalidf("tags[%d] is empty", i)
		}
		if !slices.Contains(spec.Tags, tag) {
			spec.Tags = append(spec.Tags, tag)
		}
	}
	if err := fieldcheck.Tags("tags", spec.Tags); err != nil {
		return spec, invalidf("%s", err.Error())
	}
	switch spec.AllocationKind {
	case "":
		spec.AllocationKind = AllocationFixed
	case AllocationFixed, AllocationShare:
	default:
		return spec, invalidf("allocation_kind %q: want fixed or share", b.AllocationKind)
	}
	if b.Allocation == "" {
		return spec, invalidf("allocation is required (a decimal string, e.g. \"1000\")")
	}
	d, err := udecimal.Parse(b.Allocation)
	if err != nil {
		return spec, invalidf("allocation %q is not a decimal", truncate(b.Allocation, 40))
	}
	if err := fieldcheck.Amount("allocation", d); err != nil {
		return spec, invalidf("%s", err.Error())
	}
	if spec.AllocationKind == AllocationShare && d.GreaterThan(udecimal.One) {
		return spec, invalidf("allocation %s: a share allocation is at most 1", d)
	}
	spec.Allocation = d
	spec.Params = b.Params
	if len(spec.Params) == 0 || string(spec.Params) == "null" {
		spec.Params = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(spec.Params, &obj); err != nil {
		return spec, invalidf("params must be a JSON object")
	}
	if err := fieldcheck.Params("params", spec.Params); err != nil {
		return spec, invalidf("%s", err.Error())
	}
	return spec, nil
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	if s.deps.Sessions == nil {
		s.writeErr(w, r, unavailable("the session supervisor"))
		return
	}
	var body sessionSpecBody
	if err := decodeBody(r, &body); err != nil {
		s.writeErr(w, r, err)
		return
	}
	spec, err := sessionSpec(body)
	target := "session:(new)"
	if spec.Name != "" {
		target = "session:" + spec.Name
	}
	noteAudit(r, target, fmt.Sprintf("create %s on %q, %s allocation %s, symbols %v, tags %v, start %t, params %s",
		spec.Strategy, spec.Account, spec.AllocationKind, spec.Allocation, spec.Symbols, spec.Tags, spec.Start, truncate(string(spec.Params), 300)))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	v, err := s.deps.Sessions.Create(r.Context(), spec, principalOf(r).Actor())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	noteAudit(r, "session:"+v.ID, fmt.Sprintf("create %q: %s on %q, %s allocation %s, symbols %v, tags %v, start %t, params %s",
		v.Name, spec.Strategy, spec.Account, spec.AllocationKind, spec.Allocation, spec.Symbols, spec.Tags, spec.Start, truncate(string(spec.Params), 300)))
	s.PublishSession(v)
	w.Header().Set("Location", "/api/v1/sessions/"+url.PathEscape(v.ID))
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	if s.deps.Sessions == nil {
		s.writeErr(w, r, unavailable("the session supervisor"))
		return
	}
	id := r.PathValue("id")
	force := false
	switch v := r.URL.Query().Get("force"); v {
	case "", "false":
	case "true":
		force = true
	default:
		noteAudit(r, "session:"+id, "delete")
		s.writeErr(w, r, invalidf("force %q: want true or false", v))
		return
	}
	noteAudit(r, "session:"+id, "delete, force "+strconv.FormatBool(force))
	if err := s.deps.Sessions.Delete(r.Context(), id, force, principalOf(r).Actor()); err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.hub.publish(TopicSessions, "session-deleted", id, map[string]string{"id": id})
	w.WriteHeader(http.StatusNoContent)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// --- trade all -------------------------------------------------------------

func validTradeAll(req TradeAllRequest) error {
	if req.Empty() {
		return invalidf("select sessions: session_ids, tags, account, venue, or all (every running session)")
	}
	for _, id := range req.SessionIDs {
		if id == "" {
			return invalidf("session_ids: an empty id")
		}
	}
	for _, t := range req.AllTags() {
		if t == "" {
			return invalidf("tags: an empty tag")
		}
	}
	if req.Venue != "" {
		if _, err := venue.Lookup(req.Venue); err != nil {
			return invalidf("venue: %q: want %s", truncate(req.Venue, 40), venue.NamesText())
		}
	}
	return nil
}

// describeTradeAll is a request's selection for the audit log.
func describeTradeAll(req TradeAllRequest) string {
	var parts []string
	if len(req.SessionIDs) > 0 {
		parts = append(parts, fmt.Sprintf("sessions %q", req.SessionIDs))
	}
	if tags := req.AllTags(); len(tags) > 0 {
		parts = append(parts, fmt.Sprintf("tags %q", tags))
	}
	if req.Account != "" {
		parts = append(parts, fmt.Sprintf("account %q", req.Account))
	}
	if req.Venue != "" {
		parts = append(parts, fmt.Sprintf("venue %q", req.Venue))
	}
	if req.All {
		parts = append(parts, "all running")
	}
	return strings.Join(parts, ", ")
}

func (s *Server) previewTradeAll(w http.ResponseWriter, r *http.Request) {
	if s.deps.TradeAll == nil {
		s.writeErr(w, r, unavailable("Trade All"))
		return
	}
	var req TradeAllRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := validTradeAll(req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	p, err := s.deps.TradeAll.Preview(r.Context(), req)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	p.Sessions, p.Skipped, p.Plans = nonNilSlice(p.Sessions), nonNilSlice(p.Skipped), nonNilSlice(p.Plans)
	for i := range p.Plans {
		p.Plans[i].Orders = nonNilSlice(p.Plans[i].Orders)
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) startTradeAll(w http.ResponseWriter, r *http.Request) {
	if s.deps.TradeAll == nil {
		s.writeErr(w, r, unavailable("Trade All"))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > 128 {
		s.writeErr(w, r, invalidf("an Idempotency-Key header (1 to 128 characters) is required"))
		return
	}
	var req TradeAllRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := validTradeAll(req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	run, created, err := s.deps.TradeAll.Start(r.Context(), req, key, principalOf(r).Actor())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	noteAudit(r, "trade-all:"+run.ID, fmt.Sprintf("key %q, %s, %d sessions, created %t", key, describeTradeAll(req), run.Total, created))
	w.Header().Set("Location", "/api/v1/trade-all/"+url.PathEscape(run.ID))
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, run)
}

func (s *Server) getTradeAll(w http.ResponseWriter, r *http.Request) {
	if s.deps.TradeAll == nil {
		s.writeErr(w, r, unavailable("Trade All"))
		return
	}
	run, err := s.deps.TradeAll.Run(r.Context(), r.PathValue("run"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) cancelTradeAll(w http.ResponseWriter, r *http.Request) {
	if s.deps.TradeAll == nil {
		s.writeErr(w, r, unavailable("Trade All"))
		return
	}
	id := r.PathValue("run")
	noteAudit(r, "trade-all:"+id, "cancel")
	run, err := s.deps.TradeAll.Cancel(r.Context(), id, principalOf(r).Actor())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) tradeAllStream(w http.ResponseWriter, r *http.Request) {
	if s.deps.TradeAll == nil {
		s.writeErr(w, r, unavailable("Trade All"))
		return
	}
	id := r.PathValue("run")
	sub := s.hub.subscribe(func(m *message) bool { return m.key == id }, TopicTradeAll)
	run, err := s.deps.TradeAll.Run(r.Context(), id)
	if err != nil {
		s.hub.unsubscribe(sub)
		s.writeErr(w, r, err)
		return
	}
	s.stream(w, r, sub, initialFrame(string(TopicTradeAll), run))
}

// --- portfolio and collateral ------------------------------------------------

func (s *Server) getCollateral(w http.ResponseWriter, r *http.Request) {
	if s.deps.Collateral == nil {
		s.writeErr(w, r, unavailable("collateral"))
		return
	}
	account := r.URL.Query().Get("account")
	rs, err := s.deps.Collateral.Ratios(r.Context(), account)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": account, "ratios": nonNilSlice(rs)})
}

type ratioBody struct {
	Ratio   string `json:"ratio"`
	Account string `json:"account,omitempty"`
}

func (s *Server) putCollateral(w http.ResponseWriter, r *http.Request) {
	if s.deps.Collateral == nil {
		s.writeErr(w, r, unavailable("collateral"))
		return
	}
	var body ratioBody
	if err := decodeBody(r, &body); err != nil {
		s.writeErr(w, r, err)
		return
	}
	asset := strings.ToUpper(r.PathValue("asset"))
	noteAudit(r, "collateral:"+asset, fmt.Sprintf("account %q ratio %q", body.Account, truncate(body.Ratio, 40)))
	ratio := strings.TrimSpace(body.Ratio)
	switch ratio {
	case "":
		// An empty ratio used to remove the override silently.
		s.writeErr(w, r, invalidf(`ratio is required: a decimal from 0 to 1, or "default" to remove the override`))
		return
	case "default":
		ratio = "" // the portfolio's "remove the override"
	}
	ver, err := s.deps.Collateral.SetRatio(r.Context(), principalOf(r).Actor(), body.Account, asset, ratio)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ver)
}

// --- journal ---------------------------------------------------------------

// JournalJSON is one journal event as the API shows it (the CLI prints the
// same shape): decimals as strings, times RFC 3339 UTC.
type JournalJSON struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	Kind          string    `json:"kind"`
	SessionID     string    `json:"session_id,omitempty"`
	AccountID     int64     `json:"account_id,omitempty"`
	Symbol        string    `json:"symbol,omitempty"`
	ClientOrderID string    `json:"client_order_id,omitempty"`
	VenueOrderID  string    `json:"venue_order_id,omitempty"`
	Side          string    `json:"side,omitempty"`
	OrderType     string    `json:"order_type,omitempty"`
	Quantity      string    `json:"quantity"`
	Price         string    `json:"price"`
	FilledQty     string    `json:"filled_qty"`
	Fee           string    `json:"fee"`
	FeeAsset      string    `json:"fee_asset,omitempty"`
	LatencyUS     int64     `json:"latency_us,omitempty"`
	ErrorClass    string    `json:"error_class,omitempty"`
	ErrorCode     int64     `json:"error_code,omitempty"`
	Message       string    `json:"message,omitempty"`
	Node          string    `json:"node,omitempty"`
}

// ToJournalJSON renders a stored journal event for the API.
func ToJournalJSON(e store.JournalEvent) JournalJSON {
	return JournalJSON{
		Seq: e.Seq, At: e.At.UTC(), Kind: e.Kind, SessionID: e.SessionID, AccountID: e.AccountID, Symbol: e.Symbol,
		ClientOrderID: e.ClientOrderID, VenueOrderID: e.VenueOrderID, Side: e.Side, OrderType: e.OrderType,
		Quantity: e.Quantity.String(), Price: e.Price.String(), FilledQty: e.FilledQty.String(), Fee: e.Fee.String(),
		FeeAsset: e.FeeAsset, LatencyUS: e.LatencyUS, ErrorClass: e.ErrorClass, ErrorCode: e.ErrorCode, Message: e.Message, Node: e.Node,
	}
}

// journalQuery reads the journal filters: session, kind, failures=true.
func journalQuery(r *http.Request) (store.EventQuery, error) {
	q := r.URL.Query()
	eq := store.EventQuery{SessionID: q.Get("session"), Kind: q.Get("kind")}
	switch q.Get("failures") {
	case "", "false":
	case "true":
		eq.FailuresOnly = true
	default:
		return eq, invalidf("failures %q: want true or false", q.Get("failures"))
	}
	return eq, nil
}

func (s *Server) getJournal(w http.ResponseWriter, r *http.Request) {
	if s.deps.Journal == nil {
		s.writeErr(w, r, unavailable("the journal"))
		return
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	eq, err := journalQuery(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if eq.BeforeSeq, err = int64Cursor(cursor); err != nil {
		s.writeErr(w, r, err)
		return
	}
	eq.Limit = limit + 1
	evs, err := s.deps.Journal.JournalEvents(r.Context(), eq)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	next := ""
	if len(evs) > limit {
		evs = evs[:limit]
		next = encodeCursor(strconv.FormatInt(evs[limit-1].Seq, 10))
	}
	out := make([]JournalJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, ToJournalJSON(e))
	}
	writeJSON(w, http.StatusOK, list("events", out, next))
}

// auditJournal runs the journal audit of ?account= over [from, to)
// (RFC 3339; default the last 24 hours).
func (s *Server) auditJournal(w http.ResponseWriter, r *http.Request) {
	if s.deps.Auditor == nil {
		s.writeErr(w, r, unavailable("the journal audit"))
		return
	}
	q := r.URL.Query()
	account := q.Get("account")
	if account == "" {
		s.writeErr(w, r, invalidf("account is required"))
		return
	}
	to := s.clk.Now().UTC()
	from := to.Add(-24 * time.Hour)
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				s.writeErr(w, r, invalidf("%s %q: want an RFC 3339 time", name, truncate(v, 40)))
				return
			}
			*dst = t.UTC()
		}
	}
	if !from.Before(to) {
		s.writeErr(w, r, invalidf("from must be before to"))
		return
	}
	rep, err := s.deps.Auditor.AuditJournal(r.Context(), account, from, to)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// --- pnl and jobs ----------------------------------------------------------

// pnlQuery reads scope (default desk), interval (1h or 1d, default 1h),
// from and to (RFC 3339; default the last 7 days).
func (s *Server) pnlQuery(r *http.Request) (PnLQuery, error) {
	q := r.URL.Query()
	pq := PnLQuery{Scope: q.Get("scope"), Interval: q.Get("interval")}
	if pq.Scope == "" {
		pq.Scope = "desk"
	}
	if pq.Scope != "desk" && !strings.HasPrefix(pq.Scope, "account:") && !strings.HasPrefix(pq.Scope, "session:") {
		return pq, invalidf("scope %q: want desk, account:NAME or session:ID", pq.Scope)
	}
	switch pq.Interval {
	case "":
		pq.Interval = "1h"
	case "1h", "1d":
	default:
		return pq, invalidf("interval %q: want 1h or 1d", pq.Interval)
	}
	now := s.clk.Now().UTC()
	pq.To, pq.From = now, now.Add(-7*24*time.Hour)
	for name, dst := range map[string]*time.Time{"from": &pq.From, "to": &pq.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return pq, invalidf("%s %q: want an RFC 3339 time", name, v)
			}
			*dst = t.UTC()
		}
	}
	if !pq.From.Before(pq.To) {
		return pq, invalidf("from must be before to")
	}
	return pq, checkPnLRange(pq)
}

func (s *Server) getPnL(w http.ResponseWriter, r *http.Request) {
	if s.deps.PnL == nil {
		s.writeErr(w, r, unavailable("PnL"))
		return
	}
	pq, err := s.pnlQuery(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	rep, err := s.pnlReport(r.Context(), pq)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	rep.Equity, rep.Averages, rep.Backfills = nonNilSlice(rep.Equity), nonNilSlice(rep.Averages), nonNilSlice(rep.Backfills)
	writeJSON(w, http.StatusOK, rep)
}

// backfillBody is the body of POST /api/v1/pnl/backfill.
type backfillBody struct {
	Account  string   `json:"account"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	Interval string   `json:"interval"`
	Symbols  []string `json:"symbols"`
	// OpeningEquity is a decimal string; empty means zero.
	OpeningEquity string `json:"opening_equity"`
	// Valuation is the asset of sums and equity ("" for the default).
	Valuation string `json:"valuation"`
	// OpeningHoldings are assets held before the first fill (amounts as
	// decimal strings); they need Valuation.
	OpeningHoldings []holdingBody `json:"opening_holdings"`
}

type holdingBody struct {
	Asset  string `json:"asset"`
	Amount string `json:"amount"`
}

// parseDay reads an RFC 3339 time or a YYYY-MM-DD date (00:00 UTC).
func parseDay(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, invalidf("%s is required (RFC 3339 or YYYY-MM-DD)", field)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, invalidf("%s %q: want an RFC 3339 time or a YYYY-MM-DD date", field, truncate(v, 40))
}

func (s *Server) startBackfill(w http.ResponseWriter, r *http.Request) {
	if s.deps.Backfills == nil {
		s.writeErr(w, r, unavailable("PnL backfill"))
		return
	}
	var body backfillBody
	if err := decodeBody(r, &body); err != nil {
		s.writeErr(w, r, err)
		return
	}
	req, err := backfillRequest(body)
	noteAudit(r, "account:"+req.Account, fmt.Sprintf("backfill %q to %q, interval %q, symbols %v, opening equity %q, valuation %q, %d opening holdings",
		body.From, body.To, body.Interval, req.Symbols, truncate(body.OpeningEquity, 40), truncate(body.Valuation, 20), len(body.OpeningHoldings)))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	j, err := s.deps.Backfills.Start(r.Context(), req, principalOf(r).Actor())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	noteAudit(r, "job:"+j.ID, fmt.Sprintf("backfill account %q from %s to %s, interval %s, symbols %v, opening equity %s, valuation %q, opening holdings %v",
		req.Account, req.From.Format(time.RFC3339), req.To.Format(time.RFC3339), req.Interval, req.Symbols, req.OpeningEquity,
		req.Valuation, req.OpeningHoldings))
	w.Header().Set("Location", "/api/v1/jobs/"+url.PathEscape(j.ID))
	writeJSON(w, http.StatusAccepted, toJobJSON(j))
}

// backfillRequest checks the body; every refusal names the field.
func backfillRequest(b backfillBody) (BackfillRequest, error) {
	req := BackfillRequest{Account: strings.TrimSpace(b.Account), Interval: b.Interval}
	if req.Account == "" {
		return req, invalidf("account is required")
	}
	for i, sym := range b.Symbols {
		sym = strings.ToUpper(strings.TrimSpace(sym))
		if sym == "" {
			return req, invalidf("symbols[%d] is empty", i)
		}
		req.Symbols = append(req.Symbols, sym)
	}
	switch req.Interval {
	case "":
		req.Interval = "1h"
	case "1h", "1d":
	default:
		return req, invalidf("interval %q: want 1h or 1d", truncate(b.Interval, 20))
	}
	var err error
	if req.From, err = parseDay("from", b.From); err != nil {
		return req, err
	}
	if req.To, err = parseDay("to", b.To); err != nil {
		return req, err
	}
	if !req.From.Before(req.To) {
		return req, invalidf("from must be before to")
	}
	if err := backfill.CheckSpan(req.From, req.To); err != nil {
		return req, invalidf("from %s to %s is longer than %d days, the most one backfill may cover: split it into several ranges",
			req.From.Format(time.DateOnly), req.To.Format(time.DateOnly), int64(backfill.MaxSpan/(24*time.Hour)))
	}
	if b.OpeningEquity != "" {
		if req.OpeningEquity, err = udecimal.Parse(b.OpeningEquity); err != nil {
			return req, invalidf("opening_equity %q is not a decimal", truncate(b.OpeningEquity, 40))
		}
	}
	req.Valuation = strings.ToUpper(strings.TrimSpace(b.Valuation))
	for i, h := range b.OpeningHoldings {
		amt, err := udecimal.Parse(h.Amount)
		if err != nil {
			return req, invalidf("opening_holdings[%d].amount %q is not a decimal", i, truncate(h.Amount, 40))
		}
		req.OpeningHoldings = append(req.OpeningHoldings, pnl.AssetAmount{Asset: strings.ToUpper(strings.TrimSpace(h.Asset)), Amount: amt})
	}
	if err := backfill.CheckOpening(req.Valuation, req.OpeningHoldings); err != nil {
		return req, invalidf("%s", backfill.Reason(err))
	}
	return req, nil
}

type jobJSON struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	Args      json.RawMessage `json:"args"`
	State     string          `json:"state"`
	Done      int64           `json:"done"`
	Total     int64           `json:"total"`
	Message   string          `json:"message,omitempty"`
	Error     string          `json:"error,omitempty"`
	Owner     string          `json:"owner,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.deps.Store.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJobJSON(j))
}

// toJobJSON is a job as GET /api/v1/jobs/{id} shows it.
func toJobJSON(j store.Job) jobJSON {
	args := json.RawMessage(j.Args)
	if !json.Valid(args) {
		args = json.RawMessage("{}")
	}
	return jobJSON{ID: j.ID, Kind: j.Kind, Args: args, State: j.State, Done: j.Done, Total: j.Total,
		Message: j.Message, Error: j.Error, Owner: j.Owner, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
}

// --- alerts ----------------------------------------------------------------

// alertJSON is one alert as the API shows it.
type alertJSON struct {
	ID        int64      `json:"id"`
	At        time.Time  `json:"at"`
	Severity  string     `json:"severity"`
	Source    string     `json:"source"`
	SessionID string     `json:"session_id,omitempty"`
	AccountID int64      `json:"account_id,omitempty"`
	Message   string     `json:"message"`
	AckedAt   *time.Time `json:"acked_at,omitempty"`
}

func toAlertJSON(a store.Alert) alertJSON {
	out := alertJSON{ID: a.ID, At: a.At, Severity: a.Severity, Source: a.Source, SessionID: a.SessionID, AccountID: a.AccountID, Message: a.Message}
	if !a.AckedAt.IsZero() {
		t := a.AckedAt
		out.AckedAt = &t
	}
	return out
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	listByID(s, w, r, "alerts", s.deps.Store.Alerts, func(a store.Alert) int64 { return a.ID }, toAlertJSON)
}

// listByID serves a list paged newest first by an int64 id: limit and
// cursor from the query, one extra row fetched to know whether there is a
// next page.
func listByID[T, J any](s *Server, w http.ResponseWriter, r *http.Request, name string,
	fetch func(ctx context.Context, beforeID int64, limit int) ([]T, error), id func(T) int64, view func(T) J) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	before, err := int64Cursor(cursor)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	rows, err := fetch(r.Context(), before, limit+1)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(strconv.FormatInt(id(rows[limit-1]), 10))
	}
	out := make([]J, 0, len(rows))
	for _, row := range rows {
		out = append(out, view(row))
	}
	writeJSON(w, http.StatusOK, list(name, out, next))
}

func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeErr(w, r, invalidf("alert id %q: want a positive integer", r.PathValue("id")))
		return
	}
	noteAudit(r, "alert:"+strconv.FormatInt(id, 10), "ack")
	if err := s.deps.Store.AckAlert(r.Context(), id, s.clk.Now()); err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.hub.publish(TopicAlerts, "alert-ack", "", map[string]int64{"id": id})
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "acked": true})
}

// --- streams ---------------------------------------------------------------

// topicStream serves one topic's events as SSE.
func (s *Server) topicStream(t Topic) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var initial [][]byte
		if t == TopicPortfolio && s.deps.Portfolio != nil {
			initial = append(initial, initialFrame(string(TopicPortfolio), s.portfolioChange()))
		}
		s.stream(w, r, s.hub.subscribe(nil, t), initial...)
	}
}

// eventsStream serves several topics on one connection (?topic=a&topic=b),
// which the dashboard uses so a page holds one connection.
func (s *Server) eventsStream(w http.ResponseWriter, r *http.Request) {
	var topics []Topic
	for _, name := range r.URL.Query()["topic"] {
		switch t := Topic(name); t {
		case TopicPortfolio, TopicJournal, TopicTradeAll, TopicAlerts, TopicSessions:
			topics = append(topics, t)
		default:
			s.writeErr(w, r, invalidf("topic %q: want portfolio, journal, trade-all, alerts or sessions", name))
			return
		}
	}
	if len(topics) == 0 {
		s.writeErr(w, r, invalidf("name at least one topic"))
		return
	}
	s.stream(w, r, s.hub.subscribe(nil, topics...))
}

// --- nodes, audit, tokens ----------------------------------------------------

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	if s.deps.Nodes == nil {
		writeJSON(w, http.StatusOK, map[string]any{"nodes": []NodeView{{ID: s.cfg.NodeID, Version: s.cfg.Version, SeenAt: s.clk.Now().UTC(), Self: true}}})
		return
	}
	ns, err := s.deps.Nodes.Nodes(r.Context())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nonNilSlice(ns)})
}

func (s *Server) getStats(w http.ResponseWriter, r *http.Request) {
	if s.deps.Stats == nil {
		s.writeErr(w, r, unavailable("statistics"))
		return
	}
	st, err := s.deps.Stats.Stats(r.Context())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	// Empty maps, not null, so clients can index without checks.
	sup, ex := &st.Supervisor, &st.Execution
	sup.Failures, sup.Sessions = nonNilMap(sup.Failures), nonNilMap(sup.Sessions)
	ex.Outcomes, ex.Failures, ex.Sessions = nonNilMap(ex.Outcomes), nonNilMap(ex.Failures), nonNilMap(ex.Sessions)
	for id, c := range ex.Sessions {
		c.Outcomes = nonNilMap(c.Outcomes)
		ex.Sessions[id] = c
	}
	writeJSON(w, http.StatusOK, st)
}

func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

type auditJSON struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
	Remote string    `json:"remote"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	listByID(s, w, r, "entries", s.deps.Store.AuditLog, func(e store.AuditEntry) int64 { return e.ID },
		func(e store.AuditEntry) auditJSON { return auditJSON(e) })
}

type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toTokenJSON(t store.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, LastUsedAt: timePtr(t.LastUsedAt), RevokedAt: timePtr(t.RevokedAt)}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	ts, err := auth.ListTokens(r.Context(), s.deps.Store)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	slices.SortFunc(ts, func(a, b store.Token) int { return strings.Compare(a.ID, b.ID) })
	page, next := pageOf(ts, func(t store.Token) string { return t.ID }, cursor, limit)
	out := make([]tokenJSON, 0, len(page))
	for _, t := range page {
		out = append(out, toTokenJSON(t))
	}
	writeJSON(w, http.StatusOK, list("tokens", out, next))
}

type newTokenBody struct {
	Role string `json:"role"`
	Name string `json:"name"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var body newTokenBody
	if err := decodeBody(r, &body); err != nil {
		s.writeErr(w, r, err)
		return
	}
	role, err := auth.ParseRole(body.Role)
	if err != nil {
		s.writeErr(w, r, invalidf("role %q: want viewer, trader or admin", body.Role))
		return
	}
	plain, t, err := auth.CreateToken(r.Context(), s.deps.Store, role, body.Name)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	noteAudit(r, "token:"+t.ID, "create "+t.Role+" "+strconv.Quote(t.Name))
	writeJSON(w, http.StatusCreated, map[string]any{"token": plain, "info": toTokenJSON(t)})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	noteAudit(r, "token:"+id, "revoke")
	if err := auth.RevokeToken(r.Context(), s.deps.Store, id); err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.verifier.Forget(id)
	s.logins.DeleteToken(id)
	w.WriteHeader(http.StatusNoContent)
}

var _ = portfolio.Change{}
