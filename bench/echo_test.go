package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/tether-rt/tether/websocket"
)

var (
	benchSizes        = []int{512, 4 << 10, 64 << 10}
	benchCompressions = []Compression{CompressOff, CompressDeflate}
)

// replayConn is a net.Conn whose reads replay the same bytes over and over,
// limit bytes in all (then io.EOF; a negative limit never ends), and whose
// writes are counted and dropped: the benchmarks measure the library, not
// the network.
type replayConn struct {
	data    []byte
	pos     int
	limit   int64
	written int64
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.limit == 0 {
		return 0, io.EOF
	}
	if c.limit > 0 && int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n := copy(p, c.data[c.pos:])
	c.pos = (c.pos + n) % len(c.data)
	if c.limit > 0 {
		c.limit -= int64(n)
	}
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error) {
	c.written += int64(len(p))
	return len(p), nil
}

func (c *replayConn) Close() error        { return nil }
func (c *replayConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *replayConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// hijackWriter is an http.ResponseWriter that hands conn to the library
// upgrading the request, as net/http does (with 4 KiB buffers, like
// net/http's own).
type hijackWriter struct {
	header http.Header
	conn   net.Conn
}

func (w *hijackWriter) Header() http.Header         { return w.header }
func (w *hijackWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *hijackWriter) WriteHeader(int)             {}
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReaderSize(w.conn, 4096), bufio.NewWriterSize(w.conn, 4096)), nil
}

// upgradeRequest is a client's opening handshake offering compression c.
func upgradeRequest(c Compression) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/ws", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	switch c {
	case CompressDeflate:
		r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
	case CompressDeflateCtx:
		r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	}
	return r
}

// replayFrames returns a client's frames carrying size bytes of [Payload]
// each, compressed when c is on: several, with different mask keys.
func replayFrames(size int, c Compression) []byte {
	p := Payload(size)
	if c != CompressOff {
		p = Deflate(p)
	}
	var b []byte
	for i := range 4 {
		b = append(b, ClientFrame(p, c != CompressOff, [4]byte{0x5a, 0xc3, byte(i), 0x17})...)
	}
	return b
}

// serverEcho upgrades a server connection of lib over nc and returns a
// function, to be called once, that reads n messages and writes each back,
// the way [EchoHandler] does (but with tether's ReadMessage, so that the
// buffer is the caller's and reused). Where the library allows it, one
// message is echoed first, so that lazily allocated buffers are not counted.
func serverEcho(tb testing.TB, lib string, c Compression, nc *replayConn) func(n int) {
	echo := serverEchoN(tb, lib, c, nc)
	if lib == "gws" {
		return echo // ReadLoop runs once per connection
	}
	echo(1)
	return echo
}

