package engineio_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// waitTimeout bounds every wait for something that should happen; tests
// fail when it passes, they never assert on durations.
const waitTimeout = 10 * time.Second

type message struct {
	sock *engineio.Socket
	pkt  engineio.Packet
}

type closing struct {
	sock   *engineio.Socket
	reason string
	err    error
}

// env is an Engine.IO server on loopback that records what its sockets
// see.
type env struct {
	t      *testing.T
	srv    *engineio.Server
	hs     *httptest.Server
	url    string // http://127.0.0.1:port/engine.io/
	conns  chan *engineio.Socket
	msgs   chan message
	closes chan closing
	client *http.Client
}

// newEnv starts a server with opts; onConn, when set, runs in
// OnConnection after the recording callbacks are set.
func newEnv(t *testing.T, opts *engineio.Options, onConn func(*engineio.Socket)) *env {
	t.Helper()
	return newEnvListener(t, opts, nil, onConn)
}

// newEnvListener is newEnv with the HTTP server's listener wrapped by wrap,
// when not nil.
func newEnvListener(t *testing.T, opts *engineio.Options, wrap func(net.Listener) net.Listener, onConn func(*engineio.Socket)) *env {
	t.Helper()
	e := &env{
		t:      t,
		srv:    engineio.NewServer(opts),
		conns:  make(chan *engineio.Socket, 1000),
		msgs:   make(chan message, 100000),
		closes: make(chan closing, 1000),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}},
	}
	e.srv.OnConnection(func(s *engineio.Socket) {
		s.OnMessage(func(p engineio.Packet) { e.msgs <- message{s, p} })
		s.OnClose(func(reason string, err error) { e.closes <- closing{s, reason, err} })
		if onConn != nil {
			onConn(s)
		}
		e.conns <- s
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", e.srv)
	e.hs = httptest.NewUnstartedServer(mux)
	if wrap != nil {
		e.hs.Listener = wrap(e.hs.Listener)
	}
	e.hs.Start()
	e.url = e.hs.URL + "/engine.io/"
	t.Cleanup(func() {
		e.srv.Close()
		e.hs.Close()
		e.client.CloseIdleConnections()
	})
	return e
}

func (e *env) nextConn() *engineio.Socket {
	e.t.Helper()
	select {
	case s := <-e.conns:
		return s
	case <-time.After(waitTimeout):
		e.t.Fatal("no connection")
		return nil
	}
}

func (e *env) nextMessage() message {
	e.t.Helper()
	select {
	case m := <-e.msgs:
		return m
	case <-time.After(waitTimeout):
		e.t.Fatal("no message")
		return message{}
	}
}

func (e *env) nextClose() closing {
	e.t.Helper()
	select {
	case c := <-e.closes:
		return c
	case <-time.After(waitTimeout):
		e.t.Fatal("no close")
		return closing{}
	}
}

// do sends a request with the given method, query and body, and returns
// the status, the body and the response.
func (e *env) do(method, query, body string, hdr ...string) (int, string, *http.Response) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+"?"+query, r)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, query, err)
	}
	return resp.StatusCode, string(b), resp
}

type openData struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   *int     `json:"maxPayload"`
}

// handshake opens a v4 polling session.
func (e *env) handshake() (string, openData) {
	e.t.Helper()
	status, body, _ := e.do("GET", "EIO=4&transport=polling", "")
	if status != 200 || !strings.HasPrefix(body, "0") {
		e.t.Fatalf("handshake: %d %q", status, body)
	}
	var od openData
	if err := json.Unmarshal([]byte(body[1:]), &od); err != nil {
		e.t.Fatalf("open packet %q: %v", body, err)
	}
	return od.SID, od
}

// poll GETs the session's packets and expects 200.
func (e *env) poll(sid string) string {
	e.t.Helper()
	status, body, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, "")
	if status != 200 {
		e.t.Fatalf("poll: %d %q", status, body)
	}
	return body
}

// post POSTs a payload and expects "ok".
func (e *env) post(sid, payload string) {
	e.t.Helper()
	status, body, _ := e.do("POST", "EIO=4&transport=polling&sid="+sid, payload)
	if status != 200 || body != "ok" {
		e.t.Fatalf("post %q: %d %q", payload, status, body)
	}
}

// dial opens a WebSocket with the given query.
func (e *env) dial(query string) *websocket.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"?"+query, nil)
	if err != nil {
		e.t.Fatalf("dial %s: %v", query, err)
	}
	e.t.Cleanup(func() { c.CloseNow() })
	return c
}

// read reads one WebSocket message.
func read(t *testing.T, c *websocket.Conn) (websocket.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(b)
}

func write(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// decode decodes a polling payload.
func decode(t *testing.T, v parser.Version, body string, binary bool) []parser.Packet {
	t.Helper()
	pkts, err := parser.DecodePayload(v, []byte(body), binary)
	if err != nil {
		t.Fatalf("payload %q: %v", body, err)
	}
	return pkts
}

// checkGoroutines fails the test if, after cleanup, more goroutines run
// than before it. Goroutines that live on purpose are not counted: the
// websocket package's poller and idle readers, and idle writers, waiting
// for work.
func checkGoroutines(t *testing.T) {
	before := countGoroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitTimeout)
		for {
			n := countGoroutines()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// countGoroutines counts goroutines but the poller and idle readers and
// writers.
func countGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		switch {
		case strings.Contains(g, "websocket.(*poller).wait"):
		case strings.Contains(g, "workerpool.(*Pool[...]).work") &&
			!strings.Contains(g, "engineio.(*wsTransport).write(") && !strings.Contains(g, "websocket.(*Conn).serveReady("):
		default:
			n++
		}
	}
	return n
}
