package cluster_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/adapter/redis"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// TestRecoveryAcrossImplementations checks connection state recovery
// between a Tether server and a Node server on
// @socket.io/redis-streams-adapter 0.3: a client that loses its connection
// to one gets its session back through the other, with the packets it
// missed — Tether reading the session and offsets Node wrote, and Node
// those Tether wrote.
func TestRecoveryAcrossImplementations(t *testing.T) {
	nodeBin := needNode(t)
	r := peertest.StartRedis(t)
	node := startProc(t, nodeBin, "node server", "node_server.mjs", "streams", r.URL(), "rec", "recovery")
	port := node.wait("the node server to listen", func(l line) bool { return l.Op == "listening" }).Port
	nodeURL := fmt.Sprintf("http://127.0.0.1:%d", port)

	c, err := redis.Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	st := redis.NewStreams(c, &redis.StreamsOptions{StreamName: "rec", ChannelPrefix: "rec"})
	t.Cleanup(func() { _ = st.Close() })
	rec := &socketio.RecoveryOptions{}
	srv := socketio.NewServer(&socketio.Options{ConnectionStateRecovery: rec,
		Adapter: cluster.NewFactory(st.Dialer(), &cluster.Options{Recovery: rec, KeepSessions: -1})})
	t.Cleanup(func() { _ = srv.Close() })
	connected := make(chan *socketio.Socket, 4)
	srv.OnConnection(func(s *socketio.Socket) {
		if !s.Recovered() {
			s.Join("room")
		}
		connected <- s
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	waitUntil(t, "the servers to see each other", func() bool {
		n, err := srv.Sockets().Adapter().ServerCount(context.Background())
		return err == nil && n == 2
	})
	sessionKept := func(pid string) {
		t.Helper()
		waitUntil(t, "the session to be kept", func() bool {
			n, err := c.Do(context.Background(), c.B().Exists().Key("sio:session:"+pid).Build()).AsInt64()
			return err == nil && n == 1
		})
	}
	nodeEmit := func(arg int) {
		t.Helper()
		node.call("emit", map[string]any{"rooms": []string{"room"}, "event": "m", "args": []any{arg}})
	}

	// Tether -> Node.
	a := siotest.Dial(t, hs.URL, nil)
	<-connected
	nodeEmit(0)
	if e := a.Next("m"); string(e.Args[0]) != "0" {
		t.Fatalf("got %s", e.Raw)
	}
	offset := a.LastOffset()
	a.Close()
	sessionKept(a.PID)
	nodeEmit(1) // missed
	b := siotest.Dial(t, nodeURL, &siotest.Options{Auth: map[string]string{"pid": a.PID, "offset": offset}})
	if b.SID != a.SID {
		t.Fatalf("Node gave %s, want the session %s that Tether kept", b.SID, a.SID)
	}
	if l := node.wait("the recovered connection", func(l line) bool { return l.Op == "connection" && l.ID == a.SID }); !l.Recovered {
		t.Fatalf("Node did not recover the session: %s", l.raw)
	}
	if e := b.Next("m"); string(e.Args[0]) != "1" {
		t.Fatalf("missed packet from Node: %s", e.Raw)
	}

	// Node -> Tether.
	offset = b.LastOffset()
	b.Close()
	node.wait("the node server to see the disconnection", func(l line) bool { return l.Op == "disconnect" && l.ID == a.SID })
	sessionKept(b.PID)
	if err := srv.To("room").Emit("m", 2); err != nil { // missed
		t.Fatal(err)
	}
	d := siotest.Dial(t, hs.URL, &siotest.Options{Auth: map[string]string{"pid": b.PID, "offset": offset}})
	if d.SID != a.SID {
		t.Fatalf("Tether gave %s, want the session %s that Node kept", d.SID, a.SID)
	}
	select {
	case s := <-connected:
		if !s.Recovered() {
			t.Fatal("Tether did not recover the session")
		}
	case <-time.After(siotest.Timeout):
		t.Fatal("no connection")
	}
	if e := d.Next("m"); string(e.Args[0]) != "2" {
		t.Fatalf("missed packet from Tether: %s", e.Raw)
	}
	nodeEmit(3) // live, in its rooms again
	if e := d.Next("m"); string(e.Args[0]) != "3" {
		t.Fatalf("after recovery: %s", e.Raw)
	}
}
