package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/demodata"
	"github.com/tradeplane/tradeplane/internal/marketdata"
	"github.com/tradeplane/tradeplane/internal/pnl"
	"github.com/tradeplane/tradeplane/internal/replay"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/session"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/strategy"
	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// replayFlags are the flags of `tradeplane replay`.
type replayFlags struct {
	name, strategy, account, allocation, kind string
	symbols                                   []string
	params                                    paramsFlags
	sessionID                                 string
	desk                                      string
	klines                                    []string
	from, to                                  string
	days                                      int
	balances                                  []string
	collateral                                []string
	tradeAll                                  []string
	slippage, makerFee, takerFee, fillShare   string
	noFee                                     bool
	faultRate                                 float64
	seed                                      uint64
	method                                    string
	equityEvery                               time.Duration
	tradesOut, journalOut, equityOut          string
	replayDB                                  string
	asJSON, quiet, demoData                   bool
	source, klinesVenue                       string
}

func newReplayCmd(g *globals) *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Run sessions over historical klines through the live code path",
		Long: `Replays one session (the flags of 'sessions create', or --session ID to copy a
stored session's settings) or a desk file of several sessions and accounts over
klines, through the real strategies, session steps, journal, allocation checks
and the paper venue, on a simulated clock.

Fill model: a step runs at a bar's open and sees the last close as the price;
market orders fill at that bar's open, buys at open x (1 + --slippage), sells at
open x (1 - --slippage), at the taker fee; a limit order rests until a bar trades
through its price (a buy when the low is below it, a sell when the high is above
it) and fills at its price with the maker fee.

Klines: --klines FILE (named SYMBOL-INTERVAL[...].csv, e.g. BTCUSDT-1m.csv or
Binance's BTCUSDT-1m-2024-01.csv) or --klines SYMBOL:INTERVAL=FILE; repeat it,
and repeat one symbol to chain monthly files in order. Our kline CSV and
Binance's public kline files are both read. --source db streams the klines
that 'pnl backfill' stored in --db (of --klines-venue, at the finest interval
stored) for every session symbol no --klines file gives; --source demo (or
--demo-data) the klines embedded in the binary. A gap, unsorted rows, a symbol with
no data or parameters the strategy refuses exit 2 with the place named.

The same inputs and --seed give byte-identical reports.`,
		Example: `  tradeplane replay --strategy dca --symbol BTCUSDT --params '{"symbol":"BTCUSDT","quote_amount":"25","interval":"1h"}' \
      --klines ../shared/data/BTCUSDT-1m.csv --balance USDT=10000 --slippage 0.0005
  tradeplane replay --desk desk.json --klines BTCUSDT-1m.csv --klines ETHUSDT-1h.csv --days 30 --json
  tradeplane replay --session s-k3j9x0qa --klines BTCUSDT-1m.csv --trades trades.csv --journal journal.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, closers, err := f.config(cmd, g)
			defer func() {
				for _, c := range closers {
					c.Close()
				}
			}()
			if err != nil {
				return err
			}
			var bar *progressBar
			if !f.quiet {
				bar = newProgressBar("replay")
				var total int64
				cfg.Progress = func(p replay.Progress) {
					if !p.To.IsZero() {
						total = int64(p.To.Sub(p.From) / time.Minute)
					}
					done := int64(p.At.Sub(p.From) / time.Minute)
					bar.update(done, total, fmt.Sprintf("%s, %d bars, %d steps", p.At.Format(time.DateTime), p.Bars, p.Steps))
				}
			}
			res, err := replay.Run(cmd.Context(), cfg)
			if bar != nil {
				bar.finish()
			}
			if err != nil {
				return err
			}
			return f.write(cmd, res)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "session name (default: the strategy's)")
	fl.StringVar(&f.strategy, "strategy", "", "strategy: "+strings.Join(registeredStrategies(), ", "))
	fl.StringVar(&f.account, "account", "replay", "paper account of the session")
	fl.StringSliceVar(&f.symbols, "symbol", nil, "symbol to trade, e.g. BTCUSDT (repeat or comma-separate)")
	f.params.register(cmd, "strategy parameters")
	fl.StringVar(&f.allocation, "allocation", "", "capital the session may use: a quote amount (fixed) or a share of collateral (share); default none")
	fl.StringVar(&f.kind, "allocation-kind", server.AllocationFixed, "fixed or share")
	fl.StringVar(&f.sessionID, "session", "", "copy this stored session's strategy, symbols, parameters and allocation (from --server, else --db)")
	fl.StringVar(&f.desk, "desk", "", "desk file (JSON): accounts with starting balances, sessions, collateral ratios, Trade All times")
	fl.StringArrayVar(&f.klines, "klines", nil, "kline file: FILE named SYMBOL-INTERVAL[...].csv, or SYMBOL:INTERVAL=FILE (repeat)")
	fl.StringVar(&f.source, "source", "", "where klines of symbols without --klines come from: db (stored by pnl backfill in --db) or demo (embedded)")
	fl.StringVar(&f.klinesVenue, "klines-venue", "", "with --source db: the venue whose stored klines to use (default: the only one that has the symbol)")
	fl.BoolVar(&f.demoData, "demo-data", false, "use the klines embedded in the binary (the demo's: BTCUSDT 1m, ETHUSDT and BNBUSDT 1h) for symbols without --klines")
	fl.StringVar(&f.from, "from", "", "first bar (RFC 3339 or YYYY-MM-DD, UTC); default the data's first")
	fl.StringVar(&f.to, "to", "", "end, exclusive (RFC 3339 or YYYY-MM-DD); default after the data's last bar")
	fl.IntVar(&f.days, "days", 0, "replay the last N days (of --to, or of the data)")
	fl.StringArrayVar(&f.balances, "balance", nil, "starting spot balance of the account, ASSET=AMOUNT (repeat; default USDT=10000)")
	fl.StringArrayVar(&f.collateral, "collateral", nil, "collateral ratio ASSET=RATIO (repeat)")
	fl.StringArrayVar(&f.tradeAll, "trade-all", nil, "run Trade All (one step of every session) at this time (repeat)")
	fl.StringVar(&f.slippage, "slippage", "0", "market orders fill this fraction worse than the open, e.g. 0.0005")
	fl.StringVar(&f.makerFee, "maker-fee", "0.001", "maker fee rate")
	fl.StringVar(&f.takerFee, "taker-fee", "0.001", "taker fee rate")
	fl.BoolVar(&f.noFee, "no-fee", false, "fee-free fills")
	fl.StringVar(&f.fillShare, "fill-share", "0", "largest share of a resting order one bar fills (0: whole)")
	fl.Float64Var(&f.faultRate, "fault-rate", 0, "probability of an injected venue fault per order request (seeded)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of session ids, restart jitter and faults")
	fl.StringVar(&f.method, "method", "avg", "PnL method: avg or fifo")
	fl.DurationVar(&f.equityEvery, "equity-every", time.Hour, "spacing of equity snapshots")
	fl.StringVar(&f.tradesOut, "trades", "", "write the fills to FILE as the canonical trade CSV (readable by pnl compute)")
	fl.StringVar(&f.journalOut, "journal", "", "write the journal to FILE as JSON lines")
	fl.StringVar(&f.equityOut, "equity", "", "write the equity curve to FILE as CSV (time,value,exposure)")
	fl.StringVar(&f.replayDB, "replay-db", "", "store to replay into (default a private in-memory SQLite database; sqlite:FILE for desks too large for memory); never a live database")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON document")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	return cmd
}

func registeredStrategies() []string {
	var out []string
	for _, i := range strategy.Registered() {
		out = append(out, i.Name)
	}
	return out
}

// deskFile is the desk file's format.
type deskFile struct {
	Accounts   []replay.Account  `json:"accounts"`
	Sessions   []deskSession     `json:"sessions"`
	Collateral map[string]string `json:"collateral"`
	TradeAll   []time.Time       `json:"trade_all"`
}

type deskSession struct {
	Name           string          `json:"name"`
	Strategy       string          `json:"strategy"`
	Account        string          `json:"account"`
	Symbols        []string        `json:"symbols"`
	Params         json.RawMessage `json:"params"`
	Allocation     string          `json:"allocation"`
	AllocationKind string          `json:"allocation_kind"`
}

// readDesk reads a desk file; a bad one names the file and what is wrong.
func readDesk(path string) (deskFile, error) {
	var d deskFile
	b, err := os.ReadFile(path)
	if err != nil {
		return d, usagef("--desk: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
			return d, usagef("--desk %s line %d: %v", path, line, err)
		}
		return d, usagef("--desk %s: %v (want {\"accounts\":[...],\"sessions\":[...],\"collateral\":{...},\"trade_all\":[...]})", path, err)
	}
	return d, nil
}

func parseAllocation(place, amount, kind string) (session.Allocation, error) {
	if amount == "" {
		return session.Allocation{Kind: session.AllocFixed}, nil
	}
	if kind == "" {
		kind = string(session.AllocFixed)
	}
	if kind != string(session.AllocFixed) && kind != string(session.AllocShare) {
		return session.Allocation{}, usagef("%s allocation kind %q: want fixed or share", place, kind)
	}
	d, err := udecimal.Parse(amount)
	if err != nil || d.Sign() <= 0 {
		return session.Allocation{}, usagef("%s allocation %q: want a positive decimal", place, amount)
	}
	return session.Allocation{Kind: session.AllocationKind(kind), Amount: d}, nil
}

func parseAssetAmounts(flag string, vals []string) (map[string]string, []string, error) {
	out := map[string]string{}
	var order []string
	for _, v := range vals {
		a, amt, ok := strings.Cut(v, "=")
		a = strings.ToUpper(strings.TrimSpace(a))
		if !ok || a == "" {
			return nil, nil, usagef("%s %q: want ASSET=AMOUNT, e.g. USDT=10000", flag, v)
		}
		if _, err := udecimal.Parse(strings.TrimSpace(amt)); err != nil {
			return nil, nil, usagef("%s %q: %q is not a decimal", flag, v, amt)
		}
		if _, dup := out[a]; !dup {
			order = append(order, a)
		}
		out[a] = strings.TrimSpace(amt)
	}
	return out, order, nil
}

func parseWhen(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usagef("%s %q: want RFC 3339 (2024-01-02T15:04:05Z) or a date (2024-01-02)", flag, s)
}

var klineFileRE = regexp.MustCompile(`^([A-Z0-9]+)-([1-9][0-9]*[smhdw])(-[0-9-]+)?\.csv$`)

// config turns the flags into a replay.Config; closers are the opened
// kline files.
func (f *replayFlags) config(cmd *cobra.Command, g *globals) (cfg replay.Config, closers []io.Closer, err error) {
	ctx := cmd.Context()
	cfg.Seed = f.seed
	cfg.EquityEvery = f.equityEvery
	cfg.DB = f.replayDB
	cfg.KeepJournal = f.journalOut != "" // held for --journal only: most of a large desk's memory
	if cfg.Method, err = pnl.ParseMethod(f.method); err != nil {
		return cfg, nil, usagef("--method: %v", err)
	}
	dec := func(flag, s string) (udecimal.Decimal, error) {
		d, err := udecimal.Parse(s)
		if err != nil || d.IsNeg() {
			return d, usagef("%s %q: want a decimal >= 0", flag, s)
		}
		return d, nil
	}
	if cfg.Fill.Slippage, err = dec("--slippage", f.slippage); err != nil {
		return
	}
	if cfg.Fill.MakerFee, err = dec("--maker-fee", f.makerFee); err != nil {
		return
	}
	if cfg.Fill.TakerFee, err = dec("--taker-fee", f.takerFee); err != nil {
		return
	}
	if cfg.Fill.FillShare, err = dec("--fill-share", f.fillShare); err != nil {
		return
	}
	cfg.Fill.NoFee = f.noFee || (cfg.Fill.MakerFee.IsZero() && cfg.Fill.TakerFee.IsZero())
	if f.faultRate < 0 || f.faultRate > 1 {
		return cfg, nil, usagef("--fault-rate %v: want a probability from 0 to 1", f.faultRate)
	}
	if f.faultRate > 0 {
		// Spread over the request faults a venue answers with; bans and
		// stream faults are left out (a ban stops the venue for minutes).
		r := f.faultRate / 6
		cfg.Fill.Faults = paper.FaultRates{RateLimited: r, InsufficientFunds: r, FilterReject: r,
			TimeoutBeforeExecution: r, TimeoutAfterExecution: r, ServerError: r}
	}

	// Sessions and accounts.
	oneSession := f.strategy != "" || f.sessionID != ""
	switch {
	case f.desk != "" && oneSession:
		return cfg, nil, usagef("give --desk or a session (--strategy or --session), not both")
	case f.desk != "":
		d, derr := readDesk(f.desk)
		if derr != nil {
			return cfg, nil, derr
		}
		cfg.Accounts, cfg.Collateral, cfg.TradeAll = d.Accounts, d.Collateral, d.TradeAll
		for i, s := range d.Sessions {
			place := fmt.Sprintf("--desk %s: session %d (%s)", f.desk, i+1, s.Name)
			al, aerr := parseAllocation(place, s.Allocation, s.AllocationKind)
			if aerr != nil {
				return cfg, nil, aerr
			}
			cfg.Sessions = append(cfg.Sessions, replay.Session{Name: s.Name, Strategy: s.Strategy, Account: s.Account,
				Symbols: s.Symbols, Params: s.Params, Allocation: al})
		}
	case oneSession:
		s := replay.Session{Name: f.name, Strategy: f.strategy, Account: f.account, Symbols: f.symbols}
		if f.sessionID != "" {
			if s, err = copySession(cmd, g, f.sessionID); err != nil {
				return
			}
			s.Account = f.account
		}
		if f.strategy != "" {
			s.Strategy = f.strategy
		}
		if len(f.symbols) > 0 {
			s.Symbols = f.symbols
		}
		if f.name != "" {
			s.Name = f.name
		}
		if s.Name == "" {
			s.Name = s.Strategy
		}
		p, perr := f.params.read()
		if perr != nil {
			return cfg, nil, perr
		}
		if p != nil {
			s.Params = p
		}
		if f.allocation != "" {
			if s.Allocation, err = parseAllocation("--allocation", f.allocation, f.kind); err != nil {
				return
			}
		}
		if len(s.Symbols) == 0 {
			return cfg, nil, usagef("name at least one --symbol, e.g. --symbol BTCUSDT")
		}
		cfg.Sessions = []replay.Session{s}
		bals, order, berr := parseAssetAmounts("--balance", f.balances)
		if berr != nil {
			return cfg, nil, berr
		}
		if len(order) == 0 {
			bals, order = map[string]string{"USDT": "10000"}, []string{"USDT"}
		}
		a := replay.Account{Name: f.account}
		for _, asset := range order {
			a.Balances = append(a.Balances, replay.Balance{Asset: asset, Amount: udecimal.MustParse(bals[asset])})
		}
		cfg.Accounts = []replay.Account{a}
	default:
		return cfg, nil, usagef("say what to replay: --strategy (with --symbol and --params), --session ID, or --desk FILE")
	}
	if len(f.collateral) > 0 {
		c, _, cerr := parseAssetAmounts("--collateral", f.collateral)
		if cerr != nil {
			return cfg, nil, cerr
		}
		if cfg.Collateral == nil {
			cfg.Collateral = map[string]string{}
		}
		for k, v := range c {
			cfg.Collateral[k] = v
		}
	}
	for _, s := range f.tradeAll {
		t, terr := parseWhen("--trade-all", s)
		if terr != nil {
			return cfg, nil, terr
		}
		cfg.TradeAll = append(cfg.TradeAll, t)
	}

	// Klines.
	switch f.source {
	case "", "files":
	case "demo":
		f.demoData = true
	case "db":
		if f.demoData {
			return cfg, nil, usagef("give --source db or --demo-data, not both")
		}
	default:
		return cfg, nil, usagef("--source %q: want db (klines stored by pnl backfill) or demo (embedded)", f.source)
	}
	if f.klinesVenue != "" && f.source != "db" {
		return cfg, nil, usagef("--klines-venue is for --source db")
	}
	if len(f.klines) == 0 && !f.demoData && f.source != "db" {
		return cfg, nil, usagef("give the klines: --klines FILE (e.g. ../shared/data/BTCUSDT-1m.csv), --source db or --demo-data")
	}
	type kfile struct {
		symbol   string
		interval time.Duration
		path     string
	}
	var files []kfile
	for _, k := range f.klines {
		var kf kfile
		if spec, path, ok := strings.Cut(k, "="); ok {
			sym, iv, ok := strings.Cut(spec, ":")
			d, ierr := marketdata.ParseInterval(iv)
			if !ok || ierr != nil || sym == "" {
				return cfg, closers, usagef("--klines %q: want SYMBOL:INTERVAL=FILE, e.g. BTCUSDT:1m=btc.csv", k)
			}
			kf = kfile{strings.ToUpper(sym), d, path}
		} else {
			m := klineFileRE.FindStringSubmatch(filepath.Base(k))
			if m == nil {
				return cfg, closers, usagef("--klines %q: the file name does not say the symbol and interval (SYMBOL-INTERVAL.csv); write --klines SYMBOL:INTERVAL=%s", k, k)
			}
			d, _ := marketdata.ParseInterval(m[2])
			kf = kfile{m[1], d, k}
		}
		files = append(files, kf)
	}
	bySym := map[string][]kfile{}
	var syms []string
	for _, kf := range files {
		if _, ok := bySym[kf.symbol]; !ok {
			syms = append(syms, kf.symbol)
		} else if bySym[kf.symbol][0].interval != kf.interval {
			return cfg, closers, usagef("--klines %s: %s is given at %s and at %s; give one interval per symbol", kf.path, kf.symbol, bySym[kf.symbol][0].interval, kf.interval)
		}
		bySym[kf.symbol] = append(bySym[kf.symbol], kf)
	}
	var lastBar time.Time
	for _, sym := range syms {
		var streams []replay.Stream
		for _, kf := range bySym[sym] {
			st, oerr := replay.OpenCSV(kf.path)
			if oerr != nil {
				return cfg, closers, oerr
			}
			closers = append(closers, st)
			streams = append(streams, st)
			if f.days > 0 && f.to == "" {
				if t, terr := replay.LastOpenTime(kf.path); terr == nil && t.After(lastBar) {
					lastBar = t
				}
			}
		}
		iv := bySym[sym][0].interval
		var st replay.Stream = streams[0]
		if len(streams) > 1 {
			st = replay.Chain(streams...)
		}
		cfg.Sources = append(cfg.Sources, replay.Source{Symbol: sym, Interval: iv, Stream: st, Name: bySym[sym][0].path})
		if f.days > 0 && f.to == "" && !lastBar.IsZero() {
			lastBar = lastBar.Add(iv)
		}
	}
	if f.demoData {
		// The embedded klines of every session symbol no file gave.
		seen := map[string]bool{}
		for _, sym := range syms {
			seen[sym] = true
		}
		for _, s := range cfg.Sessions {
			for _, sym := range s.Symbols {
				if seen[sym] {
					continue
				}
				seen[sym] = true
				src, derr := demodata.Source(sym)
				if derr != nil {
					return cfg, closers, usagef("--demo-data: %v (embedded: %s)", derr, strings.Join(demodata.Symbols(), ", "))
				}
				cfg.Sources = append(cfg.Sources, replay.Source{Symbol: sym, Interval: src.Interval,
					Stream: &replay.SliceStream{Klines: src.Klines}, Name: "embedded " + sym + " klines"})
				if end := src.Klines[len(src.Klines)-1].OpenTime.Add(src.Interval); end.After(lastBar) {
					lastBar = end
				}
			}
		}
	}
	if f.source == "db" {
		db, derr := openDB(ctx, g, store.Options{NoMigrate: true})
		if derr != nil {
			return cfg, closers, derr
		}
		closers = append(closers, db)
		seen := map[string]bool{}
		for _, sym := range syms {
			seen[sym] = true
		}
		for _, s := range cfg.Sessions {
			for _, sym := range s.Symbols {
				if seen[sym] {
					continue
				}
				seen[sym] = true
				r, kerr := storedSeries(ctx, db, sym, f.klinesVenue)
				if kerr != nil {
					return cfg, closers, kerr
				}
				cfg.Sources = append(cfg.Sources, replay.DBSource(ctx, db, r.KlineKey, time.Time{}, time.Time{}))
				if end := r.Last.Add(r.Interval); end.After(lastBar) {
					lastBar = end
				}
			}
		}
	}
	if f.from != "" {
		if cfg.From, err = parseWhen("--from", f.from); err != nil {
			return
		}
	}
	if f.to != "" {
		if cfg.To, err = parseWhen("--to", f.to); err != nil {
			return
		}
	}
	if f.days < 0 {
		return cfg, closers, usagef("--days %d: want a positive number", f.days)
	}
	if f.days > 0 {
		if f.from != "" {
			return cfg, closers, usagef("give --days or --from, not both")
		}
		end := cfg.To
		if end.IsZero() {
			end = lastBar
		}
		if end.IsZero() {
			return cfg, closers, usagef("--days: cannot tell where the data ends; give --to")
		}
		cfg.From = end.Add(-time.Duration(f.days) * 24 * time.Hour)
	}
	return cfg, closers, nil
}

// storedSeries picks the stored kline series of sym: of venueName when
// given, else of the only venue that has sym; the finest interval stored.
func storedSeries(ctx context.Context, db *store.DB, sym, venueName string) (store.KlineRange, error) {
	all, err := db.KlineSeries(ctx)
	if err != nil {
		return store.KlineRange{}, fmt.Errorf("--source db: %w (run 'tradeplane migrate' if the database predates stored klines)", err)
	}
	var have []string
	var pick *store.KlineRange
	venues := map[string]bool{}
	for i, r := range all {
		have = append(have, fmt.Sprintf("%s %s %s (%d from %s)", r.Venue, r.Symbol, r.Interval, r.Count, r.First.Format(time.DateOnly)))
		if r.Symbol != sym || venueName != "" && r.Venue != venueName {
			continue
		}
		venues[r.Venue] = true
		if pick == nil || r.Venue == pick.Venue && r.Interval < pick.Interval {
			pick = &all[i]
		}
	}
	stored := "none"
	if len(have) > 0 {
		stored = strings.Join(have, "; ")
	}
	switch {
	case pick == nil && venueName != "":
		return store.KlineRange{}, usagef("--source db: no stored klines of %s on %s (stored: %s); run pnl backfill for it", sym, venueName, stored)
	case pick == nil:
		return store.KlineRange{}, usagef("--source db: no stored klines of %s (stored: %s); run pnl backfill for it", sym, stored)
	case len(venues) > 1:
		return store.KlineRange{}, usagef("--source db: %s is stored for several venues (%s); pick one with --klines-venue", sym, strings.Join(slices.Sorted(maps.Keys(venues)), ", "))
	}
	return *pick, nil
}

// copySession reads a stored session's settings, from the server when one
// is given, else from the database.
func copySession(cmd *cobra.Command, g *globals, id string) (replay.Session, error) {
	if g.server != "" {
		var v server.SessionView
		if err := apiGet(cmd, g, sessionPath(id), &v); err != nil {
			return replay.Session{}, err
		}
		al, err := parseAllocation("session "+id, v.Allocation.String(), v.AllocationKind)
		if v.Allocation.IsZero() {
			al, err = session.Allocation{Kind: session.AllocFixed}, nil
		}
		if err != nil {
			return replay.Session{}, err
		}
		return replay.Session{Name: v.Name, Strategy: v.Strategy, Symbols: v.Symbols, Params: v.Params, Allocation: al}, nil
	}
	db, err := openDB(cmd.Context(), g, store.Options{NoMigrate: true})
	if err != nil {
		return replay.Session{}, err
	}
	defer db.Close()
	s, err := db.Session(cmd.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return replay.Session{}, usagef("--session %s: no such session in %s", id, g.db)
	}
	if err != nil {
		return replay.Session{}, fmt.Errorf("--session %s: %w", id, err)
	}
	al := session.Allocation{Kind: session.AllocationKind(s.AllocationKind), Amount: s.Allocation}
	if al.Kind == "" {
		al.Kind = session.AllocFixed
	}
	return replay.Session{Name: s.Name, Strategy: s.Strategy, Symbols: s.Symbols, Params: s.Params, Allocation: al}, nil
}

// replayDoc is the --json document.
type replayDoc struct {
	Summary  replay.Summary         `json:"summary"`
	Sessions []replay.SessionResult `json:"sessions"`
	PnL      pnl.Report             `json:"pnl"`
	Equity   []replay.EquityPoint   `json:"equity"`
	Hourly   []pnl.IntervalMean     `json:"hourly"`
	Daily    []pnl.IntervalMean     `json:"daily"`
}

func (f *replayFlags) write(cmd *cobra.Command, res *replay.Result) error {
	writeFile := func(path string, fn func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		var buf bytes.Buffer
		if err := fn(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	if err := writeFile(f.tradesOut, res.WriteTrades); err != nil {
		return err
	}
	if err := writeFile(f.journalOut, res.WriteJournal); err != nil {
		return err
	}
	if err := writeFile(f.equityOut, func(w io.Writer) error {
		fmt.Fprintln(w, "time,value,exposure")
		for _, p := range res.Equity {
			fmt.Fprintf(w, "%s,%s,%s\n", p.Time.Format(time.RFC3339), p.Value, p.Exposure)
		}
		return nil
	}); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		return writeJSONDoc(out, replayDoc{Summary: res.Summary, Sessions: res.Sessions, PnL: res.PnL,
			Equity: res.Equity, Hourly: res.Hourly, Daily: res.Daily})
	}
	s := res.Summary
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "range\t%s .. %s (%d bars, %d steps)\n", s.From.Format(time.RFC3339), s.To.Format(time.RFC3339), s.Bars, s.Steps)
	fmt.Fprintf(tw, "value\t%s -> %s %s\n", s.StartValue, s.EndValue, s.Quote)
	fmt.Fprintf(tw, "net pnl\t%s %s\n", s.NetPnL, s.Quote)
	fmt.Fprintf(tw, "fees\t%s %s\n", s.Fees, s.Quote)
	fmt.Fprintf(tw, "max drawdown\t%s %s (%s%%)\n", s.MaxDrawdown, s.Quote, pct(s.MaxDrawdownPct))
	fmt.Fprintf(tw, "exposure\tavg %s%%, max %s%%\n", pct(s.ExposureAvg), pct(s.ExposureMax))
	fmt.Fprintf(tw, "orders\t%s\n", counts(s.Orders))
	fmt.Fprintf(tw, "failures\t%s\n", counts(s.Failures))
	fmt.Fprintf(tw, "trades\t%d\n", s.Trades)
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tSTRATEGY\tACCOUNT\tSTEPS\tFAILED\tSTATE\tNET PNL")
	for _, r := range res.Sessions {
		net := "0"
		for _, q := range r.PnL.TotalsByQuote {
			net = q.NetPnL.String() + " " + q.Quote
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Name, r.Strategy, r.Account, r.Steps, r.Failed, r.State, net)
	}
	return tw.Flush()
}

func pct(d udecimal.Decimal) string {
	return d.Mul(udecimal.MustFromInt64(100, 0)).RoundBank(2).String()
}

func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, k+" "+strconv.FormatInt(m[k], 10))
	}
	return strings.Join(parts, ", ")
}
