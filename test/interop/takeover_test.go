package interop

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/tether-rt/tether/websocket"
)

// TestDialWSServerTakeoverInterleaved has 40 of our clients, compressing
// with context takeover, send many different messages to Node's ws server
// in turn from one goroutine. At most 32 connections of a process keep
// their compressor while busy; the others take a pooled one for each
// message, which another connection used last, and prime it with the
// connection's history. ws (zlib) must inflate every message byte for
// byte, and a message that a connection repeats must still take few bytes
// on the wire.
func TestDialWSServerTakeoverInterleaved(t *testing.T) {
	s := startWSServer(t, nil)
	for _, tc := range []struct {
		name   string
		opts   websocket.CompressionOptions
		repeat int // size of the repeated random message, within the history
	}{
		{"window 15", compressAll(websocket.CompressionContextTakeover), 3000},
		{"window 10", websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1, ClientMaxWindowBits: 10}, 800},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pmd := url.QueryEscape(mustJSON(t, map[string]any{"threshold": 0}))
			const n = 40 // more than websocket's budget of connections that keep a compressor
			cs := make([]*websocket.Conn, n)
			ccs := make([]*countingConn, n)
			for k := range cs {
				cs[k], _, ccs[k] = dial(t, s.url+"/echo?pmd="+pmd, &websocket.DialOptions{Compression: tc.opts})
				if e := s.waitFor(t, "connection"); e.Extensions != "permessage-deflate" {
					t.Fatalf("ws negotiated %q", e.Extensions)
				}
			}
			r := rand.New(rand.NewPCG(5, 6))
			var all []byte // what was sent so far, to quote from
			for i := range 8 {
				for k, c := range cs {
					msg := fmt.Appendf(nil, `{"conn":%d,"seq":%d,"text":"`, k, i)
					for range 5 + r.IntN(60) {
						if len(all) > 64 && r.IntN(2) == 0 {
							from := r.IntN(len(all) - 32)
							msg = append(msg, all[from:from+4+r.IntN(28)]...)
						} else {
							msg = fmt.Appendf(msg, "%x ", r.Uint32())
						}
					}
					msg = append(msg, `"}`...)
					all = append(all, msg...)
					roundTrip(t, c, ccs[k], s, websocket.MessageText, msg)
				}
			}
			// Each connection sends a random message, then, once the
			// others have used the compressors, the same again.
			for k, c := range cs {
				roundTrip(t, c, ccs[k], s, websocket.MessageBinary, goPayload("random", tc.repeat, uint64(k)))
			}
			for k, c := range cs {
				if out, _ := roundTrip(t, c, ccs[k], s, websocket.MessageBinary, goPayload("random", tc.repeat, uint64(k))); out > int64(tc.repeat/4) {
					t.Errorf("conn %d: a repeated %d-byte random message took %d bytes to ws: the compressor did not have the history", k, tc.repeat, out)
				}
			}
			for _, c := range cs {
				closeWith(t, c, s, websocket.StatusNormalClosure, "")
			}
		})
	}
}
