package engineio_test

import (
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

func TestPollingHandshake(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	status, body, resp := e.do("GET", "EIO=4&transport=polling", "")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &raw); err != nil || body[0] != '0' {
		t.Fatalf("open packet %q: %v", body, err)
	}
	want := map[string]any{"upgrades": []any{"websocket"}, "pingInterval": 25000.0, "pingTimeout": 20000.0, "maxPayload": 1e6}
	for k, v := range want {
		if fmt.Sprint(raw[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, raw[k], v)
		}
	}
	if len(raw) != 5 {
		t.Errorf("open packet has keys %v", raw)
	}
	s := e.nextConn()
	if s.ID() != raw["sid"] || s.Protocol() != 4 || s.Transport() != "polling" || s.Request().URL.Query().Get("EIO") != "4" {
		t.Errorf("socket %s %d %s", s.ID(), s.Protocol(), s.Transport())
	}
	// IDs are random, URL-safe and unique.
	seen := map[string]bool{s.ID(): true}
	for range 20 {
		sid, _ := e.handshake()
		if seen[sid] || !regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`).MatchString(sid) {
			t.Fatalf("bad or repeated sid %q", sid)
		}
		seen[sid] = true
	}
	if n := e.srv.Count(); n != 21 {
		t.Errorf("Count = %d, want 21", n)
	}
}

func TestWebSocketHandshakeAndMessages(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, func(s *engineio.Socket) {
		s.OnMessage(func(p engineio.Packet) { s.Send(p) }) // echo
	})
	c := e.dial("EIO=4&transport=websocket")
	typ, open := read(t, c)
	var od openData
	if typ != websocket.MessageText || open[0] != '0' || json.Unmarshal([]byte(open[1:]), &od) != nil {
		t.Fatalf("open packet %v %q", typ, open)
	}
	if len(od.Upgrades) != 0 || od.MaxPayload == nil || *od.MaxPayload != 1e6 {
		t.Errorf("open packet %q", open)
	}
	s := e.nextConn()
	if s.Transport() != "websocket" || s.ID() != od.SID {
		t.Errorf("transport %s, sid %s", s.Transport(), s.ID())
	}
	write(t, c, "4hello")
	if typ, msg := read(t, c); typ != websocket.MessageText || msg != "4hello" {
		t.Errorf("echo %v %q", typ, msg)
	}
	if err := c.WriteMessage(websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if typ, msg := read(t, c); typ != websocket.MessageBinary || msg != "\x01\x02\x03" {
		t.Errorf("binary echo %v %q", typ, msg)
	}
	// Base64 binary in a text frame is accepted too.
	write(t, c, "bBAU=")
	if typ, msg := read(t, c); typ != websocket.MessageBinary || msg != "\x04\x05" {
		t.Errorf("base64 echo %v %q", typ, msg)
	}
	// A WebSocket for a session that is already on WebSocket is accepted
	// and closed, without disturbing the session.
	c2 := e.dial("EIO=4&transport=websocket&sid=" + s.ID())
	if _, _, err := c2.ReadMessage(nil); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("second WebSocket: %v", err)
	}
	write(t, c, "4still")
	if _, msg := read(t, c); msg != "4still" {
		t.Errorf("after second WebSocket: %q", msg)
	}
	c.Close(websocket.StatusNormalClosure, "")
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportClose {
		t.Errorf("close reason %q", cl.reason)
	}
}

func TestBadRequests(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{
		AllowRequest: func(r *http.Request) error {
			if r.URL.Query().Get("deny") != "" {
				return errors.New("not you")
			}
			return nil
		},
	}, nil)
	sid, _ := e.handshake()
	wsSID, _ := func() (string, openData) {
		c := e.dial("EIO=4&transport=websocket")
		_, open := read(t, c)
		var od openData
		json.Unmarshal([]byte(open[1:]), &od)
		return od.SID, od
	}()
	wsHeaders := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
	tests := []struct {
		name, method, query string
		hdr                 []string
		status, code        int
		message             string
	}{
		{"no transport", "GET", "EIO=4", nil, 400, 0, "Transport unknown"},
		{"unknown transport", "GET", "EIO=4&transport=abc", nil, 400, 0, "Transport unknown"},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", nil, 400, 1, "Session ID unknown"},
		{"POST handshake", "POST", "EIO=4&transport=polling", nil, 400, 2, "Bad handshake method"},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", nil, 400, 2, "Bad handshake method"},
		{"no EIO", "GET", "transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"bad EIO", "GET", "EIO=abc&transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"EIO 3 not allowed", "GET", "EIO=3&transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", nil, 400, 3, "Bad request"},
		{"polling as upgrade", "GET", "EIO=4&transport=polling", wsHeaders, 400, 3, "Bad request"},
		{"JSONP", "GET", "EIO=4&transport=polling&j=0", nil, 400, 3, "Bad request"},
		{"refused", "GET", "EIO=4&transport=polling&deny=1", nil, 403, 4, "not you"},
		{"transport mismatch", "GET", "EIO=4&transport=polling&sid=" + wsSID, nil, 400, 3, "Bad request"},
		{"wrong EIO for sid", "GET", "EIO=3&transport=polling&sid=" + sid, nil, 400, 3, "Bad request"},
		{"PUT with sid", "PUT", "EIO=4&transport=polling&sid=" + sid, nil, 400, 3, "Bad request"},
	}
	for _, tt := range tests {
		status, body, resp := e.do(tt.method, tt.query, "", tt.hdr...)
		want := fmt.Sprintf(`{"code":%d,"message":%q}`, tt.code, tt.message)
		if status != tt.status || body != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s (%s), want %d %s", tt.name, status, body, resp.Header.Get("Content-Type"), tt.status, want)
		}
	}
	// The polling session survived the requests that named it.
	e.post(sid, "4alive")
	if m := e.nextMessage(); string(m.pkt.Data) != "alive" {
		t.Errorf("message %q", m.pkt.Data)
	}
}

func TestTransportsOption(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{Transports: []string{"websocket"}}, nil)
	if status, body, _ := e.do("GET", "EIO=4&transport=polling", ""); status != 400 || !strings.Contains(body, `"code":0`) {
		t.Errorf("polling disabled: %d %s", status, body)
	}
	c := e.dial("EIO=4&transport=websocket")
	if _, open := read(t, c); !strings.Contains(open, `"upgrades":[]`) {
		t.Errorf("open %q", open)
	}

	e2 := newEnv(t, &engineio.Options{DisableUpgrades: true}, nil)
	sid, od := e2.handshake()
	if len(od.Upgrades) != 0 {
		t.Errorf("upgrades %v with DisableUpgrades", od.Upgrades)
	}
	ws := e2.dial("EIO=4&transport=websocket&sid=" + sid)
	if _, _, err := ws.ReadMessage(nil); err == nil {
		t.Error("upgrade accepted with DisableUpgrades")
	}
}

func TestPollingMessages(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	e.post(sid, "4test1\x1e4test2\x1ebAQIDBA==\x1e4€😀")
	want := []engineio.Packet{{Data: []byte("test1")}, {Data: []byte("test2")}, {Data: []byte{1, 2, 3, 4}, Binary: true}, {Data: []byte("€😀")}}
	for i, w := range want {
		m := e.nextMessage()
		if m.sock != s || string(m.pkt.Data) != string(w.Data) || m.pkt.Binary != w.Binary {
			t.Errorf("message %d = %+v, want %+v", i, m.pkt, w)
		}
	}
	// Packets queued before a poll go out in one payload, in order.
	if err := s.Send(engineio.Packet{Data: []byte("a")}, engineio.Packet{Data: []byte{0xff}, Binary: true}); err != nil {
		t.Fatal(err)
	}
	s.Send(engineio.Packet{Data: []byte("b")})
	if body := e.poll(sid); body != "4a\x1eb/w==\x1e4b" {
		t.Errorf("poll = %q", body)
	}
	// A poll waits for packets.
	got := make(chan string)
	go func() { got <- e.poll(sid) }()
	waitFor(t, "a pending poll", s.Writable)
	s.Send(engineio.Packet{Data: []byte("late")})
	if body := <-got; body != "4late" {
		t.Errorf("pending poll = %q", body)
	}
	// Invalid UTF-8 in a text body is replaced, as Node decodes it.
	e.post(sid, "4a\xffb")
	if m := e.nextMessage(); string(m.pkt.Data) != "a\uFFFDb" {
		t.Errorf("message %q", m.pkt.Data)
	}
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPollingOverlap(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	first := make(chan string)
	go func() { first <- e.poll(sid) }()
	waitFor(t, "a pending poll", s.Writable)
	status, body, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, "")
	if status != 400 || !strings.Contains(body, `"code":3`) {
		t.Errorf("second poll: %d %s", status, body)
	}
	if body := <-first; body != "1" {
		t.Errorf("first poll = %q, want the close packet", body)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportError {
		t.Errorf("reason %q", cl.reason)
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, ""); status != 400 {
		t.Errorf("poll after close: %d", status)
	}
}

func TestPostOverlap(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	e.nextConn()
	pr, pw := io.Pipe()
	firstDone := make(chan int)
	go func() {
		req, _ := http.NewRequest("POST", e.url+"?EIO=4&transport=polling&sid="+sid, pr)
		resp, err := e.client.Do(req)
		if err != nil {
			firstDone <- 0
			return
		}
		resp.Body.Close()
		firstDone <- resp.StatusCode
	}()
	pw.Write([]byte("4par")) // the first POST is now being read
	waitFor(t, "the first POST", func() bool {
		status, _, _ := e.do("POST", "EIO=4&transport=polling&sid="+sid, "4x")
		return status == 400
	})
	pw.Close()
	<-firstDone
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportError || !strings.Contains(cl.err.Error(), "overlapping POST") {
		t.Errorf("close %q %v", cl.reason, cl.err)
	}
}

func TestParseError(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	e.nextConn()
	// The packets before the bad one are delivered, then the session closes.
	status, _, _ := e.do("POST", "EIO=4&transport=polling&sid="+sid, "4ok\x1eabc")
	if status != 400 {
		t.Errorf("status %d", status)
	}
	if m := e.nextMessage(); string(m.pkt.Data) != "ok" {
		t.Errorf("message %q", m.pkt.Data)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonParseError {
		t.Errorf("reason %q", cl.reason)
	}

	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	write(t, c, "abc")
	if cl := e.nextClose(); cl.reason != engineio.ReasonParseError {
		t.Errorf("websocket reason %q", cl.reason)
	}
	if _, _, err := c.ReadMessage(nil); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("websocket closed with %v", err)
	}
}

func TestMaxPayload(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{MaxPayload: 100}, nil)
	sid, od := e.handshake()
	if *od.MaxPayload != 100 {
		t.Errorf("maxPayload %d", *od.MaxPayload)
	}
	e.nextConn()
	e.post(sid, "4"+strings.Repeat("x", 99)) // exactly maxPayload
	e.nextMessage()
	status, _, _ := e.do("POST", "EIO=4&transport=polling&sid="+sid, "4"+strings.Repeat("x", 100))
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", status)
	}
	cl := e.nextClose()
	if cl.reason != engineio.ReasonTransportError || !strings.Contains(cl.err.Error(), "maxPayload") {
		t.Errorf("close %q %v", cl.reason, cl.err)
	}

	// A body without Content-Length (chunked) is cut off too.
	sid, _ = e.handshake()
	e.nextConn()
	req, _ := http.NewRequest("POST", e.url+"?EIO=4&transport=polling&sid="+sid, io.MultiReader(strings.NewReader("4"), strings.NewReader(strings.Repeat("y", 200))))
	req.ContentLength = -1
	if resp, err := e.client.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked: status %d", resp.StatusCode)
		}
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportError {
		t.Errorf("chunked: reason %q", cl.reason)
	}

	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	e.nextConn()
	write(t, c, "4"+strings.Repeat("z", 200))
	if _, _, err := c.ReadMessage(nil); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("websocket closed with %v, want 1009", err)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportError {
		t.Errorf("websocket reason %q", cl.reason)
	}
}

// TestHeartbeatPolling: the server pings a polling client every
// PingInterval and closes the session when a pong does not come within
// PingTimeout. The pongs go to a server with a long PingTimeout (which
// only bounds a hang: a pong that is slow on a busy machine is still in
// time), the missing pong to one with a short PingTimeout and a
// PingInterval long enough for the client's first poll to be there
// before the ping is due.
func TestHeartbeatPolling(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: waitTimeout}, nil)
	sid, od := e.handshake()
	if od.PingInterval != 50 || od.PingTimeout != int(waitTimeout/time.Millisecond) {
		t.Errorf("open %+v", od)
	}
	for range 3 {
		if body := e.poll(sid); body != "2" {
			t.Fatalf("poll = %q, want a ping", body)
		}
		e.post(sid, "3")
	}
	e.nextConn()
	// A ping from a v4 client is an error.
	e.post(sid, "2")
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportError {
		t.Errorf("v4 client ping: reason %q", cl.reason)
	}

	// No pong: the session closes, and the waiting poll gets a close packet.
	short := newEnv(t, &engineio.Options{PingInterval: time.Second, PingTimeout: 50 * time.Millisecond}, nil)
	sid, _ = short.handshake()
	if body := short.poll(sid); body != "2" {
		t.Fatalf("poll = %q", body)
	}
	if body := short.poll(sid); body != "1" {
		t.Errorf("poll = %q, want the close packet", body)
	}
	short.nextConn()
	if cl := short.nextClose(); cl.reason != engineio.ReasonPingTimeout {
		t.Errorf("reason %q", cl.reason)
	}
}

// TestHeartbeatWebSocket: as TestHeartbeatPolling, over WebSocket, where
// the server sends its pings without waiting for the client: the short
// PingTimeout applies only to the ping the client leaves unanswered.
func TestHeartbeatWebSocket(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: waitTimeout}, nil)
	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	for range 3 {
		if _, msg := read(t, c); msg != "2" {
			t.Fatalf("got %q, want a ping", msg)
		}
		write(t, c, "3")
	}

	short := newEnv(t, &engineio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}, nil)
	c = short.dial("EIO=4&transport=websocket")
	read(t, c)
	if _, msg := read(t, c); msg != "2" {
		t.Fatalf("got %q, want a ping", msg)
	}
	short.nextConn()
	if cl := short.nextClose(); cl.reason != engineio.ReasonPingTimeout {
		t.Errorf("reason %q", cl.reason)
	}
	if _, _, err := c.ReadMessage(nil); err == nil {
		t.Error("connection still open after ping timeout")
	}
}

func TestClientClose(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	got := make(chan string)
	go func() { got <- e.poll(sid) }()
	waitFor(t, "a pending poll", s.Writable)
	e.post(sid, "1")
	if body := <-got; body != "6" {
		t.Errorf("pending poll = %q, want a noop", body)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportClose {
		t.Errorf("reason %q", cl.reason)
	}
	if err := s.Send(engineio.Packet{Data: []byte("x")}); !errors.Is(err, engineio.ErrClosed) {
		t.Errorf("Send after close: %v", err)
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, ""); status != 400 {
		t.Errorf("poll after close: %d", status)
	}
	// Without a poll pending, a poll sent before the close packet but
	// arriving after it ends cleanly with a noop, once.
	sid, _ = e.handshake()
	e.nextConn()
	e.post(sid, "1")
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportClose {
		t.Errorf("reason %q", cl.reason)
	}
	if e.srv.Count() != 0 {
		t.Errorf("Count = %d", e.srv.Count())
	}
	if status, body, _ := e.do("POST", "EIO=4&transport=polling&sid="+sid, "4x"); status != 400 || !strings.Contains(body, `"code":1`) {
		t.Errorf("POST after close: %d %s", status, body)
	}
	if body := e.poll(sid); body != "6" {
		t.Errorf("late poll = %q", body)
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, ""); status != 400 {
		t.Errorf("second late poll: %d", status)
	}

	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	e.nextConn()
	write(t, c, "1")
	if cl := e.nextClose(); cl.reason != engineio.ReasonTransportClose {
		t.Errorf("websocket reason %q", cl.reason)
	}
}

func TestSocketClose(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	// Polling with a pending poll: the queue, then the close packet.
	sid, _ := e.handshake()
	s := e.nextConn()
	s.Send(engineio.Packet{Data: []byte("bye")})
	if body := e.poll(sid); body != "4bye" {
		t.Fatalf("poll %q", body)
	}
	got := make(chan string)
	go func() { got <- e.poll(sid) }()
	waitFor(t, "a pending poll", s.Writable)
	s.Send(engineio.Packet{Data: []byte("last")})
	if body := <-got; body != "4last" {
		t.Fatalf("poll %q", body)
	}
	go func() { got <- e.poll(sid) }()
	waitFor(t, "a pending poll", s.Writable)
	s.Close()
	if body := <-got; body != "1" {
		t.Errorf("poll = %q, want the close packet", body)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonForcedClose {
		t.Errorf("reason %q", cl.reason)
	}

	// Polling without a pending poll: the next poll carries the queue and
	// the close packet.
	sid, _ = e.handshake()
	s = e.nextConn()
	s.Send(engineio.Packet{Data: []byte("q")})
	s.Close()
	if err := s.Send(engineio.Packet{Data: []byte("x")}); !errors.Is(err, engineio.ErrClosed) {
		t.Errorf("Send while closing: %v", err)
	}
	if body := e.poll(sid); body != "4q\x1e1" {
		t.Errorf("poll = %q", body)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonForcedClose {
		t.Errorf("reason %q", cl.reason)
	}

	// WebSocket: the queue, then a close frame.
	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	s = e.nextConn()
	for i := range 100 {
		s.Send(engineio.Packet{Data: []byte(fmt.Sprint(i))})
	}
	s.Close()
	for i := range 100 {
		if _, msg := read(t, c); msg != fmt.Sprint("4", i) {
			t.Fatalf("message %d = %q", i, msg)
		}
	}
	if _, _, err := c.ReadMessage(nil); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("closed with %v", err)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonForcedClose {
		t.Errorf("reason %q", cl.reason)
	}
}

func TestServerClose(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	ps := e.nextConn()
	got := make(chan string)
	go func() { got <- e.poll(sid) }()
	waitFor(t, "a pending poll", ps.Writable)
	idle, _ := e.handshake() // no poll pending
	e.nextConn()
	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	ws := e.nextConn()
	ws.Send(engineio.Packet{Data: []byte("flushed")})
	wsDone := make(chan struct{})
	go func() {
		defer close(wsDone)
		for {
			_, msg, err := c.ReadMessage(nil)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusGoingAway {
					t.Errorf("websocket closed with %v", err)
				}
				return
			}
			if string(msg) != "4flushed" {
				t.Errorf("websocket got %q", msg)
			}
		}
	}()
	e.srv.Close()
	<-wsDone
	if body := <-got; body != "1" {
		t.Errorf("pending poll = %q", body)
	}
	for range 3 {
		if cl := e.nextClose(); cl.reason != engineio.ReasonServerShutdown {
			t.Errorf("reason %q", cl.reason)
		}
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling&sid="+idle, ""); status != 400 {
		t.Errorf("poll after shutdown: %d", status)
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling", ""); status != 503 {
		t.Errorf("handshake after shutdown: %d", status)
	}
	if e.srv.Count() != 0 {
		t.Errorf("Count = %d", e.srv.Count())
	}
}

func TestSendQueueFull(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{SendQueue: 3}, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	if err := s.Send(engineio.Packet{Data: []byte("1")}, engineio.Packet{Data: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	err := s.Send(engineio.Packet{Data: []byte("3")}, engineio.Packet{Data: []byte("4")})
	if !errors.Is(err, engineio.ErrSendQueueFull) || !errors.Is(err, engineio.ErrClosed) {
		t.Errorf("Send = %v", err)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonSendQueueFull {
		t.Errorf("reason %q", cl.reason)
	}
	if status, _, _ := e.do("GET", "EIO=4&transport=polling&sid="+sid, ""); status != 400 {
		t.Errorf("poll after close: %d", status)
	}
}

func TestWritable(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	if s.Writable() {
		t.Error("writable without a pending poll")
	}
	got := make(chan string)
	go func() { got <- e.poll(sid) }()
	waitFor(t, "writable with a pending poll", s.Writable)
	s.Send(engineio.Packet{Data: []byte("x")})
	<-got
	if s.Writable() {
		t.Error("writable after the poll was answered")
	}
	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	ws := e.nextConn()
	waitFor(t, "an idle websocket to be writable", ws.Writable)
	s.Close()
	if s.Writable() {
		t.Error("writable while closing")
	}
}

func TestCORS(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{CORS: &engineio.CORSOptions{
		Origins:     []string{"https://app.example"},
		Credentials: true,
		MaxAge:      time.Hour,
	}}, nil)
	status, _, resp := e.do("OPTIONS", "EIO=4&transport=polling", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "x-token")
	h := resp.Header
	if status != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		h.Get("Access-Control-Allow-Methods") != "GET,POST" || h.Get("Access-Control-Allow-Headers") != "x-token" || h.Get("Access-Control-Max-Age") != "3600" {
		t.Errorf("preflight: %d %v", status, h)
	}
	_, _, resp = e.do("GET", "EIO=4&transport=polling", "", "Origin", "https://app.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
		t.Errorf("GET: %v", resp.Header)
	}
	_, _, resp = e.do("GET", "EIO=4&transport=polling", "", "Origin", "https://evil.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", resp.Header)
	}
	// Errors carry the headers too.
	_, _, resp = e.do("GET", "EIO=4&transport=nope", "", "Origin", "https://app.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("error: %v", resp.Header)
	}

	star := newEnv(t, &engineio.Options{CORS: &engineio.CORSOptions{Origins: []string{"*"}}}, nil)
	_, _, resp = star.do("GET", "EIO=4&transport=polling", "", "Origin", "https://x.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("*: %v", resp.Header)
	}
}

func TestCookie(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{Cookie: &engineio.CookieOptions{HTTPOnly: true}}, nil)
	_, body, resp := e.do("GET", "EIO=4&transport=polling", "")
	var od openData
	json.Unmarshal([]byte(body[1:]), &od)
	if got, want := resp.Header.Get("Set-Cookie"), "io="+od.SID+"; Path=/; HttpOnly; SameSite=Lax"; got != want {
		t.Errorf("Set-Cookie %q, want %q", got, want)
	}
	// Not on later requests.
	if _, _, resp := e.do("POST", "EIO=4&transport=polling&sid="+od.SID, "4x"); resp.Header.Get("Set-Cookie") != "" {
		t.Error("cookie set on a POST")
	}
	c, resp2, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.url, "http")+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if !strings.HasPrefix(resp2.Header.Get("Set-Cookie"), "io=") {
		t.Errorf("websocket handshake Set-Cookie %q", resp2.Header.Get("Set-Cookie"))
	}
}

func TestWebSocketOrigin(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	hdr := http.Header{"Origin": {"https://elsewhere.example"}}
	url := "ws" + strings.TrimPrefix(e.url, "http") + "?EIO=4&transport=websocket"
	if _, resp, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: hdr}); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("cross-origin WebSocket accepted by default: %v", err)
	}
	// The origins CORS allows may open WebSockets too; "*" does not open
	// them to every origin.
	cors := newEnv(t, &engineio.Options{CORS: &engineio.CORSOptions{Origins: []string{"*", "https://App.example"}}}, nil)
	url = "ws" + strings.TrimPrefix(cors.url, "http") + "?EIO=4&transport=websocket"
	c, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://app.example"}}})
	if err != nil {
		t.Fatalf("CORS origin: %v", err)
	}
	c.CloseNow()
	if _, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: hdr}); err == nil {
		t.Error("CORS * opened WebSockets to every origin")
	}

	open := newEnv(t, &engineio.Options{WebSocket: websocket.AcceptOptions{InsecureSkipVerify: true}}, nil)
	url = "ws" + strings.TrimPrefix(open.url, "http") + "?EIO=4&transport=websocket"
	c, _, err = websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("InsecureSkipVerify: %v", err)
	}
	c.CloseNow()
}

// TestSendContiguous checks that the packets of one Send call are never
// split by another's, over both transports.
func TestSendContiguous(t *testing.T) {
	checkGoroutines(t)
	const senders, calls, group = 4, 50, 3
	e := newEnv(t, nil, nil)
	start := func(s *engineio.Socket) {
		var wg sync.WaitGroup
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					var pkts []engineio.Packet
					for k := range group {
						pkts = append(pkts, engineio.Packet{Data: fmt.Appendf(nil, "%d-%d-%d", g, i, k)})
					}
					if err := s.Send(pkts...); err != nil {
						t.Errorf("Send: %v", err)
					}
				}
			}()
		}
		wg.Wait()
	}
	check := func(msgs []string) {
		t.Helper()
		next := map[int]int{}
		for i := 0; i < len(msgs); i += group {
			var g, n int
			fmt.Sscanf(msgs[i], "%d-%d-0", &g, &n)
			if n != next[g] {
				t.Fatalf("sender %d: call %d after %d", g, n, next[g]-1)
			}
			next[g]++
			for k := range group {
				if msgs[i+k] != fmt.Sprintf("%d-%d-%d", g, n, k) {
					t.Fatalf("packets of one Send split: %q at %d", msgs[i:i+group], i)
				}
			}
		}
	}
	// WebSocket.
	c := e.dial("EIO=4&transport=websocket")
	read(t, c)
	go start(e.nextConn())
	var msgs []string
	for len(msgs) < senders*calls*group {
		_, m := read(t, c)
		msgs = append(msgs, strings.TrimPrefix(m, "4"))
	}
	check(msgs)
	// Polling.
	sid, _ := e.handshake()
	go start(e.nextConn())
	msgs = nil
	for len(msgs) < senders*calls*group {
		for _, p := range decode(t, parser.V4, e.poll(sid), false) {
			msgs = append(msgs, string(p.Data))
		}
	}
	check(msgs)
}

func TestHTTPCompression(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	big := strings.Repeat("compressible ", 200)
	for _, enc := range []string{"gzip", "deflate"} {
		s.Send(engineio.Packet{Data: []byte(big)})
		_, body, resp := e.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", enc)
		if resp.Header.Get("Content-Encoding") != enc || len(body) >= len(big) {
			t.Fatalf("%s: Content-Encoding %q, %d bytes", enc, resp.Header.Get("Content-Encoding"), len(body))
		}
		var zr io.Reader
		var err error
		if enc == "gzip" {
			zr, err = gzip.NewReader(strings.NewReader(body))
		} else {
			zr, err = zlib.NewReader(strings.NewReader(body))
		}
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != "4"+big {
			t.Errorf("%s: decompressed %d bytes, %v", enc, len(plain), err)
		}
	}
	// Small payloads, and clients that refuse, get plain text.
	s.Send(engineio.Packet{Data: []byte("small")})
	if _, body, resp := e.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "" || body != "4small" {
		t.Errorf("small payload: %q %q", resp.Header.Get("Content-Encoding"), body)
	}
	s.Send(engineio.Packet{Data: []byte(big)})
	if _, body, resp := e.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", "gzip;q=0, identity"); resp.Header.Get("Content-Encoding") != "" || body != "4"+big {
		t.Errorf("refused: %q", resp.Header.Get("Content-Encoding"))
	}

	off := newEnv(t, &engineio.Options{DisableHTTPCompression: true}, nil)
	sid, _ = off.handshake()
	off.nextConn().Send(engineio.Packet{Data: []byte(big)})
	if _, _, resp := off.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("DisableHTTPCompression: %q", resp.Header.Get("Content-Encoding"))
	}
}

// TestClientCloseFrameWhileSending checks that a client's close frame
// ends its session with "transport close" even when the server is writing
// to it at that moment: the write that meets the close handshake must not
// report a transport error.
func TestClientCloseFrameWhileSending(t *testing.T) {
	e := newEnv(t, &engineio.Options{SendQueue: 1 << 20}, nil)
	for i := range 50 {
		c := e.dial("EIO=4&transport=websocket")
		read(t, c)
		s := e.nextConn()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s.Send(engineio.Packet{Data: []byte("tick")}) != nil {
					return
				}
				runtime.Gosched()
			}
		}()
		// Let the writes start, then close from the client's side.
		read(t, c)
		c.Close(websocket.StatusNormalClosure, "") // reads until the server's close frame
		cl := e.nextClose()
		close(stop)
		<-done
		if cl.reason != engineio.ReasonTransportClose {
			t.Fatalf("round %d: closed with %q (%v), want %q", i, cl.reason, cl.err, engineio.ReasonTransportClose)
		}
	}
}
