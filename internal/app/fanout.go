package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tradeplane/tradeplane/internal/journal"
	"github.com/tradeplane/tradeplane/internal/server"
	"github.com/tradeplane/tradeplane/internal/store"
)

// Live events cross nodes through PostgreSQL LISTEN/NOTIFY: a browser may
// be connected to any node, and the session it watches may be owned by
// another. Every journal event, alert, session update and Trade All
// progress this node publishes to its own streams is also NOTIFYed on
// fanoutChannel as an envelope; each node listens there and re-publishes,
// to its own streams only, the envelopes of the other nodes. Portfolio
// changes stay local: every node values the shared store itself and
// publishes its own changes, so forwarding them would double them.
//
// Delivery is best-effort, like the streams themselves: an envelope is
// dropped (counted and logged) when the outgoing queue is full or the
// database is unreachable, and a node misses what is sent while its
// listening connection reconnects. Clients reload their state when their
// stream reconnects, and the store holds the facts.

const (
	// fanoutChannel is the one channel every node notifies and listens on
	// (store scopes it to the schema).
	fanoutChannel = "tradeplane_events"
	// fanoutQueue bounds the envelopes waiting to be notified.
	fanoutQueue = 4096
)

// Topics of an envelope.
const (
	fanJournal  = "journal"
	fanAlert    = "alert"
	fanSession  = "session"
	fanTradeAll = "trade-all"
)

// envelope is one event on the wire between nodes. Data is the event;
// when it would not fit PostgreSQL's payload limit, Ref names it instead
// (a journal seq, an alert id, a session or run id) and listeners read it
// from the store.
type envelope struct {
	Node  string          `json:"node"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data,omitempty"`
	Ref   string          `json:"ref,omitempty"`
}

// fanItem is one event waiting to be notified.
type fanItem struct {
	topic string
	ref   string
	v     any
}

// fanout sends this node's live events to the other nodes and publishes
// theirs here. Its loops are owned by the App (started in start, stopped
// with the App's context).
type fanout struct {
	a       *App
	db      *store.DB
	node    string
	log     *slog.Logger
	queue   chan fanItem
	dropped atomic.Uint64
}

func newFanout(a *App) *fanout {
	return &fanout{a: a, db: a.db, node: a.nodeID, log: a.log, queue: make(chan fanItem, fanoutQueue)}
}

// start begins listening (before it returns, so nothing sent afterwards is
// missed) and starts the sending and receiving loops on goLoop.
func (f *fanout) start(ctx context.Context, goLoop func(func())) error {
	ch, err := f.db.Listen(ctx, fanoutChannel)
	if err != nil {
		return fmt.Errorf("listen for other nodes' events: %w", err)
	}
	goLoop(func() { f.receive(ctx, ch) })
	goLoop(func() { f.send(ctx) })
	return nil
}

// enqueue queues an event for the other nodes without blocking: it runs on
// the journal's writer goroutine among others. When the queue is full the
// event is dropped, counted and logged.
func (f *fanout) enqueue(topic, ref string, v any) {
	if f == nil {
		return // SQLite: one node, nobody to tell
	}
	select {
	case f.queue <- fanItem{topic: topic, ref: ref, v: v}:
	default:
		f.drop(topic, "queue full")
	}
}

func (f *fanout) drop(topic, why string) {
	n := f.dropped.Add(1)
	if n == 1 || n%100 == 0 {
		f.log.Warn("live event not sent to other nodes: their stream clients miss it until they reload",
			"topic", topic, "reason", why, "dropped_total", n)
	}
}

// send notifies queued events until ctx ends.
func (f *fanout) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-f.queue:
			f.notify(ctx, it)
		}
	}
}

func (f *fanout) notify(ctx context.Context, it fanItem) {
	data, err := json.Marshal(it.v)
	if err != nil {
		f.drop(it.topic, "encode: "+err.Error())
		return
	}
	payload, _ := json.Marshal(envelope{Node: f.node, Topic: it.topic, Data: data})
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = f.db.Notify(nctx, fanoutChannel, string(payload))
	if errors.Is(err, store.ErrPayloadTooLarge) && it.ref != "" {
		payload, _ = json.Marshal(envelope{Node: f.node, Topic: it.topic, Ref: it.ref})
		err = f.db.Notify(nctx, fanoutChannel, string(payload))
	}
	if err != nil && ctx.Err() == nil {
		f.drop(it.topic, err.Error())
	}
}

