package cliente2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	eio "github.com/tether-rt/tether/engineio/client"
)

// TestEngineNode: the Engine.IO client against Node's engine.io 6.6, v4
// and v3, on each transport setting: text and binary echoes in order, the
// upgrade, a session kept alive over many of the server's short
// heartbeats (100 ms), and the server's close.
func TestEngineNode(t *testing.T) {
	srv := startNode(t)
	for _, proto := range []int{4, 3} {
		for name, transports := range map[string][]string{"polling": {"polling"}, "websocket": {"websocket"}, "upgrade": nil} {
			t.Run(fmt.Sprintf("v%d %s", proto, name), func(t *testing.T) {
				msgs := make(chan eio.Packet, 1000)
				closes := make(chan string, 1)
				upgrades := make(chan string, 1)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, err := eio.Dial(ctx, "http://"+srv.addr, &eio.Options{
					Protocol:   proto,
					Transports: transports,
					OnMessage:  func(p eio.Packet) { msgs <- p },
					OnClose:    func(reason string, err error) { closes <- reason },
					OnUpgrade:  func(tr string) { upgrades <- tr },
				})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if transports == nil {
					select {
					case <-upgrades:
					case <-ctx.Done():
						t.Fatal("no upgrade")
					}
				}
				const n = 30
				for i := range n {
					p := eio.Packet{Data: fmt.Appendf(nil, "héllo %d", i)}
					if i%3 == 0 {
						p = eio.Packet{Data: []byte{byte(i), 0, 0xfe}, Binary: true}
					}
					c.Send(p)
				}
				for i := range n {
					var p eio.Packet
					select {
					case p = <-msgs:
					case <-ctx.Done():
						t.Fatalf("echo %d did not come", i)
					}
					if i%3 == 0 {
						if !p.Binary || !bytes.Equal(p.Data, []byte{byte(i), 0, 0xfe}) {
							t.Fatalf("echo %d: %v %q", i, p.Binary, p.Data)
						}
					} else if p.Binary || string(p.Data) != fmt.Sprintf("héllo %d", i) {
						t.Fatalf("echo %d: %v %q", i, p.Binary, p.Data)
					}
				}
				// Ten heartbeats; the session must still be there.
				time.Sleep(time.Second)
				select {
				case r := <-closes:
					t.Fatalf("closed with %q", r)
				default:
				}
				c.Send(eio.Packet{Data: []byte("close me")})
				select {
				case r := <-closes:
					if r != eio.ReasonTransportClose {
						t.Fatalf("closed with %q", r)
					}
				case <-ctx.Done():
					t.Fatal("the server's close did not come")
				}
			})
		}
	}
}
