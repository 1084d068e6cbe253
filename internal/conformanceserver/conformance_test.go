package conformanceserver_test

// These tests make every check of the public protocol test suites
// (github.com/socketio/engine.io-protocol and socket.io-protocol, folder
// test-suite/) against the reference server, with our WebSocket client and
// net/http. They wait with generous bounds and never assert on durations.
// Where a suite's check races with the server (it sends a request right
// behind WebSocket messages, or takes the first message after a deadline),
// the port first makes sure the server got there, then checks the same
// outcome.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/conformanceserver"
	"github.com/tether-rt/tether/websocket"
)

const (
	pingInterval = 300 * time.Millisecond
	pingTimeout  = 200 * time.Millisecond
	// waitTimeout bounds every wait for something that should happen.
	waitTimeout = 10 * time.Second
)

// TestMain runs up to 16 checks at once unless -test.parallel says
// otherwise: they spend their time waiting for the server's heartbeat and
// timeouts, not computing.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "16")
	}
	os.Exit(m.Run())
}

// suite is the reference server seen through one of its paths.
type suite struct {
	t    *testing.T
	url  string // http://127.0.0.1:port/engine.io/ or /socket.io/
	http *http.Client
}

// newServer starts the reference server and returns its base URL.
func newServer(t *testing.T, o conformanceserver.Options) string {
	t.Helper()
	srv := conformanceserver.New(o)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return hs.URL
}

func newSuite(t *testing.T, base, path string) *suite {
	c := &http.Client{Transport: &http.Transport{}, Timeout: waitTimeout}
	t.Cleanup(c.CloseIdleConnections)
	return &suite{t: t, url: base + path, http: c}
}

// do sends a request and returns its status and body; a request the server
// ends abnormally gives status 0.
func (s *suite) do(method, query, body string) (int, string) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+"?"+query, r)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

func (s *suite) get(query string) (int, string) { s.t.Helper(); return s.do("GET", query, "") }

// handshake opens a polling session and returns its sid.
func (s *suite) handshake() string {
	s.t.Helper()
	status, body := s.get("EIO=4&transport=polling")
	if status != 200 || !strings.HasPrefix(body, "0") {
		s.t.Fatalf("handshake: %d %q", status, body)
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil || open.SID == "" {
		s.t.Fatalf("open packet %q: %v", body, err)
	}
	return open.SID
}

// poll is a GET with sid.
func (s *suite) poll(sid string) (int, string) {
	s.t.Helper()
	return s.get("EIO=4&transport=polling&sid=" + sid)
}

// post is a POST with sid.
func (s *suite) post(sid, payload string) (int, string) {
	s.t.Helper()
	return s.do("POST", "EIO=4&transport=polling&sid="+sid, payload)
}

// ws is a WebSocket to the server.
type ws struct {
	t *testing.T
	c *websocket.Conn
}

// dialErr opens a WebSocket with query.
func (s *suite) dialErr(query string) (*ws, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"?"+query, nil)
	if err != nil {
		return nil, resp, err
	}
	s.t.Cleanup(func() { c.CloseNow() })
	return &ws{s.t, c}, resp, nil
}

func (s *suite) dial(query string) *ws {
	s.t.Helper()
	w, _, err := s.dialErr(query)
	if err != nil {
		s.t.Fatalf("dial %s: %v", query, err)
	}
	return w
}

// open opens a session over WebSocket and returns it with its open packet.
func (s *suite) open() (*ws, string) {
	s.t.Helper()
	w := s.dial("EIO=4&transport=websocket")
	return w, w.text()
}

func (w *ws) read() (websocket.MessageType, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return w.c.Read(ctx)
}

// text reads a text message.
func (w *ws) text() string {
	w.t.Helper()
	typ, b, err := w.read()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		w.t.Fatalf("got binary %v, want text", b)
	}
	return string(b)
}

// next reads the next message that is not a ping, answering pings: for
// checks whose outcome does not depend on the heartbeat, so that a slow run
// does not lose the session to a ping timeout.
func (w *ws) next() (websocket.MessageType, string) {
	w.t.Helper()
	for {
		typ, b, err := w.read()
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		if typ == websocket.MessageText && string(b) == "2" {
			w.send("3")
			continue
		}
		return typ, string(b)
	}
}

// nextText is next for a text message.
func (w *ws) nextText() string {
	w.t.Helper()
	typ, s := w.next()
	if typ != websocket.MessageText {
		w.t.Fatalf("got binary %q, want text", s)
	}
	return s
}

