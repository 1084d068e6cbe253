package socketio

import (
	"encoding/json"
	"slices"
	"testing"
	"unsafe"
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

// TestConnectionSize guards the size of a connection, one per client: 112
// bytes, a size class of its own (its work queue is made on use).
func TestConnectionSize(t *testing.T) {
	if size := unsafe.Sizeof(connection{}); size > 112 {
		t.Errorf("connection is %d bytes, want at most 112", size)
	}
}

// TestConnectionQueue checks the dispatch queue: work runs in order, its
// bytes are counted while it waits, and a drained connection keeps no
// queue.
func TestConnectionQueue(t *testing.T) {
	c := &connection{srv: newTestServer(t, nil)}
	c.running = true // run is called below, not started by enqueue
	var ran []int
	c.enqueueSized(5, func() { ran = append(ran, 1) })
	c.enqueue(func() { ran = append(ran, 2) })
	c.enqueueSized(7, func() { ran = append(ran, 3) })
	if c.queue == nil || len(c.queue.items) != 3 || c.queue.bytes != 12 {
		t.Fatalf("queue = %+v, want 3 items of 12 bytes", c.queue)
	}
	c.run()
	if !slices.Equal(ran, []int{1, 2, 3}) {
		t.Errorf("ran %v, want [1 2 3]", ran)
	}
	if c.queue != nil || c.running {
		t.Errorf("after the work: queue %+v, running %v; want none, false", c.queue, c.running)
	}
	allocs := testing.AllocsPerRun(100, func() {
		c.running = true
		c.enqueue(func() {})
		c.run()
	})
	if allocs > 1 {
		t.Errorf("a lone packet's work takes %v allocations, want 1", allocs)
	}
}
