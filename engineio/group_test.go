package engineio_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/internal/uring"
	"github.com/tether-rt/tether/websocket"
)

// groupConn is a TCP connection whose direct writes a websocket.WriteGroup
// can make (websocket.GroupWriter), as the server package's sockets are;
// it counts the bytes groups wrote.
type groupConn struct {
	*net.TCPConn
	fdw     websocket.FDWriter
	grouped *atomic.Int64
}

func (c *groupConn) WriteNonblocking(p []byte) (int, error) { return c.fdw.WriteNonblocking(p) }
func (c *groupConn) GroupFD() *websocket.FDWriter           { return &c.fdw }
func (c *groupConn) Wrote(n int)                            { c.grouped.Add(int64(n)) }
func (c *groupConn) Close() error                           { return c.fdw.Close(c.TCPConn.Close) }

type groupListener struct {
	net.Listener
	grouped *atomic.Int64
}

func (l groupListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	gc := &groupConn{TCPConn: tc, grouped: l.grouped}
	gc.fdw.Init(rc)
	return gc, nil
}

// TestSendGroup sends to several WebSocket sessions through a Group, round
// after round, with a plain Send to one of them behind each group send and
// a Close behind the last: every client gets its packets whole and in
// order, the Close's after the group's packet, and (where io_uring is
// there) the group made the writes.
func TestSendGroup(t *testing.T) {
	engineio.RestoreDirectBudget() // a group takes direct writes only
	grouped := new(atomic.Int64)
	e := newEnvListener(t, nil, func(l net.Listener) net.Listener { return groupListener{l, grouped} }, nil)
	const clients, rounds = 4, 50
	conns := make([]*websocket.Conn, clients)
	socks := make([]*engineio.Socket, clients)
	got := make([]chan string, clients)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range clients {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		read(t, c) // open packet
		conns[i], socks[i] = c, e.nextConn()
		got[i] = make(chan string, 1)
		go func() {
			var b strings.Builder
			for {
				_, m, err := c.Read(ctx)
				if err != nil {
					b.WriteString("closed\n")
					break
				}
				if string(m) == "4end" {
					break
				}
				if m[0] == '4' {
					b.WriteString(string(m[1:]) + "\n")
				}
			}
			got[i] <- b.String()
		}()
	}
	var g engineio.Group
	want := make([]strings.Builder, clients)
	for r := range rounds {
		for i, s := range socks {
			msg := "r" + strconv.Itoa(r)
			if err := s.SendGroup(&g, engineio.Packet{Data: []byte(msg)}); err != nil {
				t.Fatal(err)
			}
			want[i].WriteString(msg + "\n")
		}
		if err := socks[0].Send(engineio.Packet{Data: []byte("after" + strconv.Itoa(r))}); err != nil {
			t.Fatal(err)
		}
		want[0].WriteString("after" + strconv.Itoa(r) + "\n")
		if r == rounds-1 {
			socks[3].Close()
			want[3].WriteString("closed\n")
		}
		g.Flush()
	}
	for i, s := range socks[:3] {
		if err := s.Send(engineio.Packet{Data: []byte("end")}); err != nil {
			t.Fatal(err)
		}
		if g, w := <-got[i], want[i].String(); g != w {
			t.Fatalf("client %d got\n%s\nwant\n%s", i, g, w)
		}
	}
	if g, w := <-got[3], want[3].String(); g != w {
		t.Fatalf("client 3 (closed) got\n%s\nwant\n%s", g, w)
	}
	r, err := uring.New(1)
	if err != nil {
		t.Logf("no io_uring here (%v): the group wrote at once", err)
		return
	}
	r.Close()
	if grouped.Load() == 0 {
		t.Fatal("no write went through the group")
	}
}

// TestHeartbeatPingsGrouped has the server ping idle WebSocket clients
// often: each gets its pings, answers them and stays connected, and
// (where io_uring is there) the wheel's pings went out in a group.
func TestHeartbeatPingsGrouped(t *testing.T) {
	engineio.RestoreDirectBudget()
	grouped := new(atomic.Int64)
	opts := &engineio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 2 * time.Second}
	e := newEnvListener(t, opts, func(l net.Listener) net.Listener { return groupListener{l, grouped} }, nil)
	const clients, pings = 6, 4
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	done := make(chan error, clients)
	for range clients {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		read(t, c) // open packet
		e.nextConn()
		go func() {
			// It reads (and answers pings) until the connection ends, so
			// that the server's close handshake at the end is answered.
			n := 0
			for {
				_, m, err := c.Read(ctx)
				if err != nil {
					if n < pings {
						done <- err
					}
					return
				}
				if string(m) == "2" {
					if err := c.WriteMessage(websocket.MessageText, []byte("3")); err != nil && n < pings {
						done <- err
						return
					}
					if n++; n == pings {
						done <- nil
					}
				}
			}
		}()
	}
	for range clients {
		if err := <-done; err != nil {
			t.Fatalf("a client did not get %d pings: %v", pings, err)
		}
	}
	select {
	case c := <-e.closes:
		t.Fatalf("a session closed: %s (%v)", c.reason, c.err)
	default:
	}
	if r, err := uring.New(1); err == nil {
		r.Close()
		if grouped.Load() == 0 {
			t.Fatal("no ping went out through the wheel's group")
		}
	}
}
