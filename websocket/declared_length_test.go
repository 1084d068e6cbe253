package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tether-rt/tether/internal/alloctest"
	"github.com/tether-rt/tether/websocket/frame"
)

// stallConn is a net.Conn whose reads return data, then block until the
// connection is closed, as a peer that stops sending in the middle of a
// frame. Only the connection's reader reads it.
type stallConn struct {
	data      []byte
	chunk     int           // bytes per read at most; 0: as many as asked
	stalled   chan struct{} // closed when a read has found nothing left
	closed    chan struct{}
	stallOnce sync.Once
	closeOnce sync.Once
	loopConn  // addresses and deadlines
}

func newStallConn(data []byte, chunk int) *stallConn {
	return &stallConn{data: data, chunk: chunk, stalled: make(chan struct{}), closed: make(chan struct{})}
}

func (c *stallConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		c.stallOnce.Do(func() { close(c.stalled) })
		<-c.closed
		return 0, net.ErrClosed
	}
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *stallConn) Write(p []byte) (int, error) { return len(p), nil }

func (c *stallConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// peerFrame returns a frame as the peer of a client (client=true: the
// server, unmasked) or of a server sends it, declaring length bytes and
// carrying payload (which may be shorter).
func peerFrame(client bool, op frame.OpCode, fin bool, length int64, payload []byte) []byte {
	h := frame.Header{Fin: fin, OpCode: op, Length: length, Masked: !client, Mask: [4]byte{9, 8, 7, 6}}
	b := frame.AppendHeader(nil, h)
	p := bytes.Clone(payload)
	if h.Masked {
		frame.Mask(h.Mask, 0, p)
	}
	return append(b, p...)
}

// liveHeap returns the bytes of live heap objects after two collections
// (the second empties sync.Pools' victim caches).
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestDeclaredLengthNotAllocated has peers declare frames of several MiB
// and send only part of them, then stop: what the connections hold must
// follow what was sent (at most twice it, and a chunk of read-ahead), not
// what was declared. Reads through ReadMessage (server and client side,
// single-frame and fragmented messages) and through ReadLoop's pooled
// buffers are checked.
func TestDeclaredLengthNotAllocated(t *testing.T) {
	for _, tc := range []struct {
		declared, sent int
		conns          int
	}{
		{16 << 20, 20 << 10, 16},
		{16 << 20, 300 << 10, 16},
		{4 << 20, 2500 << 10, 4}, // more than half: the buffer is the frame's
	} {
		for _, mode := range []string{"ReadMessage", "ReadLoop", "client", "fragmented"} {
			t.Run(fmt.Sprintf("declared=%d/sent=%d/%s", tc.declared, tc.sent, mode), func(t *testing.T) {
				client := mode == "client"
				payload := bytes.Repeat([]byte("x"), tc.sent)
				var data []byte
				if mode == "fragmented" {
					data = peerFrame(client, frame.OpBinary, false, 100, payload[:100])
					data = append(data, peerFrame(client, frame.OpContinuation, true, int64(tc.declared-100), payload[100:])...)
				} else {
					data = peerFrame(client, frame.OpBinary, true, int64(tc.declared), payload)
				}
				before := liveHeap()
				conns := make([]*Conn, tc.conns)
				ncs := make([]*stallConn, tc.conns)
				var wg sync.WaitGroup
				for i := range conns {
					ncs[i] = newStallConn(data, 0)
					conns[i] = newConn(connConfig{nc: ncs[i], client: client})
					wg.Add(1)
					go func() {
						defer wg.Done()
						if mode == "ReadLoop" {
							_ = conns[i].ReadLoop(func(MessageType, []byte) error { return nil })
						} else {
							_, _, _ = conns[i].ReadMessage(nil)
						}
					}()
				}
				for _, nc := range ncs {
					<-nc.stalled
				}
				held := liveHeap() - before
				for _, c := range conns {
					c.CloseNow()
				}
				wg.Wait()
				perConn := int64(2*tc.sent + 128<<10)
				bound := int64(tc.conns)*perConn + 1<<20
				t.Logf("%d connections, each %d bytes declared and %d sent: %.1f MB held (bound %.1f MB)",
					tc.conns, tc.declared, tc.sent, float64(held)/1e6, float64(bound)/1e6)
				if held > bound {
					t.Errorf("%d connections hold %d bytes, more than %d: the declared length was allocated", tc.conns, held, bound)
				}
			})
		}
	}
}

// TestStagedReads reads messages around and far beyond readAhead, whole
// and fragmented, text and binary, arriving in reads of odd sizes, into
// new and into too-small buffers and through ReadLoop: they must arrive
// intact.
func TestStagedReads(t *testing.T) {
	// Text whose multi-byte characters straddle every chunk boundary.
	text := strings.Repeat("aé€😀", 110_000)
	sizes := []int{readAhead - 1, readAhead + 1, 3*stageSize + 5, 1<<20 + 3} // the last in more chunks than readStaged has room for on its stack
	for _, size := range sizes {
		for _, frag := range []int{1, 3} {
			for _, typ := range []MessageType{MessageText, MessageBinary} {
				msg := []byte(text[:size])
				if typ == MessageText {
					// Cut at a character boundary.
					for !utf8.Valid(msg) {
						msg = msg[:len(msg)-1]
					}
				} else {
					for i := range msg {
						msg[i] = byte(i * 7)
					}
				}
				var data []byte
				step := (len(msg) + frag - 1) / frag
				for i, off := 0, 0; off < len(msg); i++ {
					end := min(off+step, len(msg))
					op := frame.OpContinuation
					if i == 0 {
						op = frame.OpCode(typ)
					}
					data = append(data, peerFrame(false, op, end == len(msg), int64(end-off), msg[off:end])...)
					off = end
				}
				for _, chunk := range []int{0, 7001} {
					for _, how := range []string{"nil", "small", "ReadLoop"} {
						name := fmt.Sprintf("size=%d/frames=%d/%v/chunk=%d/%s", len(msg), frag, typ, chunk, how)
						nc := newStallConn(bytes.Repeat(data, 2), chunk)
						c := newConn(connConfig{nc: nc, readLimit: -1})
						for range 2 {
							var got []byte
							var gotTyp MessageType
							var err error
							switch how {
							case "nil":
								gotTyp, got, err = c.ReadMessage(nil)
							case "small":
								gotTyp, got, err = c.ReadMessage(make([]byte, 0, 1000))
							case "ReadLoop":
								err = c.readOne(func(ty MessageType, p []byte) error {
									gotTyp, got = ty, bytes.Clone(p)
									return nil
								}, false)
							}
							if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
								t.Fatalf("%s: read %v, %d bytes, %v; want %v, %d bytes intact", name, gotTyp, len(got), err, typ, len(msg))
							}
						}
						c.CloseNow()
					}
				}
			}
		}
	}
}

