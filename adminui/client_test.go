package adminui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// The tests speak Socket.IO over WebSocket by hand, as the UI's client
// does on the wire.

// client is one Engine.IO connection, which may join several namespaces.
type client struct {
	t       *testing.T
	c       *websocket.Conn
	pkts    chan string
	pending []string // received, not taken by next yet
}

// dialAdmin opens a connection to the UI's namespace, /admin, without
// credentials; the test fails when it is refused.
func dialAdmin(t *testing.T, ts *httptest.Server) *client {
	t.Helper()
	ui := dial(t, ts)
	if payload, ok := ui.connect("/admin", nil); !ok {
		t.Fatalf("admin refused: %s", payload)
	}
	return ui
}

// dialUser opens a connection to the namespace nsp and returns it with
// its socket's id; the test fails when it is refused.
func dialUser(t *testing.T, ts *httptest.Server, nsp string) (*client, string) {
	t.Helper()
	user := dial(t, ts)
	payload, ok := user.connect(nsp, nil)
	if !ok {
		t.Fatalf("%s refused: %s", nsp, payload)
	}
	var sid struct{ SID string }
	_ = json.Unmarshal(payload, &sid)
	return user, sid.SID
}

// dial opens an Engine.IO connection over WebSocket.
func dial(t *testing.T, ts *httptest.Server) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if _, msg, err := c.ReadMessage(nil); err != nil || !strings.HasPrefix(string(msg), "0{") {
		t.Fatalf("open packet: %q %v", msg, err)
	}
	cl := &client{t: t, c: c, pkts: make(chan string, 1024)}
	go func() {
		defer close(cl.pkts)
		for {
			_, msg, err := c.ReadMessage(nil)
			if err != nil {
				return
			}
			if string(msg) == "2" {
				_ = c.WriteMessage(websocket.MessageText, []byte("3"))
				continue
			}
			cl.pkts <- string(msg)
		}
	}()
	return cl
}

// send writes a packet.
func (c *client) send(p string) {
	c.t.Helper()
	if err := c.c.WriteMessage(websocket.MessageText, []byte(p)); err != nil {
		c.t.Fatalf("send %q: %v", p, err)
	}
}

// prefix is the start of a packet of type typ on namespace nsp.
func prefix(typ, nsp string) string {
	if nsp == "/" {
		return typ
	}
	return typ + nsp + ","
}

// connect joins namespace nsp with the auth payload and returns the
// CONNECT (40) or CONNECT_ERROR (44) packet's payload and whether it
// connected.
func (c *client) connect(nsp string, auth any) (json.RawMessage, bool) {
	c.t.Helper()
	var b []byte
	if auth != nil {
		b, _ = json.Marshal(auth)
	}
	c.send(prefix("40", nsp) + string(b))
	p := c.next(func(p string) bool {
		return strings.HasPrefix(p, prefix("40", nsp)) || strings.HasPrefix(p, prefix("44", nsp))
	})
	return json.RawMessage(p[len(prefix("40", nsp)):]), strings.HasPrefix(p, "40")
}

// settle returns once the server has handled the packets the client sent
// so far, and run the connection handlers of its sockets (the admin's
// following of them among them): the server handles a connection's
// packets in order, after the connection handlers of the namespaces it
// joined, but sends each CONNECT before running them. It asks to join a
// namespace that does not exist, and waits for the refusal.
func (c *client) settle() {
	c.t.Helper()
	if payload, ok := c.connect("/settle", nil); ok {
		c.t.Fatalf("namespace /settle exists: %s", payload)
	}
}

// emit sends an event on nsp.
func (c *client) emit(nsp, event string, args ...any) {
	c.t.Helper()
	b, _ := json.Marshal(append([]any{event}, args...))
	c.send(prefix("42", nsp) + string(b))
}

// next returns the first packet, received already or to come, that match
// accepts; the others stay for later calls.
func (c *client) next(match func(string) bool) string {
	c.t.Helper()
	for i, p := range c.pending {
		if match(p) {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return p
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p, ok := <-c.pkts:
			if !ok {
				c.t.Fatalf("connection closed while waiting")
			}
			if match(p) {
				return p
			}
			c.pending = append(c.pending, p)
		case <-timeout:
			c.t.Fatalf("no packet came in 10 s")
		}
	}
}

// event is a received EVENT packet.
type event struct {
	name string
	args []json.RawMessage
}

// parseEvent decodes an EVENT packet of namespace nsp, if p is one.
func parseEvent(p, nsp string) (event, bool) {
	rest, ok := strings.CutPrefix(p, prefix("42", nsp))
	if !ok {
		return event{}, false
	}
	var raw []json.RawMessage
	if json.Unmarshal([]byte(rest), &raw) != nil || len(raw) == 0 {
		return event{}, false
	}
	var name string
	_ = json.Unmarshal(raw[0], &name)
	return event{name, raw[1:]}, true
}

// nextEvent returns the next event name on nsp for which match (nil: any)
// accepts the arguments.
func (c *client) nextEvent(nsp, name string, match func(args []json.RawMessage) bool) event {
	c.t.Helper()
	var e event
	c.next(func(p string) bool {
		var ok bool
		e, ok = parseEvent(p, nsp)
		return ok && e.name == name && (match == nil || match(e.args))
	})
	return e
}

// noEvent checks that no event name comes on nsp for a while (the scans
// and statistics of the tests run every few milliseconds).
func (c *client) noEvent(nsp, name string, within time.Duration) {
	c.t.Helper()
	for _, p := range c.pending {
		if e, ok := parseEvent(p, nsp); ok && e.name == name {
			c.t.Fatalf("unexpected %s: %s", name, e.args)
		}
	}
	timeout := time.After(within)
	for {
		select {
		case p, ok := <-c.pkts:
			if !ok {
				return
			}
			if e, ok := parseEvent(p, nsp); ok && e.name == name {
				c.t.Fatalf("unexpected %s: %s", name, e.args)
			}
		case <-timeout:
			return
		}
	}
}

// str decodes a JSON string.
func str(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Sprintf("<not a string: %s>", raw)
	}
	return s
}

// obj decodes a JSON object.
func obj(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}
