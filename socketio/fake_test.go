package socketio

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
)

// fakeConn stands in for an *engineio.Socket: what the server sends goes to
// a channel, and the test feeds the client's messages.
type fakeConn struct {
	id       string
	req      *http.Request
	sent     chan engineio.Packet
	writable atomic.Bool
	closed   atomic.Bool
	client   atomic.Pointer[connection]
	protocol int
	mu       sync.Mutex
}

var fakeIDs atomic.Int64

func newFakeConn() *fakeConn {
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling&x=1", nil)
	req.Header.Set("Origin", "http://example.com")
	c := &fakeConn{
		id:   "engine" + string(rune('a'+fakeIDs.Add(1)%26)) + time.Now().Format("150405.000000000"),
		req:  req,
		sent: make(chan engineio.Packet, 10000),
	}
	c.writable.Store(true)
	return c
}

func (c *fakeConn) ID() string { return c.id }
func (c *fakeConn) Protocol() int {
	if c.protocol != 0 {
		return c.protocol
	}
	return 4
}
func (c *fakeConn) Transport() string      { return "polling" }
func (c *fakeConn) Request() *http.Request { return c.req }
func (c *fakeConn) Writable() bool         { return c.writable.Load() }

func (c *fakeConn) Send(pkts ...engineio.Packet) error {
	if c.closed.Load() {
		return engineio.ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range pkts {
		c.sent <- p
	}
	return nil
}

func (c *fakeConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		if cl := c.client.Load(); cl != nil {
			go cl.onEngineClose("forced close", nil)
		}
	}
	return nil
}

// testClient drives one fake connection.
type testClient struct {
	t    *testing.T
	conn *fakeConn
	c    *connection
}

func newTestServer(t *testing.T, opts *Options) *Server {
	t.Helper()
	srv := NewServer(opts)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func dial(t *testing.T, srv *Server) *testClient {
	t.Helper()
	return dialProtocol(t, srv, 4)
}

// dialProtocol connects with Engine.IO protocol 3 or 4.
func dialProtocol(t *testing.T, srv *Server, protocol int) *testClient {
	t.Helper()
	conn := newFakeConn()
	conn.protocol = protocol
	c := srv.newConnection(conn)
	conn.client.Store(c)
	return &testClient{t: t, conn: conn, c: c}
}

func (tc *testClient) send(text string) {
	tc.c.onMessage(engineio.Packet{Data: []byte(text)})
}

func (tc *testClient) sendBinary(b []byte) {
	tc.c.onMessage(engineio.Packet{Data: b, Binary: true})
}

// recv returns the next packet the server sent.
func (tc *testClient) recv() engineio.Packet {
	tc.t.Helper()
	select {
	case p := <-tc.conn.sent:
		return p
	case <-time.After(10 * time.Second):
		tc.t.Fatal("no packet from the server")
		return engineio.Packet{}
	}
}

func (tc *testClient) recvText() string {
	tc.t.Helper()
	p := tc.recv()
	if p.Binary {
		tc.t.Fatalf("got binary packet %v, want text", p.Data)
	}
	return string(p.Data)
}

// expectNothing checks that nothing is waiting to be received now. The
// server works asynchronously; callers first make sure that the work that
// could have sent something is done (for example by a round trip).
func (tc *testClient) expectNothing() {
	tc.t.Helper()
	select {
	case p := <-tc.conn.sent:
		tc.t.Fatalf("unexpected packet %q", p.Data)
	default:
	}
}

// connect sends CONNECT to nsp and returns the socket id of the answer.
func (tc *testClient) connect(nsp, auth string) string {
	tc.t.Helper()
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	tc.send("0" + prefix + auth)
	got := tc.recvText()
	if !strings.HasPrefix(got, "0"+prefix+"{") {
		tc.t.Fatalf("CONNECT answer = %q", got)
	}
	var data struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	if err := json.Unmarshal([]byte(got[1+len(prefix):]), &data); err != nil || data.SID == "" {
		tc.t.Fatalf("CONNECT answer %q: %v", got, err)
	}
	return data.SID
}

// waitClosed waits until the server closed the connection.
func (tc *testClient) waitClosed() {
	tc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !tc.conn.closed.Load() {
		if time.Now().After(deadline) {
			tc.t.Fatal("connection not closed")
		}
		time.Sleep(time.Millisecond)
	}
}

// recvEvent waits for a channel value.
func recvValue[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
		var zero T
		return zero
	}
}
