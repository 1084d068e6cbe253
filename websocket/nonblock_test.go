package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket/frame"
)

// takeConn is a net.Conn whose non-blocking writes take at most room
// bytes; everything written lands in out, in order.
type takeConn struct {
	net.Conn
	out  bytes.Buffer
	room int
}

func (c *takeConn) Write(p []byte) (int, error) { return c.out.Write(p) }

func (c *takeConn) SetWriteDeadline(time.Time) error { return nil }

func (c *takeConn) WriteNonblocking(p []byte) (int, error) {
	n := min(len(p), c.room)
	c.room -= n
	return c.out.Write(p[:n])
}

// TestTryBatchLeftGoesFirst checks that what a non-blocking write left
// goes out before the next message, whole and in order.
func TestTryBatchLeftGoesFirst(t *testing.T) {
	nc := &takeConn{room: 3}
	c := newConn(connConfig{nc: nc})
	b := c.TryBatch()
	if b == nil {
		t.Fatal("TryBatch refused a NonblockingWriter")
	}
	if err := b.WriteMessage(MessageText, []byte("first message")); err != nil {
		t.Fatal(err)
	}
	left, err := b.FlushNow()
	if err != nil || !left {
		t.Fatalf("FlushNow = %v, %v; want something left", left, err)
	}
	if err := c.WriteMessage(MessageText, []byte("second")); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, m := range []string{"first message", "second"} {
		want = frame.AppendHeader(want, frame.Header{Fin: true, OpCode: frame.OpText, Length: int64(len(m))})
		want = append(want, m...)
	}
	if !bytes.Equal(nc.out.Bytes(), want) {
		t.Fatalf("wrote %q, want %q", nc.out.Bytes(), want)
	}
	if err := c.FlushPending(); err != nil { // nothing left: no-op
		t.Fatal(err)
	}
}

// TestTryBatchAllocs checks that a direct write of a small message
// allocates nothing.
func TestTryBatchAllocs(t *testing.T) {
	nc := &takeConn{room: 1 << 30}
	c := newConn(connConfig{nc: nc})
	msg := []byte("a small broadcast message")
	allocs := testing.AllocsPerRun(100, func() {
		b := c.TryBatch()
		_ = b.WriteMessage(MessageText, msg)
		_, _ = b.FlushNow()
		nc.out.Reset()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per direct write, want 0", allocs)
	}
}

// TestWriteRawNonblocking checks that a write through a pooled RawWriter
// reaches the peer and allocates nothing.
func TestWriteRawNonblocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := WriteRawNonblocking(rc, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("WriteRawNonblocking: %d, %v", n, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("the peer read %q, %v", buf, err)
	}
	if raceEnabled {
		return // sync.Pool drops items at random under the race detector
	}
	p := []byte("x")
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := WriteRawNonblocking(rc, p); n != 1 || err != nil {
			t.Fatalf("WriteRawNonblocking: %d, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write, want 0", allocs)
	}
}

// gateConn is a takeConn whose blocking writes wait for release: a peer
// that does not read, for a writer that waits for the network.
type gateConn struct {
	takeConn
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
}

func (c *gateConn) Write(p []byte) (int, error) {
	c.entered <- struct{}{}
	<-c.release
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *gateConn) WriteNonblocking(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takeConn.WriteNonblocking(p)
}

// TestTryBatchDoesNotWaitForControlWrite checks that a write without
// waiting does not wait for a control frame stuck on a peer that does not
// read (a pong here): its frames are kept whole and go out after the pong,
// with FlushPending. Before, FlushNow waited for the pong's write, and a
// broadcast with it.
func TestTryBatchDoesNotWaitForControlWrite(t *testing.T) {
	nc := &gateConn{takeConn: takeConn{room: 1 << 20}, entered: make(chan struct{}, 1), release: make(chan struct{})}
	c := newConn(connConfig{nc: nc})
	pong := make(chan error, 1)
	go func() { pong <- c.writeControl(frame.OpPong, []byte("p")) }()
	<-nc.entered // the pong's write waits for the peer
	done := make(chan error, 1)
	go func() {
		b := c.TryBatch()
		if b == nil {
			done <- errors.New("TryBatch refused an idle connection")
			return
		}
		_ = b.WriteMessage(MessageText, []byte("broadcast"))
		left, err := b.FlushNow()
		if err == nil && !left {
			err = errors.New("FlushNow wrote past a write under way")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("FlushNow waited for the pong's write to a peer that does not read")
	}
	close(nc.release)
	if err := <-pong; err != nil {
		t.Fatal(err)
	}
	if err := c.FlushPending(); err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = frame.AppendHeader(want, frame.Header{Fin: true, OpCode: frame.OpPong, Length: 1})
	want = append(want, 'p')
	want = frame.AppendHeader(want, frame.Header{Fin: true, OpCode: frame.OpText, Length: int64(len("broadcast"))})
	want = append(want, "broadcast"...)
	if !bytes.Equal(nc.out.Bytes(), want) {
		t.Fatalf("wrote %q, want %q", nc.out.Bytes(), want)
	}
}

// TestTryBatchAfterClose checks that nothing kept by a write without
// waiting goes out after the close frame, and that the write reports the
// close.
func TestTryBatchAfterClose(t *testing.T) {
	nc := &takeConn{room: 1 << 20}
	c := newConn(connConfig{nc: nc})
	if err := c.writeClose(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	n := nc.out.Len()
	if b := c.TryBatch(); b != nil {
		_ = b.WriteMessage(MessageText, []byte("late"))
		if _, err := b.FlushNow(); !errors.Is(err, ErrClosed) {
			t.Fatalf("FlushNow after the close frame = %v, want ErrClosed", err)
		}
	}
	if err := c.keepPending([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("keepPending after the close frame = %v, want ErrClosed", err)
	}
	if err := c.FlushPending(); err != nil {
		t.Fatal(err)
	}
	if nc.out.Len() != n {
		t.Fatalf("%d bytes went out after the close frame", nc.out.Len()-n)
	}
}
