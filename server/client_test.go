package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/socketio/parser"
	"github.com/tether-rt/tether/websocket"
)

// This file is a minimal Socket.IO v5 client over our own WebSocket client
// and packet parser, enough to drive the server in tests: one namespace
// per connection, JSON events and acknowledgements both ways.

// testClient is a Socket.IO client connected to one namespace.
type testClient struct {
	t    testing.TB
	conn *websocket.Conn
	ns   string
	id   string // socket id

	wmu     sync.Mutex
	mu      sync.Mutex
	nextAck uint64
	acks    map[uint64]chan []json.RawMessage

	events chan testEvent
	done   chan struct{} // closed when the connection ends
	// reason is why the socket ended: "io server disconnect" (a DISCONNECT
	// packet) or "transport close"; valid once done is closed.
	reason string
	// closeCode is the WebSocket close code the server sent, if any.
	closeCode websocket.StatusCode
}

type testEvent struct {
	name string
	args []json.RawMessage // binary parts as placeholders
	atts [][]byte          // the binary attachments
}

// connectError is a refused CONNECT.
type connectError struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e *connectError) Error() string { return "connect_error: " + e.Message + " " + string(e.Data) }

// reason returns data.reason.
func (e *connectError) reason() string {
	var d struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Reason
}

type dialOpts struct {
	ns     string            // "/" when empty
	auth   any               // CONNECT payload
	header http.Header       // handshake headers (Origin...)
	tls    *tls.Config       // for wss://
	h2     http.RoundTripper // for a WebSocket over HTTP/2 (RFC 8441)
}

// wsURL turns an httptest URL into the server's Socket.IO WebSocket URL.
func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
}

// dialClient connects to a namespace; the error is a *connectError when
// the server refused the namespace connection.
func dialClient(t testing.TB, base string, o dialOpts) (*testClient, error) {
	t.Helper()
	if o.ns == "" {
		o.ns = "/"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, wsURL(base), &websocket.DialOptions{HTTPHeader: o.header, TLSConfig: o.tls, HTTP2Transport: o.h2})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("failed to dial: %d: %w", resp.StatusCode, err)
		}
		return nil, fmt.Errorf("failed to dial: %w", err)
	}
	c := &testClient{t: t, conn: conn, ns: o.ns, acks: map[uint64]chan []json.RawMessage{},
		events: make(chan testEvent, 4096), done: make(chan struct{})}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage(nil)
	if err != nil || len(msg) == 0 || msg[0] != '0' {
		conn.CloseNow()
		return nil, fmt.Errorf("failed to read the open packet %q: %v", msg, err)
	}
	p := parser.Packet{Type: parser.Connect, Namespace: o.ns}
	if o.auth != nil {
		if p.Data, err = json.Marshal(o.auth); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.writePacket(&p); err != nil {
		conn.CloseNow()
		return nil, err
	}
	for {
		_, msg, err := conn.ReadMessage(nil)
		if err != nil {
			return nil, fmt.Errorf("failed to read the CONNECT answer: %w", err)
		}
		if string(msg) == "2" {
			c.write("3")
			continue
		}
		if len(msg) < 2 || msg[0] != '4' {
			return nil, fmt.Errorf("unexpected message %q", msg)
		}
		p, _, err := parser.Decode(msg[1:], 10)
		if err != nil {
			return nil, fmt.Errorf("failed to decode %q: %w", msg, err)
		}
		switch p.Type {
		case parser.Connect:
			var d struct {
				SID string `json:"sid"`
			}
			_ = json.Unmarshal(p.Data, &d)
			c.id = d.SID
			_ = conn.SetReadDeadline(time.Time{})
			go c.readLoop()
			t.Cleanup(c.close)
			return c, nil
		case parser.ConnectError:
			conn.CloseNow()
			ce := &connectError{}
			if err := json.Unmarshal(p.Data, ce); err != nil {
				return nil, fmt.Errorf("bad CONNECT_ERROR %q", msg)
			}
			return nil, ce
		default:
			return nil, fmt.Errorf("unexpected packet %q before CONNECT", msg)
		}
	}
}

