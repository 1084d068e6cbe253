package engineio_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/websocket"
)

// nbCountConn is a TCP connection that counts its writes that do not wait
// for the network.
type nbCountConn struct {
	*net.TCPConn
	rw *websocket.RawWriter
	n  *atomic.Int64
}

func (c *nbCountConn) WriteNonblocking(p []byte) (int, error) {
	c.n.Add(1)
	return c.rw.WriteNonblocking(p)
}

type nbCountListener struct {
	net.Listener
	n *atomic.Int64
}

func (l nbCountListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rw, err := websocket.NewRawWriter(c.(*net.TCPConn))
	if err != nil {
		return nil, err
	}
	return &nbCountConn{c.(*net.TCPConn), rw, l.n}, nil
}

// dialCounted opens a WebSocket session on a server whose sockets count
// their direct (non-blocking) writes in direct, and returns the client's
// connection, the open packet read, and the server's session.
func dialCounted(t *testing.T, direct *atomic.Int64) (*websocket.Conn, *engineio.Socket) {
	t.Helper()
	e := newEnvListener(t, nil, func(l net.Listener) net.Listener { return nbCountListener{l, direct} }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	read(t, c) // open packet
	return c, e.nextConn()
}

// TestDirectSendAllocs checks that a packet sent to an idle WebSocket
// session is written by the sender (a direct write: no writer goroutine)
// without allocating, and arrives whole and in order.
func TestDirectSendAllocs(t *testing.T) {
	direct := new(atomic.Int64)
	c, s := dialCounted(t, direct)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	msg := []byte("a small broadcast")
	// Read as it goes, so that the socket never fills.
	got := make(chan string, 1)
	var sent atomic.Int64
	const runs = 200
	go func() {
		var b strings.Builder
		for {
			_, m, err := c.Read(ctx)
			if err != nil || string(m) == "4end" {
				break
			}
			b.WriteString(string(m) + "\n")
		}
		got <- b.String()
	}()
	send := func(data []byte) {
		if err := s.Send(engineio.Packet{Data: data}); err == nil {
			sent.Add(1)
		}
	}
	send(msg) // warm up
	// Direct writes take at most a share of the time (directBudget), and
	// none while many writers run, whatever their session: on a busy
	// machine (slow writes, other tests' writers winding down) sends take
	// the queue, as they should. So the sends are measured again, in a
	// new budget window, until most are direct.
	deadline := time.Now().Add(waitTimeout)
	for {
		waitFor(t, "the session to be idle", s.Writable)
		before := direct.Load()
		allocs := testing.AllocsPerRun(runs, func() { send(msg) })
		n := direct.Load() - before
		if n >= runs/2 {
			if allocs != 0 && !raceEnabled {
				t.Errorf("%v allocations per direct send, want 0", allocs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sends were written directly", n, runs+1)
		}
		t.Logf("only %d of %d sends were written directly (the budget was spent or the writers were busy): again", n, runs+1)
		time.Sleep(time.Second) // directWindow: a new budget
	}
	if err := s.Send(engineio.Packet{Data: []byte("end")}); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("4"+string(msg)+"\n", int(sent.Load()))
	if g := <-got; g != want {
		t.Fatalf("the client got %d bytes, want %d:\n%s", len(g), len(want), g[:min(len(g), 200)])
	}
}

// TestDirectSendDuringClose sends to WebSocket sessions from several
// goroutines while the server closes: Close returns, every send after it
// fails with ErrClosed. (The race this guards, a writer woken by a direct
// write on a session closed under it, raising the server's WaitGroup from
// zero during Close's Wait, was reported once by -race in server tests;
// its window is too narrow for this test to hit it on purpose.)
func TestDirectSendDuringClose(t *testing.T) {
	for range 5 {
		e := newEnvListener(t, nil, nil, nil)
		const clients = 20
		socks := make([]*engineio.Socket, clients)
		for i := range socks {
			c := e.dial("EIO=4&transport=websocket")
			defer c.CloseNow()
			read(t, c) // open packet
			socks[i] = e.nextConn()
			go func() { // the client reads until the close
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						return
					}
				}
			}()
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		for _, s := range socks {
			go func() {
				defer func() { done <- struct{}{} }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if s.Send(engineio.Packet{Data: []byte("x")}) != nil {
						return
					}
				}
			}()
		}
		closed := make(chan struct{})
		go func() { e.srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(waitTimeout):
			t.Fatal("Close did not return while sessions were being sent to")
		}
		close(stop)
		for range socks {
			<-done
		}
		for i, s := range socks {
			if err := s.Send(engineio.Packet{Data: []byte("late")}); err != engineio.ErrClosed {
				t.Fatalf("socket %d: Send after Close = %v, want ErrClosed", i, err)
			}
		}
	}
}

// TestDirectSendManyAllocs checks that several packets of one Send (a
// cluster adapter's broadcasts that arrived together) go out directly in
// one write, without allocating, whole and in order.
func TestDirectSendManyAllocs(t *testing.T) {
	direct := new(atomic.Int64)
	c, s := dialCounted(t, direct)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	pkts := []engineio.Packet{{Data: []byte("one")}, {Data: []byte("two")}, {Data: []byte("three")}}
	got := make(chan string, 1)
	const runs = 200
	go func() {
		var b strings.Builder
		for range (runs + 2) * len(pkts) {
			_, m, err := c.Read(ctx)
			if err != nil {
				break
			}
			b.WriteString(string(m) + "\n")
		}
		got <- b.String()
	}()
	if err := s.Send(pkts...); err != nil { // warm up
		t.Fatal(err)
	}
	waitFor(t, "the session to be idle", s.Writable)
	before := direct.Load()
	allocs := testing.AllocsPerRun(runs, func() {
		_ = s.Send(pkts...)
	})
	n := direct.Load() - before
	// At most one write per Send (a few more if the socket ever took part
	// of one): never one per packet.
	if n > runs+runs/2 {
		t.Errorf("%d direct writes for %d sends of %d packets, want about one per send", n, runs+1, len(pkts))
	}
	// The server's writers are shared with the package's other tests: when
	// they are busy, sends take the queue, as they should.
	if n < runs/2 {
		t.Logf("only %d of %d sends were written directly (the writers were busy)", n, runs+1)
	} else if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per direct send of %d packets, want 0", allocs, len(pkts))
	}
	want := strings.Repeat("4one\n4two\n4three\n", runs+2)
	if g := <-got; g != want {
		t.Fatalf("the client got %d bytes, want %d:\n%s", len(g), len(want), g[:min(len(g), 200)])
	}
}

