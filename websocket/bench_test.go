package websocket

import (
	"fmt"
	"net"
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
