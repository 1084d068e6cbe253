package socketio

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// sendsConn is an engine connection that keeps the packets of each Send
// and, once gated, reports that it entered Send and waits for release (a
// receiver whose write is slow), as gateConn.
type sendsConn struct {
	recordConn
	gated   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (c *sendsConn) Send(pkts ...engineio.Packet) error {
	if c.gated.Load() {
		c.entered <- struct{}{}
		<-c.release
	}
	return c.recordConn.Send(pkts...)
}

// gate makes the next Sends wait for release.
func (c *sendsConn) gate() {
	c.entered, c.release = make(chan struct{}), make(chan struct{})
	c.gated.Store(true)
}

// connectSends connects n sockets on sendsConns to the main namespace, in
// room, and forgets their CONNECT packets.
func connectSends(t *testing.T, srv *Server, n int, room string) ([]*sendsConn, []*Socket) {
	t.Helper()
	got := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { got <- s })
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	conns := make([]*sendsConn, n)
	socks := make([]*Socket, n)
	for i := range conns {
		conns[i] = &sendsConn{recordConn: recordConn{discardConn: discardConn{req: req}}}
		srv.newConnection(conns[i]).onMessage(engineio.Packet{Data: []byte("0")})
		socks[i] = recvValue(t, got)
		socks[i].Join(room)
		conns[i].taken()
	}
	return conns, socks
}

// waitQueued waits until n broadcasts wait in the adapter's queue.
func waitQueued(t *testing.T, a *InMemoryAdapter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.comb.mu.Lock()
		q := len(a.comb.queue)
		a.comb.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d broadcasts queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBroadcastsCombineWhileOneIsDelivered checks that broadcasts made by
// several sockets while another broadcast is being delivered (a receiver's
// write is slow) wait, and then reach each receiver together in one send,
// in one order, each socket missing only its own (a socket's broadcast
// excepts it), with one offset and one log entry each; and that volatile
// broadcasts, broadcasts with an acknowledgement id and with attachments
// made meanwhile are never part of a group.
func TestBroadcastsCombineWhileOneIsDelivered(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{}})
	a := srv.Of("/").Adapter().(*InMemoryAdapter)
	const k = 6
	conns, socks := connectSends(t, srv, k+1, "room")
	slow := conns[0]
	slow.gate()
	first := make(chan struct{})
	go func() {
		defer close(first)
		_ = srv.To("room").Emit("first")
	}()
	<-slow.entered // the first broadcast waits on slow's write

	var wg sync.WaitGroup
	for i := 1; i <= k; i++ {
		wg.Go(func() { _ = socks[i].To("room").Emit("m", i) })
	}
	waitQueued(t, a, k)
	// These go on their own, whenever they get their turn.
	wg.Go(func() { _ = srv.To("room").Volatile().Emit("volatile") })
	wg.Go(func() { _ = srv.To("room").Emit("binary", []byte{1, 2}) })
	wg.Go(func() {
		_ = a.Broadcast(&parser.Packet{Type: parser.Event, Data: json.RawMessage(`["ack"]`), ID: 7, HasID: true}, &BroadcastOptions{Rooms: []string{"room"}})
	})
	slow.gated.Store(false)
	close(slow.release)
	<-first
	wg.Wait()

	alone := func(p string) bool {
		return strings.Contains(p, `"volatile"`) || strings.Contains(p, `"binary"`) || strings.Contains(p, `"ack"`) || !strings.HasPrefix(p, "2")
	}
	var group []string // the group as slow got it: every socket's broadcast
	for i, c := range conns {
		sends := c.taken()
		if len(sends) == 0 || len(sends[0]) != 1 || !strings.HasPrefix(sends[0][0], `2["first"`) {
			t.Fatalf("socket %d: sends %q, want the first broadcast first", i, sends)
		}
		var groups [][]string
		others := 0
		for _, s := range sends[1:] {
			switch {
			case slices.ContainsFunc(s, alone):
				// The binary event is its text and its attachment.
				if !(len(s) == 1 || len(s) == 2 && strings.HasPrefix(s[0], `51-["binary"`)) {
					t.Errorf("socket %d: a broadcast that goes alone was sent with others: %q", i, s)
				}
				others++
			default:
				groups = append(groups, s)
			}
		}
		if others != 3 {
			t.Errorf("socket %d: %d sends of the volatile, binary and ack broadcasts, want 3", i, others)
		}
		if len(groups) != 1 {
			t.Fatalf("socket %d: the sockets' broadcasts came in %d sends, want 1: %q", i, len(groups), groups)
		}
		if i == 0 {
			group = groups[0]
			if len(group) != k {
				t.Fatalf("socket 0 got %d of the %d broadcasts: %q", len(group), k, group)
			}
			continue
		}
		want := slices.DeleteFunc(slices.Clone(group), func(p string) bool {
			return strings.HasPrefix(p, fmt.Sprintf(`2["m",%d,`, i))
		})
		if len(want) != k-1 || !slices.Equal(groups[0], want) {
			t.Errorf("socket %d got %q, want %q (all but its own, in socket 0's order)", i, groups[0], want)
		}
	}
	offsets := map[string]bool{}
	for _, p := range group {
		args, err := parser.SplitArray(nil, []byte(p[1:]))
		if err != nil || len(args) != 3 {
			t.Fatalf("packet %q: %v", p, err)
		}
		offsets[string(args[2])] = true
	}
	if len(offsets) != k {
		t.Errorf("%d offsets for %d broadcasts", len(offsets), k)
	}
	if n, _ := a.RecoveryLogSize(); n != 1+k+1 { // first, the group, binary
		t.Errorf("the recovery log holds %d packets, want %d", n, 1+k+1)
	}
}

