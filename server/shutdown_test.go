package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/websocket"
)

func TestReadyz(t *testing.T) {
	srv, ts := startServer(t, testConfig())
	get := func(path string) int {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 200 {
		t.Fatal("not healthy and ready at start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if get("/readyz") != 503 || get("/healthz") != 200 {
		t.Fatal("readyz is not 503 (or healthz not 200) after Shutdown")
	}
	if status, body := pollHandshake(t, ts, nil); status != 503 {
		t.Fatalf("handshake after Shutdown: %d %s", status, body)
	}
}

// slowServer is a server whose "slow" event waits for release before it
// acks, serving on loopback until cancel (a SIGTERM).
type slowServer struct {
	srv     *Server
	base    string        // http://127.0.0.1:port
	started chan struct{} // closed when the slow handler runs
	release chan struct{} // close to let it ack
	served  chan error    // what Serve returned
	cancel  context.CancelFunc
}

// startSlowServer starts a slowServer; with late, the slow handler emits
// "late" to the room "room" just before it acks.
func startSlowServer(t *testing.T, late bool) *slowServer {
	t.Helper()
	cfg := testConfig()
	cfg.ShutdownTimeout = 10 * time.Second
	srv, err := New(Options{Config: cfg, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s := &slowServer{srv: srv, started: make(chan struct{}), release: make(chan struct{}), served: make(chan error, 1)}
	srv.IO().Of("/").OnConnection(func(sock *socketio.Socket) {
		sock.On("slow", srv.Tracked(func(_ *socketio.Socket, _ []json.RawMessage, ack socketio.AckFunc) {
			close(s.started)
			<-s.release
			if late {
				_ = srv.IO().To("room").Emit("late", "sent before the ack")
			}
			_ = ack(map[string]any{"ok": true, "done": "slow"})
		}))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.cancel = cancel
	go func() { s.served <- srv.Serve(ctx, ln, nil) }()
	s.base = "http://" + ln.Addr().String()
	return s
}

// waitServed waits for Serve to return nil.
func (s *slowServer) waitServed(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestGracefulShutdown(t *testing.T) {
	ss := startSlowServer(t, true)
	srv, base, started, release, served, cancel := ss.srv, ss.base, ss.started, ss.release, ss.served, ss.cancel
	a := mustDial(t, base, dialOpts{})
	b := mustDial(t, base, dialOpts{})
	wantOK(t, "a", a.call("subscribe", map[string]any{"room": "room"}))
	wantOK(t, "b", b.call("subscribe", map[string]any{"room": "room"}))
	acked := make(chan map[string]any, 1)
	go func() {
		res, err := a.tryCall(20*time.Second, "slow")
		if err != nil {
			t.Errorf("slow: %v", err)
		}
		acked <- res
	}()
	<-started

	cancel() // SIGTERM
	eventually(t, "the server to stop being ready", func() bool { return !srv.Ready() })
	// New events are answered, not handled, while the slow one runs.
	eventually(t, "events to be refused", func() bool {
		res := b.call("presence", map[string]any{"room": "room"})
		return res["reason"] == ReasonShuttingDown
	})
	// Nobody new gets in: handshakes are refused, on new connections too
	// (the listener stays open for the polling clients' last requests).
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatalf("handshake during the shutdown: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("handshake during the shutdown: %d, want 503", resp.StatusCode)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) before the handler finished", err)
	default:
	}

	close(release)
	if res := <-acked; res["done"] != "slow" {
		t.Fatalf("slow ack = %v", res)
	}
	// What was sent before the ack reached the others before they were
	// told to go.
	if e := b.next("late"); string(e.args[0]) != `"sent before the ack"` {
		t.Fatalf("late = %s", e.args[0])
	}
	// Both are disconnected at the transport level (close code 1001), so
	// that their clients reconnect, to another server.
	for _, c := range []*testClient{a, b} {
		if got := c.waitDone(); got != "transport close" || c.closeCode != websocket.StatusGoingAway {
			t.Fatalf("client ended with %q, close code %d; want transport close with 1001", got, c.closeCode)
		}
	}
	ss.waitServed(t)
}

// pollClient is a raw Engine.IO v4 polling session (Socket.IO packets
// written by hand), on a keep-alive HTTP client.
type pollClient struct {
	t    *testing.T
	url  string
	http *http.Client
}

// openPolling opens an Engine.IO polling session on base.
func openPolling(t *testing.T, base string) *pollClient {
	t.Helper()
	p := &pollClient{t: t, url: base + "/socket.io/?EIO=4&transport=polling", http: &http.Client{Timeout: 20 * time.Second}}
	t.Cleanup(p.http.CloseIdleConnections)
	status, pkts := p.do("GET", "")
	if status != 200 || len(pkts) != 1 || !strings.HasPrefix(pkts[0], "0") {
		t.Fatalf("handshake: %d %q", status, pkts)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(pkts[0][1:]), &open); err != nil {
		t.Fatal(err)
	}
	p.url += "&sid=" + open.SID
	return p
}

// do sends a request and returns the status and the packets of the body.
func (p *pollClient) do(method, body string) (int, []string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	return resp.StatusCode, strings.Split(string(b), "\x1e")
}

// send POSTs packets.
func (p *pollClient) send(pkts ...string) {
	p.t.Helper()
	if status, body := p.do("POST", strings.Join(pkts, "\x1e")); status != 200 {
		p.t.Fatalf("POST %q: %d %q", pkts, status, body)
	}
}

// TestGracefulShutdownPolling checks that an acknowledgement sent during a
// shutdown to a polling client that has no request pending at that moment
// reaches it with its next poll, followed by the close packet, also when
// that poll comes on a new connection.
func TestGracefulShutdownPolling(t *testing.T) {
	ss := startSlowServer(t, false)
	srv, base, started, release, cancel := ss.srv, ss.base, ss.started, ss.release, ss.cancel
	p := openPolling(t, base)
	p.send("40")
	if status, pkts := p.do("GET", ""); status != 200 || !strings.HasPrefix(pkts[0], "40{") {
		t.Fatalf("CONNECT: %d %q", status, pkts)
	}
	other := mustDial(t, base, dialOpts{}) // tells when the clients are being let go
	p.send(`420["slow"]`)
	<-started

	cancel() // SIGTERM
	eventually(t, "the server to stop being ready", func() bool { return !srv.Ready() })
	close(release) // the ack is queued: no poll is pending
	if got := other.waitDone(); got != "transport close" {
		t.Fatalf("the WebSocket client ended with %q", got)
	}
	// The polling client polls again, on a new connection (as a browser
	// may).
	p.http.CloseIdleConnections()
	var got []string
	for !slices.Contains(got, "1") {
		status, pkts := p.do("GET", "")
		if status != 200 {
			t.Fatalf("poll during the shutdown: %d %q (got %q before)", status, pkts, got)
		}
		got = append(got, pkts...)
	}
	if want := fmt.Sprintf("430[%s]", `{"done":"slow","ok":true}`); !slices.Contains(got, want) {
		t.Fatalf("polls during the shutdown got %q; want %q then the close packet", got, want)
	}
	ss.waitServed(t)
}
