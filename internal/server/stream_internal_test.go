package server

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStalledStreamClientIsCutOff: a client that opens an event stream and
// stops reading pins its handler in a blocked write; Close must still end
// the handler (through the write deadline), not leave it until the client
// goes.
func TestStalledStreamClientIsCutOff(t *testing.T) {
	t.Parallel()
	srv := &Server{hub: newHub(), done: make(chan struct{}), cfg: Config{StreamWriteTimeout: 200 * time.Millisecond}}
	// More than any socket buffers hold, so the write blocks on a client
	// that does not read.
	big := []byte("event: x\ndata: " + strings.Repeat("x", 32<<20) + "\n\n")
	returned := make(chan struct{})
	entered := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		close(entered)
		srv.stream(w, r, srv.hub.subscribe(nil, "t"), big)
	}))
	defer hs.Close()
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	if _, err := conn.Write([]byte("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// Read the status line only, then stall.
	if _, err := bufio.NewReaderSize(conn, 64).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	<-entered
	close(srv.done) // what Close does
	select {
	case <-returned:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream handler still writes to a stalled client 20 s after Close")
	}
	if n := srv.hub.count(); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
}
