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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/websocket"
)

// countingConn counts the Write calls made on a net.Conn.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// batchMessage is one message of a batch test.
type batchMessage struct {
	typ      websocket.MessageType
	data     []byte
	prepared bool
}

// batchMessages returns a mix of text, binary and prepared messages,
// small ones and (when big) some larger than a batch writes at once.
func batchMessages(r *rand.Rand, n int, big bool) []batchMessage {
	msgs := make([]batchMessage, n)
	for i := range msgs {
		size := r.IntN(300)
		if big && i%10 == 3 {
			size = 70_000 + r.IntN(100_000)
		}
		typ := websocket.MessageBinary
		if i%2 == 0 {
			typ = websocket.MessageText
		}
		msgs[i] = batchMessage{typ: typ, data: randomPayload(r, size, typ == websocket.MessageText), prepared: i%3 == 1}
	}
	return msgs
}

func writeBatch(c *websocket.Conn, msgs []batchMessage) error {
	b := c.Batch()
	for _, m := range msgs {
		var err error
		if m.prepared {
			err = b.WritePrepared(websocket.NewPreparedMessage(m.typ, m.data))
		} else {
			err = b.WriteMessage(m.typ, m.data)
		}
		if err != nil {
			b.Flush()
			return err
		}
	}
	return b.Flush()
}

func readBatch(t *testing.T, c *websocket.Conn, msgs []batchMessage) {
	t.Helper()
	for i, m := range msgs {
		typ, got, err := c.ReadMessage(nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			t.Fatalf("message %d: got %v of %d bytes, want %v of %d bytes", i, typ, len(got), m.typ, len(m.data))
		}
	}
}

// TestBatchClient checks that a client's batch of small messages goes out
// in one write and that every message, of any kind and size, comes back
// from an echo server in order, in every compression mode.
func TestBatchClient(t *testing.T) {
	for _, mode := range compressionModes {
		for _, big := range []bool{false, true} {
			t.Run(fmt.Sprintf("compression=%d/big=%v", mode, big), func(t *testing.T) {
				srv := httptest.NewServer(echoserver.Handler(&websocket.AcceptOptions{InsecureSkipVerify: true, Compression: websocket.CompressionOptions{Mode: mode}}))
				t.Cleanup(srv.Close)
				var cc *countingConn
				opts := &websocket.DialOptions{
					Compression: websocket.CompressionOptions{Mode: mode},
					NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
						nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
						if err == nil {
							cc = &countingConn{Conn: nc}
							return cc, nil
						}
						return nil, err
					},
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), opts)
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				r := rand.New(rand.NewPCG(3, uint64(mode)))
				for round := 0; round < 3; round++ {
					msgs := batchMessages(r, 60, big)
					before := cc.writes.Load()
					if err := writeBatch(c, msgs); err != nil {
						t.Fatal(err)
					}
					if n := cc.writes.Load() - before; !big && n != 1 {
						t.Errorf("a batch of 60 small messages took %d writes, want 1", n)
					}
					readBatch(t, c, msgs)
				}
			})
		}
	}
}

// TestBatchServer checks batches written by a server, interleaved with
// plain writes from another goroutine: each message arrives whole, and a
// batch's messages arrive in order.
func TestBatchServer(t *testing.T) {
	for _, mode := range compressionModes {
		t.Run(fmt.Sprintf("compression=%d", mode), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, uint64(mode)))
			msgs := batchMessages(r, 200, true)
			done := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				c, err := websocket.Accept(w, req, &websocket.AcceptOptions{Compression: websocket.CompressionOptions{Mode: mode}})
				if err != nil {
					return
				}
				defer c.CloseNow()
				go func() {
					for i := 0; i < 50; i++ {
						c.WriteMessage(websocket.MessageText, []byte("side"))
					}
				}()
				for i := 0; i < len(msgs); i += 20 {
					if err := writeBatch(c, msgs[i:i+20]); err != nil {
						done <- err
						return
					}
				}
				done <- nil
				c.ReadMessage(nil) // until the client closes
			}))
			defer srv.Close()
			c := dialEcho2(t, srv.URL, mode)
			want := 0
			side := 0
			for want < len(msgs) {
				typ, got, err := c.ReadMessage(nil)
				if err != nil {
					t.Fatalf("after %d messages: %v", want, err)
				}
				if string(got) == "side" && typ == websocket.MessageText && string(msgs[want].data) != "side" {
					side++
					continue
				}
				m := msgs[want]
				if typ != m.typ || !bytes.Equal(got, m.data) {
					t.Fatalf("message %d: got %v of %d bytes, want %v of %d bytes", want, typ, len(got), m.typ, len(m.data))
				}
				want++
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for side < 50 {
				if _, got, err := c.ReadMessage(nil); err != nil || string(got) != "side" {
					t.Fatalf("side message %d: %q, %v", side, got, err)
				}
				side++
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

func dialEcho2(t *testing.T, url string, mode websocket.CompressionMode) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{Compression: websocket.CompressionOptions{Mode: mode}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestBatchAfterClose checks that a batch started before the close
// handshake writes nothing after the close frame, and that a batch cannot
// be used after Flush.
func TestBatchAfterClose(t *testing.T) {
	c := dialEcho(t, &websocket.AcceptOptions{InsecureSkipVerify: true}, nil)
	b := c.Batch()
	if err := b.WriteMessage(websocket.MessageText, []byte("before close")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close(websocket.StatusNormalClosure, "bye") }()
	// Close sends its frame while the batch holds its message.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := b.WriteMessage(websocket.MessageText, []byte("x"))
		if errors.Is(err, websocket.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("write in batch: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the close frame never went out")
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Flush(); !errors.Is(err, websocket.ErrClosed) {
		t.Fatalf("Flush after close = %v, want ErrClosed", err)
	}
	if err := b.WriteMessage(websocket.MessageText, []byte("late")); err == nil {
		t.Fatal("a flushed batch took a message")
	}
	<-closed
}
