package attack

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/server"
	"github.com/tether-rt/tether/websocket"
)

// blindPongs makes c answer the server's pings without reading them: it
// sends a pong every 100 ms until the test ends or the connection fails.
func blindPongs(t *testing.T, c *websocket.Conn) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if err := c.WriteMessage(websocket.MessageText, []byte("3")); err != nil {
				return
			}
		}
	}()
}

// slowConsumer serves edit, and returns a publisher and a client that
// answers pings blindly and reads nothing, both in room.
func slowConsumer(t *testing.T, edit func(*server.Config), room string) (base string, pub, victim *websocket.Conn) {
	_, base, _ = tetherServe(t, func(c *server.Config) {
		noIPLimits(c)
		c.Limits.EventRate = 0 // the publisher is the server's friend here
		if edit != nil {
			edit(c)
		}
	})
	pub = siotest.DialRaw(t, base, 0)
	victim = siotest.DialRaw(t, base, 4096)
	for i, c := range []*websocket.Conn{pub, victim} {
		wsCall(t, c, i, "subscribe", map[string]any{"room": room})
	}
	blindPongs(t, victim)
	return base, pub, victim
}

// TestAttack5SlowConsumer: a WebSocket client that answers pings blindly
// and reads nothing. With a room busy with large messages, its send queue
// used to be bounded in packets only (1024 of up to 1 MB each); with
// fewer messages, nothing noticed that the writer was stuck on it. Now the
// queue is bounded in bytes (limits.send_queue_bytes) and a writer that
// takes no data for a heartbeat's time is cut off, pongs or not.
func TestAttack5SlowConsumer(t *testing.T) {
	msgs := scale(30, 1000)
	const size = 900_000
	data := strings.Repeat("x", size)
	defer runtime.KeepAlive(data)

	base, pub, _ := slowConsumer(t, nil, "busy") // default heartbeat: the queue's bound acts first
	before := heapInUse()
	for i := range msgs {
		wsCall(t, pub, 100+i, "publish", map[string]any{"room": "busy", "event": "big", "data": data})
	}
	slow := `tether_slow_client_disconnects_total{reason="send_queue"}`
	cut := eventually(10*time.Second, func() bool { return scrapeMetric(t, base, slow) == 1 })
	held := int64(heapInUse()) - int64(before)
	// The queue's bound, the batch in the writer's hands, what the recovery
	// log keeps of the room (at most its own bound), slack.
	bound := int64(2*(4<<20) + 2*size + min(msgs*size, 32<<20) + 4<<20)
	report(t, "5", fmt.Sprintf("a client pongs blindly, reads nothing; %d publishes of 0.9 MB to its room", msgs),
		fmt.Sprintf("cut (send_queue), held ≤ %s", mb(bound)),
		fmt.Sprintf("cut: %v, held %s (a queue of 1024 packets: up to %s)", cut, mb(held), mb(1024*size)),
		cut && held <= bound)

	// The writer stuck on the client, with the byte bound out of the way.
	base, pub, _ = slowConsumer(t, func(c *server.Config) {
		c.Limits.SendQueueBytes = 1 << 30
		c.Engine.PingInterval = 500 * time.Millisecond
		c.Engine.PingTimeout = 500 * time.Millisecond
	}, "quiet")
	for i := range 8 {
		wsCall(t, pub, 100+i, "publish", map[string]any{"room": "quiet", "event": "big", "data": data})
	}
	stalled := `tether_slow_client_disconnects_total{reason="stalled_writes"}`
	cut = eventually(10*time.Second, func() bool { return scrapeMetric(t, base, stalled) == 1 })
	report(t, "5", "a client pongs blindly, reads nothing; 8 publishes of 0.9 MB to its room (ping 0.5s/0.5s, send_queue_bytes 1 GiB)",
		"cut (stalled_writes) once its writer has waited ping_interval + ping_timeout",
		fmt.Sprintf("cut: %v", cut), cut)
}
