package websocket

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// heldOf reports whether c keeps a compressor.
func heldOf(c *Conn) bool {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	return c.w.held != nil
}

// goIdle does what the timer of a connection that keeps a compressor does
// after two periods without a message: it gives the compressor back.
func goIdle(c *Conn) {
	c.releaseDeflater()
	c.releaseDeflater()
}

// setDeflaterIdle sets, for the rest of the test, how long a connection
// keeps its compressor without a message: long enough that a slow machine
// does not release it in the middle of a test that checks it is kept.
func setDeflaterIdle(t *testing.T, d time.Duration) {
	old := deflaterIdle.Swap(int64(d))
	t.Cleanup(func() { deflaterIdle.Store(old) })
}

// setHeldBudget sets how many connections may keep a compressor between
// messages for the rest of the test.
func setHeldBudget(t *testing.T, n int64) {
	old := maxHeldDeflaters.Swap(n)
	t.Cleanup(func() { maxHeldDeflaters.Store(old) })
}

// takeoverMessage is a message and how to send it.
type takeoverMessage struct {
	typ   MessageType
	data  []byte
	how   int // 0: WriteMessage, 1: Writer in pieces, 2: WritePrepared, 3: uncompressed
	piece int // Writer: bytes per Write
}

// takeoverMessages returns n messages that refer to each other (text
// pieces from earlier messages, near and far), of sizes from empty to
// beyond the deflate window, sent in every way a Conn has.
func takeoverMessages(r *rand.Rand, n int) []takeoverMessage {
	var all []byte // everything so far, to quote from
	msgs := make([]takeoverMessage, n)
	for i := range msgs {
		var size int
		switch r.IntN(10) {
		case 0:
			size = r.IntN(64) // below the threshold
		case 1:
			size = 20_000 + r.IntN(30_000)
		default:
			size = 64 + r.IntN(2000)
		}
		p := make([]byte, 0, size)
		for len(p) < size {
			if len(all) > 100 && r.IntN(3) > 0 {
				// Quote an earlier message: the last few KiB or much older.
				back := min(len(all), 1+r.IntN(3000))
				if r.IntN(4) == 0 {
					back = len(all)
				}
				from := len(all) - 1 - r.IntN(back)
				p = append(p, all[from:min(len(all), from+8+r.IntN(60))]...)
			} else {
				for range 8 + r.IntN(40) {
					p = append(p, "abcdefghij κόσμε{}\":,0123456789"[r.IntN(30)])
				}
			}
		}
		p = p[:size]
		all = append(all, p...)
		m := takeoverMessage{typ: MessageBinary, data: p, how: r.IntN(4), piece: 1 + r.IntN(20_000)}
		msgs[i] = m
	}
	return msgs
}