// TestCombinedBroadcastsKeepOrder checks, with and without connection
// state recovery, that sockets broadcasting at once to their room (each
// broadcast excepting its sender) reach every other member exactly once,
// each sender's broadcasts in the order it made them, and every socket in
// one common order (that of the recovery log, whose offsets grow along
// it).
func TestCombinedBroadcastsKeepOrder(t *testing.T) {
	for _, recovery := range []bool{false, true} {
		t.Run(fmt.Sprint("recovery=", recovery), func(t *testing.T) {
			var opts *Options
			if recovery {
				opts = &Options{ConnectionStateRecovery: &RecoveryOptions{}}
			}
			srv := newTestServer(t, opts)
			const pubs, each, listeners = 6, 300, 2
			conns, socks := connectSends(t, srv, pubs+listeners, "room")
			var wg sync.WaitGroup
			for i := range pubs {
				wg.Go(func() {
					for n := range each {
						_ = socks[i].To("room").Emit("m", i, n)
					}
				})
			}
			wg.Wait()
			var sends, packets int
			var order []string // what the first listener got
			for i := pubs + listeners - 1; i >= 0; i-- {
				ss := conns[i].taken()
				got := slices.Concat(ss...)
				sends += len(ss)
				packets += len(got)
				next := make([]int, pubs)
				var lastSeq uint64
				for _, p := range got {
					args, err := parser.SplitArray(nil, []byte(p[1:]))
					if err != nil || len(args) < 3 {
						t.Fatalf("socket %d: packet %q", i, p)
					}
					from, _ := strconv.Atoi(string(args[1]))
					n, _ := strconv.Atoi(string(args[2]))
					if from == i {
						t.Fatalf("socket %d got its own broadcast %q", i, p)
					}
					if n != next[from] {
						t.Fatalf("socket %d: broadcast %d of socket %d after %d of its broadcasts", i, n, from, next[from])
					}
					next[from]++
					if recovery {
						var off string
						_ = json.Unmarshal(args[3], &off)
						// The sequence follows the prefix's last "-" (the
						// prefix's random part may hold more).
						s := off[strings.LastIndexByte(off, '-')+1:]
						seq, err := strconv.ParseUint(s, 36, 64)
						if err != nil || seq < lastSeq {
							t.Fatalf("socket %d: offset %q after sequence %d", i, off, lastSeq)
						}
						lastSeq = seq
					}
				}
				for from, n := range next {
					if from != i && n != each {
						t.Fatalf("socket %d got %d of socket %d's %d broadcasts", i, n, from, each)
					}
				}
				if i == pubs+listeners-1 {
					order = got
					continue
				}
				// Every socket saw the common order (a publisher without
				// its own broadcasts).
				want := order
				if i < pubs {
					want = slices.DeleteFunc(slices.Clone(order), func(p string) bool {
						return strings.HasPrefix(p, fmt.Sprintf(`2["m",%d,`, i))
					})
				}
				if !slices.Equal(got, want) {
					t.Fatalf("socket %d saw another order than the last listener", i)
				}
			}
			if recovery {
				if n, _ := srv.Of("/").Adapter().(*InMemoryAdapter).RecoveryLogSize(); n != pubs*each {
					t.Errorf("the recovery log holds %d packets, want %d", n, pubs*each)
				}
			}
			t.Logf("%d packets in %d sends", packets, sends)
		})
	}
}

