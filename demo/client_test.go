package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/websocket"
)

// This file is a minimal Socket.IO v5 client over our own WebSocket client
// (Engine.IO v4 text packets only), enough to drive the demos' server side
// from Go tests.

// waitTimeout bounds every wait of the tests; it is a safety net, not a
// timing assertion.
const waitTimeout = 10 * time.Second

// testServer is a socketio.Server with the demos on a loopback HTTP server.
type testServer struct {
	io   *socketio.Server
	url  string
	stop func()
}

func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	io := socketio.NewServer(&socketio.Options{ConnectionStateRecovery: &socketio.RecoveryOptions{}})
	stop := Register(io, opts)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	mux.Handle("/", http.FileServerFS(Assets()))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		stop()
		_ = io.Close()
		hs.Close()
	})
	return &testServer{io: io, url: hs.URL, stop: stop}
}

// packet is a Socket.IO packet the client received.
type packet struct {
	typ  byte // '0' CONNECT, '1' DISCONNECT, '2' EVENT, '3' ACK, '4' CONNECT_ERROR
	id   int  // ack id, -1 when none
	data json.RawMessage
}

// event is a received EVENT.
type event struct {
	name string
	args []json.RawMessage
}

// client is one Socket.IO connection to one namespace.
type client struct {
	t    *testing.T
	nsp  string
	conn *websocket.Conn

	mu      sync.Mutex
	nextID  int
	acks    map[int]chan json.RawMessage
	events  []event
	changed chan struct{} // closed and replaced when an event arrives
	connect chan packet   // CONNECT or CONNECT_ERROR
}

// dial connects to the namespace nsp of ts with the auth payload (nil for
// none) and waits for the CONNECT (or CONNECT_ERROR) answer, which it
// returns.
func dial(t *testing.T, ts *testServer, nsp string, auth any) (*client, packet) {
	t.Helper()
	u, _ := url.Parse(ts.url)
	u.Scheme = "ws"
	u.Path = "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }})
	if err != nil {
		t.Fatalf("failed to dial %s: %v", u, err)
	}
	c := &client{t: t, nsp: nsp, conn: conn, acks: map[int]chan json.RawMessage{}, changed: make(chan struct{}), connect: make(chan packet, 1)}
	t.Cleanup(c.close)
	_, msg, err := conn.ReadMessage(nil)
	if err != nil || len(msg) == 0 || msg[0] != '0' {
		t.Fatalf("failed to read the Engine.IO open packet: %q, %v", msg, err)
	}
	go c.read()
	connect := "40" + nsp + ","
	if auth != nil {
		b, _ := json.Marshal(auth)
		connect += string(b)
	}
	c.send(connect)
	select {
	case p := <-c.connect:
		return c, p
	case <-time.After(waitTimeout):
		t.Fatalf("no CONNECT answer from %s", nsp)
		return nil, packet{}
	}
}

// mustDial is dial that fails the test unless the connection is accepted.
func mustDial(t *testing.T, ts *testServer, nsp string, auth any) *client {
	t.Helper()
	c, p := dial(t, ts, nsp, auth)
	if p.typ != '0' {
		t.Fatalf("connection to %s refused: %s", nsp, p.data)
	}
	return c
}

func (c *client) close() { _ = c.conn.CloseNow() }

func (c *client) send(s string) {
	if err := c.conn.WriteMessage(websocket.MessageText, []byte(s)); err != nil {
		c.t.Errorf("failed to send %q: %v", s, err)
	}
}

// read reads Engine.IO packets until the connection ends.
func (c *client) read() {
	var buf []byte
	for {
		_, msg, err := c.conn.ReadMessage(buf)
		if err != nil {
			return
		}
		buf = msg
		switch {
		case string(msg) == "2": // ping
			_ = c.conn.WriteMessage(websocket.MessageText, []byte("3"))
		case len(msg) > 1 && msg[0] == '4':
			c.handle(string(msg[1:]))
		}
	}
}

// handle handles a Socket.IO packet of the client's namespace.
func (c *client) handle(s string) {
	typ := s[0]
	s = s[1:]
	if strings.HasPrefix(s, "/") {
		nsp, rest, _ := strings.Cut(s, ",")
		if nsp != c.nsp {
			return
		}
		s = rest
	} else if c.nsp != "/" {
		return
	}
	p := packet{typ: typ, id: -1}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 {
		p.id, _ = strconv.Atoi(s[:i])
	}
	p.data = json.RawMessage(s[i:])
	switch typ {
	case '0', '4':
		c.connect <- p
	case '3':
		var args []json.RawMessage
		_ = json.Unmarshal(p.data, &args)
		c.mu.Lock()
		ch := c.acks[p.id]
		delete(c.acks, p.id)
		c.mu.Unlock()
		if ch != nil && len(args) > 0 {
			ch <- args[0]
		}
	case '2':
		var args []json.RawMessage
		if err := json.Unmarshal(p.data, &args); err != nil || len(args) == 0 {
			c.t.Errorf("bad event %q", p.data)
			return
		}
		var name string
		_ = json.Unmarshal(args[0], &name)
		c.mu.Lock()
		c.events = append(c.events, event{name: name, args: args[1:]})
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// emit sends an event without asking for an acknowledgement.
func (c *client) emit(name string, args ...any) {
	b, _ := json.Marshal(append([]any{name}, args...))
	c.send(fmt.Sprintf("42%s,%s", c.nsp, b))
}

// call sends an event, waits for its acknowledgement and decodes the first
// argument into a T.
func call[T any](c *client, name string, args ...any) T {
	c.t.Helper()
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	ch := make(chan json.RawMessage, 1)
	c.acks[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(append([]any{name}, args...))
	c.send(fmt.Sprintf("42%s,%d%s", c.nsp, id, b))
	var v T
	select {
	case raw := <-ch:
		if err := json.Unmarshal(raw, &v); err != nil {
			c.t.Fatalf("failed to decode the ack of %s %q: %v", name, raw, err)
		}
	case <-time.After(waitTimeout):
		c.t.Fatalf("no ack for %s", name)
	}
	return v
}

// waitFor waits for an event name whose first argument, decoded into a T,
// satisfies ok, and returns it. Events before it are consumed.
func waitFor[T any](c *client, name string, ok func(T) bool) T {
	c.t.Helper()
	v, found := waitWithin(c, name, waitTimeout, ok)
	if !found {
		c.t.Fatalf("no %s event as expected on %s", name, c.nsp)
	}
	return v
}

// waitWithin is waitFor for at most d; it reports whether the event came.
func waitWithin[T any](c *client, name string, d time.Duration, ok func(T) bool) (T, bool) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		for len(c.events) > 0 {
			e := c.events[0]
			c.events = c.events[1:]
			if e.name != name || len(e.args) == 0 {
				continue
			}
			var v T
			if err := json.Unmarshal(e.args[0], &v); err != nil {
				c.mu.Unlock()
				c.t.Fatalf("failed to decode %s %q: %v", name, e.args[0], err)
			}
			if ok == nil || ok(v) {
				c.mu.Unlock()
				return v, true
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			var zero T
			return zero, false
		}
	}
}
