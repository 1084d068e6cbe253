package socketio

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// lastArg returns the last element of an EVENT packet's array.
func lastArg(t *testing.T, text string) string {
	t.Helper()
	i := strings.IndexByte(text, '[')
	var args []json.RawMessage
	if i < 0 || json.Unmarshal([]byte(text[i:]), &args) != nil || len(args) == 0 {
		t.Fatalf("not an event: %q", text)
	}
	var s string
	if err := json.Unmarshal(args[len(args)-1], &s); err != nil {
		t.Fatalf("last argument of %q is not a string", text)
	}
	return s
}

func TestConnectionStateRecovery(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{SkipMiddlewares: true}})
	middlewares := 0
	srv.Use(func(*Socket) error { middlewares++; return nil })
	sockets := make(chan *Socket, 4)
	srv.OnConnection(func(s *Socket) {
		if !s.Recovered() {
			s.Join("room1")
			s.Data().Set("k", "v")
		}
		sockets <- s
	})

	tc := dial(t, srv)
	tc.send(`0`)
	got := tc.recvText()
	var hello struct{ SID, PID string }
	if err := json.Unmarshal([]byte(got[1:]), &hello); err != nil || hello.SID == "" || hello.PID == "" {
		t.Fatalf("CONNECT = %q", got)
	}
	s := <-sockets

	_ = srv.Emit("m", 1)
	first := tc.recvText()
	off1 := lastArg(t, first)
	if first != fmt.Sprintf(`2["m",1,%q]`, off1) {
		t.Fatalf("got %q", first)
	}
	_ = s.Emit("direct")
	direct := tc.recvText()
	lastArg(t, direct)
	// Packets with an acknowledgement get no offset and are not kept.
	go func() { _, _ = s.EmitWithAck(t.Context(), "ack") }()
	if got := tc.recvText(); got != `20["ack"]` {
		t.Fatalf("got %q", got)
	}

	// The transport drops; broadcasts go on.
	gone := make(chan string, 1)
	s.OnDisconnect(func(_ *Socket, reason string) { gone <- reason })
	tc.c.onEngineClose(ReasonTransportClose, nil)
	if s.Connected() {
		t.Fatal("still connected after the transport closed")
	}
	_ = srv.Emit("m", 2)
	_ = srv.To("room1").Emit("m", 3)
	_ = srv.To("other").Emit("m", 4)
	_ = srv.Volatile().Emit("v")
	_ = srv.Except("room1").Emit("m", 5)
	if r := recvValue(t, gone); r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}

	tc2 := dial(t, srv)
	tc2.send(fmt.Sprintf(`0{"pid":%q,"offset":%q,"token":"x"}`, hello.PID, off1))
	if got := tc2.recvText(); got != fmt.Sprintf(`0{"sid":%q,"pid":%q}`, hello.SID, hello.PID) {
		t.Fatalf("CONNECT = %q", got)
	}
	if got := tc2.recvText(); got != direct {
		t.Fatalf("got %q, want %q", got, direct)
	}
	for _, want := range []string{`2["m",2,`, `2["m",3,`} {
		if got := tc2.recvText(); !strings.HasPrefix(got, want) {
			t.Fatalf("got %q, want %s...", got, want)
		}
	}
	s2 := <-sockets
	if !s2.Recovered() || s2.ID() != hello.SID || !slices.Contains(s2.Rooms(), "room1") {
		t.Fatalf("recovered %v id %q rooms %v", s2.Recovered(), s2.ID(), s2.Rooms())
	}
	if v, _ := s2.Data().Get("k"); v != "v" {
		t.Fatalf("data = %v", v)
	}
	if middlewares != 1 {
		t.Fatalf("middlewares ran %d times", middlewares)
	}
	// New broadcasts follow.
	_ = srv.Emit("m", 6)
	m6 := tc2.recvText()
	if !strings.HasPrefix(m6, `2["m",6,`) {
		t.Fatalf("got %q", m6)
	}
	lastOffset := lastArg(t, m6)
	tc2.expectNothing()

	// The client comes back while its connection still looks alive here
	// (a polling client whose connection broke between two requests): the
	// old connection is closed and the new one takes the session over, with
	// the packets after the offset it gives.
	tc3 := dial(t, srv)
	tc3.send(fmt.Sprintf(`0{"pid":%q,"offset":%q}`, hello.PID, lastOffset))
	if got := tc3.recvText(); got != fmt.Sprintf(`0{"sid":%q,"pid":%q}`, hello.SID, hello.PID) {
		t.Fatalf("CONNECT = %q", got)
	}
	tc2.waitClosed()
	s3 := <-sockets
	if !s3.Recovered() || s3.ID() != hello.SID || !slices.Contains(s3.Rooms(), "room1") {
		t.Fatalf("recovered %v id %q rooms %v", s3.Recovered(), s3.ID(), s3.Rooms())
	}
	_ = srv.Emit("m", 7)
	if got := tc3.recvText(); !strings.HasPrefix(got, `2["m",7,`) {
		t.Fatalf("got %q", got)
	}

	// A server-side disconnection is not recoverable.
	gone3 := make(chan string, 1)
	s3.OnDisconnect(func(_ *Socket, reason string) { gone3 <- reason })
	s3.Disconnect(false)
	tc3.recvText()
	recvValue(t, gone3)
	tc4 := dial(t, srv)
	if sid := tc4.connect("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, hello.PID, off1)); sid == hello.SID {
		t.Fatal("restored after a server namespace disconnect")
	}
}

func TestRecoveryUnknownOffset(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{}})
	sockets := make(chan *Socket, 2)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	tc := dial(t, srv)
	tc.send(`0`)
	var hello struct{ SID, PID string }
	_ = json.Unmarshal([]byte(tc.recvText()[1:]), &hello)
	s := <-sockets
	gone := make(chan string, 1)
	s.OnDisconnect(func(_ *Socket, reason string) { gone <- reason })
	tc.c.onEngineClose(ReasonTransportClose, nil)
	recvValue(t, gone)

	tc2 := dial(t, srv)
	sid := tc2.connect("/", fmt.Sprintf(`{"pid":%q,"offset":"bogus"}`, hello.PID))
	if sid == hello.SID || (<-sockets).Recovered() {
		t.Fatal("restored with an unknown offset")
	}
}
