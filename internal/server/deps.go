package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/portfolio"
	"github.com/tradeplane/tradeplane/internal/store"
)

// The interfaces below are what the server consumes. They are small on
// purpose: internal/app adapts the real services (session supervisor,
// tradeall, journal, pnl, portfolio) to them, and servertest has fakes that
// behave. Errors they return are mapped to HTTP by the one table in
// errors.go: return (or wrap) the typed errors there, store.ErrNotFound,
// store.ErrConflict, store.ErrStale or a *portfolio.ValidationError.

// Portfolio is the live valuation.
type Portfolio interface {
	// Snapshot is the full breakdown now; it must be cheap enough to call
	// per request (portfolio.Portfolio.Snapshot is).
	Snapshot() portfolio.Snapshot
}

// Collateral reads and changes per-asset collateral ratios. SetRatio
// validates (a ratio outside [0,1] is a *portfolio.ValidationError),
// applies and persists the change, and returns its version record.
type Collateral interface {
	Ratios(ctx context.Context, account string) ([]portfolio.RatioView, error)
	SetRatio(ctx context.Context, actor, account, asset, ratio string) (portfolio.CollateralVersion, error)
}

// SessionCommand is a lifecycle action on one session.
type SessionCommand string

// Session commands; each has a POST /api/v1/sessions/{id}/<command> route.
const (
	CommandStart   SessionCommand = "start"
	CommandStop    SessionCommand = "stop"
	CommandRestart SessionCommand = "restart"
	CommandPause   SessionCommand = "pause"
	CommandResume  SessionCommand = "resume"
	// CommandTrade runs one trade step of the session now.
	CommandTrade SessionCommand = "trade"
)

// SessionCommands lists every command in route order.
var SessionCommands = []SessionCommand{CommandStart, CommandStop, CommandRestart, CommandPause, CommandResume, CommandTrade}

// SessionQuery selects sessions; zero fields match all. Sessions returns
// them ordered by ID.
type SessionQuery struct {
	Tag     string
	State   string
	Account string
}

// SessionView is one session as the API shows it.
type SessionView struct {
	ID             string           `json:"id"`
	Name           string           `json:"name"`
	Strategy       string           `json:"strategy"`
	Account        string           `json:"account"`
	Symbols        []string         `json:"symbols"`
	Tags           []string         `json:"tags"`
	State          string           `json:"state"`
	StateReason    string           `json:"state_reason,omitempty"`
	AllocationKind string           `json:"allocation_kind"`
	Allocation     udecimal.Decimal `json:"allocation"`
	PnL            udecimal.Decimal `json:"pnl"`
	LastStepAt     *time.Time       `json:"last_step_at,omitempty"`
	LastError      string           `json:"last_error,omitempty"`
	// Node is the node that runs the session now (empty when none does:
	// stopped, quarantined, or between owners during a failover).
	Node           string          `json:"node,omitempty"`
	RestartsAuto   int64           `json:"restarts_auto"`
	RestartsManual int64           `json:"restarts_manual"`
	Params         json.RawMessage `json:"params"`
	UpdatedAt      time.Time       `json:"updated_at"`
	// Warnings are things the change was allowed to do but that deserve a
	// look, e.g. fixed allocations over the account's collateral value.
	Warnings []string `json:"warnings,omitempty"`
	// UnknownOrders are the session's orders whose outcome is not known
	// yet; while one is, the session places no new order on its symbol.
	UnknownOrders []UnknownOrderView `json:"unknown_orders,omitempty"`
}

// UnknownOrderView is an order whose outcome the venue has not yet
// answered for certain, and how long it has been so.
type UnknownOrderView struct {
	ClientOrderID string           `json:"client_order_id"`
	Symbol        string           `json:"symbol"`
	Side          string           `json:"side"`
	Quantity      udecimal.Decimal `json:"quantity"`
	Status        string           `json:"status"` // intent or unknown
	Since         time.Time        `json:"since"`
	AgeSeconds    int64            `json:"age_seconds"`
}

// Allocation kinds of a session.
const (
	// AllocationFixed allocates a fixed amount of the quote currency.
	AllocationFixed = "fixed"
	// AllocationShare allocates a share (0 to 1) of the account's
	// collateral value.
	AllocationShare = "share"
)

