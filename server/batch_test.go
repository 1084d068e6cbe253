package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tether-rt/tether/websocket"
)

// TestBroadcastsBatched publishes to a room of WebSocket clients of a
// served listener (whose sockets can join a broadcast's write group):
// every client gets every message, in order, and where io_uring is there
// the writes were made in batches (tether_batched_writes_total).
func TestBroadcastsBatched(t *testing.T) {
	_, addr, _ := serve(t, testConfig(), false)
	base := "http://" + addr
	const subscribers, messages = 8, 30
	pub := mustDial(t, base, dialOpts{})
	wantOK(t, "subscribe", pub.call("subscribe", map[string]any{"room": "r"}))
	subs := make([]*testClient, subscribers)
	for i := range subs {
		subs[i] = mustDial(t, base, dialOpts{})
		wantOK(t, "subscribe", subs[i].call("subscribe", map[string]any{"room": "r"}))
	}
	before := websocket.GroupedWrites()
	for i := range messages {
		wantOK(t, "publish", pub.call("publish", map[string]any{"room": "r", "event": "tick", "data": i}))
	}
	for i, c := range subs {
		for j := range messages {
			if e := c.next("tick"); string(e.args[0]) != fmt.Sprint(j) {
				t.Fatalf("subscriber %d: message %d is %s", i, j, e.args[0])
			}
		}
	}
	if err := websocket.GroupSupport(); err != nil {
		t.Logf("no batches here: %v", err)
		return
	}
	if n := websocket.GroupedWrites() - before; n == 0 {
		t.Fatalf("no write of %d broadcasts to %d clients was batched", messages, subscribers)
	}
	m := get(t, base+"/metrics")
	if line := grep(m, "tether_batched_writes_total "); line == "" || strings.HasSuffix(line, " 0") {
		t.Fatalf("metrics: %q", line)
	}
}
