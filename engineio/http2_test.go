//lint:file-ignore SA1019 golang.org/x/net/http2.Transport is deprecated for net/http's Transport, which cannot send an extended CONNECT in Go 1.26

package engineio_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/internal/h2xconnect"
	"github.com/tether-rt/tether/websocket"
	"golang.org/x/net/http2"
)

// TestMain runs the package's tests with net/http's extended CONNECT on
// (GODEBUG=http2xconnect=1), for WebSockets over HTTP/2.
func TestMain(m *testing.M) { h2xconnect.Main(m) }

// newH2Env is newEnv over HTTPS and HTTP/2: polling and WebSockets (RFC
// 8441) share the client's one connection. It returns the env, the
// WebSockets' transport and the count of TCP connections the server
// accepted.
func newH2Env(t *testing.T) (*env, *http2.Transport, *atomic.Int32) {
	t.Helper()
	h2xconnect.Require(t)
	e := newEnv(t, nil, nil)
	e.hs.Close()
	conns := new(atomic.Int32)
	e.hs = httptest.NewUnstartedServer(e.hs.Config.Handler)
	e.hs.EnableHTTP2 = true
	e.hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	e.hs.StartTLS()
	t.Cleanup(e.hs.Close)
	e.url = e.hs.URL + "/engine.io/"
	tr := &http2.Transport{TLSClientConfig: e.hs.Client().Transport.(*http.Transport).TLSClientConfig}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr}
	return e, tr, conns
}

// dialH2 opens the WebSocket of query over HTTP/2.
func dialH2(t *testing.T, e *env, tr http.RoundTripper, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(e.url, "https")+"?"+query, &websocket.DialOptions{HTTP2Transport: tr})
	if err != nil {
		t.Fatalf("dial %s over HTTP/2: %v", query, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("WebSocket over %s", resp.Proto)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestHTTP2WebSocket runs sessions whose WebSocket is a stream of the
// client's HTTP/2 connection (RFC 8441): a handshake made over WebSocket,
// and an upgrade from polling (over the same connection), with messages
// both ways; OnWebSocket sees both over HTTP/2, and closing the server
// ends them (the handlers, which hold the streams, return).
func TestHTTP2WebSocket(t *testing.T) {
	checkGoroutines(t)
	e, tr, conns := newH2Env(t)
	versions := make(chan int, 4)
	e.srv.OnWebSocket(func(r *http.Request) { versions <- r.ProtoMajor })

	// A handshake over WebSocket.
	ws := dialH2(t, e, tr, "EIO=4&transport=websocket")
	if _, open := read(t, ws); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	direct := e.nextConn()
	write(t, ws, "4hello over h2")
	if m := e.nextMessage(); m.sock != direct || string(m.pkt.Data) != "hello over h2" {
		t.Fatalf("server got %q from %s", m.pkt.Data, m.sock.ID())
	}
	direct.Send(engineio.Packet{Data: []byte("hi back")})
	if _, got := read(t, ws); got != "4hi back" {
		t.Fatalf("client got %q", got)
	}

	// An upgrade from polling.
	sid, _ := e.handshake()
	polled := e.nextConn()
	up := dialH2(t, e, tr, "EIO=4&transport=websocket&sid="+sid)
	write(t, up, "2probe")
	if _, got := read(t, up); got != "3probe" {
		t.Fatalf("probe answered %q", got)
	}
	write(t, up, "5")
	write(t, up, "4upgraded")
	if m := e.nextMessage(); m.sock != polled || string(m.pkt.Data) != "upgraded" {
		t.Fatalf("server got %q from %s", m.pkt.Data, m.sock.ID())
	}
	if polled.Transport() != engineio.TransportWebSocket {
		t.Fatalf("transport %s after the upgrade", polled.Transport())
	}
	polled.Send(engineio.Packet{Data: []byte("on the stream")})
	for {
		_, got := read(t, up)
		if got == "6" { // a noop that ended a poll
			continue
		}
		if got != "4on the stream" {
			t.Fatalf("client got %q", got)
		}
		break
	}
	for range 2 {
		if v := <-versions; v != 2 {
			t.Fatalf("OnWebSocket saw HTTP/%d", v)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections for polling and two WebSockets, want 1", n)
	}

	// The client closes one WebSocket; the server closes the other.
	ws.Close(websocket.StatusNormalClosure, "")
	if cl := e.nextClose(); cl.sock != direct || cl.reason != engineio.ReasonTransportClose {
		t.Fatalf("close of %s: %s", cl.sock.ID(), cl.reason)
	}
	go func() { // answers the close frame
		for {
			if _, _, err := up.ReadMessage(nil); err != nil {
				return
			}
		}
	}()
	e.srv.Close()
	if cl := e.nextClose(); cl.sock != polled || cl.reason != engineio.ReasonServerShutdown {
		t.Fatalf("close of %s: %s", cl.sock.ID(), cl.reason)
	}
	select {
	case <-up.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the upgraded WebSocket is still open after the server closed")
	}
}
