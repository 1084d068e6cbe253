package socketio

import (
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
)

// gateConn is an engine connection whose Send, once gated, reports that
// it entered and waits for release (a receiver whose delivery writes to a
// slow network), and which records what it is sent.
type gateConn struct {
	discardConn
	gated   atomic.Bool
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	got     []string
}

func (c *gateConn) Send(pkts ...engineio.Packet) error {
	if c.gated.Load() {
		c.entered <- struct{}{}
		<-c.release
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range pkts {
		c.got = append(c.got, string(p.Data))
	}
	return nil
}

// connectGate connects a socket on c and returns it.
func connectGate(t *testing.T, srv *Server, c *gateConn) *Socket {
	t.Helper()
	got := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) {
		select {
		case got <- s:
		default:
		}
	})
	c.req = httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	srv.newConnection(c).onMessage(engineio.Packet{Data: []byte("0")})
	return <-got
}

// TestDeliveryDoesNotHoldTheRoomLock checks that a broadcast waiting on a
// receiver (its write) does not hold the namespace's lock: other sockets
// join and leave rooms meanwhile, and the broadcast reaches everyone once
// the receiver goes on.
func TestDeliveryDoesNotHoldTheRoomLock(t *testing.T) {
	srv := newTestServer(t, nil)
	slow := &gateConn{}
	ss := connectGate(t, srv, slow)
	other := &gateConn{}
	so := connectGate(t, srv, other)
	ss.Join("room")
	so.Join("room")
	slow.entered, slow.release = make(chan struct{}), make(chan struct{})
	slow.gated.Store(true)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_ = srv.To("room").Emit("news", 1)
	}()
	<-slow.entered // the broadcast waits in slow's Send
	joined := make(chan struct{})
	go func() {
		so.Join("other")
		so.Leave("other")
		close(joined)
	}()
	select {
	case <-joined:
	case <-time.After(30 * time.Second):
		t.Fatal("a join waited for a broadcast's delivery to a slow receiver")
	}
	close(slow.release)
	<-sent
	for _, c := range []*gateConn{slow, other} {
		c.mu.Lock()
		got := slices.Clone(c.got)
		c.mu.Unlock()
		if !slices.Contains(got, `2["news",1]`) {
			t.Fatalf("a receiver got %q", got)
		}
	}
}

// TestConcurrentBroadcastsOneOrder checks that broadcasts made at once by
// several goroutines reach every socket in one order, with and without
// connection state recovery (whose log order is the delivery order).
func TestConcurrentBroadcastsOneOrder(t *testing.T) {
	for _, recovery := range []bool{false, true} {
		var opts *Options
		if recovery {
			opts = &Options{ConnectionStateRecovery: &RecoveryOptions{}}
		}
		srv := newTestServer(t, opts)
		conns := make([]*gateConn, 5)
		for i := range conns {
			conns[i] = &gateConn{}
			connectGate(t, srv, conns[i]).Join("room")
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 200 {
					_ = srv.To("room").Emit("n", g, i)
				}
			})
		}
		wg.Wait()
		var first []string
		for i, c := range conns {
			c.mu.Lock()
			got := slices.Clone(c.got)
			c.mu.Unlock()
			if len(got) < 800 {
				t.Fatalf("recovery %v: socket %d got %d packets", recovery, i, len(got))
			}
			got = got[len(got)-800:] // after the CONNECT
			if i == 0 {
				first = got
			} else if !slices.Equal(got, first) {
				t.Fatalf("recovery %v: socket %d saw the broadcasts in another order than socket 0", recovery, i)
			}
		}
	}
}
