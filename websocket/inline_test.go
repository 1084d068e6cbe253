//go:build linux && (amd64 || arm64)

package websocket

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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/alloctest"
	"github.com/tether-rt/tether/internal/uring"
	"github.com/tether-rt/tether/websocket/frame"
)

// These tests drive the inline poller (inline_linux.go): an InlineHandler's
// small whole messages are read, handled and answered on the poller's
// goroutine, everything else by a reader goroutine, in the connection's
// order.

// needInline skips the test where io_uring is refused: the inline path is
// then off, and the other tests cover the readers.
func needInline(t *testing.T) {
	t.Helper()
	r, err := uring.New(2)
	if err != nil {
		t.Skipf("no io_uring here: %v", err)
	}
	r.Close()
}

// inlineEcho is an InlineHandler that echoes, with a few commands.
type inlineEcho struct {
	c       *Conn
	ended   chan error
	readers atomic.Int64 // messages HandleMessage got
}

func (e *inlineEcho) answer(typ MessageType, p []byte, write func(MessageType, []byte) error) error {
	switch string(p) {
	case "close-now":
		e.c.CloseNow()
		return nil
	case "fail":
		return errors.New("asked to fail")
	case "two":
		if err := write(typ, []byte("one")); err != nil {
			return err
		}
		return write(typ, []byte("two"))
	}
	return write(typ, p)
}

func (e *inlineEcho) HandleMessage(typ MessageType, p []byte) error {
	e.readers.Add(1)
	return e.answer(typ, p, e.c.WriteMessage)
}

func (e *inlineEcho) HandleInline(typ MessageType, p []byte, b *Batch) error {
	return e.answer(typ, p, b.WriteMessage)
}

func (e *inlineEcho) ReadEnded(err error) {
	e.c.CloseNow()
	e.ended <- err
}

// inlineServer serves inlineEcho; each connection's handler goes to conns.
type inlineServer struct {
	url   string
	ended chan error
	conns chan *inlineEcho
}

func newInlineServer(t *testing.T, opts *AcceptOptions) *inlineServer {
	t.Helper()
	s := &inlineServer{ended: make(chan error, 100), conns: make(chan *inlineEcho, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		e := &inlineEcho{c: c, ended: s.ended}
		s.conns <- e
		c.ReadLoopAsyncHandler(e)
	}))
	t.Cleanup(srv.Close)
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

func (s *inlineServer) dial(t *testing.T) (*Conn, *inlineEcho) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, s.url, &DialOptions{Compression: CompressionOptions{Mode: CompressionDisabled}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	select {
	case e := <-s.conns:
		return c, e
	case <-time.After(10 * time.Second):
		t.Fatal("no server connection")
		return nil, nil
	}
}

func (s *inlineServer) end(t *testing.T) error {
	t.Helper()
	return loopEnd(t, s.ended)
}

// endsWithThenServes checks that the next read loop of s to end ended
// with close status code, and that the poller goes on serving others.
func (s *inlineServer) endsWithThenServes(t *testing.T, code StatusCode) {
	t.Helper()
	if err := s.end(t); CloseStatus(err) != code {
		t.Fatalf("read loop ended with %v, want close status %v", err, code)
	}
	c, _ := s.dial(t)
	echoText(t, c, "still serving")
}

// readEcho reads the next message and checks it is want.
func readEcho(t *testing.T, c *Conn, typ MessageType, want []byte) {
	t.Helper()
	gotTyp, got, err := c.ReadMessage(nil)
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if gotTyp != typ || !bytes.Equal(got, want) {
		t.Fatalf("echo: %v of %d bytes %.20q, want %v of %d bytes %.20q", gotTyp, len(got), got, typ, len(want), want)
	}
}

