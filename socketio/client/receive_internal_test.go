package client

import (
	"encoding/json"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	eio "github.com/tether-rt/tether/engineio/client"
)

// loadEvent is an event as tether serve broadcasts it to tether load's
// clients: the payload, the broadcast's metadata and, with connection
// state recovery (tether serve's default), the offset.
const loadEvent = `2["load",{"t":1765000000000000000,"s":123456,"m":true,"room":"load-0","w":1,"k":7,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},` +
	`{"from":"AbCdEfGhIjKlMnOpQrSt","room":"load-0","user":""},"1765000000000-12345"]`

// connectedSocket returns a Manager and its socket "/" marked connected
// (with a recovery session, as tether serve's clients have), without a
// connection: what onEngineMessage is given is what the server sent.
func connectedSocket(tb testing.TB) (*Manager, *Socket, *engineRef) {
	tb.Helper()
	m, err := NewManager("http://127.0.0.1:1", nil)
	if err != nil {
		tb.Fatal(err)
	}
	s := m.Socket("/", nil)
	ref := &engineRef{}
	m.mu.Lock()
	m.ref = ref
	m.mu.Unlock()
	s.mu.Lock()
	s.active, s.connected, s.id, s.pid = true, true, "sid", "pid"
	s.mu.Unlock()
	return m, s, ref
}

// BenchmarkReceiveEvent measures the client's path of a received event,
// from the Engine.IO message to the handler: decode, validation, split
// into arguments, offset tracking and dispatch. The reader keeps at most
// two batches ahead of the handlers, as a connection's reader does when
// its socket's handlers keep up.
func BenchmarkReceiveEvent(b *testing.B) {
	_, s, ref := connectedSocket(b)
	m := s.m
	const batch = 64
	var handled atomic.Int64
	s.On("load", func(e *Event) {
		if len(e.Args) != 3 || e.Name != "load" {
			b.Errorf("event %q with %d arguments", e.Name, len(e.Args))
		}
		handled.Add(1)
	})
	// A marker after each batch, run once the batch's handlers have.
	marks := make(chan struct{}, 1<<20)
	mark := func() { marks <- struct{}{} }
	msg := []byte(loadEvent)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	n, waiting := 0, 0
	cpu0 := cpuTime()
	for b.Loop() {
		m.onEngineMessage(ref, eio.Packet{Data: msg})
		if n++; n%batch == 0 {
			m.dispatch(mark)
			if waiting++; waiting > 2 {
				<-marks
				waiting--
			}
		}
	}
	m.dispatch(mark)
	for range waiting + 1 {
		<-marks
	}
	if handled.Load() != int64(n) {
		b.Fatalf("%d events handled of %d", handled.Load(), n)
	}
	// The time on the clock depends on how the reader and the dispatch
	// goroutine share the cores; the CPU time is what a load generator
	// pays, on a machine it shares with the servers it measures.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
	if string(s.lastOffset) != "1765000000000-12345" {
		b.Fatalf("offset %q", s.lastOffset)
	}
}

// TestReceiveEventDecoded checks what a handler gets of a received event.
func TestReceiveEventDecoded(t *testing.T) {
	m, s, ref := connectedSocket(t)
	got := make(chan *Event, 1)
	s.On("load", func(e *Event) { got <- e })
	m.onEngineMessage(ref, eio.Packet{Data: []byte(loadEvent)})
	e := <-got
	if e.Name != "load" || len(e.Args) != 3 || e.WantsAck() {
		t.Fatalf("event %q, %d arguments, ack %v", e.Name, len(e.Args), e.WantsAck())
	}
	var p struct {
		T int64 `json:"t"`
	}
	if err := json.Unmarshal(e.Args[0], &p); err != nil || p.T != 1765000000000000000 {
		t.Fatalf("first argument %s: %v", e.Args[0], err)
	}
	if string(e.Args[2]) != `"1765000000000-12345"` {
		t.Fatalf("last argument %s", e.Args[2])
	}
	s.mu.Lock()
	off := string(s.lastOffset)
	s.mu.Unlock()
	if off != "1765000000000-12345" {
		t.Fatalf("offset %q", off)
	}
}

// cpuTime returns the CPU time of the process so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDispatchOrder checks that the dispatch queue runs callbacks in
// order while it is emptied, reused and compacted under a stream of new
// ones.
func TestDispatchOrder(t *testing.T) {
	m, err := NewManager("http://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	got := make([]int, 0, n)
	done := make(chan struct{})
	for i := range n {
		m.dispatch(func() {
			got = append(got, i)
			if i == n-1 {
				close(done)
			}
		})
		if i%1000 == 0 {
			time.Sleep(time.Millisecond) // let the queue empty now and then
		}
	}
	<-done
	for i, v := range got {
		if v != i {
			t.Fatalf("callback %d ran as the %dth", v, i)
		}
	}
	if len(got) != n {
		t.Fatalf("%d callbacks ran of %d", len(got), n)
	}
}
