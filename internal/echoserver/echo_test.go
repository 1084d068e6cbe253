package echoserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// TestShutdownSendsGoingAway checks that a client connected at shutdown
// gets a close frame with 1001, not a dropped TCP connection, and that a
// connection opened afterwards is closed the same way.
func TestShutdownSendsGoingAway(t *testing.T) {
	s := Handler(nil)
	hs := httptest.NewServer(s)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.WriteMessage(websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
		t.Fatalf("echo: %q, %v", msg, err)
	}

	done := make(chan error, 1)
	go func() { done <- s.Shutdown() }()
	_, _, err = c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("close status after Shutdown = %v (%v), want 1001", got, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	c2, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	_, _, err = c2.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("close status of a connection after Shutdown = %v (%v), want 1001", got, err)
	}
}
