package websocket

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket/frame"
)

// loopConn is a net.Conn that discards writes and replays the same bytes
// to reads forever, so benchmarks measure the engine, not the network.
type loopConn struct {
	data []byte
	pos  int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.pos:])
	c.pos = (c.pos + n) % len(c.data)
	return n, nil
}
func (c *loopConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *loopConn) Close() error                       { return nil }
func (c *loopConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *loopConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *loopConn) SetDeadline(t time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(t time.Time) error { return nil }

var benchSizes = []int{16, 512, 4 << 10, 64 << 10}

// clientFrames returns n masked binary frames of size bytes, as a client
// sends them.
func clientFrames(size, n int) []byte {
	var b []byte
	for i := range n {
		h := frame.Header{Fin: true, OpCode: frame.OpBinary, Length: int64(size), Masked: true, Mask: [4]byte{1, 2, 3, byte(i)}}
		b = frame.AppendHeader(b, h)
		p := make([]byte, size)
		frame.Mask(h.Mask, 0, p)
		b = append(b, p...)
	}
	return b
}

func BenchmarkReadMessage(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			c := newConn(connConfig{nc: &loopConn{data: clientFrames(size, 8)}})
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				_, p, err := c.ReadMessage(buf)
				if err != nil || len(p) != size {
					b.Fatal(err, len(p))
				}
				buf = p
			}
		})
	}
}

// bigSizes are the message sizes of the benchmarks of large reads: one
// pooled buffer holds the first two; the others are allocated per message.
var bigSizes = []int{64 << 10, 1 << 20, 4 << 20, 16 << 20}

// BenchmarkReadLoop reads messages as ReadLoop does, into pooled buffers.
func BenchmarkReadLoop(b *testing.B) {
	for _, size := range bigSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			c := newConn(connConfig{nc: &loopConn{data: clientFrames(size, 2)}, readLimit: -1})
			fn := func(_ MessageType, p []byte) error {
				if len(p) != size {
					b.Fatal(len(p))
				}
				return nil
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.readOne(fn, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead reads each message into a new slice.
func BenchmarkRead(b *testing.B) {
	for _, size := range bigSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			c := newConn(connConfig{nc: &loopConn{data: clientFrames(size, 2)}, readLimit: -1})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				_, p, err := c.ReadMessage(nil)
				if err != nil || len(p) != size {
					b.Fatal(err, len(p))
				}
			}
		})
	}
}

func BenchmarkWriteMessage(b *testing.B) {
	for _, client := range []bool{false, true} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("client=%v/size=%d", client, size), func(b *testing.B) {
				c := newConn(connConfig{nc: &loopConn{data: []byte{0}}, client: client})
				p := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.WriteMessage(MessageBinary, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkWritePrepared(b *testing.B) {
	c := newConn(connConfig{nc: &loopConn{data: []byte{0}}})
	pm := NewPreparedMessage(MessageText, make([]byte, 512))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WritePrepared(pm); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteCompressed(b *testing.B) {
	for _, noTakeover := range []bool{false, true} {
		b.Run(fmt.Sprintf("noTakeover=%v", noTakeover), func(b *testing.B) {
			c := newConn(connConfig{nc: &loopConn{data: []byte{0}}, compressMin: 128,
				compress: compressParams{enabled: true, level: 1, writeWindowBits: 15, writeNoTakeover: noTakeover}})
			p := []byte(fmt.Sprintf("%0512d", 42))
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(MessageText, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// countConn is a loopConn that counts the bytes written to it.
type countConn struct {
	loopConn
	n int64
}

func (c *countConn) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// chatMessages returns n different JSON messages of about size bytes, the
// kind a chat or game server sends: the same keys, varying values and
// text. The same arguments always give the same messages.
func chatMessages(size, n int) [][]byte {
	words := strings.Fields(`the a to and of in is it you that for on was with he as have be at one
		this but not by from they we say her she or an will my all would there their what so up out if
		about who get which go me when make can like time no just him know take people into year your
		good some could them see other than then now look only come its over think also back after use
		two how our work first well way even new want because any these give day most us room lobby
		player score ready move left right jump fire shield level quest bonus team red blue green`)
	rng := rand.New(rand.NewPCG(uint64(size), uint64(n)))
	users := []string{"ada", "grace", "linus", "ken", "barbara", "donald", "edsger", "margaret"}
	msgs := make([][]byte, n)
	for i := range msgs {
		var b bytes.Buffer
		b.WriteByte('[')
		for j := 0; b.Len() < size; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%d,"user":"%s-%d","room":"%s","x":%.2f,"y":%.2f,"text":"`,
				rng.IntN(1e6), users[rng.IntN(len(users))], rng.IntN(100), words[rng.IntN(len(words))],
				rng.Float64()*1000, rng.Float64()*-500)
			for k := rng.IntN(12); k >= 0; k-- {
				b.WriteString(words[rng.IntN(len(words))])
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, `","ts":%d}`, 1700000000000+rng.Int64N(1e9))
		}
		p := b.Bytes()[:size]
		p[size-1] = ']'
		msgs[i] = p
	}
	return msgs
}

// BenchmarkWriteTakeover writes different JSON messages compressed with
// context takeover (and without, for comparison), round-robin on conns
// connections from one goroutine. With keep=false no connection keeps its
// compressor between messages: with more than one connection, none finds
// the pooled compressor it used last as it left it and each message pays
// for priming one. ratio is the bytes of
// payload per byte written; cpu-ns/op the process's CPU time per message,
// steadier than ns/op on a busy machine.
func BenchmarkWriteTakeover(b *testing.B) {
	for _, size := range []int{512, 4 << 10} {
		msgs := chatMessages(size, 256)
		for _, mode := range []struct {
			noTakeover bool
			conns      int
			keep       bool // connections may keep their compressors
		}{{true, 1, true}, {false, 1, true}, {false, 1, false}, {false, 4, true}, {false, 4, false}} {
			conns := mode.conns
			b.Run(fmt.Sprintf("size=%d/takeover=%v/conns=%d/keep=%v", size, !mode.noTakeover, conns, mode.keep), func(b *testing.B) {
				if !mode.keep {
					defer maxHeldDeflaters.Store(maxHeldDeflaters.Swap(0))
				}
				ncs := make([]*countConn, conns)
				cs := make([]*Conn, conns)
				for i := range cs {
					ncs[i] = &countConn{loopConn: loopConn{data: []byte{0}}}
					cs[i] = newConn(connConfig{nc: ncs[i], compressMin: 128,
						compress: compressParams{enabled: true, level: 1, writeWindowBits: 15, writeNoTakeover: mode.noTakeover}})
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				i := 0
				cpu0 := cpuTime()
				for b.Loop() {
					if err := cs[i%conns].WriteMessage(MessageText, msgs[i/conns%len(msgs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
				if cpu := cpuTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu)/float64(i), "cpu-ns/op")
				}
				var out int64
				for _, nc := range ncs {
					out += nc.n
				}
				b.ReportMetric(float64(i*size)/float64(out), "ratio")
			})
		}
	}
}