// TestStagedReadFails checks that a connection that ends while a frame is
// being staged fails with 1006 and that a text frame with invalid UTF-8
// in its staged part fails with 1007.
func TestStagedReadFails(t *testing.T) {
	payload := bytes.Repeat([]byte("y"), 300<<10)
	nc := &fuzzConn{in: peerFrame(false, frame.OpBinary, true, 8<<20, payload)}
	c := newConn(connConfig{nc: nc})
	_, _, err := c.ReadMessage(nil)
	if got := CloseStatus(err); got != StatusAbnormalClosure {
		t.Errorf("read of a frame cut short: %v, want 1006", err)
	}

	bad := bytes.Clone(payload)
	bad[200<<10] = 0xff
	nc = &fuzzConn{in: peerFrame(false, frame.OpText, true, 8<<20, bad)}
	c = newConn(connConfig{nc: nc})
	_, _, err = c.ReadMessage(nil)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusInvalidFramePayloadData {
		t.Errorf("read of invalid UTF-8 in a staged frame: %v, want 1007", err)
	}
}

// TestReadAllocs checks that reading into a large-enough buffer, and
// through ReadLoop once its pooled buffer has grown to the messages,
// allocates nothing, also for messages beyond readAhead.
func TestReadAllocs(t *testing.T) {
	for _, size := range []int{16, 4 << 10, readAhead + 1, 300 << 10, 1 << 20} {
		c := newConn(connConfig{nc: &loopConn{data: clientFrames(size, 2)}})
		buf := make([]byte, 0, size)
		allocs := alloctest.PerRun(50, func() {
			if _, p, err := c.ReadMessage(buf); err != nil || len(p) != size {
				t.Fatal(err, len(p))
			}
		})
		if allocs != 0 {
			t.Errorf("ReadMessage of %d bytes into a large-enough buffer: %v allocations, want 0", size, allocs)
		}
		if raceEnabled {
			continue // sync.Pool drops buffers at random under the race detector
		}
		fn := func(_ MessageType, p []byte) error {
			if len(p) != size {
				t.Fatal(len(p))
			}
			return nil
		}
		allocs = alloctest.PerRun(50, func() {
			if err := c.readOne(fn, false); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("ReadLoop of %d-byte messages: %v allocations per message, want 0", size, allocs)
		}
	}
}

// TestLengthTopBitClose checks that a frame whose 64-bit length has its
// most significant bit set fails the connection with 1002 and a reason
// that says so.
func TestLengthTopBitClose(t *testing.T) {
	nc := &fuzzConn{in: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}}
	c := newConn(connConfig{nc: nc})
	_, _, err := c.ReadMessage(nil)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusProtocolError || !strings.Contains(ce.Reason, "most significant bit") {
		t.Fatalf("read error %v, want 1002 naming the most significant bit", err)
	}
	h, n, err := frame.ParseHeader(nc.out.Bytes())
	if err != nil || h.OpCode != frame.OpClose {
		t.Fatalf("sent %x, want a close frame", nc.out.Bytes())
	}
	code, reason, err := frame.ParseClose(nc.out.Bytes()[n : n+int(h.Length)])
	if err != nil || code != uint16(StatusProtocolError) || !bytes.Contains(reason, []byte("most significant bit")) {
		t.Errorf("close frame sent: %d %q, %v; want 1002 naming the most significant bit", code, reason, err)
	}
}