// receive publishes the other nodes' events on this node's streams until
// ch closes.
func (f *fanout) receive(ctx context.Context, ch <-chan string) {
	for payload := range ch {
		var env envelope
		if err := json.Unmarshal([]byte(payload), &env); err != nil {
			f.log.Warn("undecodable event from another node", "err", err)
			continue
		}
		if env.Node == f.node {
			continue // published here already
		}
		if err := f.publish(ctx, env); err != nil && ctx.Err() == nil {
			f.log.Warn("event from another node not published", "node", env.Node, "topic", env.Topic, "err", err)
		}
	}
}

// publish decodes env into its topic's type, reading it from the store when
// it came by reference, and publishes it on this node's streams only.
func (f *fanout) publish(ctx context.Context, env envelope) error {
	srv := f.a.srv
	byRef := len(env.Data) == 0
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch env.Topic {
	case fanJournal:
		var e store.JournalEvent
		if byRef {
			seq, err := strconv.ParseInt(env.Ref, 10, 64)
			if err != nil {
				return fmt.Errorf("journal ref %q: %w", env.Ref, err)
			}
			evs, err := f.db.JournalEvents(rctx, store.EventQuery{AfterSeq: seq - 1, Ascending: true, Limit: 1})
			if err != nil || len(evs) == 0 || evs[0].Seq != seq {
				return fmt.Errorf("read journal event %d: %w", seq, errors.Join(err, store.ErrNotFound))
			}
			e = evs[0]
		} else if err := json.Unmarshal(env.Data, &e); err != nil {
			return err
		}
		srv.PublishJournal(e)
		if e.Kind == string(journal.KindCorrected) && e.SessionID != "" {
			f.a.sessions.Corrected(e.SessionID) // its runner may be on this node
		}
	case fanAlert:
		var al store.Alert
		if byRef {
			id, err := strconv.ParseInt(env.Ref, 10, 64)
			if err != nil {
				return fmt.Errorf("alert ref %q: %w", env.Ref, err)
			}
			als, err := f.db.Alerts(rctx, id+1, 1)
			if err != nil || len(als) == 0 || als[0].ID != id {
				return fmt.Errorf("read alert %d: %w", id, errors.Join(err, store.ErrNotFound))
			}
			al = als[0]
		} else if err := json.Unmarshal(env.Data, &al); err != nil {
			return err
		}
		srv.PublishAlert(al)
	case fanSession:
		var v server.SessionView
		if byRef {
			se, err := f.a.sessions.Get(rctx, env.Ref)
			if err != nil {
				return fmt.Errorf("read session %s: %w", env.Ref, err)
			}
			v = f.a.sessionView(rctx, se)
		} else if err := json.Unmarshal(env.Data, &v); err != nil {
			return err
		}
		srv.PublishSession(v)
	case fanTradeAll:
		var v server.TradeAllRun
		if byRef {
			run, err := f.a.tradeall.Get(rctx, env.Ref)
			if err != nil {
				return fmt.Errorf("read trade-all run %s: %w", env.Ref, err)
			}
			v = runView(run)
		} else if err := json.Unmarshal(env.Data, &v); err != nil {
			return err
		}
		srv.PublishTradeAll(v)
	default:
		return fmt.Errorf("unknown topic %q", env.Topic)
	}
	return nil
}

// The publish methods below are what the App calls instead of the
// server's: each publishes on this node's streams and queues the event for
// the other nodes.

func (a *App) publishJournal(e store.JournalEvent) {
	a.srv.PublishJournal(e)
	a.fan.enqueue(fanJournal, strconv.FormatInt(e.Seq, 10), e)
}

func (a *App) publishAlert(al store.Alert) {
	a.srv.PublishAlert(al)
	ref := ""
	if al.ID != 0 {
		ref = strconv.FormatInt(al.ID, 10)
	}
	a.fan.enqueue(fanAlert, ref, al)
}

func (a *App) publishSession(v server.SessionView) {
	a.srv.PublishSession(v)
	a.fan.enqueue(fanSession, v.ID, v)
}

func (a *App) publishTradeAll(v server.TradeAllRun) {
	a.srv.PublishTradeAll(v)
	a.fan.enqueue(fanTradeAll, v.ID, v)
}
