package engineio

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tether-rt/tether/websocket"
)

// dialOpened serves srv on a test HTTP server, opens an Engine.IO 4
// session over WebSocket and reads its open packet. The server, the
// HTTP server and the connection are closed when the test ends.
func dialOpened(t *testing.T, srv *Server) *websocket.Conn {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { srv.Close() })
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http")+"/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if _, p, err := c.ReadMessage(nil); err != nil || len(p) == 0 || p[0] != '0' {
		t.Fatalf("open packet %q, %v", p, err)
	}
	return c
}