// send writes m on c.
func (m takeoverMessage) send(t *testing.T, c *Conn) {
	t.Helper()
	var err error
	switch m.how {
	case 0:
		err = c.WriteMessage(m.typ, m.data)
	case 1:
		var w interface {
			Write([]byte) (int, error)
			Close() error
		}
		if w, err = c.Writer(context.Background(), m.typ); err != nil {
			break
		}
		for p := m.data; len(p) > 0 && err == nil; {
			n := min(len(p), m.piece)
			_, err = w.Write(p[:n])
			p = p[n:]
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	case 2:
		err = c.WritePrepared(NewPreparedMessage(m.typ, m.data))
	case 3:
		c.EnableWriteCompression(false)
		err = c.WriteMessage(m.typ, m.data)
		c.EnableWriteCompression(true)
	}
	if err != nil {
		t.Fatalf("sending %d bytes (way %d): %v", len(m.data), m.how, err)
	}
}

// TestTakeoverStream sends many messages with context takeover from
// several connections, round-robin from one goroutine and then in runs on
// one connection, and checks that both our reader and the standard
// library's inflater decode every message byte for byte, and that the
// connections keep no more than their history and window. Without
// connections keeping their compressors (keep=false), each round-robin
// message finds a pooled compressor that another connection used last and
// must prime it with the connection's history, and a run on one connection
// finds its own compressor as it left it; with keep=true, they keep theirs.
func TestTakeoverStream(t *testing.T) {
	for _, keep := range []bool{false, true} {
		for _, client := range []bool{false, true} {
			for _, bits := range []int{15, 10, 8} {
				for _, level := range []int{1, 5, 9} {
					t.Run(fmt.Sprintf("keep=%v/client=%v/bits=%d/level=%d", keep, client, bits, level), func(t *testing.T) {
						setHeldBudget(t, 0)
						if keep {
							setHeldBudget(t, 1<<30)
							setDeflaterIdle(t, time.Hour) // goIdle releases
						}
						testTakeoverStream(t, client, bits, level, keep)
					})
				}
			}
		}
	}
}

func testTakeoverStream(t *testing.T, client bool, bits, level int, keep bool) {
	const conns = 3
	r := rand.New(rand.NewPCG(uint64(bits), uint64(level)))
	cp := compressParams{enabled: true, level: int8(level), writeWindowBits: int8(bits), readWindowBits: int8(bits)}
	ncs := make([]*fuzzConn, conns)
	cs := make([]*Conn, conns)
	sent := make([][]takeoverMessage, conns)
	for i := range cs {
		ncs[i] = &fuzzConn{}
		cs[i] = newConn(connConfig{nc: ncs[i], client: client, compress: cp, compressMin: 64})
	}
	msgs := takeoverMessages(r, 150)
	for i, m := range msgs {
		k := i % conns // round-robin
		if i >= 90 {
			k = (i - 90) / 20 // runs of 20 on one connection
		}
		m.send(t, cs[k])
		sent[k] = append(sent[k], m)
	}
	hist := min(historySize, 1<<bits)
	for k, c := range cs {
		if heldOf(c) != keep {
			t.Errorf("conn %d keeps a compressor: %v, want %v", k, heldOf(c), keep)
		}
		goIdle(c)
		if heldOf(c) {
			t.Errorf("conn %d still keeps its compressor after an idle period", k)
		}
		if len(c.w.hist) > hist || cap(c.w.hist) > hist {
			t.Errorf("conn %d keeps %d bytes of history in %d, want at most %d", k, len(c.w.hist), cap(c.w.hist), hist)
		}
		var limit int64 = 1 << 20
		cfg := fuzzReaderConfig{client: !client, compress: true, limit: limit}
		data := ncs[k].out.Bytes()
		got := fuzzReadStream(t, data, cfg)
		ref := refDecode(data, cfg)
		if len(got.msgs) != len(sent[k]) || len(ref.msgs) != len(sent[k]) {
			t.Fatalf("conn %d sent %d messages; our reader got %d (%v), the reference %d", k, len(sent[k]), len(got.msgs), got.err, len(ref.msgs))
		}
		for i, m := range sent[k] {
			if !bytes.Equal(got.msgs[i].data, m.data) || !bytes.Equal(ref.msgs[i].data, m.data) {
				t.Fatalf("conn %d message %d (%d bytes, way %d): our reader got %d bytes, the reference %d, not the same",
					k, i, len(m.data), m.how, len(got.msgs[i].data), len(ref.msgs[i].data))
			}
		}
	}
}

// TestTakeoverHistoryMatters checks that priming works: a message repeated
// by a connection after another connection used the pooled compressor
// still compresses to a few bytes, with context takeover only.
func TestTakeoverHistoryMatters(t *testing.T) {
	setHeldBudget(t, 0)
	for _, noTakeover := range []bool{false, true} {
		cp := compressParams{enabled: true, level: 1, writeWindowBits: 15, readWindowBits: 15, writeNoTakeover: noTakeover}
		a := newConn(connConfig{nc: &fuzzConn{}, compress: cp})
		b := newConn(connConfig{nc: &fuzzConn{}, compress: cp})
		msg := make([]byte, 2000)
		r := rand.New(rand.NewPCG(3, 4))
		for i := range msg {
			msg[i] = byte(r.Uint32())
		}
		for _, c := range []*Conn{a, b, a} {
			if err := c.WriteMessage(MessageBinary, msg); err != nil {
				t.Fatal(err)
			}
			c.w.stamp = 0 // make sure a does not find its compressor warm
		}
		out := a.nc.(*fuzzConn).out.Len()
		first := b.nc.(*fuzzConn).out.Len() // one message, from scratch
		second := out - first
		if small := second < 100; small == noTakeover {
			t.Errorf("no takeover %v: a repeated 2000-byte random message took %d bytes after %d the first time", noTakeover, second, first)
		}
	}
}

// TestTakeoverIdleMemory checks what an idle connection with context
// takeover keeps after it has sent and received a compressed message: no
// compressor, only what went through (not a whole window).
func TestTakeoverIdleMemory(t *testing.T) {
	setHeldBudget(t, 1<<30)
	cp := compressParams{enabled: true, level: 1, writeWindowBits: 15, readWindowBits: 15}
	msg := bytes.Repeat([]byte("idle connection, one message. "), 17)[:500]
	// A client's compressed message, for the servers to read.
	cc := newConn(connConfig{nc: &fuzzConn{}, client: true, compress: cp})
	if err := cc.WriteMessage(MessageText, msg); err != nil {
		t.Fatal(err)
	}
	in := cc.nc.(*fuzzConn).out.Bytes()

	const n = 200
	heap := func() uint64 {
		var ms runtime.MemStats
		for range 3 { // pooled compressors go after two collections
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	cs := make([]*Conn, n)
	for i := range cs {
		c := newConn(connConfig{nc: &fuzzConn{in: in}, compress: cp})
		if _, p, err := c.ReadMessage(nil); err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("read %q, %v", p, err)
		}
		if err := c.WriteMessage(MessageText, msg); err != nil {
			t.Fatal(err)
		}
		goIdle(c)
		c.nc.(*fuzzConn).out = bytes.Buffer{}
		if cap(c.w.hist) > 2*len(msg) || cap(c.r.z.dict) > 2*len(msg) {
			t.Fatalf("after one %d-byte message each way, the connection keeps %d bytes of history and %d of window",
				len(msg), cap(c.w.hist), cap(c.r.z.dict))
		}
		cs[i] = c
	}
	after := heap()
	per := (int64(after) - int64(before)) / n
	t.Logf("%d bytes per idle connection", per)
	// A Conn is about 3 KiB, plus 1 KiB of history and window; a
	// compressor would be about 800 KiB.
	if per > 32<<10 {
		t.Errorf("an idle connection with context takeover holds %d bytes", per)
	}
	runtime.KeepAlive(cs)
}

// TestTakeoverReleasesCompressor checks that a connection that keeps its
// compressor while busy gives it back once idle, also when it has been
// closed, and that the budget then allows another connection to keep one.
func TestTakeoverReleasesCompressor(t *testing.T) {
	setHeldBudget(t, 1<<30)
	cp := compressParams{enabled: true, level: 1, writeWindowBits: 15, readWindowBits: 15}
	msg := bytes.Repeat([]byte("busy, then idle. "), 20)
	setDeflaterIdle(t, 2*time.Second) // kept between the writes and the checks below, even on a slow machine
	cs := []*Conn{newConn(connConfig{nc: &fuzzConn{}, compress: cp}), newConn(connConfig{nc: &fuzzConn{}, compress: cp})}
	for _, c := range cs {
		for range 3 {
			if err := c.WriteMessage(MessageText, msg); err != nil {
				t.Fatal(err)
			}
		}
		if !heldOf(c) {
			t.Fatal("a busy connection does not keep its compressor")
		}
	}
	cs[1].CloseNow()
	for _, c := range cs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if !heldOf(c) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an idle connection still keeps its compressor after 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The budget is back: with room for one, a connection keeps one.
	setHeldBudget(t, heldDeflaters.Load()+1)
	c := newConn(connConfig{nc: &fuzzConn{}, compress: cp})
	if err := c.WriteMessage(MessageText, msg); err != nil {
		t.Fatal(err)
	}
	if !heldOf(c) {
		t.Error("with room in the budget, a connection does not keep its compressor")
	}
	goIdle(c)
}
