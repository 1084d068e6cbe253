package attack

import (
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/server"
)

// noIPLimits lifts the per-IP limits: every attacking client comes from
// 127.0.0.1 here, where a real attacker would use many addresses.
func noIPLimits(c *server.Config) {
	c.Limits.ConnectionsPerIP = 0
	c.Limits.HandshakeRate = 0
}

// randomText returns n bytes of random letters: text that compresses
// poorly, as an attacker would send.
func randomText(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// TestAttack1UnreadPollResponses: ten 0.9 MB messages are published to a
// room of polling clients, which then send a poll they never read (half of
// them accepting gzip). Each poll response used to be a copy of the whole
// 9 MB payload (and a compressed copy), more than the socket buffers take,
// held as long as its client kept the connection open (no write deadline),
// after the session was gone. Now, by default, the clients are cut off as
// their queues pass limits.send_queue_bytes; with that bound raised, the
// payload is written from the queued packets, which all receivers share,
// the write is bounded by ping_timeout, and it is cut with the session.
func TestAttack1UnreadPollResponses(t *testing.T) {
	victims := scale(10, 50)
	const msgs, size = 10, 900_000
	data := randomText(size)
	defer runtime.KeepAlive(data)
	for _, raised := range []bool{false, true} {
		_, base, _ := tetherServe(t, func(c *server.Config) {
			noIPLimits(c)
			c.Engine.PingInterval = 2 * time.Second
			c.Engine.PingTimeout = 2 * time.Second
			if raised {
				c.Limits.SendQueueBytes = 64 << 20
			}
		})
		what := fmt.Sprintf("%d publishes of 0.9 MB to a room of %d polling clients, which then poll and never read (half gzip; ping 2s/2s, no per-IP limits", msgs, victims)
		if raised {
			what += ", send_queue_bytes 64 MiB"
		}
		what += ")"
		pub := siotest.DialRaw(t, base, 0)
		wsCall(t, pub, 1, "subscribe", map[string]any{"room": "r"})
		polls := make([]*pollClient, victims)
		var wg sync.WaitGroup
		for i := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := pollSocketIO(t, base)
				p.post(`421["subscribe",{"room":"r"}]`)
				if _, body := p.do("GET", ""); !strings.Contains(body, `431[{"ok":true}]`) {
					t.Errorf("subscribe: %q", body)
				}
				polls[i] = p
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		before := heapInUse()
		for i := range msgs {
			wsCall(t, pub, 10+i, "publish", map[string]any{"room": "r", "event": "big", "data": data})
		}
		// The polls that are never read.
		conns := make([]net.Conn, victims)
		for i, p := range polls {
			enc := ""
			if i%2 == 0 {
				enc = "Accept-Encoding: gzip\r\n"
			}
			conns[i] = rawRequest(t, base, 4096, "GET /socket.io/?EIO=4&transport=polling&sid="+p.sid+" HTTP/1.1\r\nHost: x\r\n"+enc+"\r\n")
		}
		time.Sleep(500 * time.Millisecond) // the poll responses are being written
		held := int64(heapInUse()) - int64(before)
		// The messages once (the queues and the recovery log share them),
		// and little per client.
		bound := int64(msgs*size + victims*256<<10 + 4<<20)
		report(t, "1", what, "held ≤ "+mb(bound), "held "+mb(held)+" (a copy per poll: "+mb(int64(victims*msgs*size))+")", held <= bound)

		// The responses are given up after ping_timeout, with the
		// sessions, and with them what they held (the recovery log keeps
		// the messages).
		polling := `tether_connections{transport="polling"}`
		gone := eventually(15*time.Second, func() bool { return scrapeMetric(t, base, polling) == 0 })
		after := int64(heapInUse()) - int64(before)
		bound = int64(msgs*size + 4<<20)
		report(t, "1", "the same clients, after ping_timeout",
			fmt.Sprintf("all sessions closed, held ≤ %s", mb(bound)),
			fmt.Sprintf("%v open, held %s (cut by send_queue_bytes: %v, responses cut mid-write: %v)", scrapeMetric(t, base, polling), mb(after),
				scrapeMetric(t, base, `tether_slow_client_disconnects_total{reason="send_queue"}`),
				scrapeMetric(t, base, `tether_slow_client_disconnects_total{reason="poll_response"}`)),
			gone && after <= bound)
		for _, c := range conns {
			c.Close()
		}
	}
}
