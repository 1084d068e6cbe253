package attack

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// The attacks speak Engine.IO and Socket.IO by hand, as an attacker would:
// raw packets, no client library.

// event encodes a Socket.IO EVENT packet (with an ack id when id >= 0).
func event(id int, name string, args ...any) []byte {
	b, _ := json.Marshal(append([]any{name}, args...))
	if id >= 0 {
		return []byte(fmt.Sprintf("42%d%s", id, b))
	}
	return append([]byte("42"), b...)
}

// wsCall sends an event with an ack id over c and waits for the ack,
// skipping other packets (answering pings).
func wsCall(t *testing.T, c *websocket.Conn, id int, name string, args ...any) string {
	t.Helper()
	if err := c.WriteMessage(websocket.MessageText, event(id, name, args...)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("43%d", id)
	for {
		_, msg, err := c.ReadMessage(nil)
		if err != nil {
			t.Fatalf("waiting for the ack of %s: %v", name, err)
		}
		switch {
		case string(msg) == "2":
			_ = c.WriteMessage(websocket.MessageText, []byte("3"))
		case strings.HasPrefix(string(msg), want):
			return string(msg[len(want):])
		}
	}
}

// pollClient is an Engine.IO polling session, set up with a plain HTTP
// client.
type pollClient struct {
	t    *testing.T
	base string
	sid  string
	http *http.Client
}

// pollSocketIO opens a Socket.IO connection to the default namespace over
// long-polling.
func pollSocketIO(t *testing.T, base string) *pollClient {
	t.Helper()
	p := &pollClient{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(p.http.CloseIdleConnections)
	status, body := p.do("GET", "")
	if status != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	p.sid = open.SID
	p.post("40")
	if status, body := p.do("GET", ""); status != 200 || !strings.HasPrefix(body, "40{") {
		t.Fatalf("CONNECT: %d %q", status, body)
	}
	return p
}

// url is the session's polling URL.
func (p *pollClient) url() string {
	u := p.base + "/socket.io/?EIO=4&transport=polling"
	if p.sid != "" {
		u += "&sid=" + p.sid
	}
	return u
}

// do sends a request and returns the status and the body.
func (p *pollClient) do(method, body string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url(), strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends packets and fails the test unless they are taken.
func (p *pollClient) post(pkts ...string) {
	p.t.Helper()
	if status, body := p.do("POST", strings.Join(pkts, "\x1e")); status != 200 {
		p.t.Fatalf("POST %q: %d %q", pkts, status, body)
	}
}

// rawRequest writes an HTTP request by hand on a new TCP connection to
// base, with the given receive buffer (0: the system's), and returns the
// connection unread.
func rawRequest(t *testing.T, base string, rcvbuf int, req string) net.Conn {
	t.Helper()
	c := dialRaw(t, base)
	if rcvbuf > 0 {
		c.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// scrapeMetric returns the value of the series named (with its labels) in
// the server's /metrics, or -1.
func scrapeMetric(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}
