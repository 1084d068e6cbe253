package socketioe2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/websocket"
)

// burst is the request of direct.mjs: n numbered broadcasts "b" to room
// (those i%big == 0 with a payload of bigSize bytes, over the largest
// packet a broadcast writes directly), each i%every == 0 followed by a
// packet "own" to the asking socket and each i%volatileEvery == 0 by a
// volatile broadcast "v"; each i%askEvery == 0 starts an acknowledgement
// request "ask" to the asking socket, whose answer must be 2i.
type burst struct {
	Room          string `json:"room"`
	N             int    `json:"n"`
	Every         int    `json:"every"`
	Big           int    `json:"big"`
	BigSize       int    `json:"bigSize"`
	VolatileEvery int    `json:"volatileEvery"`
	AskEvery      int    `json:"askEvery"`
}

// burstPayload is the payload of broadcast i (payload in direct.mjs).
func burstPayload(b burst, i int) string {
	if b.Big > 0 && i%b.Big == 0 {
		s := fmt.Sprintf("%d:", i)
		return s + strings.Repeat("x", b.BigSize-len(s))
	}
	return fmt.Sprintf("p%d", i)
}

// countingListener accepts TCP connections that count their writes that
// do not wait (websocket.NonblockingWriter) in n.
type countingListener struct {
	net.Listener
	n      *atomic.Int64
	sndbuf int // the send buffer of each connection, when not 0
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if l.sndbuf > 0 {
		if err := tc.SetWriteBuffer(l.sndbuf); err != nil {
			return nil, err
		}
	}
	rw, err := websocket.NewRawWriter(tc)
	if err != nil {
		return nil, err
	}
	return &countingConn{tc, rw, l.n}, nil
}

// countingConn is a TCP connection that counts its non-blocking writes.
type countingConn struct {
	*net.TCPConn
	rw *websocket.RawWriter
	n  *atomic.Int64
}

func (c *countingConn) WriteNonblocking(p []byte) (int, error) {
	c.n.Add(1)
	return c.rw.WriteNonblocking(p)
}

// newBurstServer serves the requests of direct.mjs.
func newBurstServer(t *testing.T, opts *socketio.Options) *harness {
	srv := socketio.NewServer(opts)
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) { _ = ack(args[0]) })
		socketio.OnTyped(s, "join", func(s *socketio.Socket, rooms []string, ack socketio.AckFunc) {
			s.Join(rooms...)
			_ = ack(s.Rooms())
		})
		socketio.OnTyped(s, "burst", func(s *socketio.Socket, b burst, ack socketio.AckFunc) {
			go func() {
				var wg sync.WaitGroup
				var mu sync.Mutex
				var errs []error
				acks := 0
				for i := range b.N {
					_ = srv.To(b.Room).Emit("b", i, burstPayload(b, i))
					if b.Every > 0 && i%b.Every == 0 {
						_ = s.Emit("own", i)
					}
					if b.VolatileEvery > 0 && i%b.VolatileEvery == 0 {
						_ = srv.Volatile().To(b.Room).Emit("v", i)
					}
					if b.AskEvery > 0 && i%b.AskEvery == 0 {
						wg.Go(func() {
							ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
							defer cancel()
							res, err := s.EmitWithAck(ctx, "ask", i)
							var got int
							if err == nil && (len(res) != 1 || json.Unmarshal(res[0], &got) != nil || got != 2*i) {
								err = fmt.Errorf("answer %s to ask %d", res, i)
							}
							mu.Lock()
							defer mu.Unlock()
							if err != nil {
								errs = append(errs, err)
							}
							acks++
						})
					}
					if i%16 == 15 {
						// A pause now and then: the sessions go idle, and
						// the next broadcasts are written directly again.
						time.Sleep(time.Millisecond)
					}
				}
				_ = srv.To(b.Room).Emit("end", b.N)
				wg.Wait()
				msg := ""
				if err := errors.Join(errs...); err != nil {
					msg = err.Error()
				}
				_ = ack(map[string]any{"error": msg, "acks": acks})
			}()
		})
	})
	h := &harness{direct: new(atomic.Int64)}
	h.serve(t, srv, nil)
	return h
}