func serverEchoN(tb testing.TB, lib string, c Compression, nc *replayConn) func(n int) {
	w := &hijackWriter{header: http.Header{}, conn: nc}
	r := upgradeRequest(c)
	ctx := context.Background()
	switch lib {
	case "tether":
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{ReadLimit: readLimit, Compression: tetherCompression(c)})
		if err != nil {
			tb.Fatal(err)
		}
		if conn.CompressionNegotiated() != (c != CompressOff) {
			tb.Fatal("compression not negotiated as asked")
		}
		var buf []byte
		return func(n int) {
			for range n {
				typ, p, err := conn.ReadMessage(buf)
				if err != nil {
					tb.Fatal(err)
				}
				if err := conn.WriteMessage(typ, p); err != nil {
					tb.Fatal(err)
				}
				buf = p
			}
		}
	case "gorilla":
		up := &gorilla.Upgrader{EnableCompression: c != CompressOff}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			tb.Fatal(err)
		}
		return func(n int) {
			for range n {
				typ, p, err := conn.ReadMessage()
				if err != nil {
					tb.Fatal(err)
				}
				if err := conn.WriteMessage(typ, p); err != nil {
					tb.Fatal(err)
				}
			}
		}
	case "gws":
		h := &gwsCounter{}
		up := gws.NewUpgrader(h, &gws.ServerOption{ReadMaxPayloadSize: readLimit, PermessageDeflate: gwsCompression(c)})
		socket, err := up.Upgrade(w, r)
		if err != nil {
			tb.Fatal(err)
		}
		// gws reads in its own loop and calls back; the connection ends
		// (io.EOF) after exactly n frames, which ends ReadLoop.
		frameLen := int64(len(nc.data) / 4)
		return func(n int) {
			nc.limit = int64(n) * frameLen
			socket.ReadLoop()
			if h.n != n {
				tb.Fatalf("gws echoed %d messages of %d", h.n, n)
			}
		}
	case "coder":
		conn, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coderCompression(c), CompressionThreshold: compressThreshold})
		if err != nil {
			tb.Fatal(err)
		}
		conn.SetReadLimit(readLimit)
		return func(n int) {
			for range n {
				typ, p, err := conn.Read(ctx)
				if err != nil {
					tb.Fatal(err)
				}
				if err := conn.Write(ctx, typ, p); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	tb.Fatalf("unknown library %q", lib)
	return nil
}

// gwsCounter echoes like gwsEcho and counts the messages.
type gwsCounter struct {
	gws.BuiltinEventHandler
	n int
}

func (h *gwsCounter) OnMessage(socket *gws.Conn, m *gws.Message) {
	h.n++
	gwsEcho{}.OnMessage(socket, m)
}

// cpuTime returns the user and system CPU time the process has used, in
// nanoseconds (all threads: the garbage collector's work counts too).
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkServerEcho measures a server reading one client message and
// writing it back, over a connection that costs nothing, for each library,
// compression and size. ns/op, B/op and allocs/op are per message echoed.
func BenchmarkServerEcho(b *testing.B) {
	for _, c := range benchCompressions {
		for _, size := range benchSizes {
			for _, lib := range Libraries {
				b.Run(fmt.Sprintf("compress=%s/size=%d/lib=%s", c, size, lib), func(b *testing.B) {
					nc := &replayConn{data: replayFrames(size, c), limit: -1}
					echo := serverEcho(b, lib, c, nc)
					nc.written = 0
					b.SetBytes(int64(size))
					b.ReportAllocs()
					cpu0 := cpuTime()
					b.ResetTimer()
					echo(b.N)
					b.StopTimer()
					// CPU time is what the machine's other work disturbs
					// least: report it next to the wall-clock ns/op.
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
					if nc.written < int64(b.N)*int64(size)/20 {
						b.Fatalf("wrote %d bytes for %d echoes of %d bytes", nc.written, b.N, size)
					}
				})
			}
		}
	}
}

// TestEchoServersAndClients runs every library's client against every
// library's echo server over loopback TCP, for each compression, and checks
// the echoes byte for byte: the load test compares like with like.
func TestEchoServersAndClients(t *testing.T) {
	for _, c := range []Compression{CompressOff, CompressDeflate, CompressDeflateCtx} {
		for _, srvLib := range Libraries {
			if !Supports(srvLib, c) {
				continue
			}
			h, err := EchoHandler(srvLib, c)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			url := "ws" + srv.URL[len("http"):] + "/ws"
			for _, cliLib := range Libraries {
				if !Supports(cliLib, c) {
					continue
				}
				if c == CompressDeflateCtx && srvLib == "gws" && cliLib == "coder" {
					// gws answers client_max_window_bits=12 (its default
					// window with context takeover), which coder's client
					// cannot honour and refuses.
					continue
				}
				t.Run(fmt.Sprintf("compress=%s/server=%s/client=%s", c, srvLib, cliLib), func(t *testing.T) {
					checkEcho(t, cliLib, url, c)
				})
			}
			srv.Close()
		}
	}
}

// checkEcho dials url with lib's client and checks the echo of a few
// messages of each size, then that Run stops when told.
func checkEcho(t *testing.T, lib, url string, c Compression) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := Dial(ctx, lib, url, c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The exact bytes, through each library's own client API.
	for _, size := range benchSizes {
		want := Payload(size)
		got, err := echoOnce(ctx, cl, want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("echo of %d bytes differs (got %d bytes)", size, len(got))
		}
	}
	// Run's loop, as the load test drives it.
	stop := make(chan struct{})
	rec := &Recorder{From: time.Now(), To: time.Now().Add(time.Hour)}
	done := make(chan error, 1)
	go func() { done <- cl.Run(stop, Payload(4096), rec) }()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(rec.RTT) == 0 {
		t.Fatal("no round trip recorded")
	}
}

// echoOnce sends p with cl's library and returns what comes back.
func echoOnce(ctx context.Context, cl Client, p []byte) ([]byte, error) {
	switch cl := cl.(type) {
	case *tetherClient:
		if err := cl.c.WriteMessage(websocket.MessageBinary, p); err != nil {
			return nil, err
		}
		_, got, err := cl.c.ReadMessage(nil)
		return got, err
	case *gorillaClient:
		if err := cl.c.WriteMessage(gorilla.BinaryMessage, p); err != nil {
			return nil, err
		}
		_, got, err := cl.c.ReadMessage()
		return got, err
	case *coderClient:
		if err := cl.c.Write(ctx, coder.MessageBinary, p); err != nil {
			return nil, err
		}
		_, got, err := cl.c.Read(ctx)
		return got, err
	case *gwsClient:
		// gws delivers messages to its handler: capture one.
		cap := &gwsCapture{got: make(chan []byte, 1)}
		conn, err := gwsRedial(cl, cap)
		if err != nil {
			return nil, err
		}
		defer conn.NetConn().Close()
		go conn.ReadLoop()
		if err := conn.WriteMessage(gws.OpcodeBinary, p); err != nil {
			return nil, err
		}
		select {
		case got := <-cap.got:
			return got, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("unknown client %T", cl)
}

// gwsCapture is a gws handler that passes on a copy of each message.
type gwsCapture struct {
	gws.BuiltinEventHandler
	got chan []byte
}

func (h *gwsCapture) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close()
	h.got <- bytes.Clone(m.Bytes())
}

// gwsRedial opens another gws connection to the server cl is connected
// to, with the same options, delivering messages to h.
func gwsRedial(cl *gwsClient, h gws.Event) (*gws.Conn, error) {
	conn, _, err := gws.NewClient(h, cl.opts)
	return conn, err
}
