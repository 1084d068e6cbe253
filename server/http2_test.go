//lint:file-ignore SA1019 golang.org/x/net/http2.Transport is deprecated for net/http's Transport, which cannot send an extended CONNECT in Go 1.26

package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tether-rt/tether/internal/h2xconnect"
	"golang.org/x/net/http2"
)

// TestMain runs the package's tests with net/http's extended CONNECT on
// (GODEBUG=http2xconnect=1), as tether serve runs with http2_websocket.
func TestMain(m *testing.M) { h2xconnect.Main(m) }

// h2Client is an HTTP/2 client of a TLS server whose certificate pool
// trusts; conns counts the TCP connections it made.
func h2Client(pool *x509.CertPool) (*http2.Transport, *atomic.Int32) {
	conns := new(atomic.Int32)
	tr := &http2.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
			conns.Add(1)
			d := tls.Dialer{Config: cfg}
			return d.DialContext(ctx, network, addr)
		},
	}
	return tr, conns
}

// metric returns the value of the metric line that starts with name in the
// scrape, or "" when there is none.
func metric(scrape, name string) string {
	for _, l := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestHTTP2WebSocket runs Socket.IO clients whose WebSockets are streams
// of one HTTP/2 connection (RFC 8441), which also carries a polling session
// and the /metrics request: the clients talk through a room, and
// tether_websocket_connections_total counts them under http="2", a
// WebSocket over HTTP/1.1 under http="1.1".
func TestHTTP2WebSocket(t *testing.T) {
	h2xconnect.Require(t)
	certFile, keyFile, pool := selfSigned(t)
	cfg := testConfig()
	cfg.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile}
	_, addr, _ := serve(t, cfg, false)
	base := "https://" + addr
	tr, conns := h2Client(pool)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	resp, err := client.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a := mustDial(t, base, dialOpts{h2: tr})
	b := mustDial(t, base, dialOpts{h2: tr})
	wantOK(t, "subscribe", b.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "subscribe", a.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "publish", a.call("publish", map[string]any{"room": "r", "event": "hello", "data": "over h2"}))
	if e := b.next("hello"); string(e.args[0]) != `"over h2"` {
		t.Fatalf("hello = %s", e.args[0])
	}
	wantOK(t, "publish", b.call("publish", map[string]any{"room": "r", "event": "back", "data": "and back"}))
	if e := a.next("back"); string(e.args[0]) != `"and back"` {
		t.Fatalf("back = %s", e.args[0])
	}
	// And one WebSocket over HTTP/1.1 (its own connection).
	mustDial(t, base, dialOpts{tls: &tls.Config{RootCAs: pool}})

	resp, err = client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("/metrics over %s", resp.Proto)
	}
	scrape := string(body)
	if v2, v1 := metric(scrape, `tether_websocket_connections_total{http="2"}`), metric(scrape, `tether_websocket_connections_total{http="1.1"}`); v2 != "2" || v1 != "1" {
		t.Fatalf(`tether_websocket_connections_total: http="2" %q, http="1.1" %q; want 2 and 1`, v2, v1)
	}
	if v := metric(scrape, `tether_connections{transport="websocket"}`); v != "3" {
		t.Fatalf(`tether_connections{transport="websocket"} = %q, want 3`, v)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the HTTP/2 client made %d connections, want 1", n)
	}
}

// TestHTTP2WebSocketHandshakeLimit checks that a WebSocket handshake over
// HTTP/2 (an extended CONNECT, not a GET) is a handshake for the per-IP
// limiter too.
func TestHTTP2WebSocketHandshakeLimit(t *testing.T) {
	h2xconnect.Require(t)
	certFile, keyFile, pool := selfSigned(t)
	cfg := testConfig()
	cfg.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile}
	cfg.Limits.HandshakeRate = 0.001
	cfg.Limits.HandshakeBurst = 2
	srv, addr, _ := serve(t, cfg, false)
	tr, _ := h2Client(pool)
	defer tr.CloseIdleConnections()
	base := "https://" + addr
	mustDial(t, base, dialOpts{h2: tr})
	mustDial(t, base, dialOpts{h2: tr})
	_, err := dialClient(t, base, dialOpts{h2: tr})
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("third handshake in the burst of 2: %v, want 429", err)
	}
	if v := counterValue(t, srv, "tether_handshakes_rejected_total"); v != 1 {
		t.Fatalf("rejected handshakes: %v, want 1 (rate_limited)", v)
	}
}

// TestHTTP2WebSocketLog checks what Serve logs about WebSockets over
// HTTP/2 with TLS, for each setting of http2_websocket, in a process where
// net/http allows them.
func TestHTTP2WebSocketLog(t *testing.T) {
	h2xconnect.Require(t)
	certFile, keyFile, _ := selfSigned(t)
	for _, tc := range []struct {
		on   bool
		want *regexp.Regexp
	}{
		{true, regexp.MustCompile(`level=INFO msg="WebSockets over HTTP/2 \(RFC 8441\)" enabled=true`)},
		{false, regexp.MustCompile(`level=WARN msg="http2_websocket is off, but GODEBUG=http2xconnect=1`)},
	} {
		cfg := testConfig()
		cfg.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile}
		cfg.HTTP2WebSocket = tc.on
		var buf bytes.Buffer
		srv, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv.logHTTP2WebSocket()
		if !tc.want.MatchString(buf.String()) {
			t.Errorf("http2_websocket %v logged:\n%s", tc.on, buf.String())
		}
		srv.IO().Close()
	}
}
