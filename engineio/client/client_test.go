package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/client"
	"github.com/tether-rt/tether/websocket"
)

// waitTimeout bounds every wait for something that should happen; tests
// fail when it passes, they never assert on durations.
const waitTimeout = 10 * time.Second

// echoServer is Tether's Engine.IO server, echoing every message, on
// loopback; it records the sessions' requests and closes.
type echoServer struct {
	srv    *engineio.Server
	hs     *httptest.Server
	url    string
	reqs   chan *http.Request
	closes chan string
	socks  chan *engineio.Socket
}

func newEchoServer(t *testing.T, opts *engineio.Options, tlsOn bool) *echoServer {
	t.Helper()
	e := &echoServer{srv: engineio.NewServer(opts), reqs: make(chan *http.Request, 100), closes: make(chan string, 100), socks: make(chan *engineio.Socket, 100)}
	e.srv.OnConnection(func(s *engineio.Socket) {
		e.reqs <- s.Request()
		s.OnMessage(func(p engineio.Packet) {
			if string(p.Data) == "close me" {
				s.Close()
				return
			}
			s.Send(p)
		})
		s.OnClose(func(reason string, err error) { e.closes <- reason })
		e.socks <- s
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", e.srv)
	if tlsOn {
		e.hs = httptest.NewTLSServer(mux)
	} else {
		e.hs = httptest.NewServer(mux)
	}
	e.url = e.hs.URL
	t.Cleanup(func() {
		e.srv.Close()
		e.hs.Close()
	})
	return e
}

// recorder collects what a client's callbacks see.
type recorder struct {
	msgs     chan client.Packet
	closes   chan string
	upgrades chan string
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan client.Packet, 10000), closes: make(chan string, 10), upgrades: make(chan string, 10)}
}

func (r *recorder) options(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	o.OnMessage = func(p client.Packet) { r.msgs <- p }
	o.OnClose = func(reason string, err error) {
		if err != nil {
			reason += ": " + err.Error()
		}
		r.closes <- reason
	}
	o.OnUpgrade = func(tr string) { r.upgrades <- tr }
	return o
}

func (r *recorder) next(t *testing.T) client.Packet {
	t.Helper()
	select {
	case p := <-r.msgs:
		return p
	case <-time.After(waitTimeout):
		t.Fatal("no message came")
		return client.Packet{}
	}
}

func (r *recorder) closed(t *testing.T) string {
	t.Helper()
	select {
	case reason := <-r.closes:
		return reason
	case <-time.After(waitTimeout):
		t.Fatal("the client did not close")
		return ""
	}
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not come", what)
		var zero T
		return zero
	}
}

