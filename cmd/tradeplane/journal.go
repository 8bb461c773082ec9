package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quagmt/udecimal"
	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/numfmt"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
)

// journalPoll is how often `journal --follow` polls the database.
var journalPoll = 500 * time.Millisecond

// journalEvent is one journal event as the CLI prints it: the API's shape.
type journalEvent = server.JournalJSON

func fromStoreEvent(e store.JournalEvent) journalEvent { return server.ToJournalJSON(e) }

// journalFilter is what `journal` selects.
type journalFilter struct {
	session, kind string
	failures      bool
	limit         int
}

func (f journalFilter) match(e journalEvent) bool {
	return (f.session == "" || e.SessionID == f.session) && (f.kind == "" || e.Kind == f.kind) && (!f.failures || e.ErrorClass != "")
}

func newJournalCmd(g *globals) *cobra.Command {
	var f journalFilter
	var follow, asJSON bool
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "Query and follow the execution journal",
		Long: `Shows the newest journal events (oldest first, up to --limit) and, with
--follow, every new one as it is written. With --server (or TRADEPLANE_SERVER)
the server's API is read; without it the database named by --db.

--json prints one JSON array; with --follow, one JSON object per line.`,
		Example: `  tradeplane journal --session s-0001 --limit 20
  tradeplane journal --failures --follow
  tradeplane journal --kind fill --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.limit < 1 || f.limit > 10000 {
				return usagef("--limit %d: want 1 to 10000", f.limit)
			}
			var src journalSource
			if g.server != "" {
				src = &apiJournal{cmd: cmd, g: g}
			} else {
				db, err := openExistingDB(cmd, g)
				if err != nil {
					return err
				}
				defer db.Close()
				src = &dbJournal{db: db}
			}
			out := &journalPrinter{w: cmd.OutOrStdout(), json: asJSON, lines: follow}
			evs, err := src.latest(cmd.Context(), f)
			if err != nil {
				return err
			}
			if err := out.print(evs); err != nil {
				return err
			}
			if !follow {
				return out.end()
			}
			var after int64
			if len(evs) > 0 {
				after = evs[len(evs)-1].Seq
			}
			err = src.follow(cmd.Context(), f, after, func(evs []journalEvent) error { return out.print(evs) })
			if cmd.Context().Err() != nil {
				return nil // interrupted: following ends here by design
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.session, "session", "", "only this session's events")
	fl.BoolVar(&f.failures, "failures", false, "only events with an error class")
	fl.StringVar(&f.kind, "kind", "", "only events of this kind (intent, ack, fill, rejected, ...)")
	fl.IntVar(&f.limit, "limit", 100, "how many of the newest events to show")
	fl.BoolVar(&follow, "follow", false, "keep printing new events until interrupted")
	fl.BoolVar(&asJSON, "json", false, "print JSON (one array; one object per line with --follow)")
	cmd.AddCommand(newJournalAuditCmd(g))
	return cmd
}

// journalSource reads the journal from the API or the database.
type journalSource interface {
	// latest returns the newest f.limit matching events, oldest first.
	latest(ctx context.Context, f journalFilter) ([]journalEvent, error)
	// follow calls each with matching events after seq until ctx is done.
	follow(ctx context.Context, f journalFilter, after int64, each func([]journalEvent) error) error
}

type dbJournal struct{ db *store.DB }

func (j *dbJournal) query(f journalFilter) store.EventQuery {
	return store.EventQuery{SessionID: f.session, Kind: f.kind, FailuresOnly: f.failures}
}

func (j *dbJournal) latest(ctx context.Context, f journalFilter) ([]journalEvent, error) {
	q := j.query(f)
	q.Limit = f.limit
	evs, err := j.db.JournalEvents(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	out := make([]journalEvent, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, fromStoreEvent(evs[i]))
	}
	return out, nil
}

func (j *dbJournal) follow(ctx context.Context, f journalFilter, after int64, each func([]journalEvent) error) error {
	if after == 0 {
		// Nothing matched yet: start after the newest event of any kind.
		evs, err := j.db.JournalEvents(ctx, store.EventQuery{Limit: 1})
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		if len(evs) > 0 {
			after = evs[0].Seq
		}
	}
	t := time.NewTicker(journalPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		for {
			q := j.query(f)
			q.AfterSeq, q.Ascending, q.Limit = after, true, 1000
			evs, err := j.db.JournalEvents(ctx, q)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("follow journal after seq %d: %w", after, err)
			}
			if len(evs) == 0 {
				break
			}
			out := make([]journalEvent, 0, len(evs))
			for _, e := range evs {
				out = append(out, fromStoreEvent(e))
				after = max(after, e.Seq)
			}
			if err := each(out); err != nil {
				return err
			}
			if len(evs) < q.Limit {
				break
			}
		}
	}
}

type apiJournal struct {
	cmd *cobra.Command
	g   *globals
}

func (j *apiJournal) values(f journalFilter) url.Values {
	q := url.Values{}
	if f.session != "" {
		q.Set("session", f.session)
	}
	if f.kind != "" {
		q.Set("kind", f.kind)
	}
	if f.failures {
		q.Set("failures", "true")
	}
	return q
}

func (j *apiJournal) latest(ctx context.Context, f journalFilter) ([]journalEvent, error) {
	q := j.values(f)
	var all []journalEvent // newest first
	for len(all) < f.limit {
		q.Set("limit", strconv.Itoa(min(f.limit-len(all), 1000)))
		var page struct {
			Events     []journalEvent `json:"events"`
			NextCursor string         `json:"next_cursor"`
		}
		if err := apiGet(j.cmd, j.g, "/api/v1/journal?"+q.Encode(), &page); err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		all = append(all, page.Events...)
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	slices.Reverse(all)
	return all, nil
}

// follow reads the journal stream; when it drops it reconnects after a
// second and first catches up on what it missed through the list API.
func (j *apiJournal) follow(ctx context.Context, f journalFilter, after int64, each func([]journalEvent) error) error {
	if after == 0 {
		// Nothing matched yet: start after the newest event of any kind.
		evs, err := j.latest(ctx, journalFilter{limit: 1})
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			after = evs[0].Seq
		}
	}
	for {
		err := readSSE(ctx, j.g, "/api/v1/journal/stream", func(event string, data []byte) (bool, error) {
			if event != string(server.TopicJournal) {
				return true, nil
			}
			var e journalEvent
			if err := json.Unmarshal(data, &e); err != nil {
				return false, fmt.Errorf("decode journal event: %w", err)
			}
			if e.Seq <= after || !f.match(e) {
				return true, nil
			}
			after = e.Seq
			return true, each([]journalEvent{e})
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue usageError
		if errors.As(err, &ue) {
			return err // no token or a bad --server: retrying will not help
		}
		if j.g.log != nil {
			j.g.log.Warn("journal stream dropped; reconnecting", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		// Catch up on what the stream missed while it was down.
		missed, err := j.latest(ctx, journalFilter{session: f.session, kind: f.kind, failures: f.failures, limit: 1000})
		if err != nil {
			continue
		}
		var fresh []journalEvent
		for _, e := range missed {
			if e.Seq > after {
				fresh = append(fresh, e)
				after = e.Seq
			}
		}
		if len(fresh) > 0 {
			if err := each(fresh); err != nil {
				return err
			}
		}
	}
}

// journalPrinter prints events as a table, one JSON array, or (following)
// one JSON object per line.
type journalPrinter struct {
	w       io.Writer
	json    bool
	lines   bool // following: JSON lines instead of one array
	started bool
	arr     []journalEvent
}

// journalRow lays out the table: KIND fits partially_filled, QTY and
// PRICE are right-aligned numbers for people (the JSON keeps every digit).
const journalRow = "%-7s %-20s %-16s %-12s %-10s %-26s %14s %12s  %-20s %s\n"

// journalNum shows a journal amount for people with f, or "-" where the
// field does not apply to the event (zero: the price of a market intent,
// the quantity of a drift).
func journalNum(s string, f func(numfmt.Decimal) string) string {
	d, err := udecimal.Parse(s)
	if err != nil || d.IsZero() {
		return "-"
	}
	return f(d)
}

func (p *journalPrinter) print(evs []journalEvent) error {
	if p.json {
		if !p.lines {
			p.arr = append(p.arr, evs...)
			return nil
		}
		enc := json.NewEncoder(p.w)
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	if !p.started {
		p.started = true
		if _, err := fmt.Fprintf(p.w, journalRow, "SEQ", "TIME", "KIND", "SESSION", "SYMBOL", "CLIENT-ORDER-ID", "QTY", "PRICE", "CLASS", "MESSAGE"); err != nil {
			return err
		}
	}
	for _, e := range evs {
		msg := strings.ReplaceAll(e.Message, "\n", " ")
		if _, err := fmt.Fprintf(p.w, journalRow, strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339), dash(e.Kind), dash(e.SessionID),
			dash(e.Symbol), dash(e.ClientOrderID), journalNum(e.Quantity, func(d numfmt.Decimal) string { return numfmt.Trim(d, 8) }), journalNum(e.Price, numfmt.Price), dash(e.ErrorClass), msg); err != nil {
			return err
		}
	}
	return nil
}

// end finishes the output of a non-following run.
func (p *journalPrinter) end() error {
	if p.json && !p.lines {
		if p.arr == nil {
			p.arr = []journalEvent{}
		}
		return writeJSONDoc(p.w, p.arr)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
