package attack

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/websocket"
	"github.com/tether-rt/tether/websocket/frame"
)

// Item 3: a WebSocket frame header claims 16 MiB and only 20 KiB of its
// payload follow.
const (
	item3Declared = 16 << 20
	item3Sent     = 20 << 10
)

// item3Stall opens a WebSocket connection to the echo server at addr (a
// real handshake, without compression), checks that it echoes, then
// sends the header of a masked binary frame declaring item3Declared bytes
// and item3Sent bytes of its payload, and stops. It returns the client
// connection, whose raw socket (NetConn) the caller may read.
func item3Stall(t *testing.T, ctx context.Context, addr string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/",
		&websocket.DialOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionDisabled}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if err := c.WriteMessage(websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(nil); err != nil || string(p) != "hello" {
		t.Fatalf("echo: %q, %v", p, err)
	}
	h := frame.Header{Fin: true, OpCode: frame.OpBinary, Length: item3Declared, Masked: true, Mask: [4]byte{0x5a, 0x17, 0xc3, 0x01}}
	b := frame.AppendHeader(nil, h)
	payload := make([]byte, item3Sent)
	frame.Mask(h.Mask, 0, payload)
	if _, err := c.NetConn().Write(append(b, payload...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// settledHeap samples heapInUse until two samples 100 ms apart are within
// 64 KiB of each other (the server has read what was sent), for at most
// 5 s, and returns the last.
func settledHeap() uint64 {
	prev := heapInUse()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		cur := heapInUse()
		if cur < prev+64<<10 && prev < cur+64<<10 {
			return cur
		}
		prev = cur
	}
	return prev
}

// TestAttack3DeclaredLength has K connections to `tether echo` as shipped
// each send a frame header declaring 16 MiB and 20 KiB of payload, then
// measures the heap the server holds with the connections open. It held
// the declared 16 MiB per connection (818 MB for 50); the reader now holds
// what arrived and at most a 64 KiB chunk more. The bound allows 256 KiB
// per connection — the 20 KiB received, ReadLoop's pooled 16 KiB buffer,
// a 64 KiB staging chunk, the Conn and its 2 KiB read buffer, and this
// process's own client Conn, about 110 KiB, doubled for the allocator —
// and 8 MB for the rest of the process (collections, pools, timers).
func TestAttack3DeclaredLength(t *testing.T) {
	addr := tetherEcho(t)
	k := scale(10, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := heapInUse()
	for range k {
		item3Stall(t, ctx, addr)
	}
	held := int64(settledHeap()) - int64(before)
	bound := int64(k)*256<<10 + 8<<20
	report(t, "3", fmt.Sprintf("%d WebSocket connections to tether echo declare a 16 MiB frame and send 20 KiB of it", k),
		fmt.Sprintf("heap held < %s (%d × 256 KiB + 8 MB)", mb(bound), k),
		fmt.Sprintf("%s held (%.0f KiB per connection)", mb(held), float64(held)/float64(k)/1024), held < bound)
}

// tetherEchoIdle runs `tether echo -idle-timeout d` (the options, handler
// and http.Server that runEcho builds) and returns its address and
// handler.
func tetherEchoIdle(t *testing.T, d time.Duration) (string, *echoserver.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := echoserver.DefaultOptions()
	echoserver.SetIdleTimeout(opts, d)
	h := echoserver.Handler(opts)
	h.Logger = quietLogger()
	hs := echoserver.HTTPServer(h)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = h.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	})
	return ln.Addr().String(), h
}

// TestAttack3StalledFrameClosed runs the same attack against `tether echo`
// with a 1 s idle timeout (shipped: 60 s): a connection that stops in the
// middle of a frame cannot answer the server's ping, so each is closed
// within 1.5 s of its last byte and counted, and what they held is freed.
func TestAttack3StalledFrameClosed(t *testing.T) {
	if d := echoserver.DefaultOptions(); d.PingInterval+d.PingTimeout != echoserver.DefaultIdleTimeout || echoserver.DefaultIdleTimeout <= 0 {
		t.Fatalf("tether echo ships with a heartbeat of %v + %v, not DefaultIdleTimeout (%v)", d.PingInterval, d.PingTimeout, echoserver.DefaultIdleTimeout)
	}
	addr, h := tetherEchoIdle(t, time.Second)
	k := scale(10, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := heapInUse()
	conns := make([]*websocket.Conn, k)
	for i := range conns {
		conns[i] = item3Stall(t, ctx, addr)
	}
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			if isClosed(c.NetConn(), 10*time.Second) {
				closed.Add(1)
			}
		})
	}
	wg.Wait()
	eventually(5*time.Second, func() bool { return h.TimedOut() >= int64(k) })
	for _, c := range conns {
		c.CloseNow() // the client side's Conns, so that only the server's memory is left
	}
	held := int64(heapInUse()) - int64(before)
	timedOut := h.TimedOut()
	report(t, "3", fmt.Sprintf("%d connections stop in the middle of a frame (tether echo -idle-timeout 1s)", k),
		"all closed by the heartbeat and counted; < 4 MB left held",
		fmt.Sprintf("%d of %d closed, %d counted; %s held after", closed.Load(), k, timedOut, mb(held)),
		closed.Load() == int64(k) && timedOut == int64(k) && held < 4<<20)
}
