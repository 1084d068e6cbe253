package socketio

import (
	"encoding/json"
	"testing"
)

// TestIdleConnectionState checks what an idle connection keeps: no
// decoder once a binary packet has all its attachments (one is kept only
// while they come), and no connect timer once a namespace is joined.
func TestIdleConnectionState(t *testing.T) {
	srv := newTestServer(t, nil)
	got := make(chan []json.RawMessage, 1)
	srv.OnConnection(func(s *Socket) {
		s.On("x", func(_ *Socket, args []json.RawMessage, _ AckFunc) { got <- args })
	})
	tc := dial(t, srv)
	tc.c.mu.Lock()
	timer := tc.c.timer
	tc.c.mu.Unlock()
	if timer == nil {
		t.Fatal("no connect timer before the CONNECT")
	}
	tc.connect("/", "")
	tc.c.mu.Lock()
	timer = tc.c.timer
	tc.c.mu.Unlock()
	if timer != nil {
		t.Error("the connection keeps its connect timer once joined")
	}
	if tc.c.dec != nil {
		t.Error("a decoder after text packets")
	}
	tc.send(`51-["x",{"_placeholder":true,"num":0}]`)
	if tc.c.dec == nil {
		t.Fatal("no decoder while an attachment is awaited")
	}
	tc.sendBinary([]byte{1, 2, 3})
	if args := recvValue(t, got); len(args) != 1 || string(args[0]) != `"AQID"` {
		t.Errorf("event args = %s", args)
	}
	if tc.c.dec != nil {
		t.Error("the connection keeps its decoder after the binary packet")
	}
}

// TestSocketDoneChan checks the channel a socket's disconnection closes,
// made only when someone waits: asked for before the disconnection, or
// after it, it is closed once the disconnection has run.
func TestSocketDoneChan(t *testing.T) {
	before := &Socket{}
	ch := before.doneChan()
	if before.doneChan() != ch {
		t.Fatal("doneChan makes a channel per call")
	}
	select {
	case <-ch:
		t.Fatal("closed before the disconnection")
	default:
	}
	before.markDone()
	<-ch
	after := &Socket{}
	if after.done != nil {
		t.Fatal("a socket has a done channel before anyone waits")
	}
	after.markDone()
	<-after.doneChan()
}