// TestBroadcastEach checks that BroadcastEach groups consecutive
// broadcasts that select from the same rooms with the same flags, whatever
// they except, that each socket gets the packets of a group meant for it
// in one send, and that volatile broadcasts and broadcasts with an
// acknowledgement id go alone.
func TestBroadcastEach(t *testing.T) {
	srv := newTestServer(t, nil)
	conns, socks := connectSends(t, srv, 4, "r")
	socks[3].Leave("r")
	a := srv.Of("/").Adapter().(*InMemoryAdapter)
	r := []string{"r"}
	id := func(i int) []string { return []string{socks[i].ID()} }
	type b struct {
		opts BroadcastOptions
		ack  bool
	}
	list := []b{
		{opts: BroadcastOptions{Rooms: r, Except: id(0)}},                         // m0
		{opts: BroadcastOptions{Rooms: r, Except: id(1)}},                         // m1
		{opts: BroadcastOptions{Rooms: r}},                                        // m2
		{opts: BroadcastOptions{Rooms: r, Flags: BroadcastFlags{Volatile: true}}}, // m3: alone
		{opts: BroadcastOptions{Rooms: r, Except: id(2)}},                         // m4
		{opts: BroadcastOptions{Except: id(0)}},                                   // m5: other rooms
		{opts: BroadcastOptions{Except: id(1)}},                                   // m6
		{opts: BroadcastOptions{Rooms: r}, ack: true},                             // m7: alone
		{opts: BroadcastOptions{Rooms: r, Except: id(0)}},                         // m8
		{opts: BroadcastOptions{Rooms: r, Except: id(0)}},                         // m9
	}
	var ps []*parser.Packet
	var opts []*BroadcastOptions
	for i, x := range list {
		p := &parser.Packet{Type: parser.Event, Data: json.RawMessage(fmt.Sprintf(`["m%d"]`, i))}
		if x.ack {
			p.ID, p.HasID = 1, true
		}
		ps = append(ps, p)
		opts = append(opts, &x.opts)
	}
	a.BroadcastEach(ps, opts)
	m := func(ns ...int) []string {
		var s []string
		for _, n := range ns {
			if n == 7 {
				s = append(s, `21["m7"]`)
				continue
			}
			s = append(s, fmt.Sprintf(`2["m%d"]`, n))
		}
		return s
	}
	want := [][][]string{
		{m(1, 2), m(3), m(4), m(6), m(7)},
		{m(0, 2), m(3), m(4), m(5), m(7), m(8, 9)},
		{m(0, 1, 2), m(3), m(5, 6), m(7), m(8, 9)},
		{m(5, 6)},
	}
	for i, c := range conns {
		if got := c.taken(); !slices.EqualFunc(got, want[i], slices.Equal) {
			t.Errorf("socket %d: sends %q, want %q", i, got, want[i])
		}
	}
}

// TestDeliverEach checks that DeliverEach groups as BroadcastEach does,
// with each broadcast's own offset appended (none when it is "").
func TestDeliverEach(t *testing.T) {
	srv := newTestServer(t, nil)
	conns, socks := connectSends(t, srv, 2, "r")
	l := srv.Of("/").LocalSockets()
	var ps []*parser.Packet
	var opts []*BroadcastOptions
	for i := range 3 {
		ps = append(ps, &parser.Packet{Type: parser.Event, Data: json.RawMessage(fmt.Sprintf(`["m%d"]`, i))})
		opts = append(opts, &BroadcastOptions{Rooms: []string{"r"}, Except: []string{socks[i%2].ID()}})
	}
	l.DeliverEach(ps, opts, []string{"o0", "", "o2"})
	want := [][][]string{
		{{`2["m1"]`}},
		{{`2["m0","o0"]`, `2["m2","o2"]`}},
	}
	for i, c := range conns {
		if got := c.taken(); !slices.EqualFunc(got, want[i], slices.Equal) {
			t.Errorf("socket %d: sends %q, want %q", i, got, want[i])
		}
	}
}
