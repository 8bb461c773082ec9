package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// The OpenAPI 3.1 document is written here as data, by hand and apart from
// the route registration, so a test can compare the two: every API route
// must be documented and every documented operation must be routed. It is
// built once and served at GET /api/v1/openapi.json.

type apiOp struct {
	method, path string
	summary      string
	tag          string
	role         string
	query        []string // query parameter names
	request      string   // component schema of the JSON body, "" for none
	response     string   // component schema of the success body, "" for none
	status       string   // success status, default "200"
	stream       bool
	header       string // a required request header
}

// apiOps documents every /api/v1 operation.
var apiOps = []apiOp{
	{method: "GET", path: "/api/v1/openapi.json", summary: "This document", tag: "meta", role: "viewer", response: "Any"},
	{method: "GET", path: "/api/v1/me", summary: "The caller's token and role", tag: "meta", role: "viewer", response: "Me"},
	{method: "GET", path: "/api/v1/accounts", summary: "List accounts (never their credentials)", tag: "accounts", role: "viewer", query: []string{"limit", "cursor"}, response: "AccountList"},
	{method: "POST", path: "/api/v1/accounts", summary: "Add an account with its credentials", tag: "accounts", role: "admin", request: "NewAccount", response: "Account", status: "201"},
	{method: "DELETE", path: "/api/v1/accounts/{name}", summary: "Remove an account", tag: "accounts", role: "admin", status: "204"},
	{method: "GET", path: "/api/v1/sessions", summary: "List sessions", tag: "sessions", role: "viewer", query: []string{"tag", "state", "account", "limit", "cursor"}, response: "SessionList"},
	{method: "POST", path: "/api/v1/sessions", summary: "Create a session (and start it when start is true)", tag: "sessions", role: "trader", request: "NewSession", response: "Session", status: "201"},
	{method: "GET", path: "/api/v1/sessions/stream", summary: "Session changes (SSE, event \"sessions\")", tag: "sessions", role: "viewer", stream: true},
	{method: "GET", path: "/api/v1/sessions/{id}", summary: "One session", tag: "sessions", role: "viewer", response: "Session"},
	{method: "DELETE", path: "/api/v1/sessions/{id}", summary: "Delete a session; a running or paused one only with force=true (which stops it first)", tag: "sessions", role: "trader", query: []string{"force"}, status: "204"},
	{method: "POST", path: "/api/v1/sessions/{id}/start", summary: "Start a session", tag: "sessions", role: "trader", response: "Session"},
	{method: "POST", path: "/api/v1/sessions/{id}/stop", summary: "Stop a session", tag: "sessions", role: "trader", response: "Session"},
	{method: "POST", path: "/api/v1/sessions/{id}/restart", summary: "Restart a session", tag: "sessions", role: "trader", response: "Session"},
	{method: "POST", path: "/api/v1/sessions/{id}/pause", summary: "Pause a session", tag: "sessions", role: "trader", response: "Session"},
	{method: "POST", path: "/api/v1/sessions/{id}/resume", summary: "Resume a paused session", tag: "sessions", role: "trader", response: "Session"},
	{method: "POST", path: "/api/v1/sessions/{id}/trade", summary: "Run one trade step now", tag: "sessions", role: "trader", response: "Session"},
	{method: "PATCH", path: "/api/v1/sessions/{id}/params", summary: "Merge strategy parameters", tag: "sessions", role: "trader", request: "Params", response: "Session"},
	{method: "POST", path: "/api/v1/trade-all", summary: "Start a Trade All run (idempotent per key)", tag: "trade-all", role: "trader", request: "TradeAllRequest", response: "TradeAllRun", status: "202", header: "Idempotency-Key"},
	{method: "POST", path: "/api/v1/trade-all/preview", summary: "What a Trade All would run", tag: "trade-all", role: "trader", request: "TradeAllRequest", response: "TradeAllPreview"},
	{method: "GET", path: "/api/v1/trade-all/{run}", summary: "A run's progress and results", tag: "trade-all", role: "viewer", response: "TradeAllRun"},
	{method: "GET", path: "/api/v1/trade-all/{run}/stream", summary: "A run's progress (SSE, event \"trade-all\")", tag: "trade-all", role: "viewer", stream: true},
	{method: "POST", path: "/api/v1/trade-all/{run}/cancel", summary: "Cancel a run's pending steps", tag: "trade-all", role: "trader", response: "TradeAllRun"},
	{method: "GET", path: "/api/v1/portfolio", summary: "Live balances and valuation; accounts paginated", tag: "portfolio", role: "viewer", query: []string{"limit", "cursor"}, response: "Portfolio"},
	{method: "GET", path: "/api/v1/portfolio/stream", summary: "Portfolio changes (SSE): event \"portfolio\" (grand total, collateral value) and \"portfolio-groups\" (the changed totals by account, venue, wallet, tag and asset, at most one per kind every 250 ms; groups=account,venue,... picks the kinds)", tag: "portfolio", role: "viewer", query: []string{"groups"}, stream: true},
	{method: "GET", path: "/api/v1/collateral", summary: "Effective collateral ratios", tag: "collateral", role: "viewer", query: []string{"account"}, response: "Ratios"},
	{method: "PUT", path: "/api/v1/collateral/{asset}", summary: "Set an asset's ratio (0 to 1; empty removes the override)", tag: "collateral", role: "admin", request: "RatioChange", response: "CollateralVersion"},
	{method: "GET", path: "/api/v1/journal", summary: "Journal events, newest first", tag: "journal", role: "viewer", query: []string{"session", "kind", "failures", "limit", "cursor"}, response: "JournalList"},
	{method: "GET", path: "/api/v1/journal/audit", summary: "Compare an account's journal with the venue's own order and trade history; every difference", tag: "journal", role: "viewer", query: []string{"account", "from", "to"}, response: "AuditReport"},
	{method: "GET", path: "/api/v1/journal/stream", summary: "New journal events (SSE, event \"journal\")", tag: "journal", role: "viewer", stream: true},
	{method: "GET", path: "/api/v1/pnl", summary: "PnL report with equity and interval averages", tag: "pnl", role: "viewer", query: []string{"scope", "interval", "from", "to"}, response: "PnLReport"},
	{method: "GET", path: "/api/v1/reliability", summary: "Reliability measures over a window (default the last 30 days): execution success rate per day, failures by class, restarts per week, time to recovery, backfill accuracy, latency, journal write rate, each with its source", tag: "reliability", role: "viewer", query: []string{"from", "to"}, response: "Any"},
	{method: "POST", path: "/api/v1/pnl/backfill", summary: "Start a PnL backfill job; follow it at /api/v1/jobs/{id}", tag: "pnl", role: "trader", request: "BackfillRequest", response: "Job", status: "202"},
	{method: "POST", path: "/api/v1/pnl/backfill/preview", summary: "How big a PnL backfill would be (days, trade windows per symbol, points per series); starts nothing", tag: "pnl", role: "trader", request: "BackfillRequest", response: "BackfillPreview"},
	{method: "GET", path: "/api/v1/jobs/{id}", summary: "A background job's progress", tag: "jobs", role: "viewer", response: "Job"},
	{method: "POST", path: "/api/v1/jobs/{id}/cancel", summary: "Cancel a queued or running job of any kind (409 once it has ended); the node running it stops it", tag: "jobs", role: "trader", response: "Job"},
	{method: "GET", path: "/api/v1/alerts", summary: "Alerts, newest first", tag: "alerts", role: "viewer", query: []string{"limit", "cursor"}, response: "AlertList"},
	{method: "GET", path: "/api/v1/alerts/stream", summary: "New alerts (SSE, event \"alert\")", tag: "alerts", role: "viewer", stream: true},
	{method: "POST", path: "/api/v1/alerts/{id}/ack", summary: "Acknowledge an alert", tag: "alerts", role: "trader", response: "Any"},
	{method: "GET", path: "/api/v1/events", summary: "Several topics on one stream (SSE)", tag: "meta", role: "viewer", query: []string{"topic"}, stream: true},
	{method: "GET", path: "/api/v1/nodes", summary: "Cluster nodes, their health and how many sessions each runs", tag: "meta", role: "viewer", response: "NodeList"},
	{method: "GET", path: "/api/v1/stats", summary: "Supervisor and execution statistics", tag: "meta", role: "viewer", response: "Stats"},
	{method: "GET", path: "/api/v1/audit", summary: "Audit log, newest first", tag: "admin", role: "admin", query: []string{"limit", "cursor"}, response: "AuditList"},
	{method: "GET", path: "/api/v1/tokens", summary: "API tokens (never their secrets)", tag: "admin", role: "admin", query: []string{"limit", "cursor"}, response: "TokenList"},
	{method: "POST", path: "/api/v1/tokens", summary: "Create a token; the plain token is shown once", tag: "admin", role: "admin", request: "NewToken", response: "CreatedToken", status: "201"},
	{method: "DELETE", path: "/api/v1/tokens/{id}", summary: "Revoke a token", tag: "admin", role: "admin", status: "204"},
}