// SessionSpec is a session to create. The server has checked that Strategy
// and Account are set, AllocationKind is AllocationFixed or
// AllocationShare, Allocation is positive (at most 1 for a share) and Params
// is a JSON object; the adapter checks the rest (the strategy exists and
// accepts Params, the account exists, the symbols trade on its venue) and
// answers a bad spec with an error wrapping ErrInvalid, a taken name with
// one wrapping ErrConflict.
type SessionSpec struct {
	// Name is the display name; empty lets the adapter pick one.
	Name           string
	Strategy       string
	Account        string
	Symbols        []string
	Params         json.RawMessage
	AllocationKind string
	Allocation     udecimal.Decimal
	Tags           []string
	// Start starts the session once created; otherwise it is stopped.
	Start bool
}

// Sessions is the session supervisor as the server drives it. Command and
// UpdateParams return the session after the change; a command that the
// session's state forbids returns an error wrapping ErrConflict.
//
// Create stores a new session (and starts it when spec.Start) and returns
// it. Delete removes a session with its supervisor; a session that is
// running or paused is refused with ErrConflict unless force, which stops
// it first. Its journal, orders and fills stay (they are the record).
type Sessions interface {
	Sessions(ctx context.Context, q SessionQuery) ([]SessionView, error)
	Session(ctx context.Context, id string) (SessionView, error)
	Command(ctx context.Context, id string, cmd SessionCommand, actor string) (SessionView, error)
	// UpdateParams merges params into the session's (MergeParams).
	UpdateParams(ctx context.Context, id string, params json.RawMessage, actor string) (SessionView, error)
	Create(ctx context.Context, spec SessionSpec, actor string) (SessionView, error)
	Delete(ctx context.Context, id string, force bool, actor string) error
}

// TradeAllRequest selects the sessions of a Trade All. Every criterion set
// must match: SessionIDs (the session is one of them), Tags (it carries
// every one; Tag is one more tag, kept for older clients), Account and
// Venue (by name). All selects every running session when nothing else is
// set. Without SessionIDs only running sessions are selected; sessions
// named by id are selected whatever their state, and reported skipped.
type TradeAllRequest struct {
	Tag        string   `json:"tag,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	SessionIDs []string `json:"session_ids,omitempty"`
	Account    string   `json:"account,omitempty"`
	Venue      string   `json:"venue,omitempty"`
	All        bool     `json:"all,omitempty"`
}

// Empty reports whether the request selects nothing.
func (r TradeAllRequest) Empty() bool {
	return r.Tag == "" && len(r.Tags) == 0 && len(r.SessionIDs) == 0 && r.Account == "" && r.Venue == "" && !r.All
}

// AllTags is Tags with Tag added, sorted and without repeats.
func (r TradeAllRequest) AllTags() []string {
	tags := slices.Clone(r.Tags)
	if r.Tag != "" {
		tags = append(tags, r.Tag)
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// TradeAllPreview is what a Trade All would do, without doing it.
type TradeAllPreview struct {
	Sessions []SessionView `json:"sessions"`
	// Skipped are selected sessions that would not run, with why.
	Skipped []TradeAllResult `json:"skipped"`
	// Plans is every selected session's planned step, in run order: the
	// orders it would place and the allocation check of those orders.
	Plans []TradeAllPlan `json:"plans"`
	// Orders counts the planned orders of the sessions that would run.
	Orders int `json:"orders"`
}

// TradeAllPlan is one session's planned step. Skip says why it would not
// run (paused, quarantined, not_running, allocation_exceeded,
// nothing_to_do); Error that it could not be planned.
type TradeAllPlan struct {
	SessionID  string             `json:"session_id"`
	Name       string             `json:"name"`
	Account    string             `json:"account"`
	Venue      string             `json:"venue"`
	State      string             `json:"state"`
	Skip       string             `json:"skip,omitempty"`
	Message    string             `json:"message,omitempty"`
	Error      string             `json:"error,omitempty"`
	Orders     []PlannedOrder     `json:"orders"`
	Allocation TradeAllAllocation `json:"allocation"`
}

// PlannedOrder is one order a step would place. Price is zero for a market
// order; QuoteQuantity is set when the order is sized in the quote asset.
type PlannedOrder struct {
	Symbol        string           `json:"symbol"`
	Side          string           `json:"side"`
	Type          string           `json:"type"`
	Price         udecimal.Decimal `json:"price"`
	Quantity      udecimal.Decimal `json:"quantity"`
	QuoteQuantity udecimal.Decimal `json:"quote_quantity"`
}

// TradeAllAllocation is the allocation check of a planned step: Required is
// the value its buys would add, Available what the session's allocation has
// left (absent when it has no limit); OK false means the check would refuse
// them, Message says why.
type TradeAllAllocation struct {
	OK        bool              `json:"ok"`
	Required  udecimal.Decimal  `json:"required"`
	Available *udecimal.Decimal `json:"available,omitempty"`
	Message   string            `json:"message,omitempty"`
}

// Trade All run and result states.
const (
	RunRunning = "running"
	RunDone    = "done"
	// RunPartial: the run is over; some steps failed and some were done.
	RunPartial  = "partial"
	RunCanceled = "canceled"
	RunFailed   = "failed"

	ResultPending = "pending"
	ResultRunning = "running"
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// The value sets of the API's enumerated fields. The OpenAPI document's
// enums are these lists (a test checks that every enum in it is one of
// them, and internal/app's that every service state maps into them).
var (
	// RunStates are TradeAllRun.State's values.
	RunStates = []string{RunRunning, RunDone, RunPartial, RunCanceled, RunFailed}
	// ResultStates are TradeAllResult.State's values.
	ResultStates = []string{ResultPending, ResultRunning, ResultOK, ResultFailed, ResultSkipped}
	// AllocationKinds are SessionSpec.AllocationKind's values.
	AllocationKinds = []string{AllocationFixed, AllocationShare}
	// NodeHealths are NodeView.Health's values.
	NodeHealths = []string{NodeUp, NodeLate, NodeDown}
	// PnLIntervals are the interval values of PnL reports and backfills;
	// the first is the default.
	PnLIntervals = []string{"1h", "1d"}
)

// TradeAllResult is one session's part of a run.
type TradeAllResult struct {
	SessionID  string     `json:"session_id"`
	State      string     `json:"state"`
	Message    string     `json:"message,omitempty"`
	Orders     int        `json:"orders"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Node is the node that stepped the session (several nodes only).
	Node string `json:"node,omitempty"`
}