// TestDirectBudgetSpent checks that once the direct writes' budget is
// spent, a Send of one packet takes the queue (a writer writes it) while a
// Send of several packets, batched already, is still written directly;
// all arrive in order.
func TestDirectBudgetSpent(t *testing.T) {
	t.Cleanup(engineio.RestoreDirectBudget) // the next tests' sends may be direct
	direct := new(atomic.Int64)
	c, s := dialCounted(t, direct)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var want strings.Builder
	expect := func(pkts ...engineio.Packet) {
		for _, p := range pkts {
			want.WriteString("4" + string(p.Data) + "\n")
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for i := 0; ; i++ {
		waitFor(t, "the session to be idle", s.Writable)
		one := engineio.Packet{Data: []byte(fmt.Sprint("one ", i))}
		two := []engineio.Packet{{Data: []byte(fmt.Sprint("two ", i))}, {Data: []byte(fmt.Sprint("three ", i))}}
		engineio.SpendDirectBudget()
		before := direct.Load()
		if err := s.Send(one); err != nil {
			t.Fatal(err)
		}
		expect(one)
		if n := direct.Load() - before; n != 0 {
			t.Fatalf("a packet was written directly with the budget spent (%d writes)", n)
		}
		waitFor(t, "the writer to write the queued packet", s.Writable)
		before = direct.Load()
		if err := s.Send(two...); err != nil {
			t.Fatal(err)
		}
		expect(two...)
		if direct.Load()-before == 1 {
			break
		}
		// The server's writers are shared with the package's other
		// tests: while many run, every send takes the queue.
		if time.Now().After(deadline) {
			t.Fatal("a send of two packets was never written directly with the budget spent")
		}
		t.Log("the send of two packets took the queue (the writers were busy): again")
		time.Sleep(10 * time.Millisecond)
	}
	var got strings.Builder
	for got.Len() < want.Len() {
		_, m, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v (got %q, want %q)", err, got.String(), want.String())
		}
		got.WriteString(string(m) + "\n")
	}
	if got.String() != want.String() {
		t.Fatalf("the client got %q, want %q", got.String(), want.String())
	}
}

// TestPrefetchSend checks that the hints a broadcast gives ahead of its
// Sends are safe on any session: one without a WebSocket, an open
// WebSocket session (without allocating), and one closed meanwhile.
func TestPrefetchSend(t *testing.T) {
	all := func(s *engineio.Socket) {
		for k := range engineio.PrefetchStages {
			s.PrefetchSend(k)
		}
	}
	all(new(engineio.Socket))

	c, s := dialCounted(t, new(atomic.Int64))
	if allocs := testing.AllocsPerRun(100, func() { all(s) }); allocs != 0 {
		t.Errorf("%v allocations per prefetch of every stage, want 0", allocs)
	}
	if err := s.Send(engineio.Packet{Data: []byte("after the hints")}); err != nil {
		t.Fatal(err)
	}
	if _, m := read(t, c); m != "4after the hints" {
		t.Fatalf("the client read %q", m)
	}
	c.CloseNow()
	waitFor(t, "the session to close", func() bool { return s.Send(engineio.Packet{Data: []byte("x")}) != nil })
	all(s)
}
