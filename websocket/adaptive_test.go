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
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests drive the adaptive read path of ReadLoopAsync (see
// stayWindow in poll.go): a busy connection's reader stays with it until
// the connection goes quiet. They shorten the window and make every
// wake-up count as busy (stayAfter 0), so that a connection switches
// between the poller and a goroutine at each pause of its peer.

// setAdaptive sets the adaptive path's window and threshold for the test.
func setAdaptive(t *testing.T, window time.Duration, after int32) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux only")
	}
	w0, a0 := adaptive.window.Load(), adaptive.after.Load()
	adaptive.window.Store(int64(window))
	adaptive.after.Store(after)
	t.Cleanup(func() {
		adaptive.window.Store(w0)
		adaptive.after.Store(a0)
	})
}

// adaptiveServer is an echo server read with ReadLoopAsync. Its
// connections are in conns; each loop's end error goes to ended.
type adaptiveServer struct {
	url   string
	mu    sync.Mutex
	conns []*Conn
	ended chan error
	gate  sync.Mutex // a message "gate" waits for it in the handler
}

func newAdaptiveServer(t *testing.T, opts *AcceptOptions) *adaptiveServer {
	t.Helper()
	s := &adaptiveServer{ended: make(chan error, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		c.ReadLoopAsync(func(typ MessageType, p []byte) error {
			switch string(p) {
			case "close":
				go c.Close(StatusNormalClosure, "asked")
				return nil
			case "close-now":
				c.CloseNow()
				return nil
			case "gate":
				s.gate.Lock()
				s.gate.Unlock()
				return nil
			}
			if err := c.WriteMessage(typ, p); !errors.Is(err, ErrClosed) {
				return err
			}
			return nil // closing: read on to the peer's close frame
		}, func(err error) {
			c.CloseNow()
			s.ended <- err
		})
	}))
	t.Cleanup(srv.Close)
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

func (s *adaptiveServer) dial(t *testing.T, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, s.url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func (s *adaptiveServer) end(t *testing.T) error {
	t.Helper()
	return loopEnd(t, s.ended)
}

// loopEnd returns the next error of ended, where read loops' ends go; it
// fails the test if none comes within 10 s.
func loopEnd(t *testing.T, ended chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the read loop did not end")
		return nil
	}
}

// servingReaders counts the goroutines that serve a connection for the poller.
func servingReaders() int { return countStacks("websocket.(*Conn).serveReady") }

// countStacks counts the goroutines whose stack holds every one of fns.
func countStacks(fns ...string) int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		all := true
		for _, fn := range fns {
			all = all && strings.Contains(g, fn)
		}
		if all {
			n++
		}
	}
	return n
}

// waitStacks waits until n goroutines have stacks that hold every one of
// fns; it fails the test if that takes more than 10 s.
func waitStacks(t *testing.T, n int, fns ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); countStacks(fns...) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines in %v, want %d", countStacks(fns...), fns, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitIdle waits until no goroutine serves any connection for the poller
// and every connection of s is idle in the poller without a read buffer;
// it fails the test if that takes more than 10 s.
func (s *adaptiveServer) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := servingReaders()
		s.mu.Lock()
		for _, c := range s.conns {
			select {
			case <-c.Done():
				continue // closed: its loop has ended or ends
			default:
			}
			if ps := c.poll.Load(); ps != nil && ps.busy.Load() {
				busy++
			}
			if c.readMu.TryLock() {
				if c.r.buf != nil {
					busy++
				}
				c.readMu.Unlock()
			} else {
				busy++
			}
		}
		s.mu.Unlock()
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d readers, busy connections or read buffers still held 10 s after the peers went quiet", busy)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoText sends msg as a text message on c and checks that the server
// echoes it.
func echoText(t *testing.T, c *Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(nil); err != nil || string(p) != msg {
		t.Fatalf("echo: %q, %v", p, err)
	}
}