// TradeAllRun is a run's progress: Done of Total results are final.
type TradeAllRun struct {
	ID         string           `json:"id"`
	Key        string           `json:"idempotency_key"`
	State      string           `json:"state"`
	Request    TradeAllRequest  `json:"request"`
	Actor      string           `json:"actor"`
	Total      int              `json:"total"`
	Done       int              `json:"done"`
	Failed     int              `json:"failed"`
	CreatedAt  time.Time        `json:"created_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Results    []TradeAllResult `json:"results"`
}

// TradeAll runs bulk trade steps. Start is idempotent per key: a second
// Start with the same key and request returns the first run (created is
// false); the same key with a different request is an ErrConflict. Runs
// progress in the background and are published with Server.PublishTradeAll.
type TradeAll interface {
	Preview(ctx context.Context, req TradeAllRequest) (TradeAllPreview, error)
	Start(ctx context.Context, req TradeAllRequest, key, actor string) (run TradeAllRun, created bool, err error)
	Run(ctx context.Context, id string) (TradeAllRun, error)
	Cancel(ctx context.Context, id, actor string) (TradeAllRun, error)
}

// Journal reads the execution journal; *store.DB satisfies it.
type Journal interface {
	JournalEvents(ctx context.Context, q store.EventQuery) ([]store.JournalEvent, error)
}

// Auditor compares an account's journal with the venue's own history
// (journal.Audit) on the node that holds the venue. A nil Auditor makes
// GET /api/v1/journal/audit answer 503.
type Auditor interface {
	AuditJournal(ctx context.Context, account string, from, to time.Time) (journal.AuditReport, error)
}

// PnLQuery selects a PnL report. Scope is "desk", "account:<name>" or
// "session:<id>"; Interval "1h" or "1d"; the range is [From, To).
type PnLQuery struct {
	Scope    string
	Interval string
	From, To time.Time
	// MaxEquityPoints, when positive, asks for the equity series thinned
	// as EquityThinner does (the API's and charts' reports ask for
	// MaxPnLEquityPoints); 0 is every point.
	MaxEquityPoints int
}

// EquityPoint is one equity sample; Source is "live" or "backfill".
type EquityPoint struct {
	At     time.Time        `json:"at"`
	Equity udecimal.Decimal `json:"equity"`
	Source string           `json:"source"`
}

// IntervalAverage is the time-weighted mean equity of one UTC-aligned
// interval starting at Start.
type IntervalAverage struct {
	Start   time.Time        `json:"start"`
	Average udecimal.Decimal `json:"average"`
	// Backfilled is true when the interval is reconstructed, not live.
	Backfilled bool `json:"backfilled"`
	// History is true when the interval is the demo's replayed history
	// (equity snapshots of source "history"), not live.
	History bool `json:"history,omitempty"`
}

// TimeRange is [From, To).
type TimeRange struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// PnLReport is a scope's PnL over a range.
type PnLReport struct {
	Scope      string            `json:"scope"`
	Interval   string            `json:"interval"`
	From       time.Time         `json:"from"`
	To         time.Time         `json:"to"`
	Realized   udecimal.Decimal  `json:"realized_pnl"`
	Unrealized udecimal.Decimal  `json:"unrealized_pnl"`
	Fees       udecimal.Decimal  `json:"fees_quote"`
	Net        udecimal.Decimal  `json:"net_pnl"`
	Equity     []EquityPoint     `json:"equity"`
	Averages   []IntervalAverage `json:"averages"`
	// Backfills are the ranges whose data was reconstructed.
	Backfills []TimeRange `json:"backfills"`
}

// PnL reports profit and loss. Today is the desk's net PnL since 00:00 UTC.
type PnL interface {
	Report(ctx context.Context, q PnLQuery) (PnLReport, error)
	Today(ctx context.Context) (udecimal.Decimal, error)
}

// NewAccount is an account to add with its credentials. APISecret is in
// clear here only; the adapter seals it (package secrets) before storing.
type NewAccount struct {
	Name      string   `json:"name"`
	Venue     string   `json:"venue"`
	BaseURL   string   `json:"base_url,omitempty"`
	APIKey    string   `json:"api_key,omitempty"`
	APISecret string   `json:"api_secret,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	// A Binance sub-account: the master account's name and the
	// sub-account's email; without a key it is read through the master.
	Master          string `json:"master,omitempty"`
	SubAccountEmail string `json:"sub_account_email,omitempty"`
	// A binance-futures account's own leverage (1 to 125) and margin type
	// (cross, isolated) per symbol; a symbol without one takes the
	// server's (serve --futures-leverage, --futures-margin-type).
	FuturesLeverage   map[string]int    `json:"futures_leverage,omitempty"`
	FuturesMarginType map[string]string `json:"futures_margin_type,omitempty"`
}

