//go:build linux && (amd64 || arm64)

package websocket

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestPollerTable checks the poller's table of connections by descriptor:
// found by number, gone when cleared, nothing for numbers never set or
// out of range, and no allocation for a descriptor below the highest one
// seen (a socket's entry is one pointer, where a map's took about 29
// bytes).
func TestPollerTable(t *testing.T) {
	var p poller
	a, b := new(Conn), new(Conn)
	p.setLocked(7, a)
	p.setLocked(3, b)
	if p.getLocked(7) != a || p.getLocked(3) != b {
		t.Fatal("a connection is not found by its descriptor")
	}
	for _, fd := range []int32{-1, 0, 4, 8, 1 << 20} {
		if c := p.getLocked(fd); c != nil {
			t.Errorf("descriptor %d: found a connection never set", fd)
		}
	}
	p.setLocked(7, nil)
	if p.getLocked(7) != nil || p.getLocked(3) != b {
		t.Error("clearing descriptor 7 did not clear only it")
	}
	p.setLocked(1000, a)
	if allocs := testing.AllocsPerRun(100, func() {
		p.setLocked(500, b)
		p.setLocked(500, nil)
	}); allocs != 0 {
		t.Errorf("setting a descriptor below the highest allocates %v times", allocs)
	}
}

// TestPollerWaitsParked checks that the poller's goroutine waits for events
// parked in Go's network poller ("IO wait"), not in an epoll_wait system
// call that holds an OS thread (and keeps the scheduler's monitor checking
// on it every 20 µs, see poller).
func TestPollerWaitsParked(t *testing.T) {
	p := thePoller()
	if p == nil {
		t.Skip("no epoll")
	}
	if p.rc == nil {
		t.Fatal("the epoll descriptor was not registered with Go's poller")
	}
	buf := make([]byte, 1<<20)
	var state string
	for range 200 {
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "websocket.(*poller).wait") {
				header, _, _ := strings.Cut(g, "\n")
				state = header
			}
		}
		if strings.Contains(state, "[IO wait") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the poller's goroutine does not wait in the network poller: %q", state)
}
