package engineio_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
)

// TestSendQueueBytes checks the byte bound of the send queue: a Send that
// would make more than SendQueueBytes of data wait closes the session as
// a slow consumer, while one Send into an empty queue passes whatever its
// size.
func TestSendQueueBytes(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{SendQueueBytes: 1000}, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	big := bytes.Repeat([]byte("x"), 5000)
	if err := s.Send(engineio.Packet{Data: big}); err != nil {
		t.Fatalf("one big Send into an empty queue: %v", err)
	}
	if got := e.poll(sid); len(got) != 1+len(big) {
		t.Fatalf("poll got %d bytes, want %d", len(got), 1+len(big))
	}
	// The queue is empty again: 600 + 400 bytes fit, one more does not.
	for _, n := range []int{600, 400} {
		if err := s.Send(engineio.Packet{Data: big[:n]}); err != nil {
			t.Fatalf("Send of %d bytes: %v", n, err)
		}
	}
	if err := s.Send(engineio.Packet{Data: big[:1]}); !errors.Is(err, engineio.ErrSendQueueFull) {
		t.Fatalf("Send over the byte bound = %v, want ErrSendQueueFull", err)
	}
	if cl := e.nextClose(); cl.reason != engineio.ReasonSendQueueFull {
		t.Errorf("reason %q", cl.reason)
	}
}

// rawRequest sends a request by hand on a new connection and returns the
// connection, unread.
func rawRequest(t *testing.T, e *env, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSlowPollResponse checks that a poll response the client does not read
// is given up after TransferTimeout: the session closes with ErrSlowPoll and
// the handler lets go of the payload.
func TestSlowPollResponse(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{PingInterval: time.Minute, TransferTimeout: 200 * time.Millisecond}, nil)
	sid, _ := e.handshake()
	s := e.nextConn()
	c := rawRequest(t, e, "GET /engine.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\n\r\n")
	c.(*net.TCPConn).SetReadBuffer(4096)
	waitFor(t, "the poll to wait", s.Writable)
	// Far more than the socket buffers take: the write blocks.
	if err := s.Send(engineio.Packet{Data: bytes.Repeat([]byte("x"), 64<<20)}); err != nil {
		t.Fatal(err)
	}
	cl := e.nextClose()
	if cl.reason != engineio.ReasonTransportError || !errors.Is(cl.err, engineio.ErrSlowPoll) {
		t.Fatalf("close %q %v, want a transport error wrapping ErrSlowPoll", cl.reason, cl.err)
	}
}

// TestSlowPostBody checks that a POST body that does not arrive within
// TransferTimeout closes the session with ErrSlowPost, and that a declared
// Content-Length reserves no memory: the server reads a slow body in small
// pieces, not into a buffer of the declared size.
func TestSlowPostBody(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{PingInterval: time.Minute, TransferTimeout: 200 * time.Millisecond}, nil)
	sid, _ := e.handshake()
	e.nextConn()
	c := rawRequest(t, e, "POST /engine.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 999999\r\n\r\n4hello")
	cl := e.nextClose()
	if cl.reason != engineio.ReasonTransportError || !errors.Is(cl.err, engineio.ErrSlowPost) {
		t.Fatalf("close %q %v, want a transport error wrapping ErrSlowPost", cl.reason, cl.err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	}
}

// TestPostCutWhenSessionCloses checks that a POST body still arriving when
// its session closes is not waited for: the handler ends and the client
// gets its answer (or the connection ends) at once, not after TransferTimeout
// (an hour here). The session closes because a second POST overlaps the
// first, which also tells that the first one is being read.
func TestPostCutWhenSessionCloses(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, &engineio.Options{TransferTimeout: time.Hour}, nil)
	sid, _ := e.handshake()
	e.nextConn()
	c := rawRequest(t, e, "POST /engine.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 999999\r\n\r\n4hello")
	waitFor(t, "the POST to be read", func() bool {
		st, _, _ := e.do("POST", "EIO=4&transport=polling&sid="+sid, "4x")
		return st == http.StatusBadRequest
	})
	if cl := e.nextClose(); !strings.Contains(cl.err.Error(), "overlapping POST") {
		t.Fatalf("closed with %q %v, want overlapping POST requests", cl.reason, cl.err)
	}
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the POST was not cut short: %v", err)
	}
}

// TestPollCompressedStreams checks that a compressed poll response of many
// compressor blocks (gzip or deflate), with a binary packet, decodes to
// the payload.
func TestPollCompressedStreams(t *testing.T) {
	checkGoroutines(t)
	e := newEnv(t, nil, nil)
	data := strings.Repeat("hello compressed world ", 20000)
	for _, enc := range []string{"gzip", "deflate"} {
		sid, _ := e.handshake()
		s := e.nextConn()
		if err := s.Send(engineio.Packet{Data: []byte(data)}, engineio.Packet{Data: []byte{1, 2, 3}, Binary: true}); err != nil {
			t.Fatal(err)
		}
		_, body, resp := e.do("GET", "EIO=4&transport=polling&sid="+sid, "", "Accept-Encoding", enc)
		if got := resp.Header.Get("Content-Encoding"); got != enc || len(body) >= len(data)/4 {
			t.Fatalf("%s: Content-Encoding %q, %d bytes", enc, got, len(body))
		}
		var zr io.Reader
		var err error
		if enc == "gzip" {
			zr, err = gzip.NewReader(strings.NewReader(body))
		} else {
			zr, err = zlib.NewReader(strings.NewReader(body))
		}
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if want := "4" + data + "\x1ebAQID"; err != nil || string(plain) != want {
			t.Errorf("%s: decompressed %d bytes (%v), want %d", enc, len(plain), err, len(want))
		}
	}
}
