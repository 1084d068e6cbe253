package websocket_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// asyncEchoServer serves an echo with ReadLoopAsync; ended receives the
// error that ended each connection's loop.
func asyncEchoServer(t *testing.T, opts *websocket.AcceptOptions) (url string, ended chan error) {
	t.Helper()
	ended = make(chan error, 1000)
	closeErrs := asyncCloseErrs
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		c.ReadLoopAsync(func(typ websocket.MessageType, data []byte) error {
			switch string(data) {
			case "close-now":
				c.CloseNow()
				return nil
			case "close":
				go func() { closeErrs <- c.Close(websocket.StatusNormalClosure, "asked") }()
				return nil
			}
			return c.WriteMessage(typ, data)
		}, func(err error) {
			c.CloseNow()
			ended <- err
		})
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ended
}

func dialURL(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func nextEnd(t *testing.T, ended chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the read loop did not end")
		return nil
	}
}

// asyncCloseErrs receives what Close returned on the servers of
// asyncEchoServer, asked to close by a "close" message.
var asyncCloseErrs = make(chan error, 10)

// TestReadLoopAsyncClose checks the close handshake started by a server
// whose connection is read with ReadLoopAsync: Close gets the client's
// answer (read by the poller's reader or by Close itself) and returns nil,
// and the loop ends.
func TestReadLoopAsyncClose(t *testing.T) {
	url, ended := asyncEchoServer(t, &websocket.AcceptOptions{InsecureSkipVerify: true})
	for range 5 {
		c := dialURL(t, url, nil)
		if err := c.WriteMessage(websocket.MessageText, []byte("close")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadMessage(nil); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Fatalf("client read %v, want the server's 1000", err)
		}
		select {
		case err := <-asyncCloseErrs:
			if err != nil {
				t.Errorf("server's Close = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("server's Close did not return")
		}
		if err := nextEnd(t, ended); err == nil {
			t.Error("loop ended without an error")
		}
	}
}

// TestReadLoopAsyncEcho echoes messages of many sizes, in every compression
// mode, through connections read by the poller, and checks that the loop
// ends with the peer's close status.
func TestReadLoopAsyncEcho(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 2000, 2048, 5000, 65536, 300_000}
	for _, mode := range compressionModes {
		t.Run(fmt.Sprintf("compression=%d", mode), func(t *testing.T) {
			url, ended := asyncEchoServer(t, &websocket.AcceptOptions{InsecureSkipVerify: true, Compression: websocket.CompressionOptions{Mode: mode}})
			c := dialURL(t, url, &websocket.DialOptions{Compression: websocket.CompressionOptions{Mode: mode}})
			r := rand.New(rand.NewPCG(7, uint64(mode)))
			for round := 0; round < 3; round++ {
				var sent [][]byte
				// Several messages at once: they arrive in one read, and
				// frames straddle the read buffer's end.
				b := c.Batch()
				for _, n := range sizes {
					p := randomPayload(r, n, false)
					sent = append(sent, p)
					b.WriteMessage(websocket.MessageBinary, p)
				}
				if err := b.Flush(); err != nil {
					t.Fatal(err)
				}
				for i, want := range sent {
					_, got, err := c.ReadMessage(nil)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("message %d: %d bytes back, want %d", i, len(got), len(want))
					}
				}
			}
			c.Close(websocket.StatusGoingAway, "bye")
			if err := nextEnd(t, ended); websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Errorf("loop ended with %v, want the peer's 1001", err)
			}
		})
	}
}

