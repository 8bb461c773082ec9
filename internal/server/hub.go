package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Topic names a stream of server-sent events.
type Topic string

// Topics the server streams. Each has a Server.PublishX method.
const (
	TopicPortfolio Topic = "portfolio"
	TopicJournal   Topic = "journal"
	TopicTradeAll  Topic = "trade-all"
	TopicAlerts    Topic = "alerts"
	TopicSessions  Topic = "sessions"
)

// message is one encoded event, shared by every subscriber.
type message struct {
	topic Topic
	id    uint64
	event string
	data  []byte
	// key filters within a topic (a trade-all run id, a session id); "" for
	// none.
	key string
}

// frame is the SSE wire form of m.
func (m *message) frame() []byte {
	return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", m.id, m.event, m.data)
}

// hub fans published events out to SSE subscribers. Publish encodes once
// and never blocks: a subscriber whose buffer (64 events) is full is
// disconnected, and its EventSource reconnects and reloads its state.
type hub struct {
	seq     atomic.Uint64
	mu      sync.RWMutex
	subs    map[*subscriber]struct{}
	dropped atomic.Uint64
}

type subscriber struct {
	topics map[Topic]bool
	filter func(*message) bool
	ch     chan *message
	closed bool // under hub.mu
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func (h *hub) publish(topic Topic, event, key string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return // views are plain structs; an encoding failure is a programming error caught by tests
	}
	m := &message{topic: topic, id: h.seq.Add(1), event: event, data: data, key: key}
	var slow []*subscriber
	h.mu.RLock()
	for s := range h.subs {
		if !s.topics[topic] || (s.filter != nil && !s.filter(m)) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		h.dropped.Add(1)
		h.unsubscribe(s)
	}
}

func (h *hub) subscribe(filter func(*message) bool, topics ...Topic) *subscriber {
	s := &subscriber{topics: map[Topic]bool{}, filter: filter, ch: make(chan *message, 64)}
	for _, t := range topics {
		s.topics[t] = true
	}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.closed {
		s.closed = true
		delete(h.subs, s)
		close(s.ch)
	}
}

// count is the number of live subscribers.
func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// stream serves s as text/event-stream until the client goes, the
// subscriber is dropped or the server stops. initial frames (the current
// state) are written first so a client never misses what happened before
// it subscribed. Every batch of writes has StreamWriteTimeout to reach the
// client: one that stops reading is cut off then, so a stalled client never
// pins the handler past Close.
func (srv *Server) stream(w http.ResponseWriter, r *http.Request, s *subscriber, initial ...[]byte) {
	defer srv.hub.unsubscribe(s)
	rc := http.NewResponseController(w)
	// Network deadlines are wall-clock time, not the server's clock.
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(srv.cfg.StreamWriteTimeout)) }
	deadline()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	for _, f := range initial {
		if _, err := w.Write(f); err != nil {
			return
		}
	}
	if err := rc.Flush(); err != nil {
		return
	}
	keepalive := srv.cfg.Clock.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-srv.done:
			return
		case <-keepalive.C():
			deadline()
			if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
				return
			}
		case m, ok := <-s.ch:
			if !ok {
				return
			}
			deadline()
			if _, err := w.Write(m.frame()); err != nil {
				return
			}
			// Write what is already queued before one flush.
			for n := len(s.ch); n > 0; n-- {
				m, ok := <-s.ch
				if !ok {
					break
				}
				if _, err := w.Write(m.frame()); err != nil {
					return
				}
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// initialFrame encodes v as an SSE event that is not numbered.
func initialFrame(event string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data)
}
