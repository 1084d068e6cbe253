package engineio_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/websocket"
)

// TestServerShutdownDrainsPolling checks that Shutdown keeps a polling
// session that has packets queued and no poll pending until the client's
// next poll takes them, and that a session with nothing queued gets the
// close packet with its next poll if it comes soon (a live client between
// two polls), or closes after a moment (a client that does not poll).
func TestServerShutdownDrainsPolling(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	queued, _ := e.handshake()
	qs := e.nextConn()
	if err := qs.Send(engineio.Packet{Data: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	live, _ := e.handshake() // nothing queued, polls during the shutdown
	ls := e.nextConn()
	e.handshake() // nothing queued, no poll pending
	idle := e.nextConn()

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	if body := e.poll(live); body != "1" {
		t.Errorf("poll of a session with nothing queued, while draining = %q; want a close packet", body)
	}
	if cl := e.nextClose(); cl.sock != ls || cl.reason != engineio.ReasonServerShutdown {
		t.Fatalf("first close: %s %q; want the session that polled, %q", cl.sock.ID(), cl.reason, engineio.ReasonServerShutdown)
	}
	// The idle session goes after a moment; the other waits for its poll.
	if cl := e.nextClose(); cl.sock != idle || cl.reason != engineio.ReasonServerShutdown {
		t.Fatalf("second close: %s %q; want the idle session, %q", cl.sock.ID(), cl.reason, engineio.ReasonServerShutdown)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the queued packet was polled", err)
	default:
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling", ""); status != 503 {
		t.Errorf("handshake while draining: %d", status)
	}
	if body := e.poll(queued); body != "4kept\x1e1" {
		t.Errorf("poll while draining = %q; want the queued message and a close packet", body)
	}
	if cl := e.nextClose(); cl.sock != qs || cl.reason != engineio.ReasonServerShutdown {
		t.Errorf("third close: %q", cl.reason)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if e.srv.Count() != 0 {
		t.Errorf("Count = %d", e.srv.Count())
	}
}

// TestServerShutdownDeadline checks that Shutdown gives up on the polls
// that do not come once its context is done.
func TestServerShutdownDeadline(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	if err := s.Send(engineio.Packet{Data: []byte("lost")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v; want context.Canceled", err)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonServerShutdown {
		t.Errorf("close reason %q", cl.reason)
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, ""); status != 400 {
		t.Errorf("poll after Shutdown: %d", status)
	}
}

// TestShutdownCutsCloseHandshake checks that Shutdown does not wait past
// its context for a WebSocket client that never answers the close frame
// (it keeps sending and reads nothing), and that this does not make it
// fail: every session had been drained.
func TestShutdownCutsCloseHandshake(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	c := e.dial("EIO=4&transport=websocket")
	read(t, c) // the open packet; nothing is read after it
	e.nextConn()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := c.WriteMessage(websocket.MessageText, []byte("4busy")); err != nil {
				return
			}
		}
	}()
	e.nextMessage()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil: the session was drained, only its close handshake was cut", err)
	}
	if ctx.Err() == nil {
		t.Errorf("Shutdown returned before its deadline: the client did answer the close frame")
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonServerShutdown {
		t.Errorf("close reason %q", cl.reason)
	}
}
