package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tether-rt/tether/socketio"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSocketIOLogsGoToTheLogger checks that what the Socket.IO layer
// reports on its own (here a handler's panic) reaches the server's
// configured logger, in its format, not the standard log package.
func TestSocketIOLogsGoToTheLogger(t *testing.T) {
	var logs syncBuffer
	srv, err := New(Options{Config: testConfig(), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.IO().OnConnection(func(s *socketio.Socket) {
		s.On("boom", func(*socketio.Socket, []json.RawMessage, socketio.AckFunc) { panic("boom") })
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.io.Close()
		ts.Close()
	})
	c := mustDial(t, ts.URL, dialOpts{})
	c.emit("boom")
	c.waitDone()
	eventually(t, "the panic's log line", func() bool { return strings.Contains(logs.String(), `"msg":"socketio: panic serving a client"`) })
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line %q is not JSON", line)
		}
	}
}