// mustDial is dialClient that fails the test on error.
func mustDial(t testing.TB, base string, o dialOpts) *testClient {
	t.Helper()
	c, err := dialClient(t, base, o)
	if err != nil {
		t.Fatalf("failed to connect: %v", err)
	}
	return c
}

func (c *testClient) write(msg string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.MessageText, []byte(msg))
}

func (c *testClient) writePacket(p *parser.Packet) error {
	return c.write("4" + string(p.AppendText(nil)))
}

func (c *testClient) readLoop() {
	defer close(c.done)
	var buf []byte
	var pending *parser.Packet // a packet waiting for its attachments
	need := 0
	for {
		typ, msg, err := c.conn.ReadMessage(buf)
		if err != nil {
			if c.reason == "" {
				c.reason = "transport close"
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode = ce.Code
			}
			return
		}
		buf = msg
		if typ == websocket.MessageBinary {
			if pending == nil {
				c.t.Errorf("client: unexpected binary message %v", msg)
				continue
			}
			pending.Attachments = append(pending.Attachments, bytes.Clone(msg))
			if len(pending.Attachments) == need {
				c.dispatch(*pending)
				pending = nil
			}
			continue
		}
		switch {
		case string(msg) == "2":
			_ = c.write("3")
			continue
		case string(msg) == "1":
			c.reason = "transport close"
			c.conn.CloseNow()
			continue
		case len(msg) < 2 || msg[0] != '4':
			continue
		}
		p, n, err := parser.Decode(bytes.Clone(msg[1:]), 10)
		if err != nil {
			c.t.Errorf("client: failed to decode %q: %v", msg, err)
			continue
		}
		if n > 0 {
			pending, need = &p, n
			continue
		}
		c.dispatch(p)
	}
}

// dispatch handles a complete packet.
func (c *testClient) dispatch(p parser.Packet) {
	if p.Namespace != c.ns {
		return
	}
	switch p.Type {
	case parser.Event:
		args, _ := parser.SplitArray(nil, p.Data)
		var name string
		_ = json.Unmarshal(args[0], &name)
		c.events <- testEvent{name, args[1:], p.Attachments}
	case parser.Ack:
		args, _ := parser.SplitArray(nil, p.Data)
		c.mu.Lock()
		ch := c.acks[p.ID]
		delete(c.acks, p.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- args
		}
	case parser.Disconnect:
		c.reason = "io server disconnect"
		c.conn.CloseNow()
	}
}

func (c *testClient) close() {
	c.conn.CloseNow()
	<-c.done
}

func encodeEvent(event string, args []any) json.RawMessage {
	all := append([]any{event}, args...)
	data, err := json.Marshal(all)
	if err != nil {
		panic(err)
	}
	return data
}

// emit sends an event without asking for an acknowledgement.
func (c *testClient) emit(event string, args ...any) {
	c.t.Helper()
	p := parser.Packet{Type: parser.Event, Namespace: c.ns, Data: encodeEvent(event, args)}
	if err := c.writePacket(&p); err != nil {
		c.t.Fatalf("failed to emit %s: %v", event, err)
	}
}

// writeBinary sends p (an EVENT) with its attachments as binary messages.
func (c *testClient) writeBinary(p *parser.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.MessageText, p.AppendText([]byte("4"))); err != nil {
		return err
	}
	for _, a := range p.Attachments {
		if err := c.conn.WriteMessage(websocket.MessageBinary, a); err != nil {
			return err
		}
	}
	return nil
}

