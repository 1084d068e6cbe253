//lint:file-ignore SA1019 golang.org/x/net/http2.Transport is deprecated for net/http's Transport, which cannot send an extended CONNECT in Go 1.26 (see TestHTTP2NetHTTPTransport)

package websocket

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/h2xconnect"
	"golang.org/x/net/http2"
)

// TestMain runs the package's tests with net/http's extended CONNECT on
// (GODEBUG=http2xconnect=1), for the tests of WebSockets over HTTP/2.
func TestMain(m *testing.M) { h2xconnect.Main(m) }

// h2Server is an HTTPS server speaking HTTP/2, as net/http serves it, and
// a transport that reaches it over HTTP/2 only. conns counts the TCP
// connections the server accepted.
type h2Server struct {
	*httptest.Server
	tr    *http2.Transport
	conns atomic.Int32
}

func newH2Server(t *testing.T, h http.HandlerFunc) *h2Server {
	return newH2ServerWith(t, h, nil)
}

// newH2ServerWith is newH2Server with edit applied to the http.Server
// before it starts.
func newH2ServerWith(t *testing.T, h http.HandlerFunc, edit func(*http.Server)) *h2Server {
	t.Helper()
	h2xconnect.Require(t)
	s := &h2Server{}
	s.Server = httptest.NewUnstartedServer(h)
	if edit != nil {
		edit(s.Config)
	}
	s.EnableHTTP2 = true
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	// net/http's own Transport refuses to send :protocol (see
	// TestHTTP2NetHTTPTransport); golang.org/x/net/http2's sends it.
	s.tr = &http2.Transport{TLSClientConfig: s.Client().Transport.(*http.Transport).TLSClientConfig}
	t.Cleanup(s.tr.CloseIdleConnections)
	return s
}

// dial opens a WebSocket over HTTP/2 to path.
func (s *h2Server) dial(t *testing.T, path string, opts *DialOptions) *Conn {
	t.Helper()
	if opts == nil {
		opts = &DialOptions{}
	}
	opts.HTTP2Transport = s.tr
	c, resp, err := Dial(context.Background(), "wss"+strings.TrimPrefix(s.URL, "https")+path, opts)
	if err != nil {
		t.Fatalf("Dial over HTTP/2: %v", err)
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake answered %s %s, want HTTP/2.0 200", resp.Proto, resp.Status)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// serveH2 accepts r with opts and runs serve on the connection; the
// handler returns once the connection is closed, as it must over HTTP/2.
func serveH2(t *testing.T, w http.ResponseWriter, r *http.Request, opts *AcceptOptions, serve func(*Conn)) {
	if r.ProtoMajor != 2 {
		t.Errorf("request came over %s, want HTTP/2", r.Proto)
	}
	c, err := Accept(w, r, opts)
	if err != nil {
		t.Errorf("Accept: %v", err)
		return
	}
	serve(c)
	c.CloseNow()
	<-c.Done()
}

// TestHTTP2Echo exchanges messages of every size with permessage-deflate
// and a subprotocol over an RFC 8441 stream, then closes cleanly from each
// side in turn.
func TestHTTP2Echo(t *testing.T) {
	type result struct {
		err   error
		proto string
		msgs  int
	}
	results := make(chan result, 2)
	srv := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		serveH2(t, w, r, &AcceptOptions{
			Subprotocols: []string{"v1.test"},
			Compression:  CompressionOptions{Mode: CompressionContextTakeover},
		}, func(c *Conn) {
			n := 0
			for {
				typ, msg, err := c.Read(context.Background())
				if err != nil {
					results <- result{err, c.Subprotocol(), n}
					return
				}
				n++
				if string(msg) == "close please" {
					results <- result{c.Close(4001, "server closes"), c.Subprotocol(), n}
					return
				}
				if err := c.WriteMessage(typ, msg); err != nil {
					results <- result{err, c.Subprotocol(), n}
					return
				}
			}
		})
	})
	sizes := []int{0, 1, 125, 126, 4096, 16 << 10, 65535, 65536, 300 << 10, 3 << 20}
	check := func(c *Conn) {
		t.Helper()
		if c.Subprotocol() != "v1.test" || !c.CompressionNegotiated() {
			t.Fatalf("subprotocol %q, compression %v", c.Subprotocol(), c.CompressionNegotiated())
		}
		for i, n := range sizes {
			msg := bytes.Repeat([]byte(fmt.Sprintf("%d tether over h2 ", i)), n/16+1)[:n]
			typ := MessageBinary
			if i%2 == 0 {
				typ = MessageText
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				t.Fatalf("write %d bytes: %v", n, err)
			}
			gt, got, err := c.Read(context.Background())
			if err != nil || gt != typ || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: %v %d bytes, %v", n, gt, len(got), err)
			}
		}
	}

	// The client closes.
	c := srv.dial(t, "/", &DialOptions{Subprotocols: []string{"v2.test", "v1.test"}, Compression: CompressionOptions{Mode: CompressionContextTakeover}})
	check(c)
	if err := c.Close(StatusNormalClosure, "client closes"); err != nil {
		t.Fatalf("client Close: %v", err)
	}
	res := <-results
	if res.msgs != len(sizes) || CloseStatus(res.err) != StatusNormalClosure || !strings.Contains(res.err.Error(), "client closes") {
		t.Fatalf("server read %d messages, then %v", res.msgs, res.err)
	}

	// The server closes.
	c = srv.dial(t, "/", &DialOptions{Subprotocols: []string{"v1.test"}, Compression: CompressionOptions{Mode: CompressionContextTakeover}})
	check(c)
	if err := c.WriteMessage(MessageText, []byte("close please")); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(context.Background())
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "server closes" {
		t.Fatalf("client read %v, want the server's close 4001", err)
	}
	if res := <-results; res.err != nil {
		t.Fatalf("server Close: %v", res.err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client connection not closed after the close handshake")
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("the server accepted %d TCP connections for two WebSockets, want 1", n)
	}
}