// TestReadLoopAsyncSlowFrames sends a frame a few bytes at a time, with
// pauses: the poller's reader waits for the rest of a message it started.
func TestReadLoopAsyncSlowFrames(t *testing.T) {
	url, _ := asyncEchoServer(t, &websocket.AcceptOptions{InsecureSkipVerify: true})
	var raw net.Conn
	c := dialURL(t, url, &websocket.DialOptions{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		raw = nc
		return nc, err
	}})
	// A masked text frame "hello", written in pieces below the Conn.
	frame := []byte{0x81, 0x85, 1, 2, 3, 4}
	for i, ch := range []byte("hello") {
		frame = append(frame, ch^frame[2+i%4])
	}
	for i := 0; i < len(frame); i += 3 {
		if _, err := raw.Write(frame[i:min(i+3, len(frame))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, got, err := c.ReadMessage(nil)
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestReadLoopAsyncIdle checks that idle connections read by the poller
// hold no goroutine, and that closing one, on either side, ends its loop.
func TestReadLoopAsyncIdle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux only")
	}
	url, ended := asyncEchoServer(t, &websocket.AcceptOptions{InsecureSkipVerify: true})
	const n = 200
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dialURL(t, url, nil)
		if err := conns[i].WriteMessage(websocket.MessageText, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, got, err := conns[i].ReadMessage(nil); err != nil || string(got) != "hi" {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}
	// Our clients are read by nobody now; the server's side of each
	// connection by the poller. Goroutines of the whole test process:
	// fewer than one per connection means the server holds none.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() >= n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for %d idle connections", runtime.NumGoroutine(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The server closes one that is idle: its loop ends.
	if err := conns[0].WriteMessage(websocket.MessageText, []byte("close-now")); err != nil {
		t.Fatal(err)
	}
	if err := nextEnd(t, ended); err == nil {
		t.Error("loop ended without an error")
	}
	// The clients drop their connections without a close frame.
	for _, c := range conns[1:] {
		c.CloseNow()
	}
	for i := 1; i < n; i++ {
		if err := nextEnd(t, ended); websocket.CloseStatus(err) != websocket.StatusAbnormalClosure && !errors.Is(err, net.ErrClosed) {
			t.Errorf("loop %d ended with %v", i, err)
		}
	}
}

// TestReadLoopAsyncChurn opens and closes many connections at once, from
// both sides, so that socket numbers are reused while events of closed
// connections may still be in flight: every echo must come back from its
// own connection and every loop must end once.
func TestReadLoopAsyncChurn(t *testing.T) {
	url, ended := asyncEchoServer(t, &websocket.AcceptOptions{InsecureSkipVerify: true})
	const workers, rounds = 16, 40
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range rounds {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, _, err := websocket.Dial(ctx, url, nil)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				msg := fmt.Sprintf("worker %d round %d", w, i)
				if err := c.WriteMessage(websocket.MessageText, []byte(msg)); err != nil {
					errs <- err
					return
				}
				_, got, err := c.ReadMessage(nil)
				if err != nil || string(got) != msg {
					errs <- fmt.Errorf("echo of %q: %q, %v", msg, got, err)
					return
				}
				if i%2 == 0 {
					c.CloseNow()
				} else if err := c.WriteMessage(websocket.MessageText, []byte("close-now")); err != nil {
					errs <- err
					return
				}
				c.CloseNow()
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for range workers * rounds {
		nextEnd(t, ended)
	}
	select {
	case err := <-ended:
		t.Fatalf("a loop ended twice or an extra one: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
}

// echoHandler is the websocket.AsyncHandler of TestReadLoopAsyncHandler:
// it echoes each message and reports how the loop ended.
type echoHandler struct {
	c     *websocket.Conn
	ended chan error
}

func (h *echoHandler) HandleMessage(typ websocket.MessageType, data []byte) error {
	return h.c.WriteMessage(typ, data)
}

func (h *echoHandler) ReadEnded(err error) {
	h.c.CloseNow()
	h.ended <- err
}

// TestReadLoopAsyncHandler reads connections with ReadLoopAsyncHandler
// (the form engineio's sessions use, with no closures per connection):
// messages come back whole and in order, and ReadEnded is called once,
// with the peer's close status.
func TestReadLoopAsyncHandler(t *testing.T) {
	ended := make(chan error, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.ReadLoopAsyncHandler(&echoHandler{c: c, ended: ended})
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for range 3 {
		c := dialURL(t, url, nil)
		b := c.Batch()
		for i := range 50 {
			b.WriteMessage(websocket.MessageText, fmt.Appendf(nil, "m%d", i))
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			_, got, err := c.ReadMessage(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("m%d", i); string(got) != want {
				t.Fatalf("message %d = %q, want %q", i, got, want)
			}
		}
		c.Close(websocket.StatusGoingAway, "bye")
		if err := nextEnd(t, ended); websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("loop ended with %v, want the peer's 1001", err)
		}
		select {
		case err := <-ended:
			t.Fatalf("ReadEnded called again: %v", err)
		default:
		}
	}
}