// Accounts adds and removes accounts (admin). Listing reads the store.
type Accounts interface {
	CreateAccount(ctx context.Context, a NewAccount, actor string) (store.Account, error)
	RemoveAccount(ctx context.Context, name, actor string) error
}

// NodeView is one tradeplane node of a cluster.
type NodeView struct {
	ID        string    `json:"id"`
	Addr      string    `json:"addr,omitempty"`
	Version   string    `json:"version,omitempty"`
	Sessions  int       `json:"sessions"` // sessions it runs now (unexpired leases)
	StartedAt time.Time `json:"started_at,omitzero"`
	SeenAt    time.Time `json:"seen_at"` // last heartbeat
	// Health is "up" (heartbeating on time), "late" (its last heartbeat is
	// older than two heartbeat periods: its leases are about to expire) or
	// "down" (older than the lease TTL: its sessions are taken over).
	Health string `json:"health"`
	Self   bool   `json:"self"`
}

// Node health values (NodeView.Health).
const (
	NodeUp   = "up"
	NodeLate = "late"
	NodeDown = "down"
)

// Nodes lists the cluster's nodes (one on SQLite).
type Nodes interface {
	Nodes(ctx context.Context) ([]NodeView, error)
}

// RestartCounts are one session's restarts by trigger.
type RestartCounts struct {
	Auto   int64 `json:"auto"`
	Manual int64 `json:"manual"`
}

