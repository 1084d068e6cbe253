package websocket_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// Regression tests for bugs the interop tests (test/interop) found.

// TestHeartbeatFirstTickRace starts heartbeats whose first tick is due at
// once. The tick used to read the heartbeat's timer before startHeartbeat
// had stored it: a data race under -race, and a nil timer when the tick
// won. Found with Node's ws and a 50 ms PingInterval under load.
func TestHeartbeatFirstTickRace(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{PingInterval: time.Nanosecond, PingTimeout: time.Minute})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.ReadLoop(func(websocket.MessageType, []byte) error { return nil })
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, url, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}