// TestHTTP2ManySockets opens many WebSockets on one HTTP/2 connection and
// has them all talk at once: one TCP connection, every message echoed to
// its own socket, read with ReadLoopAsync on the server (which falls back
// to a goroutine per stream).
func TestHTTP2ManySockets(t *testing.T) {
	const sockets, messages = 40, 20
	var accepted atomic.Int32
	srv := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		serveH2(t, w, r, nil, func(c *Conn) {
			accepted.Add(1)
			ended := make(chan error, 1)
			c.ReadLoopAsync(func(typ MessageType, msg []byte) error {
				return c.WriteMessage(typ, append([]byte(r.URL.Query().Get("id")+":"), msg...))
			}, func(err error) { ended <- err })
			if err := <-ended; CloseStatus(err) != StatusNormalClosure {
				t.Errorf("server read loop ended with %v", err)
			}
		})
	})
	var wg sync.WaitGroup
	for i := range sockets {
		c := srv.dial(t, fmt.Sprintf("/?id=%d", i), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range messages {
				msg := fmt.Sprintf("message %d", j)
				if err := c.WriteMessage(MessageText, []byte(msg)); err != nil {
					t.Errorf("socket %d: %v", i, err)
					return
				}
				_, got, err := c.Read(context.Background())
				if want := fmt.Sprintf("%d:%s", i, msg); err != nil || string(got) != want {
					t.Errorf("socket %d read %q, %v; want %q", i, got, err, want)
					return
				}
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Errorf("socket %d Close: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if n := srv.conns.Load(); n != 1 || accepted.Load() != sockets {
		t.Fatalf("%d WebSockets accepted over %d TCP connections, want %d over 1", accepted.Load(), n, sockets)
	}
}

// TestHTTP2StreamReset resets streams in the middle of a message, from
// each side: the other side reads a 1006 close that names the reset, and
// the HTTP/2 connection, with the other WebSockets on it, goes on.
func TestHTTP2StreamReset(t *testing.T) {
	serverErr := make(chan error, 4)
	stalled := make(chan struct{})
	midMessage := make(chan struct{})
	srv := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		serveH2(t, w, r, nil, func(c *Conn) {
			switch r.URL.Path {
			case "/read":
				_, mr, err := c.Reader(context.Background())
				if err == nil {
					_, err = io.ReadFull(mr, make([]byte, 1024))
				}
				if err != nil {
					serverErr <- err
					return
				}
				close(midMessage)
				_, err = io.Copy(io.Discard, mr)
				serverErr <- err
			case "/stall":
				// The client reads a little of a big message and stops:
				// the write waits for the stream's flow-control window,
				// and closing the connection under it resets the stream.
				go func() {
					<-stalled
					c.CloseNow()
				}()
				serverErr <- c.WriteMessage(MessageBinary, make([]byte, 32<<20))
			case "/echo":
				for {
					typ, msg, err := c.Read(context.Background())
					if err != nil {
						return
					}
					c.WriteMessage(typ, msg)
				}
			}
		})
	})
	bystander := srv.dial(t, "/echo", nil)
	echo := func() {
		t.Helper()
		if err := bystander.WriteMessage(MessageText, []byte("still here")); err != nil {
			t.Fatal(err)
		}
		if _, got, err := bystander.Read(context.Background()); err != nil || string(got) != "still here" {
			t.Fatalf("bystander read %q, %v", got, err)
		}
	}
	echo()

	// The client resets its stream after the first fragment of a message.
	c := srv.dial(t, "/read", nil)
	w, err := c.Writer(context.Background(), MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 40<<10)); err != nil { // two 16 KiB fragments go out
		t.Fatal(err)
	}
	<-midMessage // the server has read part of the message
	c.CloseNow() // RST_STREAM (CANCEL)
	err = <-serverErr
	if CloseStatus(err) != StatusAbnormalClosure || !strings.Contains(err.Error(), "HTTP/2 stream reset: CANCEL") {
		t.Fatalf("server read %v, want 1006 for a stream reset with CANCEL", err)
	}
	echo()

	// The server resets a stream whose write waits for flow control.
	c = srv.dial(t, "/stall", &DialOptions{ReadLimit: -1})
	_, mr, err := c.Reader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(mr, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	close(stalled) // the server's write is under way, and cannot end before we read more
	_, err = io.Copy(io.Discard, mr)
	if CloseStatus(err) != StatusAbnormalClosure || !strings.Contains(err.Error(), "HTTP/2 stream reset: INTERNAL_ERROR") {
		t.Fatalf("client read %v, want 1006 for a stream reset with INTERNAL_ERROR", err)
	}
	if err := <-serverErr; err == nil {
		t.Fatal("the server's write of 32 MiB to a client that stopped reading succeeded")
	}
	echo()
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections, want 1", n)
	}
}

