package engineio

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// echoHandler echoes each message and reports the close.
type echoHandler struct {
	s      *Socket
	closed chan string
}

func (h *echoHandler) HandleMessage(p Packet)             { _ = h.s.Send(p) }
func (h *echoHandler) HandleClose(reason string, _ error) { h.closed <- reason }

// TestSetHandler checks that a Handler set in OnConnection takes the
// session's messages, in order, and its close; that it costs one
// allocation of 16 bytes (two functions cost four, 48 bytes); and that
// OnMessage and OnClose replace its methods one at a time.
func TestSetHandler(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	h := &echoHandler{closed: make(chan string, 1)}
	srv.OnConnection(func(s *Socket) {
		h.s = s
		s.SetHandler(h)
	})
	c := dialOpened(t, srv)
	for i := range 50 {
		msg := "4m" + strings.Repeat("x", i)
		if err := c.WriteMessage(websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(nil); err != nil || string(p) != msg {
			t.Fatalf("echo %q, %v; want %q", p, err, msg)
		}
	}
	if err := c.WriteMessage(websocket.MessageText, []byte("1")); err != nil { // close
		t.Fatal(err)
	}
	if reason := <-h.closed; reason != ReasonTransportClose {
		t.Fatalf("HandleClose: %q, want %q", reason, ReasonTransportClose)
	}

	s := &Socket{}
	if n := testing.AllocsPerRun(100, func() { s.SetHandler(h) }); n != 1 {
		t.Errorf("SetHandler: %v allocations, want 1", n)
	}
	var got []string
	s.OnMessage(func(Packet) { got = append(got, "func message") })
	(*s.handler.Load()).HandleMessage(Packet{})
	(*s.handler.Load()).HandleClose("r", nil)
	if len(got) != 1 || len(h.closed) != 1 || <-h.closed != "r" {
		t.Fatalf("after OnMessage: %v, handler's close %d; want the function's message and the handler's close", got, len(h.closed))
	}
	s.OnClose(func(string, error) { got = append(got, "func close") })
	(*s.handler.Load()).HandleClose("r", nil)
	if len(got) != 2 || got[1] != "func close" || len(h.closed) != 0 {
		t.Fatalf("after OnClose: %v; want the function's close", got)
	}
	s.SetHandler(h)
	(*s.handler.Load()).HandleClose("again", nil)
	if len(got) != 2 || <-h.closed != "again" {
		t.Fatalf("SetHandler after the functions: %v; want the handler's close", got)
	}
}
