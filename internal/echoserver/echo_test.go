package echoserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
	"github.com/tether-rt/tether/websocket/frame"
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

// lockedBuffer is a bytes.Buffer safe for a logger and a test to share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitClosed reads c's raw connection, discarding what arrives, until the
// server closes it; it reports false if that takes more than d.
func waitClosed(c *websocket.Conn, d time.Duration) bool {
	nc := c.NetConn()
	nc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 64<<10)
	for {
		if _, err := nc.Read(buf); err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
	}
}

// TestIdleTimeout checks the heartbeat `tether echo` runs with: a client
// that stops in the middle of a frame, one that sends nothing and does not
// answer pings, and one that does not read the echo of its message are
// closed, counted and logged; a client that answers pings stays connected
// however long it is idle.
func TestIdleTimeout(t *testing.T) {
	const idle = time.Second
	opts := DefaultOptions()
	SetIdleTimeout(opts, idle)
	s := Handler(opts)
	var logs lockedBuffer
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	hs := httptest.NewServer(s)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() *websocket.Conn {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionDisabled}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}

	// Stops 1 KiB into a frame that declares 1 MiB.
	stalled := dial()
	h := frame.Header{Fin: true, OpCode: frame.OpBinary, Length: 1 << 20, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	if _, err := stalled.NetConn().Write(append(frame.AppendHeader(nil, h), make([]byte, 1024)...)); err != nil {
		t.Fatal(err)
	}
	// Sends nothing, reads nothing.
	silent := dial()
	// Sends a 16 MiB message and does not read its echo.
	deaf := dial()
	if err := deaf.WriteMessage(websocket.MessageBinary, make([]byte, websocket.DefaultReadLimit)); err != nil {
		t.Fatal(err)
	}
	// Idle, but reading: its Conn answers pings.
	alive := dial()
	echoes := make(chan string, 1)
	go alive.ReadLoop(func(_ websocket.MessageType, p []byte) error {
		echoes <- string(p)
		return nil
	})

	deadline := time.Now().Add(20 * time.Second)
	for s.TimedOut() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.TimedOut(); n != 3 {
		t.Fatalf("TimedOut() = %d after 20 s, want 3 (stalled, silent, deaf)", n)
	}
	for name, c := range map[string]*websocket.Conn{"stalled": stalled, "silent": silent, "deaf": deaf} {
		if !waitClosed(c, 10*time.Second) {
			t.Errorf("the %s client's connection is still open", name)
		}
	}
	// The reading client has been idle for more than the timeout.
	if err := alive.WriteMessage(websocket.MessageText, []byte("still here")); err != nil {
		t.Fatalf("the idle client that answers pings was disconnected: %v", err)
	}
	select {
	case got := <-echoes:
		if got != "still here" {
			t.Errorf("echo %q", got)
		}
	case <-ctx.Done():
		t.Fatal("no echo for the idle client that answers pings")
	}
	if n := s.TimedOut(); n != 3 {
		t.Errorf("TimedOut() = %d, want 3", n)
	}
	if n := strings.Count(logs.String(), "closed a connection that went quiet"); n != 3 {
		t.Errorf("%d log lines for closed connections, want 3:\n%s", n, logs.String())
	}
}

// TestInline checks that the poller answers a session's small messages
// itself (where io_uring is there), and that NoInline leaves every message
// to readers; both echo every message.
func TestInline(t *testing.T) {
	for _, noInline := range []bool{false, true} {
		s := Handler(nil)
		s.NoInline = noInline
		hs := httptest.NewServer(s)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		before := websocket.InlineServed()
		for i := range 50 {
			msg := bytes.Repeat([]byte{byte(i)}, 10*i)
			if err := c.WriteMessage(websocket.MessageBinary, msg); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("NoInline %v: echo %d: %d bytes, %v", noInline, i, len(got), err)
			}
		}
		served := websocket.InlineServed() - before
		switch {
		case noInline && served != 0:
			t.Errorf("NoInline: %d messages served by the poller, want none", served)
		case !noInline && websocket.GroupSupport() == nil && served < 25:
			t.Errorf("%d of 50 messages sent in lock step served by the poller, want most", served)
		}
		c.CloseNow()
		hs.Close()
		cancel()
	}
}
