package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
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
// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t *testing.T) (c, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, peer
}

func TestWriteRawNonblocking(t *testing.T) {
	c, peer := tcpPair(t)
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

// TestReadRaw checks that ReadRaw reads as a net.Conn's Read does: it
// waits for data, honours the read deadline, reports io.EOF when the peer
// closes and net.ErrClosed once the connection is closed; that it
// allocates nothing per read; and that a Conn over a TCP socket reads
// that way.
func TestReadRaw(t *testing.T) {
	c, peer := tcpPair(t)
	if _, ok := newConn(connConfig{nc: c}).nbw.(*rawSocket); !ok {
		t.Fatal("a Conn over a TCP socket does not read it raw")
	}
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		peer.Write([]byte("hello"))
	}()
	buf := make([]byte, 16)
	if n, err := ReadRaw(rc, buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("ReadRaw: %q, %v; want the peer's hello after a wait", buf[:n], err)
	}

	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if n, err := ReadRaw(rc, buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadRaw past the deadline: %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	c.SetReadDeadline(time.Time{})

	if !raceEnabled { // sync.Pool drops items at random under the race detector
		x := []byte("x")
		allocs := testing.AllocsPerRun(100, func() {
			peer.Write(x)
			if n, err := ReadRaw(rc, buf[:1]); n != 1 || err != nil {
				t.Fatalf("ReadRaw: %d, %v", n, err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per read, want 0", allocs)
		}
	}

	peer.Close()
	if n, err := ReadRaw(rc, buf); n != 0 || err != io.EOF {
		t.Fatalf("ReadRaw after the peer closed: %d, %v; want io.EOF", n, err)
	}
	c.Close()
	if _, err := ReadRaw(rc, buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadRaw after Close: %v; want net.ErrClosed", err)
	}
}

// TestWriteRaw checks that WriteRaw writes as a net.Conn's Write does: all
// of a write bigger than the socket's buffers, waiting while the peer
// reads it; the write deadline, with what went out counted; net.ErrClosed
// once the connection is closed; and no allocation per write.
func TestWriteRaw(t *testing.T) {
	c, peer := tcpPair(t)
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big))))
		got <- b
	}()
	if n, err := WriteRaw(rc, big); n != len(big) || err != nil {
		t.Fatalf("WriteRaw: %d of %d, %v", n, len(big), err)
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("the peer read %d bytes, not what was written", len(b))
	}

	if !raceEnabled { // sync.Pool drops items at random under the race detector
		x, one := []byte("x"), make([]byte, 1)
		allocs := testing.AllocsPerRun(100, func() {
			if n, err := WriteRaw(rc, x); n != 1 || err != nil {
				t.Fatalf("WriteRaw: %d, %v", n, err)
			}
			io.ReadFull(peer, one)
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per write, want 0", allocs)
		}
	}

	// Nobody reads now: the write fills the buffers and waits until the
	// deadline.
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := WriteRaw(rc, big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= len(big) {
		t.Fatalf("WriteRaw to a peer that does not read: %d of %d, %v; want part of it and os.ErrDeadlineExceeded", n, len(big), err)
	}
	c.Close()
	if _, err := WriteRaw(rc, big[:1]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteRaw after Close: %v; want net.ErrClosed", err)
	}
}

// TestFDWriter checks that an FDWriter writes to its socket's descriptor
// without waiting (what a full socket does not take is left, with no
// error), allocates nothing per write, and that Close closes the socket
// only with no write under way, after which writes report net.ErrClosed.
func TestFDWriter(t *testing.T) {
	var zero FDWriter
	if _, err := zero.WriteNonblocking([]byte("x")); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("zero FDWriter: %v, want errors.ErrUnsupported", err)
	}
	c, peer := tcpPair(t)
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var w FDWriter
	if !w.Init(rc) {
		t.Fatal("Init refused a TCP socket")
	}
	if n, err := w.WriteNonblocking([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("WriteNonblocking: %d, %v", n, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("the peer read %q, %v", buf, err)
	}
	x, one := []byte("x"), make([]byte, 1)
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := w.WriteNonblocking(x); n != 1 || err != nil {
			t.Fatalf("WriteNonblocking: %d, %v", n, err)
		}
		io.ReadFull(peer, one)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write, want 0", allocs)
	}

	// Nobody reads: the socket's buffers fill, and a write then takes
	// part or nothing, without waiting and without an error.
	chunk := make([]byte, 64<<10)
	full := false
	for range 4096 {
		n, err := w.WriteNonblocking(chunk)
		if err != nil {
			t.Fatalf("WriteNonblocking to a full socket: %v", err)
		}
		if n < len(chunk) {
			full = true
			break
		}
	}
	if !full {
		t.Fatal("256 MiB went into a socket nobody reads")
	}

	// Writers keep writing while the socket is closed.
	var wg sync.WaitGroup
	stop := make(chan struct{}) // for writers left by a failed test
	defer close(stop)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := w.WriteNonblocking(x)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("WriteNonblocking while closing: %v", err)
					return
				}
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	closed := false
	err = w.Close(func() error {
		if under := w.state.Load() &^ (fdHeld | fdClosing); under != 0 {
			t.Errorf("the socket was closed with %d writes under way", under/fdWrite)
		}
		closed = true
		return c.Close()
	})
	if err != nil || !closed {
		t.Fatalf("Close: %v (socket closed: %v)", err, closed)
	}
	if _, err := w.WriteNonblocking(x); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteNonblocking after Close: %v, want net.ErrClosed", err)
	}
	wg.Wait()
}

// TestPrefetchWrite checks that the hints a broadcast gives ahead of its
// writes are safe on an open connection (without allocating), on one
// without a socket writer, and on a closed one.
func TestPrefetchWrite(t *testing.T) {
	nc, _ := tcpPair(t)
	c := newConn(connConfig{nc: nc})
	both := func(c *Conn) {
		c.PrefetchWrite(0)
		c.PrefetchWrite(1)
	}
	if allocs := testing.AllocsPerRun(100, func() { both(c) }); allocs != 0 {
		t.Errorf("%v allocations per prefetch, want 0", allocs)
	}
	both(new(Conn))
	c.CloseNow()
	both(c)
}