// echoBurst sends n messages of random sizes up to max (some fragmented
// when frag) without waiting, then reads the n echoes and checks they
// come back whole and in order.
func echoBurst(t *testing.T, c *Conn, r *rand.Rand, n, max int, frag bool) {
	t.Helper()
	var sent [][]byte
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			p := make([]byte, 8+r.IntN(max))
			copy(p, fmt.Sprintf("%08d", i))
			for j := 8; j < len(p); j++ {
				p[j] = byte(r.Uint32())
			}
			sent = append(sent, p)
			var err error
			if frag && i%3 == 0 {
				err = writeFragmented(c, p)
			} else {
				err = c.WriteMessage(MessageBinary, p)
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var got [][]byte
	for range n {
		_, p, err := c.ReadMessage(nil)
		if err != nil {
			t.Fatalf("after %d echoes: %v", len(got), err)
		}
		got = append(got, p)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("echo %d: %d bytes starting %q, want %d starting %q", i, len(got[i]), got[i][:8], len(sent[i]), sent[i][:8])
		}
	}
}

// writeFragmented writes p through a Writer in three writes: a message
// of several frames when p is longer than a fragment (16 KiB).
func writeFragmented(c *Conn, p []byte) error {
	w, err := c.Writer(context.Background(), MessageBinary)
	if err != nil {
		return err
	}
	third := len(p) / 3
	for _, part := range [][]byte{p[:third], p[third : 2*third], p[2*third:]} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return w.Close()
}

// TestAdaptiveSwitching echoes bursts of messages, small to 200 KiB, some
// fragmented, in every compression mode, with pauses longer than the
// quiet window between bursts: the server's side of the connection goes
// from the poller to a goroutine and back many times, and every echo
// comes back whole and in order. Between bursts, once quiet, the server
// holds no reader and no read buffer for the connection.
func TestAdaptiveSwitching(t *testing.T) {
	setAdaptive(t, 20*time.Millisecond, 0)
	for _, mode := range []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover} {
		t.Run(fmt.Sprintf("compression=%d", mode), func(t *testing.T) {
			s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true, Compression: CompressionOptions{Mode: mode}})
			c := s.dial(t, &DialOptions{Compression: CompressionOptions{Mode: mode}})
			r := rand.New(rand.NewPCG(13, uint64(mode)))
			q0 := quiets.Load()
			const bursts = 8
			for b := range bursts {
				max := []int{100, 5000, 200_000}[b%3]
				echoBurst(t, c, r, 5+r.IntN(40), max, true)
				s.waitIdle(t)
				time.Sleep(60 * time.Millisecond) // three windows: quiet
			}
			// Each burst woke the server's side from the poller (stayAfter
			// 0: it stayed) and each pause sent it back: it switched at
			// least once per burst.
			if n := quiets.Load() - q0; n < bursts {
				t.Errorf("the connection went quiet %d times in %d bursts with pauses between", n, bursts)
			}
			c.Close(StatusGoingAway, "bye")
			if err := s.end(t); CloseStatus(err) != StatusGoingAway {
				t.Errorf("loop ended with %v, want the peer's 1001", err)
			}
		})
	}
}

// TestAdaptiveBusyOnly checks the default threshold: a connection that
// sends one message and waits (an idle client) is read as before, without
// its reader staying; one whose messages keep coming soon after the socket
// was armed stays on a goroutine until it is quiet.
func TestAdaptiveBusyOnly(t *testing.T) {
	setAdaptive(t, time.Hour, 2)
	s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true})
	c := s.dial(t, nil)
	echoText(t, c, "one")
	// One wake-up after arming: not busy yet; the reader left (the
	// window is an hour: a reader that stayed would still be there).
	s.waitIdle(t)
	for i := range 3 {
		msg := fmt.Sprint("more ", i)
		echoText(t, c, msg)
	}
	// The third quick wake-up made it busy: its reader waits for more on
	// its goroutine (in waitData), with a read buffer.
	for deadline := time.Now().Add(10 * time.Second); countStacks("websocket.(*Conn).waitData") != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers wait on their goroutine for one busy connection, want 1", countStacks("websocket.(*Conn).waitData"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// It still reads, and the peer's close ends it.
	echoBurst(t, c, rand.New(rand.NewPCG(1, 2)), 20, 3000, false)
	c.Close(StatusNormalClosure, "")
	if err := s.end(t); CloseStatus(err) != StatusNormalClosure {
		t.Errorf("loop ended with %v, want the peer's 1000", err)
	}
	s.waitIdle(t) // no reader left
}