// callBinary is call for arguments with binary parts: each []byte travels
// as a binary attachment.
func (c *testClient) callBinary(event string, args ...any) map[string]any {
	c.t.Helper()
	data, atts, err := parser.AppendValue(nil, append([]any{event}, args...), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	ch := make(chan []json.RawMessage, 1)
	c.mu.Lock()
	id := c.nextAck
	c.nextAck++
	c.acks[id] = ch
	c.mu.Unlock()
	p := parser.Packet{Type: parser.Event, Namespace: c.ns, ID: id, HasID: true, Data: data, Attachments: atts}
	if err := c.writeBinary(&p); err != nil {
		c.t.Fatalf("failed to send %s: %v", event, err)
	}
	select {
	case got := <-ch:
		var m map[string]any
		if len(got) == 0 || json.Unmarshal(got[0], &m) != nil {
			c.t.Fatalf("%s: unexpected acknowledgement %s", event, got)
		}
		return m
	case <-c.done:
		c.t.Fatalf("%s: disconnected (%s) before the acknowledgement", event, c.reason)
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s: no acknowledgement", event)
	}
	return nil
}

// call sends an event and waits for its acknowledgement's first argument.
func (c *testClient) call(event string, args ...any) map[string]any {
	c.t.Helper()
	got, err := c.tryCall(10*time.Second, event, args...)
	if err != nil {
		c.t.Fatalf("%s: %v", event, err)
	}
	return got
}

// tryCall is call that returns an error on timeout or disconnection.
func (c *testClient) tryCall(timeout time.Duration, event string, args ...any) (map[string]any, error) {
	ch := make(chan []json.RawMessage, 1)
	c.mu.Lock()
	id := c.nextAck
	c.nextAck++
	c.acks[id] = ch
	c.mu.Unlock()
	p := parser.Packet{Type: parser.Event, Namespace: c.ns, ID: id, HasID: true, Data: encodeEvent(event, args)}
	if err := c.writePacket(&p); err != nil {
		return nil, fmt.Errorf("failed to send: %w", err)
	}
	select {
	case got := <-ch:
		var m map[string]any
		if len(got) == 0 || json.Unmarshal(got[0], &m) != nil {
			return nil, fmt.Errorf("unexpected acknowledgement %s", got)
		}
		return m, nil
	case <-c.done:
		return nil, fmt.Errorf("disconnected (%s) before the acknowledgement", c.reason)
	case <-time.After(timeout):
		return nil, errors.New("no acknowledgement")
	}
}

// next returns the next event named name, skipping others.
func (c *testClient) next(name string) testEvent {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-c.events:
			if e.name == name {
				return e
			}
		case <-c.done:
			// Events read before the end are still in the channel.
			for {
				select {
				case e := <-c.events:
					if e.name == name {
						return e
					}
				default:
					c.t.Fatalf("disconnected (%s) while waiting for %s", c.reason, name)
				}
			}
		case <-timeout:
			c.t.Fatalf("no %s event", name)
		}
	}
}

// waitDone waits for the connection to end and returns the reason.
func (c *testClient) waitDone() string {
	c.t.Helper()
	select {
	case <-c.done:
		return c.reason
	case <-time.After(15 * time.Second):
		c.t.Fatal("still connected")
		return ""
	}
}

// arg decodes an event argument into a map.
func arg(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("argument %s: %v", raw, err)
	}
	return m
}

// wantOK fails unless an acknowledgement is {ok: true}.
func wantOK(t testing.TB, what string, res map[string]any) {
	t.Helper()
	if res["ok"] != true {
		t.Fatalf("%s: got %v, want ok", what, res)
	}
}

// wantRefused fails unless an acknowledgement is {ok: false, reason}.
func wantRefused(t testing.TB, what string, res map[string]any, reason string) {
	t.Helper()
	if res["ok"] != false || res["reason"] != reason {
		t.Fatalf("%s: got %v, want refused with %q", what, res, reason)
	}
}

// testConfig returns the defaults with the limits relaxed for tests.
func testConfig() *Config {
	c := DefaultConfig()
	c.Addr = "127.0.0.1:0"
	c.Limits.HandshakeRate = 0
	c.Limits.ConnectionsPerIP = 0
	c.Limits.EventRate = 0
	// Without recovery, broadcasts carry no offset argument, so tests see
	// exactly the arguments that were emitted.
	c.Recovery.Enabled = false
	return c
}

// quietLogger discards logs unless TETHER_TEST_LOGS is set.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer serves cfg on an httptest server.
func startServer(t testing.TB, cfg *Config) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := New(Options{Config: cfg, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.io.Close()
		ts.Close()
	})
	return srv, ts
}

// apiCall calls the backend API and decodes the JSON answer.
func apiCall(t testing.TB, ts *httptest.Server, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: %d, body is not JSON: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

const testAPIKey = "test-api-key-0123456789"

// scrape returns the server's /metrics text.
func scrape(t testing.TB, ts *httptest.Server) string {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// eventually waits until cond holds (what the server does after a
// disconnection happens on its own goroutines).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
