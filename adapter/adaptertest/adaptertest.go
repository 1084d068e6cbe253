// Package adaptertest is the behaviour suite of socketio adapters: the same
// tests run against the in-memory adapter of one server and against the
// multi-server adapters (on the in-process bus, on Redis), each time with
// clients connected to every server and speaking the protocol over
// WebSocket. A multi-server adapter must behave, seen from the clients and
// from the servers' API, as if all the sockets were on one server.
package adaptertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// NewCluster returns n servers that share one cluster (n is 1 for a
// single-server adapter). The suite serves them and sets their handlers.
type NewCluster func(t *testing.T, n int) []*socketio.Server

// Each returns the NewCluster that makes each of its n servers with node.
func Each(node func(t *testing.T) *socketio.Server) NewCluster {
	return func(t *testing.T, n int) []*socketio.Server {
		out := make([]*socketio.Server, n)
		for i := range out {
			out[i] = node(t)
		}
		return out
	}
}

// node is a served server and its sockets.
type node struct {
	srv  *socketio.Server
	base string

	mu      sync.Mutex
	sockets map[string]*socketio.Socket
}

func (n *node) socket(id string) *socketio.Socket {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sockets[id]
}

// cluster is the servers and clients of one test.
type cluster struct {
	t       *testing.T
	nodes   []*node
	clients [][]*siotest.Client // by node
}

// start serves the servers and connects perNode clients to each.
func start(t *testing.T, newCluster NewCluster, n, perNode int) *cluster {
	t.Helper()
	c := &cluster{t: t}
	for _, srv := range newCluster(t, n) {
		nd := &node{srv: srv, sockets: map[string]*socketio.Socket{}}
		srv.OnConnection(func(s *socketio.Socket) {
			nd.mu.Lock()
			nd.sockets[s.ID()] = s
			nd.mu.Unlock()
			s.OnDisconnect(func(s *socketio.Socket, _ string) {
				nd.mu.Lock()
				delete(nd.sockets, s.ID())
				nd.mu.Unlock()
			})
		})
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		nd.base = hs.URL
		c.nodes = append(c.nodes, nd)
	}
	// The cluster is formed once every server counts them all (over a
	// transport that counts servers by heartbeats, that takes a moment).
	for _, nd := range c.nodes {
		waitFor(t, "every server to see the others", func() bool {
			count, err := nd.srv.Sockets().Adapter().ServerCount(context.Background())
			return err == nil && count == len(c.nodes)
		})
	}
	for _, nd := range c.nodes {
		var cs []*siotest.Client
		for range perNode {
			cs = append(cs, siotest.Dial(t, nd.base, nil))
		}
		c.clients = append(c.clients, cs)
		// The sockets joined their own rooms.
		syncAdapter(t, nd.srv.Sockets().Adapter())
	}
	return c
}

// all returns every client.
func (c *cluster) all() []*siotest.Client {
	var out []*siotest.Client
	for _, cs := range c.clients {
		out = append(out, cs...)
	}
	return out
}

// sock returns the client's socket on its server, waiting for the
// server's connection handler (which runs after the client got its
// CONNECT answer).
func (c *cluster) sock(node int, cl *siotest.Client) *socketio.Socket {
	c.t.Helper()
	var s *socketio.Socket
	waitFor(c.t, "the socket of "+cl.SID, func() bool {
		s = c.nodes[node].socket(cl.SID)
		return s != nil
	})
	return s
}

// join makes the client's socket join rooms on its server, and waits for
// the server's adapter to follow (adapters that subscribe room by room have
// a Settle method).
func (c *cluster) join(node int, cl *siotest.Client, rooms ...string) {
	c.t.Helper()
	s := c.sock(node, cl)
	s.Join(rooms...)
	syncAdapter(c.t, s.Namespace().Adapter())
}

