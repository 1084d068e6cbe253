package engineio_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/websocket"
)

// BenchmarkWebSocketSend measures 64-byte packets sent with Socket.Send
// over the WebSocket transport, in bursts of 256, and read by a client.
func BenchmarkWebSocketSend(b *testing.B) {
	srv := engineio.NewServer(nil)
	conns := make(chan *engineio.Socket, 1)
	srv.OnConnection(func(s *engineio.Socket) { conns <- s })
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/?EIO=4&transport=websocket", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil {
		b.Fatal(err)
	}
	s := <-conns
	pkt := engineio.Packet{Data: []byte(strings.Repeat("x", 64))}
	const burst = 256
	read := make(chan int)
	go func() {
		buf := make([]byte, 1024)
		for n := range read {
			for range n {
				if _, _, err := c.ReadMessage(buf); err != nil {
					panic(err)
				}
			}
			read <- 0
		}
	}()
	b.SetBytes(64)
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += burst {
		n := min(burst, b.N-sent)
		read <- n
		for range n {
			if err := s.Send(pkt); err != nil {
				b.Fatal(err)
			}
		}
		<-read
	}
	close(read)
}
