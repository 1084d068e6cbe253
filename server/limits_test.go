package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tether-rt/tether/websocket"
)

// pollHandshake opens an Engine.IO session over polling and returns the
// status code and body.
func pollHandshake(t *testing.T, ts *httptest.Server, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+"/socket.io/?EIO=4&transport=polling", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func origin(o string) http.Header { return http.Header{"Origin": {o}} }

func TestOriginPolicy(t *testing.T) {
	// Default: same origin only.
	_, ts := startServer(t, testConfig())
	host := strings.TrimPrefix(ts.URL, "http://")
	if status, body := pollHandshake(t, ts, origin("https://evil.example")); status != 403 || !strings.Contains(body, "origin not allowed") {
		t.Fatalf("polling from another origin: %d %s", status, body)
	}
	if _, err := dialClient(t, ts.URL, dialOpts{header: origin("https://evil.example")}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("WebSocket from another origin: %v", err)
	}
	if status, _ := pollHandshake(t, ts, origin("http://"+host)); status != 200 {
		t.Fatalf("polling from the same origin: %d", status)
	}
	mustDial(t, ts.URL, dialOpts{header: origin("http://" + host)})
	mustDial(t, ts.URL, dialOpts{}) // no Origin: not a browser
	if m := scrape(t, ts); !strings.Contains(m, `tether_handshakes_rejected_total{reason="origin"} 2`) {
		t.Fatalf("origin rejections:\n%s", grep(m, "rejected"))
	}

	// An allowlist: exact origins and host patterns, with CORS for them.
	cfg := testConfig()
	cfg.Origins = []string{"https://app.example.com", "*.trusted.example"}
	_, ts = startServer(t, cfg)
	for o, want := range map[string]bool{
		"https://app.example.com":     true,
		"https://APP.example.com":     true,
		"http://app.example.com":      false,
		"https://a.trusted.example":   true,
		"https://trusted.example":     false,
		"https://a.b.trusted.example": true, // path.Match: * does not cross "/", dots are fine
		"https://evil.example":        false,
		"null":                        false,
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", o)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == 200; got != want {
			t.Errorf("polling from %s: %d", o, resp.StatusCode)
		}
		if want && resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("polling from %s: no CORS header", o)
		}
		_, err = dialClient(t, ts.URL, dialOpts{header: origin(o)})
		if got := err == nil; got != want {
			t.Errorf("WebSocket from %s: %v", o, err)
		}
	}
}

func TestHandshakeRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.HandshakeRate = 0.001 // no refill during the test
	cfg.Limits.HandshakeBurst = 3
	_, ts := startServer(t, cfg)
	for i := 0; i < 3; i++ {
		if status, body := pollHandshake(t, ts, nil); status != 200 {
			t.Fatalf("handshake %d: %d %s", i, status, body)
		}
	}
	status, body := pollHandshake(t, ts, nil)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "too many connection attempts") {
		t.Fatalf("handshake over the burst: %d %s", status, body)
	}
	if _, err := dialClient(t, ts.URL, dialOpts{}); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("WebSocket over the burst: %v", err)
	}
	if m := scrape(t, ts); !strings.Contains(m, `tether_handshakes_rejected_total{reason="rate_limited"} 2`) {
		t.Fatalf("rate rejections:\n%s", grep(m, "rejected"))
	}
}

func TestConnectionsPerIP(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.ConnectionsPerIP = 2
	_, ts := startServer(t, cfg)
	a := mustDial(t, ts.URL, dialOpts{})
	mustDial(t, ts.URL, dialOpts{})
	_, err := dialClient(t, ts.URL, dialOpts{})
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("third connection: %v", err)
	}
	// A closed connection frees its slot.
	a.close()
	eventually(t, "the slot to be freed", func() bool {
		c, err := dialClient(t, ts.URL, dialOpts{})
		if err == nil {
			c.close()
		}
		return err == nil
	})
	if m := scrape(t, ts); !strings.Contains(m, `tether_handshakes_rejected_total{reason="too_many_connections"}`) {
		t.Fatalf("connection rejections:\n%s", grep(m, "rejected"))
	}
}

// TestConnectionsPerIPCountsEverySession checks that the limit counts
// client connections (Engine.IO sessions) whatever namespace they join, if
// any, and not only the ones of configured namespaces.
func TestConnectionsPerIPCountsEverySession(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.ConnectionsPerIP = 2
	srv, ts := startServer(t, cfg)
	srv.IO().Of("/app") // an application's namespace, not in the configuration
	// Handshakes count as connections only until their session opens.
	srv.limiter.mu.Lock()
	srv.limiter.pendingTTL = 0
	srv.limiter.mu.Unlock()

	a := mustDial(t, ts.URL, dialOpts{ns: "/app"})
	if status, body := pollHandshake(t, ts, nil); status != 200 { // joins no namespace
		t.Fatalf("second connection: %d %s", status, body)
	}
	m := scrape(t, ts)
	for _, want := range []string{`tether_connections{transport="polling"} 1`, `tether_connections{transport="websocket"} 1`} {
		if !strings.Contains(m, want) {
			t.Fatalf("want %s in:\n%s", want, grep(m, "tether_connections"))
		}
	}
	status, body := pollHandshake(t, ts, nil)
	if status != http.StatusTooManyRequests || body != `{"code":4,"message":"too many connections"}` {
		t.Fatalf("third connection: %d %s", status, body)
	}
	if _, err := dialClient(t, ts.URL, dialOpts{ns: "/app"}); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("third connection over WebSocket: %v", err)
	}
	a.close()
	eventually(t, "the slot to be freed", func() bool {
		status, _ := pollHandshake(t, ts, nil)
		return status == 200
	})
}