// syncAdapter waits for an adapter that subscribes room by room to follow
// its server's rooms (it has a Settle method).
func syncAdapter(t *testing.T, a socketio.Adapter) {
	t.Helper()
	if sy, ok := a.(interface{ Settle(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), siotest.Timeout)
		defer cancel()
		if err := sy.Settle(ctx); err != nil {
			t.Fatalf("Settle after a join: %v", err)
		}
	}
}

// fence makes sure every client has received what node from sent before:
// it broadcasts a fence event from that node and waits for it everywhere
// (broadcasts of one server arrive in order).
func (c *cluster) fence(from int) {
	c.t.Helper()
	if err := c.nodes[from].srv.Emit("fence"); err != nil {
		c.t.Fatalf("fence: %v", err)
	}
	for _, cl := range c.all() {
		cl.Next("fence")
	}
}

// expect checks that exactly the clients in want got event (once, with
// arg), and the others none, up to a fence. (A transport may carry a
// room's broadcasts on a channel of their own, with no order against the
// fence's: the clients that must get the event wait for it.)
func (c *cluster) expect(from int, event string, arg string, want []*siotest.Client) {
	c.t.Helper()
	for _, cl := range want {
		if e, ok := cl.NextWithin(event, siotest.Timeout); !ok {
			c.t.Errorf("client %s did not get %s", cl.SID, event)
		} else if len(e.Args) == 0 || string(e.Args[0]) != arg {
			c.t.Errorf("client %s got %s%s, want first argument %s", cl.SID, event, e.Raw, arg)
		}
	}
	c.fence(from)
	for _, cl := range c.all() {
		for _, e := range cl.Events() {
			if e.Name == event {
				c.t.Errorf("client %s got %s%s (once more, or not for it)", cl.SID, event, e.Raw)
			}
		}
	}
}