func dial(t *testing.T, url string, o *client.Options) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestEcho sends text and binary messages over each transport setting and
// protocol and checks that the echoes come back in order, and that a
// polling session upgrades when it may.
func TestEcho(t *testing.T) {
	for _, tc := range []struct {
		name       string
		transports []string
		proto      int
		noUpgrade  bool
		want       string // the transport at the end
	}{
		{"polling", []string{"polling"}, 4, false, "polling"},
		{"websocket", []string{"websocket"}, 4, false, "websocket"},
		{"upgrade", nil, 4, false, "websocket"},
		{"no upgrade", nil, 4, true, "polling"},
		{"v3 polling", []string{"polling"}, 3, false, "polling"},
		{"v3 websocket", []string{"websocket"}, 3, false, "websocket"},
		{"v3 upgrade", nil, 3, false, "websocket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEchoServer(t, &engineio.Options{AllowEIO3: true}, false)
			r := newRecorder()
			c := dial(t, e.url, r.options(&client.Options{Transports: tc.transports, Protocol: tc.proto, DisableUpgrade: tc.noUpgrade}))
			if c.ID() == "" || c.Protocol() != tc.proto {
				t.Fatalf("id %q, protocol %d", c.ID(), c.Protocol())
			}
			req := wait(t, e.reqs, "the session")
			if req.URL.Query().Get("EIO") != fmt.Sprint(tc.proto) {
				t.Fatalf("EIO=%s", req.URL.Query().Get("EIO"))
			}
			if tc.want == "websocket" && tc.transports == nil {
				if tr := wait(t, r.upgrades, "the upgrade"); tr != "websocket" {
					t.Fatalf("upgraded to %q", tr)
				}
			}
			const n = 50
			for i := range n {
				p := client.Packet{Data: fmt.Appendf(nil, "hello %d €", i)}
				if i%3 == 0 {
					p = client.Packet{Data: []byte{byte(i), 0, 0xff}, Binary: true}
				}
				if err := c.Send(p); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				p := r.next(t)
				if i%3 == 0 {
					if !p.Binary || !bytes.Equal(p.Data, []byte{byte(i), 0, 0xff}) {
						t.Fatalf("echo %d: %v %q", i, p.Binary, p.Data)
					}
				} else if p.Binary || string(p.Data) != fmt.Sprintf("hello %d €", i) {
					t.Fatalf("echo %d: %v %q", i, p.Binary, p.Data)
				}
			}
			if got := c.Transport(); got != tc.want {
				t.Fatalf("transport %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSendDuringUpgrade sends while the session upgrades: every message
// arrives once, in order. The server's send queue holds all the echoes: a
// client slow to poll (a busy machine) may let most of them pile up, and
// past the default SendQueue the server rightly closes the session.
func TestSendDuringUpgrade(t *testing.T) {
	const n = 2000
	e := newEchoServer(t, &engineio.Options{SendQueue: n}, false)
	r := newRecorder()
	c := dial(t, e.url, r.options(nil))
	go func() {
		for i := range n {
			if err := c.Send(client.Packet{Data: fmt.Appendf(nil, "%d", i)}); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for i := range n {
		if p := r.next(t); string(p.Data) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, p.Data)
		}
	}
	wait(t, r.upgrades, "the upgrade")
}

// TestHeartbeat keeps sessions alive over many short heartbeats of the
// server (v4: the server pings; v3: the client does): the server would
// close a session whose client does not answer. The ping timeout is long
// enough for a client on a busy machine to answer in time; the test runs
// longer than a ping interval and timeout, so that a client that never
// answered would have been cut off.
func TestHeartbeat(t *testing.T) {
	const interval, timeout = 30 * time.Millisecond, time.Second
	for _, proto := range []int{4, 3} {
		for _, tr := range []string{"polling", "websocket"} {
			t.Run(fmt.Sprintf("v%d %s", proto, tr), func(t *testing.T) {
				e := newEchoServer(t, &engineio.Options{AllowEIO3: true, PingInterval: interval, PingTimeout: timeout}, false)
				r := newRecorder()
				c := dial(t, e.url, r.options(&client.Options{Protocol: proto, Transports: []string{tr}}))
				sock := wait(t, e.socks, "the session")
				// Many heartbeats, and an echo after them.
				time.Sleep(interval + timeout + 300*time.Millisecond)
				if err := c.Send(client.Packet{Data: []byte("still here")}); err != nil {
					t.Fatal(err)
				}
				if p := r.next(t); string(p.Data) != "still here" {
					t.Fatalf("got %q", p.Data)
				}
				select {
				case reason := <-e.closes:
					t.Fatalf("the server closed the session: %s", reason)
				default:
				}
				if sock.Transport() != tr {
					t.Fatalf("server transport %q", sock.Transport())
				}
			})
		}
	}
}

// deadServer answers the handshake (polling and WebSocket) with a short
// heartbeat, then never says anything again: no ping, no poll answer.
func deadServer(t *testing.T, proto int) string {
	t.Helper()
	hold := make(chan struct{})
	var conns sync.WaitGroup
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sid") == "" && r.Method == http.MethodGet && r.Header.Get("Upgrade") == "" {
			open := `0{"sid":"dead","upgrades":[],"pingInterval":100,"pingTimeout":100}`
			if proto == 3 {
				fmt.Fprintf(w, "%d:%s", len(open), open)
				return
			}
			io.WriteString(w, open)
			return
		}
		if r.Method == http.MethodPost {
			io.WriteString(w, "ok") // v3 pings are taken, never answered
			return
		}
		conns.Add(1)
		defer conns.Done()
		select { // a poll that never ends
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(hold)
		hs.Close()
	})
	return hs.URL
}

// TestDeadServer: a server that stops pinging (v4), or answering pings
// (v3), is noticed: the session closes with "ping timeout".
func TestDeadServer(t *testing.T) {
	for _, proto := range []int{4, 3} {
		t.Run(fmt.Sprintf("v%d", proto), func(t *testing.T) {
			url := deadServer(t, proto)
			r := newRecorder()
			c := dial(t, url, r.options(&client.Options{Protocol: proto}))
			if got := r.closed(t); got != client.ReasonPingTimeout {
				t.Fatalf("closed with %q", got)
			}
			<-c.Done()
			if err := c.Err(); err == nil || !strings.Contains(err.Error(), "ping timeout") {
				t.Fatalf("Err() = %v", err)
			}
			if err := c.Send(client.Packet{Data: []byte("x")}); !errors.Is(err, client.ErrClosed) {
				t.Fatalf("Send after close: %v", err)
			}
		})
	}
}

// TestHeaderQueryPath: custom headers and query reach every request, on a
// custom path.
func TestHeaderQueryPath(t *testing.T) {
	srv := engineio.NewServer(nil)
	reqs := make(chan *http.Request, 100)
	srv.OnConnection(func(s *engineio.Socket) {
		s.OnMessage(func(p engineio.Packet) { s.Send(p) })
	})
	mux := http.NewServeMux()
	mux.Handle("/custom/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- r
		srv.ServeHTTP(w, r)
	}))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()
	r := newRecorder()
	c := dial(t, hs.URL+"?from=url", r.options(&client.Options{
		Path:   "/custom",
		Header: http.Header{"X-Token": {"secret"}},
		Query:  url.Values{"room": {"a b"}},
	}))
	wait(t, r.upgrades, "the upgrade")
	c.Send(client.Packet{Data: []byte("x")})
	r.next(t)
	n := 0
	for len(reqs) > 0 {
		req := <-reqs
		n++
		q := req.URL.Query()
		if req.Header.Get("X-Token") != "secret" || q.Get("room") != "a b" || q.Get("from") != "url" || q.Get("EIO") != "4" {
			t.Fatalf("request %s %s: header %v", req.Method, req.URL, req.Header)
		}
	}
	if n < 3 { // the handshake, a poll, the WebSocket
		t.Fatalf("only %d requests", n)
	}
}

// TestHandshakeErrors: refused handshakes give the server's code and
// message.
func TestHandshakeErrors(t *testing.T) {
	e := newEchoServer(t, &engineio.Options{AllowRequest: func(r *http.Request) error {
		if r.URL.Query().Get("token") != "ok" {
			return errors.New("go away")
		}
		return nil
	}}, false)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, tr := range []string{"polling", "websocket"} {
		_, err := client.Dial(ctx, e.url, &client.Options{Transports: []string{tr}})
		var he *client.HandshakeError
		if !errors.As(err, &he) || he.StatusCode != 403 || he.Code != 4 || he.Message != "go away" {
			t.Fatalf("%s: %v", tr, err)
		}
		_, err = client.Dial(ctx, e.url, &client.Options{Transports: []string{tr}, Protocol: 3, Query: url.Values{"token": {"ok"}}})
		if !errors.As(err, &he) || he.StatusCode != 400 || he.Code != 5 {
			t.Fatalf("%s v3: %v", tr, err)
		}
	}
	if _, err := client.Dial(ctx, "ftp://x", nil); err == nil {
		t.Fatal("dialled ftp")
	}
}

// TestDialContext: a handshake that is never answered ends with the
// context.
func TestDialContext(t *testing.T) {
	hold := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(hold)
	for _, tr := range []string{"polling", "websocket"} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := client.Dial(ctx, hs.URL, &client.Options{Transports: []string{tr}})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v", tr, err)
		}
	}
}