type obj = map[string]any

func str() obj { return obj{"type": "string"} }
func enum(values []string) obj {
	return obj{"type": "string", "enum": values}
}
func dec() obj             { return obj{"type": "string", "description": "exact decimal"} }
func tstamp() obj          { return obj{"type": "string", "format": "date-time"} }
func integer() obj         { return obj{"type": "integer"} }
func boolean() obj         { return obj{"type": "boolean"} }
func ref(name string) obj  { return obj{"$ref": "#/components/schemas/" + name} }
func arr(items obj) obj    { return obj{"type": "array", "items": items} }
func object(props obj) obj { return obj{"type": "object", "properties": props} }
func listOf(key, item string) obj {
	return object(obj{key: arr(ref(item)), "next_cursor": obj{"type": "string", "description": "pass as cursor for the next page; empty on the last"}})
}

// componentSchemas builds the component schemas when the document is
// built, not at package init, so registries (strategies) filled by init
// functions of other packages are complete.
func componentSchemas() obj {
	return obj{
		"Any":   obj{"type": "object"},
		"Error": object(obj{"error": object(obj{"code": str(), "message": str()})}),
		"Me":    object(obj{"token_id": str(), "name": str(), "role": enum(roleNames())}),
		"Account": object(obj{"id": integer(), "name": str(), "venue": str(), "tags": arr(str()),
			"has_credentials": boolean(), "created_at": tstamp(), "master": str(), "sub_account_email": str(),
			"futures_leverage": futuresLeverage(), "futures_margin_type": futuresMarginType()}),
		"AccountList": listOf("accounts", "Account"),
		"NewAccount": object(obj{"name": str(), "venue": venueField("a registered venue"), "base_url": str(), "api_key": str(), "api_secret": obj{"type": "string", "writeOnly": true}, "tags": arr(str()),
			"master": str(), "sub_account_email": str(), "futures_leverage": futuresLeverage(), "futures_margin_type": futuresMarginType()}),
		"Session": object(obj{"id": str(), "name": str(), "strategy": str(), "account": str(), "symbols": arr(str()), "tags": arr(str()),
			"state": str(), "state_reason": str(), "allocation_kind": str(), "allocation": dec(), "pnl": dec(), "last_step_at": tstamp(),
			"last_error": str(), "restarts_auto": integer(), "restarts_manual": integer(), "params": obj{"type": "object"}, "updated_at": tstamp(),
			"node":     obj{"type": "string", "description": "the node that runs the session now; empty when none does"},
			"warnings": obj{"type": "array", "items": str(), "description": "what a change was allowed to do but deserves a look"},
			"unknown_orders": obj{"type": "array", "description": "orders whose outcome is not known yet; the session places no new order on their symbols meanwhile",
				"items": object(obj{"client_order_id": str(), "symbol": str(), "side": str(), "quantity": dec(), "status": str(), "since": tstamp(), "age_seconds": integer()})}}),
		"SessionList": listOf("sessions", "Session"),
		"AuditReport": object(obj{"account_id": integer(), "from": tstamp(), "to": tstamp(), "symbols": arr(str()), "orders": integer(), "trades": integer(),
			"differences": arr(object(obj{"kinds": arr(obj{"enum": journal.DiffKinds}), "symbol": str(),
				"client_order_id": str(), "venue_order_id": str(), "trade_id": str(), "journal": str(), "venue": str()}))}),
		"Node": object(obj{"id": str(), "addr": str(), "version": str(), "sessions": integer(), "started_at": tstamp(), "seen_at": tstamp(),
			"health": enum(NodeHealths), "self": boolean()}),
		"NodeList": listOf("nodes", "Node"),
		"NewSession": object(obj{"name": str(), "strategy": strategyField(), "account": str(),
			"symbols": arr(str()), "params": obj{"type": "object"}, "allocation_kind": withDefault(enum(AllocationKinds), AllocationFixed),
			"allocation": dec(), "tags": arr(str()), "start": boolean()}),
		"BackfillRequest": object(obj{"account": str(), "from": obj{"type": "string", "description": "RFC 3339 time or YYYY-MM-DD"},
			"to": obj{"type": "string", "description": "RFC 3339 time or YYYY-MM-DD"}, "interval": withDefault(enum(PnLIntervals), PnLIntervals[0]), "symbols": arr(str()),
			"opening_equity":   obj{"type": "string", "description": "the account's equity before its first fill, in the valuation asset (a decimal; default 0)"},
			"valuation":        obj{"type": "string", "description": "the asset of sums and equity, e.g. USDT (default: the symbols' quote, USDT first when they differ)"},
			"opening_holdings": arr(object(obj{"asset": str(), "amount": dec()})),
		}),
		"BackfillPreview": object(obj{"account": str(), "from": tstamp(), "to": tstamp(), "interval": str(), "symbols": arr(str()),
			"size": object(obj{"days": integer(), "windows_per_symbol": integer(), "points_per_series": integer(), "max_days": integer(),
				"window_hours": integer(), "interval_seconds": integer()})}),
		"Stats": object(obj{
			"supervisor": object(obj{"running": integer(), "restarts_auto": integer(), "restarts_manual": integer(), "steps": integer(),
				"failures": obj{"type": "object", "additionalProperties": integer(), "description": "failed steps by kind"},
				"sessions": obj{"type": "object", "additionalProperties": object(obj{"auto": integer(), "manual": integer()})}}),
			"execution": object(obj{"intents": integer(), "successes": integer(), "success_rate": obj{"type": "number"},
				"outcomes": obj{"type": "object", "additionalProperties": integer()},
				"failures": obj{"type": "object", "additionalProperties": integer(), "description": "execution errors by class"},
				"sessions": obj{"type": "object", "additionalProperties": object(obj{"intents": integer(), "successes": integer(),
					"success_rate": obj{"type": "number"}, "outcomes": obj{"type": "object", "additionalProperties": integer()}})}}),
		}),
		"Params": obj{"type": "object", "description": "strategy parameters to merge"},
		"TradeAllRequest": obj{"type": "object", "description": "every criterion set must match; without session_ids only running sessions are selected",
			"properties": obj{"tag": obj{"type": "string", "description": "one tag (older clients; added to tags)"},
				"tags":        obj{"type": "array", "items": str(), "description": "the session carries every one"},
				"session_ids": arr(str()), "account": obj{"type": "string", "description": "account name"},
				"venue": venueField("venue kind"),
				"all":   obj{"type": "boolean", "description": "every running session (when nothing else is set)"}}},
		"PlannedOrder": object(obj{"symbol": str(), "side": str(), "type": str(), "price": dec(), "quantity": dec(), "quote_quantity": dec()}),
		"TradeAllPlan": object(obj{"session_id": str(), "name": str(), "account": str(), "venue": str(), "state": str(),
			"skip":    obj{"type": "string", "description": "why it would not run: paused, quarantined, not_running, allocation_exceeded, nothing_to_do"},
			"message": str(), "error": str(), "orders": arr(ref("PlannedOrder")),
			"allocation": object(obj{"ok": boolean(), "required": dec(), "available": obj{"type": "string", "description": "exact decimal; absent without an allocation limit"},
				"message": str()})}),
		"TradeAllResult": object(obj{"session_id": str(), "state": enum(ResultStates),
			"message": str(), "orders": integer(), "started_at": tstamp(), "finished_at": tstamp(),
			"node": obj{"type": "string", "description": "the node that stepped the session"}}),
		"TradeAllPreview": object(obj{"sessions": arr(ref("Session")), "skipped": arr(ref("TradeAllResult")), "plans": arr(ref("TradeAllPlan")),
			"orders": integer()}),
		"TradeAllRun": object(obj{"id": str(), "idempotency_key": str(), "state": enum(RunStates),
			"request": ref("TradeAllRequest"), "actor": str(), "total": integer(), "done": integer(), "failed": integer(),
			"created_at": tstamp(), "finished_at": tstamp(), "results": arr(ref("TradeAllResult"))}),
		"Portfolio":   obj{"type": "object", "description": "portfolio.Snapshot: accounts with wallets and lines (price, route, age) as of version/as_of; total and by_* breakdowns live as of totals_version/totals_as_of"},
		"Ratios":      object(obj{"account": str(), "ratios": arr(object(obj{"asset": str(), "ratio": dec(), "source": str()}))}),
		"RatioChange": object(obj{"ratio": dec(), "account": str()}),
		"CollateralVersion": object(obj{"version": integer(), "who": str(), "at": tstamp(), "account": str(),
			"changes": arr(object(obj{"asset": str(), "old": dec(), "new": dec()}))}),
		"JournalEvent": object(obj{"seq": integer(), "at": tstamp(), "kind": str(), "session_id": str(), "account_id": integer(), "symbol": str(),
			"client_order_id": str(), "venue_order_id": str(), "side": str(), "order_type": str(), "quantity": dec(), "price": dec(),
			"filled_qty": dec(), "fee": dec(), "fee_asset": str(), "latency_us": integer(), "error_class": str(), "error_code": integer(), "message": str(), "node": str()}),
		"JournalList": listOf("events", "JournalEvent"),
		"PnLReport": object(obj{"scope": str(), "interval": str(), "from": tstamp(), "to": tstamp(), "realized_pnl": dec(), "unrealized_pnl": dec(),
			"fees_quote": dec(), "net_pnl": dec(), "equity": arr(object(obj{"at": tstamp(), "equity": dec(), "source": str()})),
			"averages":  arr(object(obj{"start": tstamp(), "average": dec(), "backfilled": boolean(), "history": boolean()})),
			"backfills": arr(object(obj{"from": tstamp(), "to": tstamp()}))}),
		"Job": object(obj{"id": str(), "kind": str(), "args": obj{"type": "object"}, "state": str(), "done": integer(), "total": integer(),
			"message": str(), "error": str(), "owner": str(), "created_at": tstamp(), "updated_at": tstamp()}),
		"Alert": object(obj{"id": integer(), "at": tstamp(), "severity": str(), "source": str(), "session_id": str(), "account_id": integer(),
			"message": str(), "acked_at": tstamp()}),
		"AlertList":    listOf("alerts", "Alert"),
		"AuditEntry":   object(obj{"id": integer(), "at": tstamp(), "actor": str(), "action": str(), "target": str(), "detail": str(), "remote": str()}),
		"AuditList":    listOf("entries", "AuditEntry"),
		"Token":        object(obj{"id": str(), "name": str(), "role": str(), "created_at": tstamp(), "last_used_at": tstamp(), "revoked_at": tstamp()}),
		"TokenList":    listOf("tokens", "Token"),
		"NewToken":     object(obj{"role": enum(roleNames()), "name": str()}),
		"CreatedToken": object(obj{"token": str(), "info": ref("Token")}),
	}
}

