package engineio_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/websocket"
)

// TestNoCompressPolling checks that a polling response is compressed only
// when one of its packets allows it.
func TestNoCompressPolling(t *testing.T) {
	e := newEnv(t, nil, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	big := strings.Repeat("compressible ", 200)
	s.Send(engineio.Packet{Data: []byte(big), NoCompress: true})
	if _, body, resp := e.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "" || body != "4"+big {
		t.Fatalf("NoCompress: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
	s.Send(engineio.Packet{Data: []byte(big), NoCompress: true}, engineio.Packet{Data: []byte("x")})
	if _, body, resp := e.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" || len(body) >= len(big) {
		t.Fatalf("one packet allows compression: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestNoCompressWebSocket checks that NoCompress packets go out without
// permessage-deflate on a connection that compresses, the others with it,
// in any order.
func TestNoCompressWebSocket(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{WebSocket: websocket.AcceptOptions{
		Compression: websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover},
	}}, nil)
	var wire atomic.Int64
	var d net.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"?EIO=4&transport=websocket", &websocket.DialOptions{
		Compression: websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{conn, &wire}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read(t, c) // open packet
	s := e.nextConn()
	big := strings.Repeat("compressible ", 2000)
	for i, noCompress := range []bool{false, true, true, false, true} {
		before := wire.Load()
		if err := s.Send(engineio.Packet{Data: []byte(big), NoCompress: noCompress}); err != nil {
			t.Fatal(err)
		}
		if _, got := read(t, c); got != "4"+big {
			t.Fatalf("message %d: got %d bytes", i, len(got))
		}
		n := wire.Load() - before
		if compressed := n < int64(len(big))/4; compressed == noCompress {
			t.Fatalf("message %d (NoCompress %v): %d bytes on the wire for %d", i, noCompress, n, len(big))
		}
	}
}