// TestAdaptiveMessageAcrossQuietDeadline sends a frame in pieces, with
// pauses longer than the quiet window in the middle, to a connection whose
// reader stays with it: the quiet deadline ends only waits between
// messages, so the message arrives whole.
func TestAdaptiveMessageAcrossQuietDeadline(t *testing.T) {
	setAdaptive(t, 20*time.Millisecond, 0)
	s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true})
	var raw net.Conn
	c := s.dial(t, &DialOptions{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		raw = nc
		return nc, err
	}})
	for round := range 3 {
		// Wake the reader with a message; it then stays with the
		// connection, and the frame below starts while it waits.
		echoText(t, c, "wake")
		payload := bytes.Repeat([]byte(fmt.Sprint(round)), 3000)
		f := []byte{0x82, 0xfe, byte(len(payload) >> 8), byte(len(payload)), 1, 2, 3, 4}
		for i, b := range payload {
			f = append(f, b^f[4+i%4])
		}
		// Pieces: inside the header, inside the payload, and the end.
		for _, cut := range [][2]int{{0, 3}, {3, 100}, {100, 2500}, {2500, len(f)}} {
			if _, err := raw.Write(f[cut[0]:cut[1]]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(70 * time.Millisecond)
		}
		_, got, err := c.ReadMessage(nil)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("round %d: %d bytes back, %v; want %d", round, len(got), err, len(payload))
		}
	}
}

// TestAdaptiveCloseDuringBurst closes connections while their readers
// stay with them in the middle of a burst, in each of the ways a
// connection ends: the server's close handshake, the server's CloseNow,
// the client's close handshake and the client dropping the connection.
// Every loop ends once, and no reader is left.
func TestAdaptiveCloseDuringBurst(t *testing.T) {
	setAdaptive(t, time.Hour, 0)
	s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true})
	for _, how := range []string{"close", "close-now", "client-close", "client-drop"} {
		t.Run(how, func(t *testing.T) {
			c := s.dial(t, nil)
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() {
				// Keep writing until the connection fails.
				defer close(sent)
				p := bytes.Repeat([]byte{'x'}, 700)
				for i := 0; ; i++ {
					if i == 50 {
						switch how {
						case "close", "close-now":
							c.WriteMessage(MessageText, []byte(how))
						}
					}
					select {
					case <-stop:
						return
					default:
					}
					if c.WriteMessage(MessageBinary, p) != nil {
						return
					}
				}
			}()
			var err error
			for n := 0; ; n++ {
				if _, _, err = c.ReadMessage(nil); err != nil {
					break
				}
				if n == 100 {
					switch how {
					case "client-close":
						close(stop)
						go c.Close(StatusNormalClosure, "")
					case "client-drop":
						close(stop)
						c.CloseNow()
					}
				}
			}
			<-sent
			end := s.end(t)
			switch how {
			case "close":
				if CloseStatus(err) != StatusNormalClosure {
					t.Errorf("client read %v, want the server's 1000", err)
				}
			case "client-close":
				if CloseStatus(end) != StatusNormalClosure {
					t.Errorf("server loop ended with %v, want the client's 1000", end)
				}
			}
			if end == nil {
				t.Error("server loop ended without an error")
			}
		})
	}
	select {
	case err := <-s.ended:
		t.Fatalf("a loop ended twice: %v", err)
	default:
	}
	s.waitIdle(t)
}