func (w *ws) send(s string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatalf("write %q: %v", s, err)
	}
}

func (w *ws) sendBinary(b []byte) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.MessageBinary, b); err != nil {
		w.t.Fatalf("write %v: %v", b, err)
	}
}

// closed waits until the server ends the connection; it answers pings
// unless pong is false.
func (w *ws) closed(pong bool) {
	w.t.Helper()
	for {
		typ, b, err := w.read()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				w.t.Fatal("the server did not close the connection")
			}
			return
		}
		if pong && typ == websocket.MessageText && string(b) == "2" {
			w.send("3")
		}
	}
}

// checkOpen checks an open packet as the suites do.
func checkOpen(t *testing.T, packet string, upgrades []string) {
	t.Helper()
	if !strings.HasPrefix(packet, "0") {
		t.Fatalf("open packet %q", packet)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(packet[1:]), &v); err != nil {
		t.Fatalf("open packet %q: %v", packet, err)
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"}) {
		t.Fatalf("open packet keys %v", keys)
	}
	var got struct {
		SID          any      `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval float64  `json:"pingInterval"`
		PingTimeout  float64  `json:"pingTimeout"`
		MaxPayload   float64  `json:"maxPayload"`
	}
	json.Unmarshal([]byte(packet[1:]), &got)
	if _, ok := got.SID.(string); !ok || !slices.Equal(got.Upgrades, upgrades) || got.Upgrades == nil ||
		got.PingInterval != 300 || got.PingTimeout != 200 || got.MaxPayload != 1000000 {
		t.Fatalf("open packet %q", packet)
	}
}

// engineChecks are the Engine.IO checks both suites make (the Engine.IO
// suite at /engine.io/, the Socket.IO suite at /socket.io/).
func engineChecks(t *testing.T, base, path string) {
	t.Run("handshake/polling/opens a session", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		status, body := s.get("EIO=4&transport=polling")
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		checkOpen(t, body, []string{"websocket"})
	})
	// Handshakes the server must answer with 400 (method, query).
	for _, c := range []struct {
		name string
		reqs [][2]string
	}{
		{"invalid EIO", [][2]string{{"GET", "transport=polling"}, {"GET", "EIO=abc&transport=polling"}}},
		{"invalid transport", [][2]string{{"GET", "EIO=4"}, {"GET", "EIO=4&transport=abc"}}},
		{"invalid method", [][2]string{{"POST", "EIO=4&transport=polling"}, {"PUT", "EIO=4&transport=polling"}}},
	} {
		t.Run("handshake/polling/"+c.name, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, base, path)
			for _, r := range c.reqs {
				if status, body := s.do(r[0], r[1], ""); status != 400 {
					t.Errorf("%s %s: %d %q, want 400", r[0], r[1], status, body)
				}
			}
		})
	}
	t.Run("handshake/websocket/opens a session", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		_, open := s.open()
		checkOpen(t, open, []string{})
	})
	t.Run("handshake/websocket/invalid EIO or transport", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		for _, q := range []string{"transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&transport=abc"} {
			w, resp, err := s.dialErr(q)
			if err == nil {
				w.closed(false) // accepted: it must be closed at once
				continue
			}
			if resp == nil || resp.StatusCode != 400 {
				t.Errorf("%s: %v, want a 400 answer", q, err)
			}
		}
	})
	t.Run("heartbeat/polling/ping and pong", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid := s.handshake()
		for range 3 {
			if status, body := s.poll(sid); status != 200 || body != "2" {
				t.Fatalf("poll: %d %q, want the ping", status, body)
			}
			if status, body := s.post(sid, "3"); status != 200 {
				t.Fatalf("pong: %d %q", status, body)
			}
		}
	})
	t.Run("heartbeat/polling/ping timeout", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid := s.handshake()
		// The suite waits pingInterval+pingTimeout; a margin covers a
		// late timer on a loaded machine.
		time.Sleep(pingInterval + pingTimeout + 250*time.Millisecond)
		if status, body := s.poll(sid); status != 400 {
			t.Fatalf("poll: %d %q, want 400", status, body)
		}
	})
	t.Run("heartbeat/websocket/ping and pong", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		for range 3 {
			if got := w.text(); got != "2" {
				t.Fatalf("got %q, want the ping", got)
			}
			w.send("3")
		}
	})
	t.Run("heartbeat/websocket/ping timeout", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		w.closed(false)
	})
	t.Run("close/polling", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid := s.handshake()
		var wg sync.WaitGroup
		var status int
		var body string
		wg.Go(func() { status, body = s.poll(sid) })
		if st, b := s.post(sid, "1"); st != 200 {
			t.Errorf("close: %d %q", st, b)
		}
		wg.Wait()
		if status != 200 || body != "6" {
			t.Fatalf("poll: %d %q, want a noop", status, body)
		}
		if status, body := s.poll(sid); status != 400 {
			t.Fatalf("poll after close: %d %q, want 400", status, body)
		}
	})
	t.Run("close/websocket", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		w.send("1")
		w.closed(false)
	})
}

// upgrade probes a WebSocket for a polling session and completes the
// upgrade; with pollDuringProbe it checks that a poll during the probe ends
// with a noop.
func (s *suite) upgrade(pollDuringProbe bool) (string, *ws) {
	s.t.Helper()
	sid := s.handshake()
	w := s.dial("EIO=4&transport=websocket&sid=" + sid)
	w.send("2probe")
	if got := w.text(); got != "3probe" {
		s.t.Fatalf("probe answer %q", got)
	}
	if pollDuringProbe {
		if status, body := s.poll(sid); status != 200 || body != "6" {
			s.t.Fatalf("poll during the probe: %d %q, want a noop", status, body)
		}
	}
	w.send("5")
	return sid, w
}

// TestEngineIOProtocolSuite makes the checks of the Engine.IO protocol
// suite against the echo server at /engine.io/.
func TestEngineIOProtocolSuite(t *testing.T) {
	base := newServer(t, conformanceserver.Options{})
	const path = "/engine.io/"
	engineChecks(t, base, path)

	t.Run("message/polling/payloads", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid := s.handshake()
		for _, payload := range []string{"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA=="} {
			if status, body := s.post(sid, payload); status != 200 || body != "ok" {
				t.Fatalf("post %q: %d %q", payload, status, body)
			}
			if status, body := s.poll(sid); status != 200 || body != payload {
				t.Fatalf("poll: %d %q, want %q", status, body, payload)
			}
		}
	})
	t.Run("message/polling/invalid packet", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid := s.handshake()
		if status, body := s.post(sid, "abc"); status != 400 && status != 0 {
			t.Fatalf("post: %d %q, want 400", status, body)
		}
		if status, body := s.poll(sid); status != 400 {
			t.Fatalf("poll: %d %q, want 400", status, body)
		}
	})
	t.Run("message/polling/duplicate polls", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid := s.handshake()
		// Whichever poll the server sees second closes the session and is
		// refused; the first gets the close packet.
		var wg sync.WaitGroup
		var status [2]int
		var body [2]string
		for i := range 2 {
			wg.Go(func() { status[i], body[i] = s.get("EIO=4&transport=polling&sid=" + sid + "&t=" + string(rune('a'+i))) })
		}
		wg.Wait()
		if status[0] != 200 {
			status[0], status[1], body[0], body[1] = status[1], status[0], body[1], body[0]
		}
		if status[0] != 200 || body[0] != "1" || (status[1] != 400 && status[1] != 500) {
			t.Fatalf("polls: %d %q and %d %q, want 200 \"1\" and 400", status[0], body[0], status[1], body[1])
		}
		if status, body := s.poll(sid); status != 400 {
			t.Fatalf("poll: %d %q, want 400", status, body)
		}
	})
	t.Run("message/websocket/text and binary", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		w.send("4hello")
		if got := w.nextText(); got != "4hello" {
			t.Fatalf("got %q", got)
		}
		w.sendBinary([]byte{1, 2, 3, 4})
		if typ, got := w.next(); typ != websocket.MessageBinary || got != "\x01\x02\x03\x04" {
			t.Fatalf("got %v %q", typ, got)
		}
	})
	t.Run("message/websocket/invalid packet", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		w.send("abc")
		w.closed(true)
	})
	t.Run("upgrade/successful", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		_, w := s.upgrade(true)
		w.send("4hello")
		if got := w.nextText(); got != "4hello" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("upgrade/ignores HTTP requests after", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid, w := s.upgrade(false)
		// The echo comes over the WebSocket once the upgrade is done.
		w.send("4hello")
		if got := w.nextText(); got != "4hello" {
			t.Fatalf("got %q", got)
		}
		for _, m := range []string{"GET", "POST"} {
			if status, body := s.do(m, "EIO=4&transport=polling&sid="+sid, "4x"); status != 400 {
				t.Fatalf("%s: %d %q, want 400", m, status, body)
			}
		}
		w.send("4hello")
		if got := w.nextText(); got != "4hello" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("upgrade/ignores WebSocket with same sid after", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid, w := s.upgrade(false)
		w.send("4hello")
		if got := w.nextText(); got != "4hello" {
			t.Fatalf("got %q", got)
		}
		if w2, resp, err := s.dialErr("EIO=4&transport=websocket&sid=" + sid); err == nil {
			w2.closed(false)
		} else if resp == nil {
			t.Fatalf("second WebSocket: %v", err)
		}
		w.send("4hello")
		if got := w.nextText(); got != "4hello" {
			t.Fatalf("got %q", got)
		}
	})
}

// sioConnect opens a WebSocket session and joins the main namespace,
// reading the CONNECT answer and the "auth" event (initSocketIOConnection).
func (s *suite) sioConnect() *ws {
	s.t.Helper()
	w, _ := s.open()
	w.send("40")
	if got := w.nextText(); !strings.HasPrefix(got, "40{") {
		s.t.Fatalf("CONNECT answer %q", got)
	}
	if got := w.nextText(); got != `42["auth",{}]` {
		s.t.Fatalf("auth event %q", got)
	}
	return w
}

// checkConnect checks a CONNECT answer: prefix then {"sid": string}.
func checkConnect(t *testing.T, got, prefix string) {
	t.Helper()
	if !strings.HasPrefix(got, prefix) {
		t.Fatalf("CONNECT answer %q, want prefix %q", got, prefix)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got[len(prefix):]), &v); err != nil {
		t.Fatalf("CONNECT answer %q: %v", got, err)
	}
	if _, ok := v["sid"].(string); !ok || len(v) != 1 {
		t.Fatalf("CONNECT answer %q, want only a sid", got)
	}
}

// TestSocketIOProtocolSuite makes the checks of the Socket.IO protocol suite
// against /socket.io/, its Engine.IO checks included.
func TestSocketIOProtocolSuite(t *testing.T) {
	base := newServer(t, conformanceserver.Options{})
	const path = "/socket.io/"
	engineChecks(t, base, path)

	t.Run("upgrade/successful", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		_, w := s.upgrade(false)
		w.send("40")
		checkConnect(t, w.nextText(), "40")
	})
	t.Run("upgrade/ignores HTTP requests after", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid, w := s.upgrade(false)
		// The CONNECT answer comes over the WebSocket once the upgrade is
		// done.
		w.send("40")
		checkConnect(t, w.nextText(), "40")
		if status, body := s.poll(sid); status != 400 {
			t.Fatalf("poll: %d %q, want 400", status, body)
		}
	})
	t.Run("upgrade/ignores WebSocket with same sid after", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		sid, w := s.upgrade(false)
		w.send("40")
		checkConnect(t, w.nextText(), "40")
		if w2, resp, err := s.dialErr("EIO=4&transport=websocket&sid=" + sid); err == nil {
			w2.closed(false)
		} else if resp == nil {
			t.Fatalf("second WebSocket: %v", err)
		}
	})

	connects := []struct{ name, send, prefix, auth string }{
		{"main namespace", "40", "40", `42["auth",{}]`},
		{"main namespace with a payload", `40{"token":"123"}`, "40", `42["auth",{"token":"123"}]`},
		{"custom namespace", "40/custom,", "40/custom,", `42/custom,["auth",{}]`},
		{"custom namespace with a payload", `40/custom,{"token":"abc"}`, "40/custom,", `42/custom,["auth",{"token":"abc"}]`},
	}
	for _, c := range connects {
		t.Run("connect/"+c.name, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, base, path)
			w, _ := s.open()
			w.send(c.send)
			checkConnect(t, w.nextText(), c.prefix)
			if got := w.nextText(); got != c.auth {
				t.Fatalf("auth event %q, want %q", got, c.auth)
			}
		})
	}
	t.Run("connect/unknown namespace", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		w.send("40/random")
		if got := w.nextText(); got != `44/random,{"message":"Invalid namespace"}` {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("connect/invalid handshake", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		w.send("4abc")
		w.closed(true)
	})
	t.Run("connect/no handshake", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w, _ := s.open()
		// Pings are answered: it is the connect timeout that closes.
		w.closed(true)
	})

	t.Run("disconnect/main namespace", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w := s.sioConnect()
		w.send("41")
		// The Engine.IO session stays: the next message is a ping.
		if got := w.text(); got != "2" {
			t.Fatalf("got %q, want a ping", got)
		}
		w.send("3")
		if got := w.text(); got != "2" {
			t.Fatalf("got %q, want a ping", got)
		}
	})
	t.Run("disconnect/custom namespace", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w := s.sioConnect()
		if got := w.text(); got != "2" {
			t.Fatalf("got %q, want a ping", got)
		}
		w.send("3")
		w.send("40/custom")
		checkConnect(t, w.nextText(), "40/custom,")
		if got := w.nextText(); got != `42/custom,["auth",{}]` {
			t.Fatalf("auth event %q", got)
		}
		w.send("41/custom")
		w.send(`42["message","message to main namespace"]`)
		if got := w.nextText(); got != `42["message-back","message to main namespace"]` {
			t.Fatalf("got %q", got)
		}
		// "/custom" is left: an event to it closes the connection.
		w.send(`42/custom,["message","x"]`)
		w.closed(true)
	})

	t.Run("message/plain text", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w := s.sioConnect()
		w.send(`42["message",1,"2",{"3":[true]}]`)
		if got := w.nextText(); got != `42["message-back",1,"2",{"3":[true]}]` {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("message/plain text with an ack", func(t *testing.T) {
		t.Parallel()
		s := newSuite(t, base, path)
		w := s.sioConnect()
		w.send(`42456["message-with-ack",1,"2",{"3":[false]}]`)
		if got := w.nextText(); got != `43456[1,"2",{"3":[false]}]` {
			t.Fatalf("got %q", got)
		}
	})
	binary := []struct{ name, send, want string }{
		{"binary attachments",
			`452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
			`452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
		{"binary attachments and an ack",
			`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
			`462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
	}
	for _, c := range binary {
		t.Run("message/"+c.name, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, base, path)
			w := s.sioConnect()
			w.send(c.send)
			w.sendBinary([]byte{1, 2, 3})
			w.sendBinary([]byte{4, 5, 6})
			if got := w.nextText(); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			for _, want := range []string{"\x01\x02\x03", "\x04\x05\x06"} {
				if typ, got := w.next(); typ != websocket.MessageBinary || got != want {
					t.Fatalf("got %v %q, want binary %q", typ, got, want)
				}
			}
		})
	}
	for _, invalid := range []string{"4abc", "42{}", `42abc["message-with-ack",1,"2",{"3":[false]}]`} {
		t.Run("message/invalid format "+invalid, func(t *testing.T) {
			t.Parallel()
			s := newSuite(t, base, path)
			w := s.sioConnect()
			w.send(invalid)
			w.closed(true)
		})
	}
}

// TestEngineIOv3 checks that Engine.IO v3 clients are refused unless
// AllowEIO3 is set, as Node's allowEIO3, and that Socket.IO v2 clients then
// join the main namespace without asking.
func TestEngineIOv3(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/engine.io/", "/socket.io/"} {
		s := newSuite(t, newServer(t, conformanceserver.Options{}), path)
		status, body := s.get("EIO=3&transport=polling")
		var e struct{ Code int }
		if status != 400 || json.Unmarshal([]byte(body), &e) != nil || e.Code != 5 {
			t.Errorf("%s: v3 handshake without AllowEIO3: %d %q, want 400 with code 5", path, status, body)
		}
	}

	base := newServer(t, conformanceserver.Options{AllowEIO3: true})
	s := newSuite(t, base, "/socket.io/")
	status, body := s.get("EIO=3&transport=polling")
	if status != 200 || !strings.Contains(body, `"sid"`) || strings.Contains(body, "maxPayload") {
		t.Fatalf("v3 polling handshake: %d %q", status, body)
	}
	w := s.dial("EIO=3&transport=websocket")
	if open := w.text(); !strings.HasPrefix(open, "0{") || strings.Contains(open, "maxPayload") {
		t.Fatalf("v3 open packet %q", open)
	}
	// v3 clients ping, the server answers; it never pings them.
	next := func() string {
		t.Helper()
		for {
			if got := w.text(); got != "3" {
				return got
			}
		}
	}
	w.send("2")
	if got := next(); got != "40" {
		t.Fatalf("got %q, want the CONNECT answer of /", got)
	}
	if got := next(); got != `42["auth",{}]` {
		t.Fatalf("got %q, want the auth event", got)
	}
	w.send("2")
	w.send(`42["message",1]`)
	if got := next(); got != `42["message-back",1]` {
		t.Fatalf("got %q", got)
	}

	// v4 clients are unaffected by AllowEIO3.
	engineChecks(t, base, "/engine.io/")
}