// Run runs the suite with clusters of n servers (n >= 1).
func Run(t *testing.T, newCluster NewCluster, n int) {
	t.Run("BroadcastAll", func(t *testing.T) {
		c := start(t, newCluster, n, 2)
		for i, nd := range c.nodes {
			if err := nd.srv.Emit("hello", i); err != nil {
				t.Fatal(err)
			}
			c.expect(i, "hello", fmt.Sprint(i), c.all())
		}
	})
	t.Run("RoomsAndExcept", func(t *testing.T) {
		c := start(t, newCluster, n, 2)
		var inA, inB []*siotest.Client
		for i, cs := range c.clients {
			c.join(i, cs[0], "a")
			inA = append(inA, cs[0])
			c.join(i, cs[1], "a", "b")
			inA = append(inA, cs[1])
			inB = append(inB, cs[1])
		}
		last := len(c.nodes) - 1
		src := c.nodes[last].srv
		if err := src.To("a").Except("b").Emit("ab", 1); err != nil {
			t.Fatal(err)
		}
		var onlyA []*siotest.Client
		for _, cl := range inA {
			if !slices.Contains(inB, cl) {
				onlyA = append(onlyA, cl)
			}
		}
		c.expect(last, "ab", "1", onlyA)
		// Several rooms: a client in both gets the packet once.
		if err := src.To("a", "b").Emit("aorb", 2); err != nil {
			t.Fatal(err)
		}
		c.expect(last, "aorb", "2", inA)
		// A socket's own room.
		target := c.clients[0][1]
		if err := src.To(target.SID).Emit("direct", 3); err != nil {
			t.Fatal(err)
		}
		c.expect(last, "direct", "3", []*siotest.Client{target})
	})
	t.Run("Binary", func(t *testing.T) {
		c := start(t, newCluster, n, 1)
		if err := c.nodes[0].srv.Emit("bin", "x", []byte{1, 2, 3}, map[string]any{"nested": []byte{9}}); err != nil {
			t.Fatal(err)
		}
		for _, cl := range c.all() {
			e := cl.Next("bin")
			if len(e.Attachments) != 2 || string(e.Attachments[0]) != "\x01\x02\x03" || string(e.Attachments[1]) != "\x09" {
				t.Errorf("client %s got attachments %q", cl.SID, e.Attachments)
			}
		}
	})
	t.Run("Burst", func(t *testing.T) {
		// Broadcasts made faster than the servers deliver them, each
		// excepting another client or none, some with attachments: adapters
		// deliver those that arrive together as a group. Every client gets
		// every broadcast meant for it once, in order.
		c := start(t, newCluster, n, 2)
		all := c.all()
		excepted := func(i int) int { // the client broadcast i excepts, or -1
			if i%3 == 0 {
				return -1
			}
			return i % len(all)
		}
		const count = 300
		src := c.nodes[0].srv
		for i := range count {
			op := src.To() // every socket
			if k := excepted(i); k >= 0 {
				op = op.Except(all[k].SID)
			}
			var err error
			if i%20 == 0 {
				err = op.Emit("burst", i, []byte{byte(i)})
			} else {
				err = op.Emit("burst", i)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for k, cl := range all {
			cl.NextBurst("burst", count, func(i int) bool { return excepted(i) == k }, func(i int) bool { return i%20 == 0 })
		}
		c.fence(0)
		for _, cl := range all {
			for _, e := range cl.Events() {
				if e.Name == "burst" {
					t.Errorf("client %s got burst%s once more, or not for it", cl.SID, e.Raw)
				}
			}
		}
	})
	t.Run("BroadcastWithAck", func(t *testing.T) {
		c := start(t, newCluster, n, 2)
		for i, cl := range c.all() {
			answer := i
			cl.AutoAck(func(siotest.Event) []any { return []any{answer} })
		}
		res, err := c.nodes[0].srv.Timeout(siotest.Timeout).EmitWithAck(context.Background(), "ask")
		if err != nil {
			t.Fatalf("EmitWithAck: %v (%d answers)", err, len(res))
		}
		got := make([]string, len(res))
		for i, r := range res {
			got[i] = string(r)
		}
		slices.Sort(got)
		var want []string
		for i := range c.all() {
			want = append(want, fmt.Sprint(i))
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("answers %q, want %q", got, want)
		}
		// A client that does not answer: the others' answers and a timeout.
		c.all()[0].AutoAck(nil)
		res, err = c.nodes[0].srv.Timeout(500*time.Millisecond).EmitWithAck(context.Background(), "ask")
		if !errors.Is(err, socketio.ErrAckTimeout) || len(res) != len(c.all())-1 {
			t.Errorf("with one silent client: %d answers, %v", len(res), err)
		}
	})
	t.Run("FetchSockets", func(t *testing.T) {
		c := start(t, newCluster, n, 2)
		for i, cs := range c.clients {
			c.join(i, cs[1], "f")
			c.sock(i, cs[1]).Data().Set("node", i)
		}
		ctx := context.Background()
		all, err := c.nodes[0].srv.FetchSockets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(all), sids(c.all()); !slices.Equal(got, want) {
			t.Errorf("FetchSockets = %q, want %q", got, want)
		}
		inF, err := c.nodes[len(c.nodes)-1].srv.In("f").FetchSockets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var want []*siotest.Client
		for _, cs := range c.clients {
			want = append(want, cs[1])
		}
		if got := ids(inF); !slices.Equal(got, sids(want)) {
			t.Errorf("In(f).FetchSockets = %q, want %q", got, sids(want))
		}
		for _, s := range inF {
			if !slices.Contains(s.Rooms, "f") || !slices.Contains(s.Rooms, s.ID) || s.Handshake == nil || s.Handshake.Address == "" {
				t.Errorf("socket %s: rooms %q, handshake %+v", s.ID, s.Rooms, s.Handshake)
			}
			if _, ok := s.Data["node"]; !ok {
				t.Errorf("socket %s: data %v", s.ID, s.Data)
			}
		}
		except, err := c.nodes[0].srv.Except("f").FetchSockets(ctx)
		if err != nil || len(except) != len(c.all())-len(want) {
			t.Errorf("Except(f).FetchSockets: %d sockets, %v", len(except), err)
		}
		ids2, err := c.nodes[0].srv.In("f").AllSockets(ctx)
		if slices.Sort(ids2); err != nil || !slices.Equal(ids2, sids(want)) {
			t.Errorf("AllSockets = %q, %v", ids2, err)
		}
	})
	t.Run("SocketsJoinLeave", func(t *testing.T) {
		c := start(t, newCluster, n, 1)
		last := len(c.nodes) - 1
		target := c.clients[last][0]
		// From the first server, a socket of the last one joins "x".
		if err := c.nodes[0].srv.In(target.SID).SocketsJoin("x"); err != nil {
			t.Fatal(err)
		}
		ts := c.sock(last, target)
		waitFor(t, "the socket to join x", func() bool { return slices.Contains(ts.Rooms(), "x") })
		syncAdapter(t, ts.Namespace().Adapter())
		if err := c.nodes[0].srv.To("x").Emit("x", 1); err != nil {
			t.Fatal(err)
		}
		c.expect(0, "x", "1", []*siotest.Client{target})
		if err := c.nodes[0].srv.In("x").SocketsLeave("x"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the socket to leave x", func() bool { return !slices.Contains(ts.Rooms(), "x") })
		rooms, err := c.nodes[0].srv.Sockets().Adapter().AllRooms(context.Background())
		if err != nil || slices.Contains(rooms, "x") || !slices.Contains(rooms, target.SID) {
			t.Errorf("AllRooms = %q, %v", rooms, err)
		}
	})
	t.Run("DisconnectSockets", func(t *testing.T) {
		c := start(t, newCluster, n, 2)
		last := len(c.nodes) - 1
		target := c.clients[last][0]
		if err := c.nodes[0].srv.In(target.SID).DisconnectSockets(false); err != nil {
			t.Fatal(err)
		}
		if got := target.Disconnected(); got != "io server disconnect" {
			t.Errorf("target ended with %q", got)
		}
		// The others are still connected.
		if err := c.nodes[0].srv.Emit("after"); err != nil {
			t.Fatal(err)
		}
		for _, cl := range c.all() {
			if cl != target {
				cl.Next("after")
			}
		}
	})
	t.Run("ServerSideEmit", func(t *testing.T) {
		c := start(t, newCluster, n, 0)
		got := make(chan string, len(c.nodes))
		for i, nd := range c.nodes {
			nd.srv.Sockets().OnServerSideEmit("ping", func(args []json.RawMessage, ack func(json.RawMessage)) {
				got <- string(args[0])
				if ack != nil {
					ack(json.RawMessage(fmt.Sprintf(`"pong %d"`, i)))
				}
			})
		}
		res, err := c.nodes[0].srv.Sockets().ServerSideEmitWithAck(context.Background(), "ping", "hi")
		if err != nil || len(res) != len(c.nodes)-1 {
			t.Fatalf("ServerSideEmitWithAck = %q, %v; want %d answers", res, err, len(c.nodes)-1)
		}
		for range len(c.nodes) - 1 {
			if a := <-got; a != `"hi"` {
				t.Errorf("handler got %s", a)
			}
		}
		select {
		case a := <-got:
			t.Errorf("the emitting server handled its own event (%s)", a)
		default:
		}
		count, err := c.nodes[0].srv.Sockets().Adapter().ServerCount(context.Background())
		if err != nil || count != len(c.nodes) {
			t.Errorf("ServerCount = %d, %v; want %d", count, err, len(c.nodes))
		}
	})
	t.Run("Local", func(t *testing.T) {
		c := start(t, newCluster, n, 1)
		if err := c.nodes[0].srv.Local().Emit("local", 1); err != nil {
			t.Fatal(err)
		}
		c.expect(0, "local", "1", c.clients[0])
	})
}

func ids(socks []*socketio.RemoteSocket) []string {
	out := make([]string, len(socks))
	for i, s := range socks {
		out[i] = s.ID
	}
	slices.Sort(out)
	return out
}

func sids(cs []*siotest.Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.SID
	}
	slices.Sort(out)
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(siotest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