// TestAdaptiveReadLimit sends a busy connection a message over its read
// limit: it fails with 1009, as a connection read by the poller does.
func TestAdaptiveReadLimit(t *testing.T) {
	setAdaptive(t, time.Hour, 0)
	s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true, ReadLimit: 10_000})
	c := s.dial(t, nil)
	echoBurst(t, c, rand.New(rand.NewPCG(3, 4)), 10, 9000, false)
	if err := c.WriteMessage(MessageBinary, make([]byte, 10_001)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(nil); CloseStatus(err) != StatusMessageTooBig {
		t.Fatalf("client read %v, want the server's 1009", err)
	}
	if err := s.end(t); CloseStatus(err) != StatusMessageTooBig {
		t.Errorf("loop ended with %v, want 1009", err)
	}
}

// TestAdaptiveClosedWhileQuiet checks that a connection whose reader went
// back to the poller is still closed by its peer: the loop ends with the
// peer's status and no reader is left.
func TestAdaptiveClosedWhileQuiet(t *testing.T) {
	setAdaptive(t, 10*time.Millisecond, 0)
	s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true})
	var cs []*Conn
	for range 20 {
		c := s.dial(t, nil)
		echoBurst(t, c, rand.New(rand.NewPCG(5, 6)), 10, 3000, false)
		cs = append(cs, c)
	}
	s.waitIdle(t)
	for _, c := range cs {
		c.Close(StatusGoingAway, "")
	}
	for range cs {
		if err := s.end(t); CloseStatus(err) != StatusGoingAway && !errors.Is(err, net.ErrClosed) {
			t.Errorf("loop ended with %v, want the peer's 1001", err)
		}
	}
}

// TestAdaptiveQuietAfterLookedAt takes a busy connection's read lock
// while its handler runs and lets it go once the reader waits for it (as
// a Close or a look at the connection does): the reader then waits for
// the next message with the quiet deadline, and the connection goes back
// to the poller when its peer goes quiet.
func TestAdaptiveQuietAfterLookedAt(t *testing.T) {
	setAdaptive(t, 50*time.Millisecond, 0)
	s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true})
	c := s.dial(t, nil)
	echoBurst(t, c, rand.New(rand.NewPCG(19, 20)), 50, 3000, false)
	s.mu.Lock()
	sc := s.conns[0]
	s.mu.Unlock()
	s.gate.Lock()
	if err := c.WriteMessage(MessageText, []byte("gate")); err != nil {
		t.Fatal(err)
	}
	waitStacks(t, 1, "websocket.(*Conn).serveReady", "websocket.newAdaptiveServer")
	sc.readMu.Lock()
	s.gate.Unlock()
	waitStacks(t, 0, "websocket.(*Conn).serveReady", "websocket.newAdaptiveServer")
	waitStacks(t, 1, "websocket.(*Conn).serveReady", "sync.(*Mutex).Lock")
	sc.readMu.Unlock()
	s.waitIdle(t)
	echoBurst(t, c, rand.New(rand.NewPCG(21, 22)), 5, 100, false)
}

// TestAdaptiveQuietWhileLooked checks that a busy connection's reader
// leaves when the connection goes quiet even while another goroutine keeps
// taking readMu for a moment (as waitIdle does to look at the read
// buffer): the reader waits for the lock instead of reading on with no
// quiet deadline, which held it until the peer's next message.
func TestAdaptiveQuietWhileLooked(t *testing.T) {
	setAdaptive(t, 20*time.Millisecond, 0)
	s := newAdaptiveServer(t, &AcceptOptions{InsecureSkipVerify: true})
	c := s.dial(t, nil)
	stop := make(chan struct{})
	looked := make(chan struct{})
	go func() {
		defer close(looked)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.mu.Lock()
			conns := s.conns
			s.mu.Unlock()
			for _, sc := range conns {
				if sc.readMu.TryLock() {
					time.Sleep(time.Millisecond) // long enough to meet the reader leaving
					sc.readMu.Unlock()
				}
			}
		}
	}()
	defer func() { close(stop); <-looked }()
	for i := range 10 {
		msg := fmt.Sprint("burst ", i)
		echoText(t, c, msg)
		waitStacks(t, 0, "websocket.(*Conn).serveReady")
	}
}
