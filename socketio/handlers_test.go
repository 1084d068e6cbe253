package socketio

import (
	"encoding/json"
	"errors"
	"testing"
	"unsafe"
)

// TestSharedHandlers checks a table of handlers shared by sockets: its
// handlers see each socket's value, its middlewares run before the
// socket's own, a socket's own handler of an event wins, and its
// disconnection handlers run before the socket's own.
func TestSharedHandlers(t *testing.T) {
	srv := newTestServer(t, nil)
	type state struct{ name string }
	calls := make(chan string, 16)
	shared := new(Handlers).
		Use(func(s *Socket, event string, _ []json.RawMessage) error {
			calls <- "shared mw " + event
			if event == "blocked" {
				return errors.New("blocked")
			}
			return nil
		}).
		On("whoami", func(s *Socket, _ []json.RawMessage, ack AckFunc) {
			_ = ack(s.Value().(*state).name)
		}).
		On("mine", func(s *Socket, _ []json.RawMessage, ack AckFunc) { _ = ack("shared") }).
		OnRaw("raw", func(s *Socket, args []RawArg, ack AckFunc) { _ = ack(Args(args)...) }).
		OnDisconnecting(func(s *Socket, reason string) { calls <- "shared disconnecting" }).
		OnDisconnect(func(s *Socket, reason string) { calls <- "shared disconnect " + s.Value().(*state).name })
	srv.OnConnection(func(s *Socket) {
		var auth struct{ Name string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		s.SetHandlers(shared, &state{name: auth.Name})
		s.Use(func(s *Socket, event string, _ []json.RawMessage) error {
			calls <- "own mw " + event
			return nil
		})
		s.On("mine", func(s *Socket, _ []json.RawMessage, ack AckFunc) { _ = ack("own") })
		s.OnError(func(s *Socket, err error) { calls <- "error " + err.Error() })
		s.OnDisconnect(func(s *Socket, reason string) { calls <- "own disconnect" })
	})
	a, b := dial(t, srv), dial(t, srv)
	a.connect("/", `{"name":"a"}`)
	b.connect("/", `{"name":"b"}`)

	b.send(`21["whoami"]`)
	if got := b.recvText(); got != `31["b"]` {
		t.Fatalf("whoami of b = %q", got)
	}
	if got := recvValue(t, calls) + ", " + recvValue(t, calls); got != "shared mw whoami, own mw whoami" {
		t.Fatalf("middlewares ran as %q", got)
	}
	a.send(`22["mine"]`)
	if got := a.recvText(); got != `32["own"]` {
		t.Fatalf("mine = %q", got)
	}
	recvValue(t, calls)
	recvValue(t, calls)
	a.send(`23["raw",{"x":1}]`)
	if got := a.recvText(); got != `33[{"x":1}]` {
		t.Fatalf("raw = %q", got)
	}
	recvValue(t, calls)
	recvValue(t, calls)
	a.send(`24["blocked"]`)
	if got := recvValue(t, calls) + ", " + recvValue(t, calls); got != "shared mw blocked, error blocked" {
		t.Fatalf("a blocked event: %q", got)
	}
	a.send(`1`)
	if got := recvValue(t, calls) + ", " + recvValue(t, calls) + ", " + recvValue(t, calls); got != "shared disconnecting, shared disconnect a, own disconnect" {
		t.Fatalf("disconnection handlers ran as %q", got)
	}
}

// TestSocketSize keeps a socket in the 224-byte size class (its auth
// payload a string): what it holds beyond its event handlers is made on
// first use (see socketOwn), and so are the deliveries held while it
// connects.
func TestSocketSize(t *testing.T) {
	if size := unsafe.Sizeof(Socket{}); size > 224 {
		t.Errorf("Socket is %d bytes, more than the 224-byte size class", size)
	}
}
