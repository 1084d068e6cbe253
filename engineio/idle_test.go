package engineio_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/websocket"
)

// TestIdleWebSocketSessionsHoldNoGoroutine checks that an idle session
// over WebSocket holds no goroutine of its own: once sessions have
// exchanged messages and gone quiet, the goroutines of the process (but the
// shared poller and the idle pooled readers and writers) are as many as
// before they were opened, whatever their number.
func TestIdleWebSocketSessionsHoldNoGoroutine(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, func(s *engineio.Socket) {
		s.OnMessage(func(p engineio.Packet) { s.Send(p) }) // echo
	})
	before := countGoroutines()
	const n = 50
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		c := e.dial("EIO=4&transport=websocket")
		read(t, c) // the open packet
		write(t, c, "4hello")
		if _, msg := read(t, c); msg != "4hello" {
			t.Fatalf("echo %q", msg)
		}
		conns[i] = c
	}
	if got := e.srv.Count(); got != n {
		t.Fatalf("Count = %d, want %d", got, n)
	}
	// The pooled goroutines that read and wrote go back to their pools;
	// wait until they have (giving up after waitTimeout).
	deadline := time.Now().Add(waitTimeout)
	for {
		after := countGoroutines()
		if after-before < n/10 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before %d idle sessions, %d with them:\n%s", before, n, after, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And the sessions still work.
	for _, c := range conns {
		write(t, c, "4again")
		if _, msg := read(t, c); msg != "4again" {
			t.Fatalf("echo %q", msg)
		}
	}
}