// TestInlineEcho echoes, on 20 connections at once, bursts of messages of
// every kind the inline path takes and does not take — small ones of
// both types, ones too big for the busy buffer, fragmented ones, pings in
// between — and checks every echo comes back whole and in order, that
// most small ones were served inline, and that the others went to the
// reader goroutine.
func TestInlineEcho(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	before := inlineServed.Load()
	var wg sync.WaitGroup
	var readerMsgs atomic.Int64
	for i := range 20 {
		c, e := s.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for round := range 30 {
				var sent [][]byte
				var types []MessageType
				errc := make(chan error, 1)
				n := 1 + r.IntN(8)
				for k := range n {
					size := r.IntN(4000)
					switch {
					case round%10 == 9 && k == 0:
						size = 20000 + r.IntN(50000) // more than the busy buffer
					case round%10 == 5 && k == 0:
						size = 40000 // fragmented below
					}
					p := make([]byte, size)
					typ := MessageBinary
					if r.IntN(2) == 0 {
						typ = MessageText
						for j := range p {
							p[j] = 'a' + byte(r.IntN(26))
						}
					} else {
						for j := range p {
							p[j] = byte(r.Uint32())
						}
					}
					sent, types = append(sent, p), append(types, typ)
				}
				go func() {
					for k, p := range sent {
						var err error
						if len(p) == 40000 {
							err = writeFragmented(c, p)
						} else {
							err = c.WriteMessage(types[k], p)
						}
						if err == nil && k == 0 && round%3 == 0 {
							err = c.writeControl(frame.OpPing, []byte("ping")) // the reader below takes the pong
						}
						if err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
				for k, p := range sent {
					typ := types[k]
					if len(p) == 40000 {
						typ = MessageBinary
					}
					readEcho(t, c, typ, p)
				}
				if err := <-errc; err != nil {
					t.Error(err)
					return
				}
			}
			readerMsgs.Add(e.readers.Load())
		}()
	}
	wg.Wait()
	served := inlineServed.Load() - before
	if served == 0 {
		t.Fatal("no message was served inline")
	}
	if readerMsgs.Load() == 0 {
		t.Fatal("no message went to a reader goroutine (big and fragmented ones must)")
	}
	t.Logf("%d messages served inline, %d by readers", served, readerMsgs.Load())

	// In lock step (the next message only after the echo), with a ping now
	// and then, each message arrives alone: nearly all are served inline.
	before = inlineServed.Load()
	const lockStep = 200
	for i := range 4 {
		c, _ := s.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 2))
			for k := range lockStep {
				p := make([]byte, r.IntN(4000))
				for j := range p {
					p[j] = byte(r.Uint32())
				}
				if k%20 == 0 {
					if err := c.writeControl(frame.OpPing, nil); err != nil {
						t.Error(err)
						return
					}
				}
				if err := c.WriteMessage(MessageBinary, p); err != nil {
					t.Error(err)
					return
				}
				readEcho(t, c, MessageBinary, p)
			}
		}()
	}
	wg.Wait()
	if served := inlineServed.Load() - before; served < 4*lockStep/2 {
		t.Fatalf("%d of %d messages sent in lock step served inline", served, 4*lockStep)
	}
}

// maskedFrame returns a client's frame of p, a whole message.
func maskedFrame(op frame.OpCode, p []byte) []byte { return maskedFragment(op, true, p) }