// TestClose: what is queued before Close arrives, the server sees the
// client go, and the client's OnClose gets "forced close".
func TestClose(t *testing.T) {
	for _, tr := range []string{"polling", "websocket"} {
		t.Run(tr, func(t *testing.T) {
			e := newEchoServer(t, nil, false)
			got := make(chan string, 100)
			srvMsgs := make(chan string, 100)
			e.srv.OnConnection(func(s *engineio.Socket) {
				s.OnMessage(func(p engineio.Packet) { srvMsgs <- string(p.Data) })
				s.OnClose(func(reason string, err error) { got <- reason })
			})
			r := newRecorder()
			c := dial(t, e.url, r.options(&client.Options{Transports: []string{tr}}))
			for i := range 10 {
				c.Send(client.Packet{Data: fmt.Appendf(nil, "%d", i)})
			}
			c.Close()
			for i := range 10 {
				if m := wait(t, srvMsgs, "a message"); m != fmt.Sprint(i) {
					t.Fatalf("message %d: %q", i, m)
				}
			}
			if reason := wait(t, got, "the server's close"); reason != "transport close" {
				t.Fatalf("server closed with %q", reason)
			}
			if reason := r.closed(t); reason != client.ReasonForcedClose {
				t.Fatalf("client closed with %q", reason)
			}
		})
	}
}

