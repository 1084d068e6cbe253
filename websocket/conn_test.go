package websocket_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/websocket"
)

// dialEcho starts an echo server with sopts and dials it with copts.
func dialEcho(t *testing.T, sopts *websocket.AcceptOptions, copts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	srv := httptest.NewServer(echoserver.Handler(sopts))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

var compressionModes = []websocket.CompressionMode{
	websocket.CompressionDisabled,
	websocket.CompressionContextTakeover,
	websocket.CompressionNoContextTakeover,
}

func randomPayload(r *rand.Rand, n int, text bool) []byte {
	p := make([]byte, n)
	for i := range p {
		if text {
			p[i] = "abcdefghij κόσμε"[r.IntN(10)]
		} else {
			p[i] = byte(r.IntN(8)) // compressible but not trivial
		}
	}
	return p
}

// TestEchoRoundTrip sends messages of many sizes through every pairing of
// compression modes and checks they come back byte for byte.
func TestEchoRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 100_000, 1 << 20}
	for _, sm := range compressionModes {
		for _, cm := range compressionModes {
			t.Run(fmt.Sprintf("server=%d/client=%d", sm, cm), func(t *testing.T) {
				c := dialEcho(t,
					&websocket.AcceptOptions{InsecureSkipVerify: true, Compression: websocket.CompressionOptions{Mode: sm}},
					&websocket.DialOptions{Compression: websocket.CompressionOptions{Mode: cm}})
				wantCompressed := sm != websocket.CompressionDisabled && cm != websocket.CompressionDisabled
				if c.CompressionNegotiated() != wantCompressed {
					t.Fatalf("compression negotiated = %v, want %v", c.CompressionNegotiated(), wantCompressed)
				}
				r := rand.New(rand.NewPCG(1, 2))
				var buf []byte
				for round := 0; round < 2; round++ {
					for _, n := range sizes {
						typ := websocket.MessageBinary
						if n%2 == 0 {
							typ = websocket.MessageText
						}
						p := randomPayload(r, n, typ == websocket.MessageText)
						if err := c.WriteMessage(typ, p); err != nil {
							t.Fatal(err)
						}
						gt, got, err := c.ReadMessage(buf)
						if err != nil {
							t.Fatalf("size %d: %v", n, err)
						}
						if gt != typ || !bytes.Equal(got, p) {
							t.Fatalf("size %d: echo differs (type %v, %d bytes)", n, gt, len(got))
						}
						buf = got
					}
				}
				if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
					t.Fatalf("close: %v", err)
				}
			})
		}
	}
}

// TestStreamingWriterAndReader sends a message in pieces through Writer and
// reads it back through Reader.
func TestStreamingWriterAndReader(t *testing.T) {
	for _, mode := range compressionModes {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			opts := websocket.CompressionOptions{Mode: mode}
			c := dialEcho(t, &websocket.AcceptOptions{InsecureSkipVerify: true, Compression: opts},
				&websocket.DialOptions{Compression: opts})
			r := rand.New(rand.NewPCG(3, 4))
			want := randomPayload(r, 200_000, false)
			w, err := c.Writer(context.Background(), websocket.MessageBinary)
			if err != nil {
				t.Fatal(err)
			}
			for p := want; len(p) > 0; {
				n := min(len(p), 1+r.IntN(40_000))
				if _, err := w.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			typ, rd, err := c.Reader(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rd)
			if err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes (type %v), err %v", len(got), typ, err)
			}
		})
	}
}

// TestConcurrentWriters writes from many goroutines at once; every message
// must arrive whole.
func TestConcurrentWriters(t *testing.T) {
	opts := websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}
	c := dialEcho(t, &websocket.AcceptOptions{InsecureSkipVerify: true, Compression: opts},
		&websocket.DialOptions{Compression: opts})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := fmt.Sprintf("writer %d message %d %s", g, i, strings.Repeat("x", i*37))
				if err := c.WriteMessage(websocket.MessageText, []byte(msg)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() {
		for i := 0; i < 5; i++ {
			c.Ping(context.Background())
		}
	}()
	seen := map[string]bool{}
	for len(seen) < writers*each {
		_, p, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var g, i int
		var rest string
		if _, err := fmt.Sscanf(string(p), "writer %d message %d %s", &g, &i, &rest); err != nil && !strings.HasSuffix(string(p), " ") {
			t.Fatalf("mangled message %q: %v", p, err)
		}
		seen[string(p)] = true
	}
	wg.Wait()
}

// TestReadLimit checks that a message over the limit fails the connection
// with 1009 on both sides.
func TestReadLimit(t *testing.T) {
	c := dialEcho(t, &websocket.AcceptOptions{InsecureSkipVerify: true, ReadLimit: 1000}, nil)
	if err := c.WriteMessage(websocket.MessageBinary, make([]byte, 1001)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(context.Background())
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("read error %v, want close 1009", err)
	}
}

// TestPing checks that Ping returns once the pong arrives.
func TestPing(t *testing.T) {
	c := dialEcho(t, nil, nil)
	go c.ReadLoop(func(websocket.MessageType, []byte) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOriginPolicy checks the default same-origin policy and the allowlist.
func TestOriginPolicy(t *testing.T) {
	var lastErr error
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"*.trusted.example"}})
		mu.Lock()
		lastErr = err
		mu.Unlock()
		if err == nil {
			c.CloseNow()
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for origin, ok := range map[string]bool{
		"":                            true,
		"http://" + host:              true,
		"https://app.trusted.example": true,
		"https://evil.example":        false,
		"null":                        false,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(context.Background(), "ws://"+host, &websocket.DialOptions{HTTPHeader: h})
		if ok != (err == nil) {
			t.Fatalf("origin %q: dial error %v, want ok=%v", origin, err, ok)
		}
		if !ok {
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("origin %q: response %v, want 403", origin, resp)
			}
			mu.Lock()
			var he *websocket.HandshakeError
			if !errors.As(lastErr, &he) || he.Status != http.StatusForbidden {
				t.Fatalf("origin %q: Accept returned %v", origin, lastErr)
			}
			mu.Unlock()
		} else {
			c.CloseNow()
		}
	}
}