// TestHTTP2Refused checks the answers to requests that are no WebSocket
// over HTTP/2, and to one from a foreign origin.
func TestHTTP2Refused(t *testing.T) {
	refused := make(chan error, 1)
	srv := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		_, err := Accept(w, r, nil)
		refused <- err
	})
	for _, tc := range []struct {
		name, method, protocol, version, origin string
		status                                  int
	}{
		{"GET", http.MethodGet, "", "13", "", http.StatusBadRequest},
		{"other protocol", http.MethodConnect, "webtransport", "13", "", http.StatusBadRequest},
		{"version 8", http.MethodConnect, "websocket", "8", "", http.StatusBadRequest},
		{"foreign origin", http.MethodConnect, "websocket", "13", "https://evil.example", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/", nil)
			if tc.protocol != "" {
				req.Header.Set(":protocol", tc.protocol)
			}
			req.Header.Set("Sec-WebSocket-Version", tc.version)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := srv.tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var he *HandshakeError
			if err := <-refused; !errors.As(err, &he) || he.Status != tc.status || resp.StatusCode != tc.status {
				t.Fatalf("answered %s, Accept returned %v; want %d", resp.Status, err, tc.status)
			}
			if tc.status == http.StatusBadRequest && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatalf("400 without Sec-WebSocket-Version: 13")
			}
		})
	}
}