// SupervisorStats summarize the session supervisor since its start
// (restart counters are persisted, so they span restarts of the node).
type SupervisorStats struct {
	// Running is the number of live session supervisors.
	Running        int   `json:"running"`
	RestartsAuto   int64 `json:"restarts_auto"`
	RestartsManual int64 `json:"restarts_manual"`
	// Steps is the number of trade steps run.
	Steps int64 `json:"steps"`
	// Failures counts failed steps by kind (error, panic, stuck, start, ...).
	Failures map[string]int64 `json:"failures"`
	// Sessions are the restart counters per session id.
	Sessions map[string]RestartCounts `json:"sessions"`
}

// ExecutionCounts are the execution success rate inputs of one session.
// SuccessRate is Successes over Intents (0 when there are none).
type ExecutionCounts struct {
	Intents     int64   `json:"intents"`
	Successes   int64   `json:"successes"`
	SuccessRate float64 `json:"success_rate"`
	// Outcomes counts how orders ended (filled, accepted, canceled,
	// rejected, refused, failed, unsettled).
	Outcomes map[string]int64 `json:"outcomes"`
}

// ExecutionStats summarize order execution overall and per session.
type ExecutionStats struct {
	ExecutionCounts
	// Failures counts every execution error by class.
	Failures map[string]int64 `json:"failures"`
	// Sessions are the counters per session id.
	Sessions map[string]ExecutionCounts `json:"sessions"`
}

// StatsView is GET /api/v1/stats.
type StatsView struct {
	Supervisor SupervisorStats `json:"supervisor"`
	Execution  ExecutionStats  `json:"execution"`
}

// Stats reports supervisor and execution statistics (internal/app fills
// them from session.Manager.Stats and journal.Metrics.Stats).
type Stats interface {
	Stats(ctx context.Context) (StatsView, error)
}

// MergeParams is PATCH /api/v1/sessions/{id}/params: each key of patch, a
// JSON object, replaces the same key of the parameters cur, a key patch
// does not name keeps its value, and a null removes the key (a JSON merge
// patch, RFC 7396, at the top level: an object value such as rebalance's
// weights is replaced whole). A patch that is not an object is an
// ErrInvalid error.
func MergeParams(cur, patch json.RawMessage) (json.RawMessage, error) {
	var add map[string]json.RawMessage
	if err := json.Unmarshal(patch, &add); err != nil || add == nil {
		return nil, &Error{Kind: ErrInvalid, Message: "params must be a JSON object"}
	}
	out := map[string]json.RawMessage{}
	if len(cur) > 0 {
		if err := json.Unmarshal(cur, &out); err != nil {
			return nil, fmt.Errorf("the session's stored params are not a JSON object: %w", err)
		}
	}
	for k, v := range add {
		if string(v) == "null" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return json.Marshal(out)
}

// BackfillRequest is a PnL backfill to run over [From, To) for an account,
// every symbol it traded when Symbols is empty. The server has checked that
// Account is set, From is before To and Interval is "1h" or "1d".
// OpeningEquity is the account's equity before its first fill, in the quote
// asset (zero when not given).
type BackfillRequest struct {
	Account       string           `json:"account"`
	From          time.Time        `json:"from"`
	To            time.Time        `json:"to"`
	Interval      string           `json:"interval"`
	Symbols       []string         `json:"symbols,omitempty"`
	OpeningEquity udecimal.Decimal `json:"opening_equity"`
	// Valuation is the asset of sums and equity ("" for the default);
	// OpeningHoldings are assets held before the first fill, valued in it
	// (backfill.CheckOpening has passed them).
	Valuation       string            `json:"valuation,omitempty"`
	OpeningHoldings []pnl.AssetAmount `json:"opening_holdings,omitempty"`
}

// Backfills starts PnL backfill jobs. Start stores a queued job, runs it in
// the background and returns it (its progress is GET /api/v1/jobs/{id});
// bad arguments (an unknown account, a range the venue cannot serve) are an
// error wrapping ErrInvalid and store nothing.
type Backfills interface {
	Start(ctx context.Context, req BackfillRequest, actor string) (store.Job, error)
}
