package socketio

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// discardConn is an engine connection that counts and drops what is sent.
type discardConn struct {
	req  *http.Request
	sent atomic.Int64
}

func (c *discardConn) ID() string             { return "discard" }
func (c *discardConn) Protocol() int          { return 4 }
func (c *discardConn) Transport() string      { return "websocket" }
func (c *discardConn) Request() *http.Request { return c.req }
func (c *discardConn) Writable() bool         { return true }
func (c *discardConn) Close() error           { return nil }
func (c *discardConn) Send(pkts ...engineio.Packet) error {
	c.sent.Add(int64(len(pkts)))
	return nil
}

// connectDiscard connects n sockets to the main namespace.
func connectDiscard(tb testing.TB, srv *Server, n int) []*discardConn {
	tb.Helper()
	done := make(chan struct{}, n)
	srv.OnConnection(func(*Socket) { done <- struct{}{} })
	conns := make([]*discardConn, n)
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	for i := range conns {
		conns[i] = &discardConn{req: req}
		c := srv.newConnection(conns[i])
		c.onMessage(engineio.Packet{Data: []byte("0")})
	}
	for range n {
		<-done
	}
	return conns
}

// A broadcast is encoded once: its allocations do not grow with the number
// of receivers.
func TestBroadcastAllocationsDoNotScale(t *testing.T) {
	measure := func(n int) float64 {
		srv := newTestServer(t, nil)
		conns := connectDiscard(t, srv, n)
		allocs := testing.AllocsPerRun(50, func() { _ = srv.Emit("tick", 42, "payload") })
		for _, c := range conns {
			if c.sent.Load() < 51 { // CONNECT + the broadcasts
				t.Fatalf("a socket got %d packets", c.sent.Load())
			}
		}
		return allocs
	}
	few, many := measure(4), measure(400)
	if many > few {
		t.Fatalf("a broadcast to 4 sockets allocates %v times, to 400 sockets %v times", few, many)
	}
}

// A broadcast with attachments is encoded and converted to Engine.IO
// packets once: its allocations do not grow with the number of receivers
// either, and every receiver gets the text and the attachment.
func TestBinaryBroadcastAllocationsDoNotScale(t *testing.T) {
	measure := func(n int) float64 {
		srv := newTestServer(t, nil)
		conns := connectDiscard(t, srv, n)
		allocs := testing.AllocsPerRun(50, func() { _ = srv.Emit("file", []byte{1, 2, 3}) })
		for _, c := range conns {
			if c.sent.Load() < 1+51*2 { // CONNECT + the broadcasts' two packets
				t.Fatalf("a socket got %d packets", c.sent.Load())
			}
		}
		return allocs
	}
	few, many := measure(4), measure(400)
	if many > few {
		t.Fatalf("a binary broadcast to 4 sockets allocates %v times, to 400 sockets %v times", few, many)
	}
}

// A packet is converted to Engine.IO packets once, when it is encoded: a
// packet without attachments costs its outPacket and its text, and handing
// it to a socket costs nothing.
func TestOutPacketAllocations(t *testing.T) {
	p := &parser.Packet{Type: parser.Event, Namespace: "/", Data: json.RawMessage(`["tick",42]`)}
	if n := testing.AllocsPerRun(100, func() { _ = newOutPacket(p, false) }); n != 2 {
		t.Fatalf("newOutPacket allocates %v times, want 2", n)
	}
	o := newOutPacket(p, true)
	if len(o.pkts) != 1 || string(o.pkts[0].Data) != `2["tick",42]` || o.pkts[0].Binary || !o.pkts[0].NoCompress {
		t.Fatalf("Engine.IO packets %+v", o.pkts)
	}
	srv := newTestServer(t, nil)
	conns := connectDiscard(t, srv, 1)
	s := srv.Sockets().Sockets()[0]
	if n := testing.AllocsPerRun(100, func() { s.deliver(o, false) }); n != 0 {
		t.Fatalf("deliver allocates %v times", n)
	}
	if conns[0].sent.Load() < 101 {
		t.Fatalf("the socket got %d packets", conns[0].sent.Load())
	}

	bp := &parser.Packet{Type: parser.Event, Namespace: "/", Data: json.RawMessage(`["f",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2}}}
	bo := newOutPacket(bp, false)
	if len(bo.pkts) != 2 || string(bo.pkts[0].Data) != string(bo.enc.Text) || !bo.pkts[1].Binary || string(bo.pkts[1].Data) != "\x01\x02" {
		t.Fatalf("Engine.IO packets %+v", bo.pkts)
	}
	if n := testing.AllocsPerRun(100, func() { s.deliver(bo, false) }); n != 0 {
		t.Fatalf("deliver of a binary packet allocates %v times", n)
	}
}

func BenchmarkBroadcast1000(b *testing.B) {
	srv := NewServer(nil)
	defer srv.Close()
	connectDiscard(b, srv, 1000)
	b.ReportAllocs()
	for b.Loop() {
		_ = srv.Emit("tick", 42, "payload")
	}
}

func BenchmarkBroadcastRoom1000Of10000(b *testing.B) {
	srv := NewServer(nil)
	defer srv.Close()
	connectDiscard(b, srv, 10000)
	for i, s := range srv.Sockets().Sockets() {
		if i%10 == 0 {
			s.Join("room")
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = srv.To("room").Emit("tick", 42, "payload")
	}
}

// BenchmarkOperatorRooms builds an operator over n distinct rooms (and as
// many exceptions): the time per room stays flat as n grows, since the
// rooms are de-duplicated in linear time (it grew with n when each room
// was compared with every one kept before it).
func BenchmarkOperatorRooms(b *testing.B) {
	for _, n := range []int{3, 100, 1000, 10000, 100000} {
		rooms := make([]string, n)
		for i := range rooms {
			rooms[i] = "room:" + strconv.Itoa(i)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = BroadcastOperator{}.To(rooms...).Except(rooms...)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/room")
		})
	}
}
