package engineio_test

import (
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
)

// TestOnSession checks that the session hooks see every session open and
// close, on both transports, before OnConnection and OnClose.
func TestOnSession(t *testing.T) {
	checkGoroutines(t)
	type event struct {
		open   bool
		sock   *engineio.Socket
		reason string
	}
	events := make(chan event, 10)
	e := newEnv(t, nil, nil)
	e.srv.OnSession(
		func(s *engineio.Socket) { events <- event{true, s, ""} },
		func(s *engineio.Socket, reason string, _ error) { events <- event{false, s, reason} },
	)
	next := func() event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(waitTimeout):
			t.Fatal("no session event")
			return event{}
		}
	}

	sid, _ := e.handshake()
	polling := e.nextConn()
	if ev := next(); !ev.open || ev.sock != polling || ev.sock.ID() != sid {
		t.Fatalf("polling handshake: %+v", ev)
	}
	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	ws := e.nextConn()
	if ev := next(); !ev.open || ev.sock != ws {
		t.Fatalf("WebSocket handshake: %+v", ev)
	}

	e.post(sid, "1") // the client closes
	if ev := next(); ev.open || ev.sock != polling || ev.reason != engineio.ReasonTransportClose {
		t.Fatalf("polling close: %+v", ev)
	}
	if cl := e.nextClose(); cl.sock != polling {
		t.Fatalf("OnClose of %s", cl.sock.ID())
	}
	go func() { // answers the close frame
		for {
			if _, _, err := c.ReadMessage(nil); err != nil {
				return
			}
		}
	}()
	e.srv.Close()
	if ev := next(); ev.open || ev.sock != ws || ev.reason != engineio.ReasonServerShutdown {
		t.Fatalf("WebSocket close: %+v", ev)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}
