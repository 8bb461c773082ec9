// Package watchdogtest is a fake systemd notify socket for tests of
// sd_notify senders.
package watchdogtest

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// NotifySocket is a fake systemd: a unixgram socket that records every
// sd_notify datagram sent to it, the way systemd reads NOTIFY_SOCKET.
type NotifySocket struct {
	Path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
	done chan struct{}
}

// ListenNotify opens a fake NOTIFY_SOCKET in a temp dir.
func ListenNotify(tb testing.TB) *NotifySocket {
	tb.Helper()
	// A unix socket path must stay under 108 bytes: t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		tb.Fatal(err)
	}
	s := &NotifySocket{Path: p, conn: conn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(buf[:n]))
			s.mu.Unlock()
		}
	}()
	tb.Cleanup(func() { conn.Close(); <-s.done; os.RemoveAll(dir) })
	return s
}

// Count is how many datagrams equal msg.
func (s *NotifySocket) Count(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// Messages returns every datagram received so far.
func (s *NotifySocket) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}
