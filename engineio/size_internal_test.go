package engineio

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tether-rt/tether/websocket"
)

// TestSocketSize keeps a session's Socket in the 208-byte size class:
// the state of polling, upgrading, closing and of a delayed connection is
// in structs made on use (sockCold, connDelay), and the heartbeat's times
// are monotonic nanoseconds, the protocol a byte. Every idle session of a
// server holds one.
func TestSocketSize(t *testing.T) {
	if size := unsafe.Sizeof(Socket{}); size > 208 {
		t.Fatalf("Socket is %d bytes, want at most 208", size)
	}
	if size := unsafe.Sizeof(wsTransport{}); size > 64 {
		t.Fatalf("wsTransport is %d bytes, want at most 64", size)
	}
}

// TestIdleSessionHoldsNoQueue checks that a WebSocket session whose writer
// has nothing left to write keeps no queue slice (nor the writer's spare
// one), and that it still writes what comes next, in order.
func TestIdleSessionHoldsNoQueue(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	conns := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) {
		s.OnMessage(func(p Packet) {
			for range 3 {
				s.Send(p) // three echoes: some go through the queue
			}
		})
		conns <- s
	})
	c := dialOpened(t, srv)
	s := <-conns
	for i := range 20 {
		// Over directMax: the echoes go through the queue and the writer.
		msg := "4" + strings.Repeat(string(rune('a'+i)), directMax+1)
		if err := c.WriteMessage(websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, p, err := c.ReadMessage(nil); err != nil || string(p) != msg {
				t.Fatalf("echo of %d bytes, %v; want %d bytes of %q", len(p), err, len(msg), msg[1])
			}
		}
		// Once the writer is idle, the session holds no queue slice.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.mu.Lock()
			idle := !s.ws.running
			var queue, spare []outgoing
			if idle { // spare is the writer's while it runs
				queue, spare = s.queue, s.ws.spare
			}
			s.mu.Unlock()
			if idle {
				if queue != nil || spare != nil {
					t.Fatalf("an idle session keeps a queue slice of %d and a spare one of %d", cap(queue), cap(spare))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the writer is still running")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestPingWritesDirectly checks that a ping to an idle WebSocket session
// is written from the heartbeat's goroutine, queuing nothing and starting
// no writer (the wheel pings many sessions in a row: a writer each would
// leave as many idle pooled goroutines), and that the client gets it and
// its pong is taken.
func TestPingWritesDirectly(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	conns := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { conns <- s })
	c := dialOpened(t, srv)
	s := <-conns
	for range 5 {
		// Wait for the writer of the open packet (or of the last pong's
		// handling) to be idle.
		for {
			s.mu.Lock()
			idle := !s.ws.running && !s.awaitingPong
			s.mu.Unlock()
			if idle {
				break
			}
			time.Sleep(time.Millisecond)
		}
		s.ping()
		s.mu.Lock()
		running, queued := s.ws.running, len(s.queue)
		s.mu.Unlock()
		if running || queued != 0 {
			t.Fatalf("after a ping to an idle session: writer running %v, %d packets queued; want a direct write", running, queued)
		}
		if _, p, err := c.ReadMessage(nil); err != nil || string(p) != "2" {
			t.Fatalf("read %q, %v; want the ping", p, err)
		}
		if err := c.WriteMessage(websocket.MessageText, []byte("3")); err != nil {
			t.Fatal(err)
		}
	}
}