// TestHTTP2Unsupported dials over HTTP/2 a server whose HTTP/2 does not
// advertise extended CONNECT (an HTTP/2 server of golang.org/x/net would
// be the same: what matters is the SETTINGS frame).
func TestHTTP2Unsupported(t *testing.T) {
	// A TLS server speaking HTTP/2 by hand: its SETTINGS lack
	// ENABLE_CONNECT_PROTOCOL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ts := httptest.NewUnstartedServer(nil)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	cfg := ts.TLS.Clone()
	ts.Close()
	cfg.NextProtos = []string{"h2"}
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		tc := tls.Server(nc, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		preface := make([]byte, 24)
		io.ReadFull(tc, preface)
		tc.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0}) // an empty SETTINGS frame
		io.Copy(io.Discard, tc)
	}()
	tr := &http2.Transport{TLSClientConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig}
	defer tr.CloseIdleConnections()
	_, _, err = Dial(context.Background(), "wss://"+ln.Addr().String()+"/", &DialOptions{HTTP2Transport: tr, HandshakeTimeout: 10 * time.Second})
	if !errors.Is(err, ErrExtendedConnectUnsupported) {
		t.Fatalf("Dial: %v, want ErrExtendedConnectUnsupported", err)
	}
}

// TestHTTP2Deadline checks that an expired read deadline breaks a client
// read over HTTP/2 with os.ErrDeadlineExceeded.
func TestHTTP2Deadline(t *testing.T) {
	srv := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		serveH2(t, w, r, nil, func(c *Conn) { c.Read(context.Background()) })
	})
	c := srv.dial(t, "/", nil)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _, err := c.Read(context.Background())
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
}

// TestHTTP2NetHTTPTransport dials with net/http's Transport, whose HTTP/2
// client can send extended CONNECT but whose RoundTrip refuses the
// :protocol pseudo-header before it gets there (Go 1.26): Dial says so.
func TestHTTP2NetHTTPTransport(t *testing.T) {
	srv := newH2Server(t, func(w http.ResponseWriter, r *http.Request) {
		t.Error("the request reached the server")
	})
	tr := srv.Client().Transport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	_, _, err := Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https"), &DialOptions{HTTP2Transport: tr})
	if err == nil || !strings.Contains(err.Error(), "golang.org/x/net/http2") {
		t.Fatalf("Dial through net/http's Transport: %v", err)
	}
}

// TestHTTP2ServerTimeouts checks that the http.Server's ReadTimeout and
// WriteTimeout, which net/http applies to each HTTP/2 stream, do not end a
// WebSocket that outlives them: Accept lifts them from the stream.
func TestHTTP2ServerTimeouts(t *testing.T) {
	srv := newH2ServerWith(t, func(w http.ResponseWriter, r *http.Request) {
		serveH2(t, w, r, nil, func(c *Conn) {
			for {
				typ, msg, err := c.Read(context.Background())
				if err != nil {
					return
				}
				c.WriteMessage(typ, msg)
			}
		})
	}, func(hs *http.Server) {
		// Long enough for the TLS handshake, which they bound too, on a
		// loaded machine.
		hs.ReadTimeout = time.Second
		hs.WriteTimeout = time.Second
	})
	c := srv.dial(t, "/", nil)
	time.Sleep(1500 * time.Millisecond) // past both timeouts
	if err := c.WriteMessage(MessageText, []byte("after the timeouts")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(context.Background()); err != nil || string(got) != "after the timeouts" {
		t.Fatalf("echo after the server's timeouts: %q, %v", got, err)
	}
}

// TestHTTP2Cleartext runs a WebSocket over cleartext HTTP/2 with prior
// knowledge (h2c), as behind a proxy that speaks it to the server: an
// http.Server whose Protocols allow unencrypted HTTP/2, and a client
// transport that dials TCP.
func TestHTTP2Cleartext(t *testing.T) {
	h2xconnect.Require(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveH2(t, w, r, nil, func(c *Conn) {
			typ, msg, err := c.Read(context.Background())
			if err == nil {
				c.WriteMessage(typ, msg)
				c.Read(context.Background())
			}
		})
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	c, resp, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{HTTP2Transport: tr})
	if err != nil {
		t.Fatalf("Dial over h2c: %v", err)
	}
	defer c.CloseNow()
	if resp.ProtoMajor != 2 {
		t.Fatalf("handshake over %s", resp.Proto)
	}
	if err := c.WriteMessage(MessageText, []byte("h2c")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(context.Background()); err != nil || string(got) != "h2c" {
		t.Fatalf("echo over h2c: %q, %v", got, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
