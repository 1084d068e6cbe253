package redis

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
)

// TestEmitterReachesTether publishes with the Go emitter, from a client
// that belongs to no Socket.IO server, into two Tether servers.
func TestEmitterReachesTether(t *testing.T) {
	testEmitterReachesTether(t, peertest.StartRedis(t))
}

func testEmitterReachesTether(t *testing.T, r redisServer) {
	opts := ClassicOptions{Key: "em"}
	s0, s1 := startClassic(t, r, opts), startClassic(t, r, opts)
	s1.srv.Of("/admin")
	c0, c1 := siotest.Dial(t, s0.url, nil), siotest.Dial(t, s1.url, nil)
	admin := siotest.Dial(t, s1.url, &siotest.Options{Namespace: "/admin"})
	waitFor(t, "the sockets", func() bool {
		return s0.srv.Sockets().Socket(c0.SID) != nil && s1.srv.Sockets().Socket(c1.SID) != nil
	})
	s1.srv.Sockets().Socket(c1.SID).Join("room")
	settle(t, s1)
	got := make(chan string, 4)
	s0.srv.Sockets().OnServerSideEmit("tick", func(args []json.RawMessage, ack func(json.RawMessage)) {
		got <- string(args[0])
		if ack != nil {
			t.Errorf("the emitter's server-side emit came with an acknowledgement")
		}
	})

	e := NewEmitter(connect(t, r), &EmitterOptions{Key: "em"})
	if err := e.Emit("all", 1, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*siotest.Client{c0, c1} {
		ev := c.Next("all")
		if string(ev.Args[0]) != "1" || len(ev.Attachments) != 1 || string(ev.Attachments[0]) != "\x01\x02" {
			t.Errorf("client %s got %s %q", c.SID, ev.Raw, ev.Attachments)
		}
	}
	// One room (its channel), and except.
	if err := e.To("room").Emit("room", 2); err != nil {
		t.Fatal(err)
	}
	if err := e.Except("room").Emit("notroom", 3); err != nil {
		t.Fatal(err)
	}
	if err := e.Of("admin").Emit("admin", 4); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit("fence"); err != nil {
		t.Fatal(err)
	}
	admin.Next("admin")
	c0.Next("fence")
	c1.Next("fence")
	if ev := c1.Next("room"); string(ev.Args[0]) != "2" {
		t.Errorf("c1 got %s", ev.Raw)
	}
	if ev := c0.Next("notroom"); string(ev.Args[0]) != "3" {
		t.Errorf("c0 got %s", ev.Raw)
	}
	if n := count(c0, "room"); n != 0 {
		t.Errorf("c0 got the room's event %d times", n)
	}
	if n := count(c1, "notroom"); n != 0 {
		t.Errorf("c1 got notroom %d times", n)
	}

	if err := e.In(c0.SID).SocketsJoin("joined"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c0 to join", func() bool { return slices.Contains(s0.srv.Sockets().Socket(c0.SID).Rooms(), "joined") })
	if err := e.ServerSideEmit("tick", "from the emitter"); err != nil {
		t.Fatal(err)
	}
	if a := <-got; a != `"from the emitter"` {
		t.Errorf("server-side handler got %s", a)
	}
	if err := e.In("room").DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	if reason := c1.Disconnected(); reason != "io server disconnect" {
		t.Errorf("c1 ended with %q", reason)
	}
	if err := e.Emit("disconnect"); !errors.Is(err, errEmitterReserved) {
		t.Errorf("Emit(disconnect) = %v, want a reserved-event error", err)
	}
}
