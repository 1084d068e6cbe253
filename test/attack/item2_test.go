package attack

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/server"
)

// TestAttack2SlowPostBodies: polling clients send POSTs that declare
// 1 MB and then send 10 bytes. The body buffer used to be allocated from
// the declared length, and the read had no deadline: the requests pinned
// ~1 MB each until the client hung up. Now the buffer grows with what
// arrives, and the read is bounded by the transfer timeout (ping_timeout,
// 5 s at least) and cut with the session.
func TestAttack2SlowPostBodies(t *testing.T) {
	posts := scale(30, 300)
	_, base, _ := tetherServe(t, func(c *server.Config) {
		noIPLimits(c)
		c.Engine.PingInterval = 2 * time.Second
		c.Engine.PingTimeout = 2 * time.Second
	})
	sids := make([]string, posts)
	var wg sync.WaitGroup
	for i := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sids[i] = pollSocketIO(t, base).sid
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	before := heapInUse()
	conns := make([]net.Conn, posts)
	for i, sid := range sids {
		conns[i] = rawRequest(t, base, 0, "POST /socket.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000000\r\n\r\n42[\"x\",\"")
	}
	time.Sleep(300 * time.Millisecond) // the server reads what came
	held := int64(heapInUse()) - int64(before)
	bound := int64(posts*64<<10 + 4<<20)
	report(t, "2", fmt.Sprintf("%d POSTs declare 1 MB and send 10 bytes (ping 2s/2s, no per-IP limits)", posts),
		"held ≤ "+mb(bound), "held "+mb(held)+" (declared: "+mb(int64(posts)*1_000_000)+")", held <= bound)

	// Each POST ends within the transfer timeout, or with its session when
	// the heartbeat (2 s + 2 s here) closes it first.
	polling := `tether_connections{transport="polling"}`
	gone := eventually(15*time.Second, func() bool { return scrapeMetric(t, base, polling) == 0 })
	closed := 0
	for _, c := range conns {
		if isClosed(c, 5*time.Second) {
			closed++
		}
	}
	report(t, "2", "the same POSTs, after the transfer timeout (5 s) or the heartbeat", fmt.Sprintf("all %d sessions and connections closed", posts),
		fmt.Sprintf("%v sessions open, %d connections closed (%v cut as post_body)", scrapeMetric(t, base, polling), closed,
			scrapeMetric(t, base, `tether_slow_client_disconnects_total{reason="post_body"}`)), gone && closed == posts)
}
