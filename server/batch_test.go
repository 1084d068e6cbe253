package server

import (
	"fmt"
	"testing"

	"github.com/tether-rt/tether/websocket"
)

// TestBroadcastsBatched publishes to a room of WebSocket clients of a
// served listener (whose sockets can join a broadcast's write group):
// every client gets every message, in order, and where io_uring is there
// the writes were made in batches (tether_batched_writes_total).
func TestBroadcastsBatched(t *testing.T) {
	n := publishToRoom(t, testConfig())
	if err := websocket.GroupSupport(); err != nil {
		t.Logf("no batches here: %v", err)
		return
	}
	if n == 0 {
		t.Fatal("no write of the broadcasts was batched")
	}
}

// TestBroadcastsNotBatchedWhenOff turns engine.io_uring off: broadcasts
// still reach everyone, in order, with no write batched.
func TestBroadcastsNotBatchedWhenOff(t *testing.T) {
	cfg := testConfig()
	cfg.Engine.IOUring = false
	if n := publishToRoom(t, cfg); n != 0 {
		t.Fatalf("%d writes were batched with engine.io_uring off", n)
	}
}

// publishToRoom serves cfg, publishes messages to a room of WebSocket
// clients, checks that each got them all in order, and returns how many
// writes were batched meanwhile (tether_batched_writes_total; the tests
// of this package do not run in parallel).
func publishToRoom(t *testing.T, cfg *Config) uint64 {
	t.Helper()
	_, addr, _ := serve(t, cfg, false)
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
	n := websocket.GroupedWrites() - before
	m := get(t, base+"/metrics")
	if line := grep(m, "tether_batched_writes_total "); line == "" {
		t.Fatal("metrics lack tether_batched_writes_total")
	}
	return n
}