func TestClientIPBehindProxy(t *testing.T) {
	r, err := newIPResolver([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:1234", "", "192.0.2.1"},
		{"192.0.2.1:1234", "198.51.100.7", "192.0.2.1"}, // not a trusted proxy: header ignored
		{"127.0.0.1:1234", "198.51.100.7", "198.51.100.7"},
		{"127.0.0.1:1234", "203.0.113.9, 198.51.100.7, 10.1.2.3", "198.51.100.7"},
		{"127.0.0.1:1234", "garbage", "127.0.0.1"},
		{"[::ffff:127.0.0.1]:1234", "198.51.100.7", "198.51.100.7"},
	} {
		h := http.Header{}
		if tc.xff != "" {
			h.Set("X-Forwarded-For", tc.xff)
		}
		if got := r.clientIP(tc.remote, h); got != tc.want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestEventRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.EventRate = 0.001
	cfg.Limits.EventBurst = 3
	cfg.Limits.EventViolations = 2
	_, ts := startServer(t, cfg)
	c := mustDial(t, ts.URL, dialOpts{})
	for i := 0; i < 3; i++ {
		wantOK(t, "within the burst", c.call("subscribe", map[string]any{"room": fmt.Sprint("r", i)}))
	}
	// Over the limit: dropped (no acknowledgement) with an error event.
	c.emit("subscribe", map[string]any{"room": "r4"})
	if e := arg(t, c.next(EventError).args[0]); e["reason"] != ReasonRateLimited || e["event"] != "subscribe" {
		t.Fatalf("error event = %v", e)
	}
	// The second violation disconnects.
	c.emit("publish", map[string]any{"room": "r0", "event": "x"})
	if e := arg(t, c.next(EventError).args[0]); e["reason"] != ReasonTooManyEvents {
		t.Fatalf("error event = %v", e)
	}
	if got := c.waitDone(); got != "io server disconnect" {
		t.Fatalf("ended with %q", got)
	}
	m := scrape(t, ts)
	if !strings.Contains(m, `tether_events_dropped_total{reason="rate_limited"} 2`) ||
		!strings.Contains(m, `tether_events_received_total{namespace="/"} 5`) {
		t.Fatalf("metrics:\n%s", grep(m, "events"))
	}
}

func TestMaxPayload(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.MaxPayload = 1000
	_, ts := startServer(t, cfg)
	c := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "small", c.call("subscribe", map[string]any{"room": strings.Repeat("r", 200)}))
	c.emit("publish", map[string]any{"room": "r", "event": "x", "data": strings.Repeat("x", 2000)})
	if got := c.waitDone(); got != "transport close" || c.closeCode != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: ended with %q, close code %d, want 1009", got, c.closeCode)
	}
	// Over polling: 413.
	status, body := pollHandshake(t, ts, nil)
	if status != 200 {
		t.Fatalf("handshake: %d", status)
	}
	sid := body[strings.Index(body, `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	resp, err := ts.Client().Post(ts.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader("4"+strings.Repeat("x", 2000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized POST: %d", resp.StatusCode)
	}
}

// pollingClient is a Socket.IO client over long-polling that only polls
// when told to (a slow consumer).
type pollingClient struct {
	t   *testing.T
	ts  *httptest.Server
	sid string
}

func (p *pollingClient) url() string {
	return p.ts.URL + "/socket.io/?EIO=4&transport=polling&sid=" + p.sid
}

func (p *pollingClient) post(payload string) {
	p.t.Helper()
	resp, err := p.ts.Client().Post(p.url(), "text/plain;charset=UTF-8", strings.NewReader(payload))
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		p.t.Fatalf("POST %q: %d", payload, resp.StatusCode)
	}
}

// poll returns the next payload (or the status code when it fails).
func (p *pollingClient) poll() (string, int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url(), nil)
	resp, err := p.ts.Client().Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func TestSlowConsumerDisconnected(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.SendQueue = 8
	cfg.API.Keys = []string{testAPIKey}
	_, ts := startServer(t, cfg)
	fast := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "fast", fast.call("subscribe", map[string]any{"room": "feed"}))

	status, body := pollHandshake(t, ts, nil)
	if status != 200 {
		t.Fatalf("handshake: %d %s", status, body)
	}
	sid := body[strings.Index(body, `"sid":"`)+7:]
	slow := &pollingClient{t: t, ts: ts, sid: sid[:strings.IndexByte(sid, '"')]}
	slow.post("40")
	if got, _ := slow.poll(); !strings.HasPrefix(got, "40{") {
		t.Fatalf("CONNECT answer %q", got)
	}
	slow.post(`420["subscribe",{"room":"feed"}]`)
	if got, _ := slow.poll(); got != `430[{"ok":true}]` {
		t.Fatalf("subscribe answer %q", got)
	}
	// The slow client stops polling; the feed goes on. The fast client
	// gets each event before the next is sent (so that its own queue,
	// as small as the slow one's, never fills on a busy machine); the
	// slow one is disconnected.
	for i := 0; i < 20; i++ {
		if status, body := apiCall(t, ts, testAPIKey, "POST", "/api/emit", map[string]any{"rooms": []string{"feed"}, "event": "n", "data": i}); status != 202 {
			t.Fatalf("emit %d: %d %v", i, status, body)
		}
		if e := fast.next("n"); string(e.args[0]) != fmt.Sprint(i) {
			t.Fatalf("fast client: event %s, want %d", e.args[0], i)
		}
	}
	eventually(t, "the slow client to be counted", func() bool {
		return strings.Contains(scrape(t, ts), `tether_slow_client_disconnects_total{reason="send_queue"} 1`)
	})
	if m := scrape(t, ts); !strings.Contains(m, `tether_disconnects_total{reason="send_queue_full"} 1`) {
		t.Fatalf("disconnect reasons:\n%s", grep(m, "disconnects"))
	}
	if _, status := slow.poll(); status != 400 {
		t.Fatalf("poll after the disconnection: %d, want 400 (unknown session)", status)
	}
}

// TestSockStateSize keeps each socket's state of tether serve in the
// 96-byte size class: its event bucket's time is monotonic nanoseconds (8
// bytes where a time.Time took 24), which took it from 128 to 112; the
// server is its namespace rules' and the identity generation and
// violation count are 32-bit, which took it to 96.
func TestSockStateSize(t *testing.T) {
	if size := unsafe.Sizeof(sockState{}); size > 96 {
		t.Errorf("sockState is %d bytes, more than the 96-byte size class", size)
	}
}

// TestBucket takes tokens from a bucket over a made-up clock: the burst
// first, then rate tokens per second, never more than the burst.
func TestBucket(t *testing.T) {
	var b bucket
	now := time.Now()
	for i := range 3 {
		if !b.take(now, 2, 3) {
			t.Fatalf("token %d of the burst refused", i+1)
		}
	}
	if b.take(now, 2, 3) {
		t.Fatal("a fourth token taken at once from a burst of 3")
	}
	if b.full(now, 2, 3) {
		t.Fatal("an empty bucket reported full")
	}
	now = now.Add(500 * time.Millisecond) // one token back at 2/s
	if !b.take(now, 2, 3) {
		t.Fatal("the token refilled after 0.5 s at 2/s refused")
	}
	if b.take(now, 2, 3) {
		t.Fatal("a second token taken after 0.5 s at 2/s")
	}
	now = now.Add(time.Hour)
	if !b.full(now, 2, 3) {
		t.Fatal("the bucket is not full an hour later")
	}
	for i := range 3 {
		if !b.take(now, 2, 3) {
			t.Fatalf("token %d after an hour refused", i+1)
		}
	}
	if b.take(now, 2, 3) {
		t.Fatal("more than the burst taken after an hour")
	}
}

// TestLimiterSharesIPs checks that the connections of one IP hold the
// limiter's string (one per IP, not one per connection and socket), and
// that counts go back down.
func TestLimiterSharesIPs(t *testing.T) {
	l := newIPLimiter(10, 20, 100, time.Minute)
	now := time.Now()
	a, b := strings.Clone("192.0.2.7"), strings.Clone("192.0.2.7")
	if r := l.handshake(a, now); r != "" {
		t.Fatalf("handshake refused: %s", r)
	}
	ipA := l.connected(a, now)
	if r := l.handshake(b, now); r != "" {
		t.Fatalf("handshake refused: %s", r)
	}
	ipB := l.connected(b, now)
	if ipA != "192.0.2.7" || unsafe.StringData(ipA) != unsafe.StringData(ipB) {
		t.Errorf("connected returned %q and %q from different strings", ipA, ipB)
	}
	if got := l.intern(strings.Clone(b)); unsafe.StringData(got) != unsafe.StringData(ipA) {
		t.Error("intern returned another string than the connections hold")
	}
	if got := l.intern("198.51.100.1"); got != "198.51.100.1" {
		t.Errorf("intern of an unknown IP = %q", got)
	}
	l.closed(ipA)
	l.closed(ipB)
	l.sweep(now.Add(time.Hour))
	if n := len(l.ips); n != 0 {
		t.Errorf("%d IPs left after both closed", n)
	}
}
