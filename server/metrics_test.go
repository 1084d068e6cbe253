package server

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// TestCountingConnPassesTheSocket checks that the byte-counting wrapper
// exposes its socket for Control (the WebSocket poller registers it with
// epoll) but refuses raw reads and writes, which would not be counted.
func TestCountingConnPassesTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m := newMetrics(func() map[string]int { return nil }, func() (_, _ map[string]int) { return nil, nil })
	cl := &countingListener{Listener: ln, m: m}
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := cl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.(*countingConn).rc == nil {
		t.Fatal("a TCP connection has no raw connection: it is not read and written with raw system calls")
	}
	if _, err := c.(*countingConn).fdw.WriteNonblocking(nil); err != nil {
		t.Fatalf("a TCP connection's descriptor is not written directly: %v", err)
	}

	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T is not a syscall.Conn: the WebSocket poller cannot read it", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		t.Fatalf("Control: fd %d, %v", fd, err)
	}
	if err := rc.Read(func(uintptr) bool { return true }); !errors.Is(err, errUncounted) {
		t.Errorf("raw Read: %v, want %v", err, errUncounted)
	}
	if err := rc.Write(func(uintptr) bool { return true }); !errors.Is(err, errUncounted) {
		t.Errorf("raw Write: %v, want %v", err, errUncounted)
	}

	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || n != 5 {
		t.Fatalf("Read: %d, %v", n, err)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if r, w := m.bytesRead.Load(), m.bytesWritten.Load(); r != 5 || w != 2 {
		t.Fatalf("counted %d read, %d written; want 5 and 2", r, w)
	}
	// A write that must not wait (a broadcast's) is counted too; the
	// connection keeps the socket's raw connection, the writer is pooled.
	nb, ok := c.(websocket.NonblockingWriter)
	if !ok {
		t.Fatalf("%T cannot write without waiting", c)
	}
	for range 2 {
		if n, err := nb.WriteNonblocking([]byte("abc")); n != 3 || err != nil {
			t.Fatalf("WriteNonblocking: %d, %v", n, err)
		}
	}
	if w := m.bytesWritten.Load(); w != 8 {
		t.Fatalf("counted %d written, want 8", w)
	}
	got := make([]byte, 8)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "hiabcabc" {
		t.Fatalf("the peer read %q, %v; want %q", got, err, "hiabcabc")
	}

	// io.Copy from a file would send it with sendfile(2) straight to a
	// socket it can reach through syscall.Conn, around the count.
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 100_000
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	if n, err := io.Copy(c, f); err != nil || n != size {
		t.Fatalf("io.Copy: %d, %v", n, err)
	}
	if w := m.bytesWritten.Load(); w != 8+size {
		t.Fatalf("counted %d written after io.Copy of a file, want %d", w, 8+size)
	}

	// The descriptor, written directly, is closed through the wrapper:
	// writes after it are refused, not made to a number that the next
	// socket may get.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.WriteNonblocking([]byte("abc")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteNonblocking after Close: %v, want net.ErrClosed", err)
	}
}

// TestIdleWebSocketsHoldNoGoroutine checks that the server, as Serve runs
// it (behind the byte-counting listener), reads idle WebSocket sessions
// through the poller, not with a goroutine each, and that it counts every
// byte it reads from them that way.
func TestIdleWebSocketsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the WebSocket poller runs on Linux amd64/arm64 only")
	}
	srv, addr, _ := serve(t, testConfig(), false)
	base := "http://" + addr
	const n = 100
	before := settledGoroutines()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dialIdle(t, base)
	}
	grown := settledGoroutines() - before
	if grown >= n/10+20 {
		t.Errorf("%d idle WebSocket sessions: +%d goroutines, want fewer than %d", n, grown, n/10+20)
	}

	// One event from each: read through the poller, each byte counted.
	read, written := srv.metrics.bytesRead.Load(), srv.metrics.bytesWritten.Load()
	const msg = `42["noop"]`
	frame := 2 + 4 + len(msg) // header, mask key, payload
	for _, c := range conns {
		if err := c.WriteMessage(websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the events", func() bool {
		// Not through /metrics: that request's bytes would count too.
		return counterValue(t, srv, "tether_events_received_total") == n
	})
	if got := srv.metrics.bytesRead.Load() - read; got != uint64(n*frame) {
		t.Errorf("counted %d bytes read, want %d (%d frames of %d bytes)", got, n*frame, n, frame)
	}
	if got := srv.metrics.bytesWritten.Load() - written; got != 0 {
		t.Errorf("counted %d bytes written, want 0 (nothing was sent)", got)
	}
}

// settledGoroutines returns the goroutine count once it has not changed
// for half a second (or after 10 s).
func settledGoroutines() int {
	last, stable := runtime.NumGoroutine(), 0
	for i := 0; i < 100 && stable < 5; i++ {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return last
}

// dialIdle connects a client to "/" over WebSocket that holds no
// goroutine: it is read with ReadLoopAsync too, and answers pings.
func dialIdle(t *testing.T, base string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := c.ReadMessage(nil); err != nil || !strings.HasPrefix(string(msg), "0{") {
		t.Fatalf("open packet %q: %v", msg, err)
	}
	if err := c.WriteMessage(websocket.MessageText, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(nil); err != nil || !strings.HasPrefix(string(msg), "40{") {
		t.Fatalf("CONNECT answer %q: %v", msg, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	c.ReadLoopAsync(func(_ websocket.MessageType, msg []byte) error {
		if string(msg) == "2" {
			return c.WriteMessage(websocket.MessageText, []byte("3"))
		}
		return nil
	}, func(error) {})
	return c
}

// counterValue returns the sum of a counter's series, gathered from the
// server's registry.
func counterValue(t *testing.T, srv *Server, name string) float64 {
	t.Helper()
	mfs, err := srv.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