// TestServerClose: a session the server closes ends with "transport
// close" on the client.
func TestServerClose(t *testing.T) {
	for _, tr := range []string{"polling", "websocket"} {
		t.Run(tr, func(t *testing.T) {
			e := newEchoServer(t, nil, false)
			r := newRecorder()
			c := dial(t, e.url, r.options(&client.Options{Transports: []string{tr}}))
			c.Send(client.Packet{Data: []byte("close me")})
			if reason := r.closed(t); reason != client.ReasonTransportClose {
				t.Fatalf("closed with %q", reason)
			}
		})
	}
}

// TestTLS dials an https server with its certificate in the pool, and
// fails without it.
func TestTLS(t *testing.T) {
	e := newEchoServer(t, nil, true)
	pool := x509.NewCertPool()
	pool.AddCert(e.hs.Certificate())
	r := newRecorder()
	c := dial(t, e.url, r.options(&client.Options{TLSConfig: &tls.Config{RootCAs: pool}}))
	wait(t, r.upgrades, "the upgrade")
	c.Send(client.Packet{Data: []byte("secure")})
	if p := r.next(t); string(p.Data) != "secure" {
		t.Fatalf("got %q", p.Data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, tr := range []string{"polling", "websocket"} {
		if _, err := client.Dial(ctx, e.url, &client.Options{Transports: []string{tr}}); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("%s without the CA: %v", tr, err)
		}
	}
}

// proxy is an HTTP proxy: it forwards plain requests and tunnels CONNECT,
// counting both.
type proxy struct {
	forwarded, tunnels atomic.Int32
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnels.Add(1)
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		// brw's reader may hold bytes the server read ahead.
		go func() { io.Copy(up, brw); up.Close() }()
		io.Copy(nc, up)
		nc.Close()
		return
	}
	p.forwarded.Add(1)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// TestProxy goes through an HTTP proxy: polling requests are forwarded,
// the WebSocket tunnelled.
func TestProxy(t *testing.T) {
	e := newEchoServer(t, nil, false)
	p := &proxy{}
	ps := httptest.NewServer(p)
	defer ps.Close()
	pu, _ := url.Parse(ps.URL)
	r := newRecorder()
	c := dial(t, e.url, r.options(&client.Options{Proxy: http.ProxyURL(pu)}))
	wait(t, r.upgrades, "the upgrade")
	c.Send(client.Packet{Data: []byte("via proxy")})
	if m := r.next(t); string(m.Data) != "via proxy" {
		t.Fatalf("got %q", m.Data)
	}
	if p.forwarded.Load() < 2 || p.tunnels.Load() != 1 {
		t.Fatalf("proxy forwarded %d requests and tunnelled %d", p.forwarded.Load(), p.tunnels.Load())
	}
}

// TestMaxPayload: over polling, what is queued goes out in POST bodies
// within the server's maxPayload (the server refuses bigger ones).
func TestMaxPayload(t *testing.T) {
	e := newEchoServer(t, &engineio.Options{MaxPayload: 200}, false)
	r := newRecorder()
	c := dial(t, e.url, r.options(&client.Options{Transports: []string{"polling"}}))
	if c.Handshake().MaxPayload != 200 {
		t.Fatalf("maxPayload %d", c.Handshake().MaxPayload)
	}
	for i := range 40 {
		c.Send(client.Packet{Data: []byte(fmt.Sprintf("%02d", i) + strings.Repeat("x", 48))})
	}
	for i := range 40 {
		if p := r.next(t); !strings.HasPrefix(string(p.Data), fmt.Sprintf("%02d", i)) {
			t.Fatalf("message %d: %q", i, p.Data)
		}
	}
	select {
	case reason := <-e.closes:
		t.Fatalf("server closed: %s", reason)
	default:
	}
}

// TestQueueFull: Send refuses what would take the queue over its bound,
// but always takes one packet into an empty queue.
func TestQueueFull(t *testing.T) {
	hold := make(chan struct{})
	// A server whose POSTs never return: the queue stays full.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sid") == "" {
			io.WriteString(w, `0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`)
			return
		}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(hold)
	c := dial(t, hs.URL, &client.Options{MaxQueuedBytes: 100})
	if err := c.Send(client.Packet{Data: make([]byte, 1000)}); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	// The first packet may already be in the writer's hands; fill up.
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = c.Send(client.Packet{Data: make([]byte, 60)})
	}
	if !errors.Is(err, client.ErrQueueFull) {
		t.Fatalf("Send over the bound: %v", err)
	}
}

