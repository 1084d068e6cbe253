package socketio

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// recordConn is an engine connection that keeps the packets of each Send.
type recordConn struct {
	discardConn
	mu    sync.Mutex
	sends [][]string
}

func (c *recordConn) Send(pkts ...engineio.Packet) error {
	var s []string
	for _, p := range pkts {
		s = append(s, string(p.Data))
	}
	c.mu.Lock()
	c.sends = append(c.sends, s)
	c.mu.Unlock()
	return nil
}

func (c *recordConn) taken() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sends
	c.sends = nil
	return s
}

// connectRecord connects n recording sockets to the main namespace.
func connectRecord(t *testing.T, srv *Server, n int) []*recordConn {
	t.Helper()
	done := make(chan struct{}, n)
	srv.OnConnection(func(*Socket) { done <- struct{}{} })
	conns := make([]*recordConn, n)
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	for i := range conns {
		conns[i] = &recordConn{discardConn: discardConn{req: req}}
		c := srv.newConnection(conns[i])
		c.onMessage(engineio.Packet{Data: []byte("0")})
	}
	for range n {
		<-done
	}
	for _, c := range conns {
		c.taken() // CONNECT
	}
	return conns
}

func events(n int, first int) []*parser.Packet {
	var ps []*parser.Packet
	for i := range n {
		ps = append(ps, &parser.Packet{Type: parser.Event, Data: json.RawMessage(fmt.Sprintf(`["m",%d]`, first+i))})
	}
	return ps
}

// broadcastEach calls a.BroadcastEach with the same opts for every packet.
func broadcastEach(a *InMemoryAdapter, ps []*parser.Packet, opts *BroadcastOptions) {
	optss := make([]*BroadcastOptions, len(ps))
	for i := range optss {
		optss[i] = opts
	}
	a.BroadcastEach(ps, optss)
}

// TestBroadcastEachSameOptions checks that broadcasts delivered together reach each
// socket in one send, in order, with the offsets and the log entries that
// one Broadcast each would have given them; that volatile broadcasts still
// go one at a time; and that the room selection applies.
func TestBroadcastEachSameOptions(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{}})
	conns := connectRecord(t, srv, 3)
	a := srv.Of("/").Adapter().(*InMemoryAdapter)

	// The reference: one Broadcast each.
	for _, p := range events(2, 0) {
		_ = a.Broadcast(p, &BroadcastOptions{})
	}
	broadcastEach(a, events(3, 2), &BroadcastOptions{})
	var first []string
	for i, c := range conns {
		sends := c.taken()
		if len(sends) != 3 || len(sends[0]) != 1 || len(sends[1]) != 1 || len(sends[2]) != 3 {
			t.Fatalf("socket %d: sends %q, want two of one packet and one of three", i, sends)
		}
		all := slices.Concat(sends...)
		offsets := map[string]bool{}
		for k, d := range all {
			args, err := parser.SplitArray(nil, []byte(d[1:])) // after the packet type
			if d[0] != '2' || err != nil || len(args) != 3 || string(args[1]) != fmt.Sprint(k) {
				t.Fatalf("socket %d, packet %d: %s, want 2[\"m\",%d,offset]", i, k, d, k)
			}
			offsets[string(args[2])] = true
		}
		if len(offsets) != len(all) {
			t.Errorf("socket %d: %d offsets for %d packets", i, len(offsets), len(all))
		}
		if i == 0 {
			first = all
		} else if !slices.Equal(all, first) {
			t.Errorf("socket %d got %q, socket 0 %q", i, all, first)
		}
	}
	if n, _ := a.RecoveryLogSize(); n != 5 {
		t.Errorf("the recovery log holds %d packets, want 5", n)
	}

	// Volatile: one send per broadcast.
	broadcastEach(a, events(2, 5), &BroadcastOptions{Flags: BroadcastFlags{Volatile: true}})
	for i, c := range conns {
		if sends := c.taken(); len(sends) != 2 {
			t.Errorf("socket %d: volatile broadcasts in %d sends, want 2", i, len(sends))
		}
	}
	if n, _ := a.RecoveryLogSize(); n != 5 {
		t.Errorf("volatile broadcasts logged: %d packets, want 5", n)
	}

	// A room: only its member gets them.
	srv.Of("/").Sockets()[0].Join("r")
	broadcastEach(a, events(2, 7), &BroadcastOptions{Rooms: []string{"r"}})
	got := 0
	for _, c := range conns {
		for _, s := range c.taken() {
			if len(s) != 2 {
				t.Errorf("a send of %d packets, want 2", len(s))
			}
			got++
		}
	}
	if got != 1 {
		t.Errorf("%d sockets got the room's broadcasts, want 1", got)
	}
}

// BroadcastEach encodes each packet once: its allocations do not grow
// with the number of receivers.
func TestBroadcastEachAllocationsDoNotScale(t *testing.T) {
	measure := func(n int) float64 {
		srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{}})
		conns := connectDiscard(t, srv, n)
		a := srv.Of("/").Adapter().(*InMemoryAdapter)
		ps := events(4, 0)
		data := make([]json.RawMessage, len(ps))
		for i, p := range ps {
			data[i] = p.Data
		}
		allocs := testing.AllocsPerRun(50, func() {
			for i, p := range ps {
				p.Data = data[i] // without the last offset
			}
			broadcastEach(a, ps, &BroadcastOptions{})
		})
		for _, c := range conns {
			if c.sent.Load() < 51*4 {
				t.Fatalf("a socket got %d packets", c.sent.Load())
			}
		}
		return allocs
	}
	few, many := measure(4), measure(400)
	if many > few {
		t.Fatalf("BroadcastEach of 4 packets to 4 sockets allocates %v times, to 400 sockets %v times", few, many)
	}
}
