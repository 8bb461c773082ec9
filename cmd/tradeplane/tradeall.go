package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/venue"
)

// tradeAllPoll is how often a run is polled when its event stream is not
// available.
var tradeAllPoll = 500 * time.Millisecond

func newTradeAllCmd(g *globals) *cobra.Command {
	var (
		key                string
		tags               []string
		sessionIDs         []string
		account, venueName string
		all                bool
		yes                bool
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "trade-all",
		Short: "Run one trade step of many sessions at once",
		Long: `Trade All runs one trade step now on every selected session. Select with
--session (the sessions named, whatever their state), --tag (repeat it: the
session must carry every tag), --account, --venue, or --all (every running
session); every criterion given must match, and without --session only running
sessions are selected. It previews what would run, session by session with the
orders each would place and its allocation check, and asks for confirmation
(pass --yes to skip both, e.g. in scripts).

The run is idempotent per key: the key is printed, and running again with
--key KEY after a lost connection or a crash returns the same run instead of
trading twice. Exit status is 0 when every session's step succeeded or was
skipped, 1 when any failed.`,
		Example: `  tradeplane trade-all --tag desk-a
  tradeplane trade-all --tag desk-a --tag core --account main
  tradeplane trade-all --venue binance --yes
  tradeplane trade-all --all
  tradeplane trade-all --session s-0001 --session s-0002 --yes --json
  tradeplane trade-all --tag desk-a --yes --key 5f0c...   # retry the same run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := server.TradeAllRequest{Tags: tags, SessionIDs: sessionIDs, Account: account, Venue: venueName, All: all}
			if req.Empty() {
				return usagef("select sessions with --session, --tag, --account, --venue or --all")
			}
			for _, t := range tags {
				if strings.TrimSpace(t) == "" {
					return usagef("--tag: an empty tag")
				}
			}
			if len(key) > 128 {
				return usagef("--key is %d characters long; at most 128", len(key))
			}
			if err := requireServer(g, "'tradeplane trade-all'"); err != nil {
				return err
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if !yes {
				ok, err := confirmTradeAll(cmd, g, req, asJSON)
				if err != nil || !ok {
					return err
				}
			}
			if key == "" {
				key = newIdempotencyKey()
			}
			fmt.Fprintf(stderr, "idempotency key: %s (reuse with --key %s)\n", key, key)
			var run server.TradeAllRun
			if err := apiDoHeaders(cmd, g, http.MethodPost, "/api/v1/trade-all", map[string]string{"Idempotency-Key": key}, req, &run); err != nil {
				return fmt.Errorf("start trade-all: %w", err)
			}
			fmt.Fprintf(stderr, "run %s: %d sessions\n", run.ID, run.Total)
			run, err := followTradeAll(cmd, g, run)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSONDoc(stdout, run); err != nil {
					return err
				}
			} else if err := printTradeAllRun(stdout, run); err != nil {
				return err
			}
			return tradeAllOutcome(run)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "run the running sessions with this tag (repeat: every tag must match)")
	f.StringSliceVar(&sessionIDs, "session", nil, "run this session (repeat or comma-separate)")
	f.StringVar(&account, "account", "", "run the running sessions of this account")
	f.StringVar(&venueName, "venue", "", "run the running sessions on this venue ("+venue.NamesText()+")")
	f.BoolVar(&all, "all", false, "run every running session")
	f.StringVar(&key, "key", "", "idempotency key: reuse a printed key to retry the same run (default: a new random key)")
	f.BoolVar(&yes, "yes", false, "do not preview or ask for confirmation")
	f.BoolVar(&asJSON, "json", false, "print the finished run as one JSON document")
	return cmd
}

// confirmTradeAll previews the run and asks on the terminal; it refuses
// (exit 2) when stdin is not a terminal.
func confirmTradeAll(cmd *cobra.Command, g *globals, req server.TradeAllRequest, asJSON bool) (bool, error) {
	var p server.TradeAllPreview
	if err := apiDo(cmd, g, http.MethodPost, "/api/v1/trade-all/preview", req, &p); err != nil {
		return false, fmt.Errorf("preview trade-all: %w", err)
	}
	out := cmd.OutOrStdout()
	if asJSON {
		out = cmd.ErrOrStderr() // stdout carries the one JSON document
	}
	if err := printPreview(out, p); err != nil {
		return false, err
	}
	if len(p.Sessions) == 0 {
		fmt.Fprintln(out, "no session would run; nothing to do")
		return false, nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return false, usagef("refusing to run Trade All without confirmation: stdin is not a terminal (pass --yes to run without asking)")
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Run one trade step on %d sessions (%d planned orders) now? [y/N] ", len(p.Sessions), previewOrders(p))
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read confirmation: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, errors.New("trade-all not confirmed; nothing was run")
}

// printPreview prints what each selected session would do: one line per
// planned order (symbol, side, type, price, quantity) with the session's
// allocation check, or one line saying why the session would be skipped.
func printPreview(w io.Writer, p server.TradeAllPreview) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tNAME\tACCOUNT\tSYMBOL\tSIDE\tTYPE\tPRICE\tQUANTITY\tALLOCATION")
	plans := p.Plans
	if len(plans) == 0 {
		// A server without plans: what it said would run.
		for _, v := range p.Sessions {
			plans = append(plans, server.TradeAllPlan{SessionID: v.ID, Name: v.Name, Account: v.Account, Allocation: server.TradeAllAllocation{OK: true}})
		}
		for _, x := range p.Skipped {
			plans = append(plans, server.TradeAllPlan{SessionID: x.SessionID, Skip: "skip", Message: x.Message})
		}
	}
	for _, pl := range plans {
		switch {
		case pl.Error != "":
			fmt.Fprintf(tw, "%s\t%s\t%s\tcannot plan: %s\t\t\t\t\t\n", pl.SessionID, pl.Name, pl.Account, pl.Error)
		case pl.Skip != "":
			why := pl.Skip
			if pl.Message != "" && pl.Message != pl.Skip {
				why += ": " + pl.Message
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\tskip (%s)\t\t\t\t\t\n", pl.SessionID, pl.Name, pl.Account, why)
		case len(pl.Orders) == 0:
			fmt.Fprintf(tw, "%s\t%s\t%s\t(one trade step)\t\t\t\t\t%s\n", pl.SessionID, pl.Name, pl.Account, allocationText(pl.Allocation))
		default:
			for i, o := range pl.Orders {
				id, name, acct, alloc := pl.SessionID, pl.Name, pl.Account, allocationText(pl.Allocation)
				if i > 0 {
					id, name, acct, alloc = "", "", "", ""
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, name, acct, o.Symbol, o.Side, o.Type, priceText(o), quantityText(o), alloc)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d sessions would run %d orders, %d would be skipped\n", len(p.Sessions), previewOrders(p), len(p.Skipped))
	return nil
}

func previewOrders(p server.TradeAllPreview) int {
	if p.Orders > 0 {
		return p.Orders
	}
	n := 0
	for _, pl := range p.Plans {
		if pl.Skip == "" && pl.Error == "" {
			n += len(pl.Orders)
		}
	}
	return n
}

func priceText(o server.PlannedOrder) string {
	if o.Price.IsZero() {
		return "market"
	}
	// Exact digits (this is the order that will be sent), grouped.
	return numfmt.Group(o.Price.String())
}

func quantityText(o server.PlannedOrder) string {
	if o.Quantity.IsZero() && !o.QuoteQuantity.IsZero() {
		return numfmt.Group(o.QuoteQuantity.String()) + " (quote)"
	}
	return numfmt.Group(o.Quantity.String())
}

// allocationText is the allocation check of a planned step, in a few words.
func allocationText(a server.TradeAllAllocation) string {
	switch {
	case !a.OK && a.Message != "":
		return "exceeded: " + a.Message
	case !a.OK:
		return "exceeded"
	case a.Available == nil:
		return "ok (no limit)"
	}
	return fmt.Sprintf("ok: %s of %s left", numfmt.Money(a.Required), numfmt.Money(*a.Available))
}

func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// followTradeAll follows a run to its end over its event stream, falling
// back to polling, and draws progress on stderr.
func followTradeAll(cmd *cobra.Command, g *globals, run server.TradeAllRun) (server.TradeAllRun, error) {
	prog := newRunProgress(cmd.ErrOrStderr())
	defer prog.finish()
	prog.show(run)
	if run.State != server.RunRunning {
		return run, nil
	}
	last, err := streamTradeAll(cmd.Context(), g, run.ID, prog.show)
	if err == nil && last.State != server.RunRunning {
		return last, nil
	}
	if cmd.Context().Err() == nil && err != nil && g.log != nil {
		g.log.Debug("trade-all stream unavailable; polling", "run", run.ID, "err", err)
	}
	path := "/api/v1/trade-all/" + url.PathEscape(run.ID)
	for {
		if err := cmd.Context().Err(); err != nil {
			return run, fmt.Errorf("stopped following run %s (it goes on on the server; see 'tradeplane trade-all --key %s --yes'): %w", run.ID, run.Key, err)
		}
		if err := apiGet(cmd, g, path, &run); err != nil {
			return run, fmt.Errorf("follow trade-all run %s: %w", run.ID, err)
		}
		prog.show(run)
		if run.State != server.RunRunning {
			return run, nil
		}
		select {
		case <-cmd.Context().Done():
		case <-time.After(tradeAllPoll):
		}
	}
}

// streamClient has no overall timeout: a stream lasts as long as its run.
var streamClient = &http.Client{}

// streamTradeAll reads the run's SSE stream until the run ends and returns
// its last state; an error means the caller should poll instead.
func streamTradeAll(ctx context.Context, g *globals, id string, each func(server.TradeAllRun)) (server.TradeAllRun, error) {
	var last server.TradeAllRun
	err := readSSE(ctx, g, "/api/v1/trade-all/"+url.PathEscape(id)+"/stream", func(event string, data []byte) (bool, error) {
		if event != string(server.TopicTradeAll) {
			return true, nil
		}
		var run server.TradeAllRun
		if err := json.Unmarshal(data, &run); err != nil {
			return false, fmt.Errorf("decode trade-all event: %w", err)
		}
		last = run
		each(run)
		return run.State == server.RunRunning, nil
	})
	return last, err
}

// readSSE opens a server-sent event stream and calls fn with each event's
// name and data until fn returns false, the stream ends (an error) or ctx is
// done.
func readSSE(ctx context.Context, g *globals, path string, fn func(event string, data []byte) (more bool, err error)) error {
	if g.token == "" {
		return usagef("--server needs an API token: set TRADEPLANE_TOKEN or --token (create one with 'tradeplane tokens create --role trader')")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(g.server, "/")+path, nil)
	if err != nil {
		return usagef("--server %q: %v", g.server, err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := streamClient.Do(req)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("open stream %s: server answered %d", path, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var event string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "" && data == nil {
				continue
			}
			more, err := fn(event, data)
			if err != nil || !more {
				return err
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"): // comment (keep-alive)
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, strings.TrimPrefix(line[len("data:"):], " ")...)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stream %s: %w", path, err)
	}
	return fmt.Errorf("stream %s ended", path)
}

// runProgress draws a run's progress on stderr: a redrawn bar on a
// terminal, a plain line per change otherwise (logs, CI).
type runProgress struct {
	w     io.Writer
	tty   bool
	drawn bool
	last  string
}

func newRunProgress(w io.Writer) *runProgress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	return &runProgress{w: w, tty: tty}
}

func (p *runProgress) show(r server.TradeAllRun) {
	total := max(r.Total, 1)
	line := fmt.Sprintf("%d/%d done, %d failed (%s)", r.Done, r.Total, r.Failed, r.State)
	if line == p.last {
		return
	}
	p.last = line
	if !p.tty {
		fmt.Fprintf(p.w, "run %s: %s\n", r.ID, line)
		return
	}
	const width = 30
	fill := min(r.Done*width/total, width)
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), line)
	p.drawn = true
}

func (p *runProgress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func printTradeAllRun(w io.Writer, r server.TradeAllRun) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tSTATE\tORDERS\tMESSAGE")
	counts := map[string]int{}
	orders := 0
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", x.SessionID, x.State, x.Orders, x.Message)
		counts[x.State]++
		orders += x.Orders
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "run %s %s: %d sessions, %d ok, %d failed, %d skipped; %d orders\n", r.ID, r.State, r.Total,
		counts[server.ResultOK], counts[server.ResultFailed], counts[server.ResultSkipped], orders)
	return nil
}

// tradeAllOutcome is nil only when every result is ok or skipped: a partial
// failure is never reported as success.
func tradeAllOutcome(r server.TradeAllRun) error {
	failed := 0
	for _, x := range r.Results {
		if x.State != server.ResultOK && x.State != server.ResultSkipped {
			failed++
		}
	}
	failed = max(failed, r.Failed)
	switch {
	case failed > 0:
		return fmt.Errorf("trade-all run %s: %d of %d sessions failed", r.ID, failed, r.Total)
	case r.State != server.RunDone:
		return fmt.Errorf("trade-all run %s ended %s", r.ID, r.State)
	}
	return nil
}