// TestNoServerImports: the client depends on no server package.
func TestNoServerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/tether-rt/tether/engineio" || dep == "github.com/tether-rt/tether/socketio" || strings.HasPrefix(dep, "github.com/tether-rt/tether/server") {
			t.Fatalf("engineio/client depends on %s", dep)
		}
	}
}

// TestServerCloseWhileSending: a session whose server closes the
// WebSocket (a close frame, then reading until the client's, as Node's ws
// does) while the client is writing ends with "transport close": the write
// that meets the close handshake is not a transport error.
func TestServerCloseWhileSending(t *testing.T) {
	closeNow := make(chan struct{}, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		open := `0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
		if ws.WriteMessage(websocket.MessageText, []byte(open)) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if _, _, err := ws.Read(ctx); err != nil { // the client's writes are under way
			return
		}
		<-closeNow
		ws.Close(websocket.StatusNormalClosure, "") // reads until the client's close frame
	}))
	defer hs.Close()
	for i := range 50 {
		r := newRecorder()
		c := dial(t, hs.URL, r.options(&client.Options{Transports: []string{"websocket"}}))
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
				if c.Send(client.Packet{Data: []byte("tick")}) != nil {
					return
				}
				runtime.Gosched()
			}
		}()
		closeNow <- struct{}{}
		reason := r.closed(t)
		close(stop)
		<-done
		if reason != client.ReasonTransportClose {
			t.Fatalf("round %d: closed with %q", i, reason)
		}
	}
}
