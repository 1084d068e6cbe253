package conformance_test

import (
	"context"
	"flag"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/websocket"
	"github.com/tether-rt/tether/websocket/internal/conformance"
)

var full = flag.Bool("conformance.full", false, "run sections 9, 12 and 13 with Autobahn's full sizes and counts")

func scale() conformance.Scale { return conformance.Scale{Full: *full} }

// TestServer plays every case against the echo server as `tether echo`
// serves it (permessage-deflate with context takeover), with the raw peer
// as the client.
func TestServer(t *testing.T) {
	srv := httptest.NewServer(echoserver.Handler(nil))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range conformance.Cases(scale()) {
		t.Run("case_"+c.ID, func(t *testing.T) {
			t.Parallel()
			p, err := conformance.DialPeer(addr, c.Offers)
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			if err := conformance.Run(p, c); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
		})
	}
}

// TestClient plays every case against a client made by websocket.Dial
// whose read loop echoes every message, with the raw peer as the server.
func TestClient(t *testing.T) {
	for _, c := range conformance.Cases(scale()) {
		t.Run("case_"+c.ID, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type accepted struct {
				p   *conformance.Peer
				err error
			}
			peers := make(chan accepted, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					peers <- accepted{nil, err}
					return
				}
				p, err := conformance.AcceptPeer(conn, c.Accept)
				if err != nil {
					conn.Close()
				}
				peers <- accepted{p, err}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/", &websocket.DialOptions{Compression: clientCompression(c)})
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			defer ws.CloseNow()
			echoed := make(chan error, 1)
			go func() { echoed <- echoserver.Echo(ws) }()
			a := <-peers
			if a.err != nil {
				t.Fatalf("%v: %v", c, a.err)
			}
			if err := conformance.Run(a.p, c); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			select {
			case <-echoed:
			case <-time.After(conformance.DefaultTimeout):
				t.Fatalf("%v: the client's read loop did not end after the connection closed", c)
			}
		})
	}
}

// clientCompression maps what a case's (first) offer asks of the server to
// the client's options: Autobahn's requestNoContextTakeover is
// CompressionNoContextTakeover (which also gives up the client's own
// context), requestMaxWindowBits is ServerMaxWindowBits. Cases without
// offers run without compression, as Autobahn's do.
func clientCompression(c conformance.Case) websocket.CompressionOptions {
	if len(c.Offers) == 0 {
		return websocket.CompressionOptions{}
	}
	o := c.Offers[0]
	opts := websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, ServerMaxWindowBits: o.ServerMaxWindowBits}
	if o.ServerNoContextTakeover {
		opts.Mode = websocket.CompressionNoContextTakeover
	}
	return opts
}

// TestReadLimit keeps the suite's idea of the read limit in step with the
// package's.
func TestReadLimit(t *testing.T) {
	if conformance.ReadLimit != websocket.DefaultReadLimit {
		t.Fatalf("conformance.ReadLimit = %d, websocket.DefaultReadLimit = %d", conformance.ReadLimit, websocket.DefaultReadLimit)
	}
}