// strategyField lists the registered strategies (internal/strategy's
// registry) as the field's enum.
func strategyField() obj {
	o := str()
	o["description"] = "a registered strategy"
	if names := strategy.Names(); len(names) > 0 {
		o["enum"] = names
	}
	return o
}

// venueField lists the registered venues (internal/venue's registry) as
// the field's enum.
func venueField(desc string) obj {
	o := str()
	o["description"] = desc
	if names := venue.Names(); len(names) > 0 {
		o["enum"] = names
	}
	return o
}

func withDefault(o obj, def string) obj { o["default"] = def; return o }

// roleNames are the roles a token can have, from auth.
func roleNames() []string {
	return []string{auth.RoleViewer.String(), auth.RoleTrader.String(), auth.RoleAdmin.String()}
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

func errResp(desc string) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref("Error")}}}
}

// buildOpenAPI assembles the document from apiOps and schemas.
func buildOpenAPI(version string) obj {
	paths := obj{}
	for _, op := range apiOps {
		var params []obj
		for _, m := range pathParam.FindAllStringSubmatch(op.path, -1) {
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": str()})
		}
		for _, q := range op.query {
			s := str()
			if q == "limit" {
				s = obj{"type": "integer", "minimum": 1, "maximum": maxLimit, "default": defaultLimit}
			}
			params = append(params, obj{"name": q, "in": "query", "schema": s})
		}
		if op.header != "" {
			params = append(params, obj{"name": op.header, "in": "header", "required": true, "schema": str()})
		}
		status := op.status
		if status == "" {
			status = "200"
		}
		ok := obj{"description": "success"}
		switch {
		case op.stream:
			ok["content"] = obj{"text/event-stream": obj{"schema": str()}}
		case op.response != "":
			ok["content"] = obj{"application/json": obj{"schema": ref(op.response)}}
		}
		o := obj{
			"operationId": strings.ToLower(op.method) + strings.NewReplacer("/api/v1", "", "/", "_", "{", "", "}", "", ".", "_", "-", "_").Replace(op.path),
			"summary":     op.summary,
			"tags":        []string{op.tag},
			"description": "Needs role " + op.role + " or higher.",
			"responses": obj{status: ok, "400": errResp("invalid request"), "401": errResp("missing or invalid credentials"),
				"403": errResp("role too low, or missing CSRF token on a cookie request"), "404": errResp("not found"),
				"409": errResp("conflict"), "500": errResp("internal error")},
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.request != "" {
			o["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(op.request)}}}
		}
		item, _ := paths[op.path].(obj)
		if item == nil {
			item = obj{}
			paths[op.path] = item
		}
		item[strings.ToLower(op.method)] = o
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{"title": "tradeplane API", "version": version,
			"description": "Control plane for automated crypto trading. Decimals are strings; times are RFC 3339 UTC. Errors are {\"error\":{\"code\",\"message\"}}. Lists are paginated with limit and cursor; responses carry next_cursor."},
		"servers":    []obj{{"url": "/"}},
		"security":   []obj{{"bearer": []string{}}, {"cookie": []string{}}},
		"paths":      paths,
		"components": obj{"schemas": componentSchemas(), "securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer", "description": "tp_<id>_<secret>"}, "cookie": obj{"type": "apiKey", "in": "cookie", "name": cookieName}}},
	}
}

var (
	openAPIOnce sync.Once
	openAPIJSON []byte
)

// OpenAPI returns the API's OpenAPI 3.1 document for version.
func OpenAPI(version string) ([]byte, error) {
	return json.MarshalIndent(buildOpenAPI(version), "", "  ")
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	openAPIOnce.Do(func() { openAPIJSON, _ = OpenAPI(s.cfg.Version) })
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIJSON)
}

// MarginTypes are the margin types a binance-futures account may set per
// symbol (futures_margin_type).
var MarginTypes = []string{string(venue.MarginCross), string(venue.MarginIsolated)}

// futuresLeverage and futuresMarginType are a binance-futures account's
// own settings: objects from symbol to leverage and to margin type.
func futuresLeverage() obj {
	return obj{"type": "object", "additionalProperties": obj{"type": "integer", "minimum": 1, "maximum": 125},
		"description": "binance-futures only: leverage per symbol, e.g. {\"BTCUSDT\": 5}; a symbol without one takes the server's --futures-leverage"}
}

func futuresMarginType() obj {
	return obj{"type": "object", "additionalProperties": obj{"type": "string", "enum": MarginTypes},
		"description": "binance-futures only: margin type per symbol; a symbol without one takes the server's --futures-margin-type"}
}
