package engineio

import (
	"net/http"
	"os"
	"testing"
	"time"
)

// TestProtocolSuiteServer serves an echo server for the public Engine.IO
// protocol test suite (github.com/socketio/engine.io-protocol, test-suite/),
// which expects it at http://localhost:3000/engine.io/ with a 300 ms ping
// interval and a 200 ms ping timeout. It runs only when
// ENGINEIO_PROTOCOL_SUITE_ADDR is set (e.g. to localhost:3000), until the
// process is stopped:
//
//	ENGINEIO_PROTOCOL_SUITE_ADDR=localhost:3000 go test -run TestProtocolSuiteServer -timeout 0 ./engineio
func TestProtocolSuiteServer(t *testing.T) {
	addr := os.Getenv("ENGINEIO_PROTOCOL_SUITE_ADDR")
	if addr == "" {
		t.Skip("ENGINEIO_PROTOCOL_SUITE_ADDR not set")
	}
	srv := NewServer(&Options{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
	})
	srv.OnConnection(func(s *Socket) {
		s.OnMessage(func(p Packet) { s.Send(p) })
		s.OnClose(func(reason string, err error) { t.Logf("%s closed: %s (%v)", s.ID(), reason, err) })
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	t.Fatal(http.ListenAndServe(addr, mux))
}
