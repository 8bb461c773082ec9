package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tradeplane/tradeplane/internal/backoff"
)

// ErrPayloadTooLarge: a notification payload is over PostgreSQL's limit
// (MaxNotifyPayload bytes). Callers fall back to something smaller (an id
// that listeners re-read) or skip the notification.
var ErrPayloadTooLarge = errors.New("notification payload too large")

// MaxNotifyPayload is the largest payload Notify sends: PostgreSQL refuses
// payloads of 8000 bytes or more.
const MaxNotifyPayload = 7999

// channelName scopes a channel to the store's schema: PostgreSQL's channels
// are per database, so two deployments (or two tests) in different schemas
// of one database would otherwise hear each other. A name is at most 63
// bytes, PostgreSQL's identifier length.
const channelName = `left($1 || '.' || current_schema(), 63)`

// Notify sends payload to every listener of channel on this database,
// delivered when the notification commits (at once: it runs outside a
// transaction). Delivery is at most once: a listener that is reconnecting
// misses it. On SQLite, where one node owns the database, there is nobody
// to tell and Notify does nothing. On both engines a payload over
// MaxNotifyPayload fails with an error wrapping ErrPayloadTooLarge, so a
// caller's fallback is exercised whichever engine its tests use.
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("notify %q: %d bytes, limit %d: %w", channel, len(payload), MaxNotifyPayload, ErrPayloadTooLarge)
	}
	if db.dialect.name() != "postgres" {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, `SELECT pg_notify(`+channelName+`, $2)`, channel, payload); err != nil {
		return fmt.Errorf("notify %q: %w", channel, err)
	}
	return nil
}

// Listen returns the payloads sent to channel by Notify, from any handle on
// this database (this node's or another's), until ctx ends; then the
// channel is closed. On PostgreSQL it holds a dedicated connection
// listening on channel, open before Listen returns, so a notification
// committed after Listen returns is heard; if the connection drops it
// reconnects with backoff, and notifications sent meanwhile are lost. A
// consumer that stops reading holds up delivery, never the notifiers
// (PostgreSQL queues for it). On SQLite the channel only closes when ctx
// ends. It fails when the first connection cannot be made.
func (db *DB) Listen(ctx context.Context, channel string) (<-chan string, error) {
	out := make(chan string, 64)
	if db.dialect.name() != "postgres" {
		go func() {
			<-ctx.Done()
			close(out)
		}()
		return out, nil
	}
	conn, err := db.listenConn(ctx, channel)
	if err != nil {
		return nil, err
	}
	go db.listenLoop(ctx, channel, conn, out)
	return out, nil
}

// listenConn opens a connection of its own (a pooled one would go back to
// the pool between statements and lose its LISTEN) and listens on channel.
func (db *DB) listenConn(ctx context.Context, channel string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return nil, &UnreachableError{URL: db.url, Err: err}
	}
	var name string
	err = conn.QueryRow(ctx, `SELECT `+channelName, channel).Scan(&name)
	if err == nil {
		_, err = conn.Exec(ctx, `LISTEN `+pgx.Identifier{name}.Sanitize())
	}
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen %q: %w", channel, err)
	}
	return conn, nil
}

// listenLoop delivers conn's notifications to out until ctx ends,
// replacing conn when it fails.
func (db *DB) listenLoop(ctx context.Context, channel string, conn *pgx.Conn, out chan<- string) {
	defer close(out)
	defer func() {
		if conn != nil {
			// ctx is done: close with a fresh, bounded one.
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(cctx)
			cancel()
		}
	}()
	wait := backoff.New(backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}, nil)
	for {
		if conn == nil {
			if wait.Wait(ctx) != nil {
				return
			}
			c, err := db.listenConn(ctx, channel)
			if err != nil {
				continue
			}
			conn = c
			wait.Reset()
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			conn.Close(context.Background())
			conn = nil
			continue
		}
		select {
		case out <- n.Payload:
		case <-ctx.Done():
			return
		}
	}
}