// TestBroadcastOrderWithDirectWrites checks, at the official client, what
// a broadcast's direct writes (engineio/direct.go) must keep: broadcasts
// mixed with a socket's own packets, packets too big to be written
// directly, volatile packets and acknowledgements arrive once each and in
// the order sent, over each transport and protocol, with permessage-deflate
// negotiated or not.
func TestBroadcastOrderWithDirectWrites(t *testing.T) {
	needNode(t)
	req := map[string]any{"n": 3000, "every": 3, "big": 97, "bigSize": 20 << 10, "volatileEvery": 5, "askEvery": 50}
	for _, tc := range []struct {
		name     string
		opts     map[string]any
		compress bool
		eio3     bool
		wantExt  string
	}{
		{name: "websocket", opts: map[string]any{"transports": []string{"websocket"}}},
		{name: "websocket-deflate", opts: map[string]any{"transports": []string{"websocket"}, "deflate": true}, compress: true, wantExt: "permessage-deflate"},
		{name: "polling", opts: map[string]any{"transports": []string{"polling"}, "n": 500}},
		{name: "upgrade", opts: map[string]any{"transports": []string{"polling", "websocket"}}},
		{name: "eio3-websocket", opts: map[string]any{"transports": []string{"websocket"}, "v2": true}, eio3: true},
		{name: "eio3-polling", opts: map[string]any{"transports": []string{"polling"}, "v2": true, "n": 500}, eio3: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o socketio.Options
			o.AllowEIO3 = tc.eio3
			if tc.compress {
				o.WebSocket.Compression = websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1}
			}
			h := newBurstServer(t, &o)
			args := map[string]any{}
			for k, v := range req {
				args[k] = v
			}
			for k, v := range tc.opts {
				args[k] = v
			}
			raw, _ := json.Marshal(args)
			es, lines, stderr, err := peertest.RunScript[event](t, needNode(t), nodeTimeout, "direct.mjs", h.url, string(raw))
			if err != nil || len(es) == 0 || es[len(es)-1].Op != "done" || !es[len(es)-1].OK {
				t.Fatalf("node direct.mjs %s: %v\nstdout:\n%s\nstderr:\n%s", raw, err, strings.Join(lines, "\n"), stderr)
			}
			tr := events(es).one(t, "transport")
			if !strings.Contains(tr.Extensions, tc.wantExt) || (tc.wantExt == "" && tr.Extensions != "") {
				t.Fatalf("extensions %q, want %q", tr.Extensions, tc.wantExt)
			}
			direct := h.direct.Load()
			t.Logf("%s: %s, %d direct writes", tr.Name, events(es).one(t, "burst").Message, direct)
			if tr.Name == "websocket" && direct == 0 {
				t.Fatal("no broadcast was written directly: the test did not test direct writes")
			}
		})
	}
}

// TestSlowConsumerWithDirectWrites checks the slow-consumer rules with
// direct writes: a client that stops reading (and pings, so that the
// server's pongs wait for it too) is closed once its send queue is full,
// and meanwhile the broadcasts to its room go on, each to the other client
// of the room whole and in order.
func TestSlowConsumerWithDirectWrites(t *testing.T) {
	var o socketio.Options
	o.SendQueue = 512
	srv := socketio.NewServer(&o)
	joined := make(chan struct{}, 2)
	reasons := make(chan string, 2)
	srv.OnConnection(func(s *socketio.Socket) {
		s.Join("room")
		s.OnDisconnect(func(s *socketio.Socket, reason string) { reasons <- reason })
		joined <- struct{}{}
	})
	h := &harness{direct: new(atomic.Int64), sndbuf: 16 << 10}
	h.serve(t, srv, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dial := func(rcvbuf int) *websocket.Conn { return siotest.DialRaw(t, h.url, rcvbuf) }
	slow := dial(4 << 10)
	fast := dial(0)
	<-joined
	<-joined
	// The slow client reads no more, and pings.
	go func() {
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_ = slow.Ping(pctx)
			pcancel()
		}
	}()

	const n = 4000
	payload := strings.Repeat("y", 1000)
	got := make(chan error, 1)
	go func() {
		var buf []byte
		for i := 0; ; {
			var err error
			_, buf, err = fast.ReadMessage(buf[:0])
			if err != nil {
				got <- fmt.Errorf("fast client after %d broadcasts: %w", i, err)
				return
			}
			switch m := string(buf); {
			case m == "2":
				_ = fast.WriteMessage(websocket.MessageText, []byte("3"))
			case m == `42["end"]`:
				if i != n {
					err = fmt.Errorf("end after %d broadcasts of %d", i, n)
				}
				got <- err
				return
			case m != fmt.Sprintf(`42["b",%d,"%s"]`, i, payload):
				got <- fmt.Errorf("broadcast %d: got %.40q…", i, m)
				return
			default:
				i++
			}
		}
	}()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			_ = srv.To("room").Emit("b", i, payload)
			if i%8 == 7 {
				time.Sleep(time.Millisecond) // lets sessions go idle: direct writes again
			}
		}
		_ = srv.To("room").Emit("end")
	}()
	select {
	case <-sent:
	case <-ctx.Done():
		t.Fatal("the broadcasts stalled on a client that does not read")
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if r := <-reasons; r != engineio.ReasonSendQueueFull {
		t.Fatalf("the slow client was closed with %q, want %q", r, engineio.ReasonSendQueueFull)
	}
	if h.direct.Load() == 0 {
		t.Fatal("no broadcast was written directly: the test did not test direct writes")
	}
	t.Logf("%d direct writes", h.direct.Load())
}