// maskedFragment returns a client's frame of p.
func maskedFragment(op frame.OpCode, fin bool, p []byte) []byte {
	h := frame.Header{Fin: fin, OpCode: op, Length: int64(len(p)), Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	f := frame.AppendHeader(nil, h)
	n := len(f)
	f = append(f, make([]byte, len(p))...)
	frame.MaskCopy(h.Mask, 0, f[n:], p)
	return f
}

// TestInlinePartialFrames sends frames in pieces, split at every kind of
// place (inside the header, inside the payload, two messages and a half
// in one write, inside a 64 KiB frame, inside and between the fragments
// of a message): each message is echoed once,
// whole, in order, and all of them by the poller, which keeps the start
// of a binary message until the rest comes (a text message's goes to a
// reader, which checks UTF-8 as bytes arrive).
func TestInlinePartialFrames(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	c, e := s.dial(t)
	nc := c.NetConn()
	a, b, third := []byte("first message"), bytes.Repeat([]byte("B"), 300), []byte("third")
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: more than a busy buffer holds
	var stream []byte
	stream = append(stream, maskedFrame(frame.OpBinary, a)...)
	stream = append(stream, maskedFrame(frame.OpBinary, b)...)
	stream = append(stream, maskedFrame(frame.OpBinary, third)...)
	bigAt := len(stream)
	stream = append(stream, maskedFrame(frame.OpBinary, big)...)
	// A message in 4 KiB fragments, as gorilla/websocket's client sends
	// one of 64 KiB.
	fragAt := len(stream)
	for i := 0; i < len(big); i += 4096 {
		op := frame.OpBinary
		if i > 0 {
			op = frame.OpContinuation
		}
		stream = append(stream, maskedFragment(op, i+4096 >= len(big), big[i:i+4096])...)
	}
	before := inlineServed.Load()
	for _, cuts := range [][]int{{1}, {3, 7}, {20}, {bigAt - 2}, {30, 31, 32, 200}, {bigAt + 1, bigAt + 5, bigAt + 9000},
		{bigAt + 40000, fragAt - 1}, {fragAt + 3, fragAt + 4104, fragAt + 4105, fragAt + 30000}} {
		var pieces [][]byte
		prev := 0
		for _, cut := range append(cuts, len(stream)) {
			pieces, prev = append(pieces, stream[prev:cut]), cut
		}
		writeApart(t, nc, pieces...)
		readEcho(t, c, MessageBinary, a)
		readEcho(t, c, MessageBinary, b)
		readEcho(t, c, MessageBinary, third)
		readEcho(t, c, MessageBinary, big)
		readEcho(t, c, MessageBinary, big)
	}
	// Every message, cut anywhere, waited in the poller for its rest.
	if served, readers := inlineServed.Load()-before, e.readers.Load(); served != 40 || readers != 0 {
		t.Fatalf("%d messages served inline and %d by a reader, want 40 and 0", served, readers)
	}
	// Text is checked for UTF-8 as it arrives, by a reader: the start of
	// a text message does not wait in the poller.
	text := maskedFrame(frame.OpText, []byte("text in two pieces"))
	writeApart(t, nc, text[:9], text[9:])
	readEcho(t, c, MessageText, []byte("text in two pieces"))
	if readers := e.readers.Load(); readers != 1 {
		t.Fatalf("the pieces of a text message went to %d readers, want 1", readers)
	}
}

// writeApart writes pieces to nc 20 ms apart, so that each arrives on its
// own.
func writeApart(t *testing.T, nc net.Conn, pieces ...[]byte) {
	t.Helper()
	for _, p := range pieces {
		if _, err := nc.Write(p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInlineControlBetweenFragments sends a ping between the fragments of
// a message: the message is not for the inline path, a reader serves it,
// in order with the messages around it.
func TestInlineControlBetweenFragments(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	c, e := s.dial(t)
	var stream []byte
	stream = append(stream, maskedFrame(frame.OpText, []byte("before"))...)
	stream = append(stream, maskedFragment(frame.OpText, false, []byte("hel"))...)
	stream = append(stream, maskedFragment(frame.OpPing, true, []byte("p"))...)
	stream = append(stream, maskedFragment(frame.OpContinuation, true, []byte("lo"))...)
	stream = append(stream, maskedFrame(frame.OpText, []byte("after"))...)
	if _, err := c.NetConn().Write(stream); err != nil {
		t.Fatal(err)
	}
	readEcho(t, c, MessageText, []byte("before"))
	readEcho(t, c, MessageText, []byte("hello"))
	readEcho(t, c, MessageText, []byte("after"))
	if e.readers.Load() == 0 {
		t.Fatal("a message with a ping between its fragments was served inline")
	}
}

// TestInlinePartialFrameThenGone sends the start of a 64 KiB frame, which
// the poller keeps (in a busy buffer: a peer that stops there does not
// cost 66 KiB), and then drops the connection: the read loop ends (1006),
// and the poller serves the others.
func TestInlinePartialFrameThenGone(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	c, e := s.dial(t)
	echoText(t, c, "fine")
	f := maskedFrame(frame.OpBinary, make([]byte, 64<<10))
	if _, err := c.NetConn().Write(f[:1000]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	// What arrived waits in a busy buffer: 1,000 bytes do not take 66 KiB.
	sc := e.c
	sc.readMu.Lock()
	held, buffered := len(sc.r.buf), sc.r.rw-sc.r.rr
	sc.readMu.Unlock()
	if held != busyReadBufferSize || buffered != 1000 {
		t.Fatalf("the start of a message waits in a %d-byte buffer holding %d bytes, want %d and 1000", held, buffered, busyReadBufferSize)
	}
	c.CloseNow()
	s.endsWithThenServes(t, StatusAbnormalClosure)
}

// TestInlineInvalidUTF8 checks that a protocol failure found inline (a
// text message that is not UTF-8) closes with 1007 and ends the loop with
// that error, the close frame being written off the poller's goroutine.
func TestInlineInvalidUTF8(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	c, _ := s.dial(t)
	echoText(t, c, "fine")
	if _, err := c.NetConn().Write(maskedFrame(frame.OpText, []byte{'a', 0xff, 'b'})); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadMessage(nil)
	if got := CloseStatus(err); got != StatusInvalidFramePayloadData {
		t.Fatalf("client read after invalid UTF-8: %v, want close 1007", err)
	}
	s.endsWithThenServes(t, StatusInvalidFramePayloadData)
}

// TestInlineHandlerEnds checks that an error from HandleInline ends the
// read loop with it (after what the handler wrote went out), and that a
// handler that closes its connection ends it too, with nothing written
// to a closed socket.
func TestInlineHandlerEnds(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	c, _ := s.dial(t)
	echoText(t, c, "before")
	if err := c.WriteMessage(MessageText, []byte("fail")); err != nil {
		t.Fatal(err)
	}
	if err := s.end(t); err == nil || !strings.Contains(err.Error(), "asked to fail") {
		t.Fatalf("loop ended with %v, want the handler's error", err)
	}
	c2, _ := s.dial(t)
	echoText(t, c2, "before")
	if err := c2.WriteMessage(MessageText, []byte("close-now")); err != nil {
		t.Fatal(err)
	}
	if err := s.end(t); err == nil {
		t.Fatal("loop of a closed connection ended without an error")
	}
	if _, _, err := c2.ReadMessage(nil); err == nil {
		t.Fatal("read from a connection the server closed succeeded")
	}
	c3, _ := s.dial(t)
	if err := c3.WriteMessage(MessageText, []byte("two")); err != nil {
		t.Fatal(err)
	}
	readEcho(t, c3, MessageText, []byte("one"))
	readEcho(t, c3, MessageText, []byte("two"))
}

// TestInlineBackpressure has a client send without reading: the server
// must stop reading it once its echoes no longer go out (rather than
// keep them in memory without bound), so the client's writes stall; once
// the client reads, the writes go on and every echo arrives, in order.
func TestInlineBackpressure(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	c, _ := s.dial(t)
	const size, total = 4000, 64 << 20
	msg := func(i int) []byte {
		p := bytes.Repeat([]byte{byte(i)}, size)
		p[0], p[1] = byte(i>>8), byte(i>>16)
		return p
	}
	const n = total / size
	var sent atomic.Int64
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if err := c.WriteMessage(MessageBinary, msg(i)); err != nil {
				errc <- err
				return
			}
			sent.Add(1)
		}
		errc <- nil
	}()
	// Wait for the writes to stall: no progress for half a second.
	for last := int64(-1); ; {
		time.Sleep(500 * time.Millisecond)
		now := sent.Load()
		if now == n {
			t.Fatalf("the server read all %d MiB of a client that does not read", total>>20)
		}
		if now == last {
			t.Logf("writes stalled after %d messages (%d MiB)", now, now*size>>20)
			break
		}
		last = now
	}
	// Read: the writes go on, and every echo arrives whole, in order.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range n {
		_, p, err := c.ReadMessage(nil)
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if !bytes.Equal(p, msg(i)) {
			t.Fatalf("echo %d out of order or damaged", i)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestInlineWithOtherWriter writes to connections from another goroutine
// (a broadcast, say) while they echo inline: every echo and every other
// message arrives whole, and the echoes in order.
func TestInlineWithOtherWriter(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	var wg sync.WaitGroup
	for range 8 {
		c, e := s.dial(t)
		stop := make(chan struct{})
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if e.c.WriteMessage(MessageText, []byte(fmt.Sprintf("tick %d", i))) != nil {
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stop)
			go func() {
				for i := range 2000 {
					if c.WriteMessage(MessageBinary, []byte(fmt.Sprintf("echo %d", i))) != nil {
						return
					}
				}
			}()
			next, lastTick := 0, -1
			for next < 2000 {
				typ, p, err := c.ReadMessage(nil)
				if err != nil {
					t.Error(err)
					return
				}
				if typ == MessageText {
					var n int
					if _, err := fmt.Sscanf(string(p), "tick %d", &n); err != nil || n != lastTick+1 {
						t.Errorf("tick %q after %d", p, lastTick)
						return
					}
					lastTick = n
					continue
				}
				if want := fmt.Sprintf("echo %d", next); string(p) != want {
					t.Errorf("echo %q, want %q", p, want)
					return
				}
				next++
			}
		}()
	}
	wg.Wait()
}

// TestInlineAllocs checks that a message served inline allocates
// nothing once the pools are warm: the poller's read, the handler's batch
// and the send reuse their buffers. (The client's write and read into a
// large-enough buffer allocate nothing either: see TestReadAllocs.)
func TestInlineAllocs(t *testing.T) {
	needInline(t)
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	s := newInlineServer(t, nil)
	c, e := s.dial(t)
	for _, size := range []int{16, 4000, 60 << 10} {
		msg := bytes.Repeat([]byte{'x'}, size)
		buf := make([]byte, 0, size)
		before := inlineServed.Load()
		allocs := alloctest.PerRun(100, func() {
			if err := c.WriteMessage(MessageBinary, msg); err != nil {
				t.Fatal(err)
			}
			if _, p, err := c.ReadMessage(buf); err != nil || len(p) != size {
				t.Fatal(err, len(p))
			}
		})
		if allocs != 0 {
			t.Errorf("echo of %d bytes served inline: %v allocations per message, want 0", size, allocs)
		}
		if served := inlineServed.Load() - before; served < 300 || e.readers.Load() != 0 {
			t.Fatalf("%d-byte messages: %d of 300 or more served inline, %d by a reader", size, served, e.readers.Load())
		}
	}
}

// TestInlineOff checks the fallback where io_uring is missing: with the
// inline path off, the handler's messages go to HandleMessage, in order.
func TestInlineOff(t *testing.T) {
	inlineOff.Store(true)
	defer inlineOff.Store(false)
	s := newInlineServer(t, nil)
	c, e := s.dial(t)
	before := inlineServed.Load()
	for i := range 50 {
		echoText(t, c, fmt.Sprint("message ", i))
	}
	if n := inlineServed.Load() - before; n != 0 {
		t.Fatalf("%d messages served inline with the inline path off", n)
	}
	if n := e.readers.Load(); n != 50 {
		t.Fatalf("HandleMessage got %d messages, want 50", n)
	}
}

// TestInlineClose closes a connection with the close handshake from the
// server while its client keeps sending: the read loop ends with an
// error, the client's read ends (with the server's 1000, or with its own
// failed write when that came first), nothing hangs.
func TestInlineClose(t *testing.T) {
	needInline(t)
	s := newInlineServer(t, nil)
	c, e := s.dial(t)
	echoText(t, c, "hello")
	go func() {
		for i := 0; ; i++ {
			if c.WriteMessage(MessageText, []byte(fmt.Sprint(i))) != nil {
				return
			}
		}
	}()
	read := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(nil); err != nil {
				read <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	// Close may report that the connection ended under it: the read loop
	// ends with the peer's close frame, and ReadEnded closes (as with any
	// AsyncHandler).
	e.c.Close(StatusNormalClosure, "bye")
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the client's read did not end")
	}
	if err := s.end(t); err == nil {
		t.Fatal("server loop ended without an error")
	}
}

// FuzzInlineScan checks the inline poller's reading against the reader's,
// for arbitrary bytes in a connection's read buffer (with a small read
// limit): a message scanMessage finds whole is read from the buffer alone,
// never the network, and is what ReadMessage reads from the same bytes —
// or fails as it does, its close frame left for later (failLater) with
// nothing written; a start it finds partial is one the reader needs more
// bytes for (it runs out: 1006), with no protocol failure in it.
func FuzzInlineScan(f *testing.F) {
	for _, s := range fuzzReaderSeeds() {
		f.Add(s.data)
	}
	frag := maskedFragment(frame.OpBinary, false, []byte("one "))
	frag = append(frag, maskedFragment(frame.OpContinuation, false, []byte("two "))...)
	frag = append(frag, maskedFragment(frame.OpContinuation, true, []byte("three"))...)
	f.Add(frag)
	f.Add(frag[:len(frag)-3])
	f.Add(maskedFrame(frame.OpText, []byte{'a', 0xff}))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		if len(data) > frameReadBufferSize {
			data = data[:frameReadBufferSize]
		}
		in := &fuzzConn{}
		c := newConn(connConfig{nc: in, readLimit: limit})
		bp := frameReadBuffers.Get().(*[]byte)
		c.r.dropBuffer()
		c.r.bufp, c.r.buf = bp, *bp
		c.r.rr, c.r.rw = 0, copy(c.r.buf, data)
		kind := c.scanMessage()
		ref := newConn(connConfig{nc: &fuzzConn{in: bytes.Clone(data)}, readLimit: limit})
		refTyp, refMsg, refErr := ref.ReadMessage(nil)
		switch kind {
		case messageWhole:
			c.readInline = true
			typ, err := c.startMessage()
			var p []byte
			if err == nil {
				p, err = c.readRest(nil)
			}
			c.readInline = false
			if errors.Is(err, errInlineRead) || in.waited > 0 {
				t.Fatalf("a message found whole needed the network: %v", err)
			}
			if refErr == nil {
				if err != nil || typ != refTyp || !bytes.Equal(p, refMsg) {
					t.Fatalf("inline read %v %q, %v; the reader read %v %q", typ, p, err, refTyp, refMsg)
				}
				break
			}
			if err == nil || CloseStatus(err) != CloseStatus(refErr) {
				t.Fatalf("inline read %v, the reader failed with %v", err, refErr)
			}
			if !c.failLater || in.out.Len() != 0 {
				t.Fatalf("inline failure %v: close frame left for later %v, %d bytes written", err, c.failLater, in.out.Len())
			}
		case messagePartial:
			if refErr == nil || CloseStatus(refErr) != StatusAbnormalClosure {
				t.Fatalf("a start found partial: the reader read %v %q, %v (want it to run out: 1006)", refTyp, refMsg, refErr)
			}
		}
	})
}
