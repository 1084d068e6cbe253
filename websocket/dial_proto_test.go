package websocket_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// TestDialRefusesOldHTTP checks that a 101 answer in a protocol older than
// HTTP/1.1 (RFC 6455, section 4.1) fails the handshake, and that the same
// answer in HTTP/1.1 succeeds.
func TestDialRefusesOldHTTP(t *testing.T) {
	for _, proto := range []string{"HTTP/1.0", "HTTP/0.9", "HTTP/1.1"} {
		t.Run(proto, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				fmt.Fprintf(nc, "%s 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
					proto, base64.StdEncoding.EncodeToString(h[:]))
				time.Sleep(time.Second) // until the client is done
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
			if proto == "HTTP/1.1" {
				if err != nil {
					t.Fatalf("HTTP/1.1 answer refused: %v", err)
				}
				c.CloseNow()
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatalf("%s answer accepted", proto)
			}
			if !strings.Contains(err.Error(), "protocol") {
				t.Errorf("error %q does not name the protocol", err)
			}
		})
	}
}
