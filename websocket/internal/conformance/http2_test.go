//lint:file-ignore SA1019 golang.org/x/net/http2.Transport is deprecated for net/http's Transport, which cannot send an extended CONNECT in Go 1.26

package conformance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/internal/h2xconnect"
	"github.com/tether-rt/tether/websocket"
	"github.com/tether-rt/tether/websocket/internal/conformance"
	"golang.org/x/net/http2"
)

// TestMain runs the suite with net/http's extended CONNECT on
// (GODEBUG=http2xconnect=1), for the cases over HTTP/2.
func TestMain(m *testing.M) { h2xconnect.Main(m) }

// startH2 starts an HTTPS server speaking HTTP/2 with h, and returns it
// with a transport that opens WebSockets on it (RFC 8441).
func startH2(t *testing.T, h http.Handler) (*httptest.Server, *http2.Transport) {
	t.Helper()
	h2xconnect.Require(t)
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr := &http2.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, tr
}

// TestServerHTTP2 plays every case against the echo server of TestServer,
// each case on a stream of one HTTP/2 connection (RFC 8441), all of them
// on that connection.
func TestServerHTTP2(t *testing.T) {
	srv, tr := startH2(t, echoserver.Handler(nil))
	for _, c := range conformance.Cases(scale()) {
		t.Run("case_"+c.ID, func(t *testing.T) {
			t.Parallel()
			p, err := conformance.DialPeerHTTP2(tr, srv.URL+"/", c.Offers)
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			if err := conformance.Run(p, c); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
		})
	}
}

// TestClientHTTP2 plays every case against a client made by
// websocket.Dial over HTTP/2 whose read loop echoes every message, with
// the raw peer answering in an HTTP/2 server's handler.
func TestClientHTTP2(t *testing.T) {
	type accepted struct {
		p   *conformance.Peer
		err error
	}
	// The handler hands its peer to the case that dialed, by path.
	cases := map[string]conformance.Case{}
	peers := map[string]chan accepted{}
	for _, c := range conformance.Cases(scale()) {
		cases[c.ID] = c
		peers[c.ID] = make(chan accepted, 1)
	}
	srv, tr := startH2(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/")
		p, err := conformance.AcceptPeerHTTP2(w, r, cases[id].Accept)
		peers[id] <- accepted{p, err}
		if err == nil {
			<-p.Done()
		}
	}))
	base := "wss" + strings.TrimPrefix(srv.URL, "https") + "/"
	for _, c := range conformance.Cases(scale()) {
		t.Run("case_"+c.ID, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, base+c.ID, &websocket.DialOptions{
				Compression:    clientCompression(c),
				HTTP2Transport: tr,
			})
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			defer ws.CloseNow()
			echoed := make(chan error, 1)
			go func() { echoed <- echoserver.Echo(ws) }()
			a := <-peers[c.ID]
			if a.err != nil {
				t.Fatalf("%v: %v", c, a.err)
			}
			if err := conformance.Run(a.p, c); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			select {
			case <-echoed:
			case <-time.After(conformance.DefaultTimeout):
				t.Fatalf("%v: the client's read loop did not end after the stream closed", c)
			}
		})
	}
}
