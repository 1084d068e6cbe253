package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/adapter/redis"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/socketio"
)

// needNode returns the path of node, checking that the npm packages of this
// folder are installed.
func needNode(t *testing.T) string {
	t.Helper()
	return peertest.Node(t, "test/cluster", "socket.io", "socket.io-client", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis")
}

// tether is a Tether server of the cluster.
type tether struct {
	name   string
	srv    *socketio.Server
	url    string
	client rueidis.Client

	mu  sync.Mutex
	sse []string // server-side events received: "event args…"
}

func (n *tether) adapter() socketio.Adapter {
	return n.srv.Sockets().Adapter()
}

// settle waits for the server's room subscriptions.
func (n *tether) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := n.adapter().(interface{ Settle(context.Context) error }).Settle(ctx); err != nil {
		t.Fatalf("%s: Settle: %v", n.name, err)
	}
}

func (n *tether) serverSideEvents() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.sse)
}

// startTether starts a Tether server with the adapter of mode (classic,
// sharded, streams) on r.
func startTether(t *testing.T, redisURL, name, key, mode string) *tether {
	t.Helper()
	c, err := redis.Connect(context.Background(), redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	n := &tether{name: name, client: c}
	var factory socketio.AdapterFactory
	copts := &cluster.Options{RequestTimeout: 3 * time.Second}
	switch mode {
	case "classic":
		factory = redis.NewClassicFactory(c, &redis.ClassicOptions{Key: key, RequestTimeout: 3 * time.Second})
	case "sharded":
		sh, err := redis.NewSharded(c, &redis.ShardedOptions{ChannelPrefix: key})
		if err != nil {
			t.Fatal(err)
		}
		factory = cluster.NewFactory(sh.Dialer(), copts)
	case "streams":
		st := redis.NewStreams(c, &redis.StreamsOptions{StreamName: key, ChannelPrefix: key})
		t.Cleanup(func() { _ = st.Close() })
		factory = cluster.NewFactory(st.Dialer(), copts)
	default:
		t.Fatalf("unknown mode %s", mode)
	}
	n.srv = socketio.NewServer(&socketio.Options{Adapter: factory})
	t.Cleanup(func() { _ = n.srv.Close() })
	n.srv.OnConnection(func(s *socketio.Socket) { s.Data().Set("node", name) })
	record := func(event string) func([]json.RawMessage, func(json.RawMessage)) {
		return func(args []json.RawMessage, ack func(json.RawMessage)) {
			parts := []string{event}
			for _, a := range args {
				parts = append(parts, string(a))
			}
			n.mu.Lock()
			n.sse = append(n.sse, strings.Join(parts, " "))
			n.mu.Unlock()
			if ack != nil {
				ack(json.RawMessage(`"pong from ` + name + `"`))
			}
		}
	}
	n.srv.Sockets().OnServerSideEmit("ping", record("ping"))
	n.srv.Sockets().OnServerSideEmit("note", record("note"))
	hs := httptest.NewServer(n.srv)
	t.Cleanup(hs.Close)
	n.url = hs.URL
	return n
}

// mixed is a cluster of two Tether servers and one Node server, with two
// official clients on each.
type mixed struct {
	t       *testing.T
	tethers []*tether
	node    *proc
	clients *proc
	sids    map[string]string // client name -> socket id
	names   []string          // every client, sorted
	fences  int
	mode    string // classic, sharded, streams
	key     string // the adapters' key prefix
}

// clientsOf returns the names of the clients of a server: t0a, t0b, t1a,
// t1b, na, nb.
func clientsOf(server string) []string { return []string{server + "a", server + "b"} }

func startMixed(t *testing.T, key, mode string) *mixed {
	t.Helper()
	nodeBin := needNode(t)
	r := peertest.StartRedis(t)
	return startMixedOn(t, nodeBin, r.URL(), r.URL(), key, mode)
}

// startMixedOn is startMixed on a Redis that Tether's servers reach at
// tetherURL and Node's at nodeURL (node_server.mjs's form).
func startMixedOn(t *testing.T, nodeBin, tetherURL, nodeURL, key, mode string) *mixed {
	t.Helper()
	m := &mixed{t: t, sids: map[string]string{}, mode: mode, key: key}
	m.node = startProc(t, nodeBin, "node server", "node_server.mjs", mode, nodeURL, key)
	port := m.node.wait("the node server to listen", func(l line) bool { return l.Op == "listening" }).Port
	for i := range 2 {
		m.tethers = append(m.tethers, startTether(t, tetherURL, fmt.Sprintf("tether%d", i), key, mode))
	}
	for _, tn := range m.tethers {
		waitUntil(t, tn.name+" to count 3 servers", func() bool {
			n, err := tn.adapter().ServerCount(context.Background())
			return err == nil && n == 3
		})
	}
	type target struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	var targets []target
	for i, tn := range m.tethers {
		for _, name := range clientsOf(fmt.Sprintf("t%d", i)) {
			targets = append(targets, target{name, tn.url})
		}
	}
	for _, name := range clientsOf("n") {
		targets = append(targets, target{name, fmt.Sprintf("http://127.0.0.1:%d", port)})
	}
	b, _ := json.Marshal(targets)
	m.clients = startProc(t, nodeBin, "node clients", "node_client.mjs", string(b))
	for _, tg := range targets {
		l := m.clients.wait(tg.Name+" to connect", func(l line) bool {
			return (l.Op == "connected" || l.Op == "connect_error") && l.Name == tg.Name
		})
		if l.Op != "connected" {
			t.Fatalf("%s: %s", tg.Name, l.raw)
		}
		m.sids[tg.Name] = l.ID
		m.names = append(m.names, tg.Name)
	}
	slices.Sort(m.names)
	// The servers have run their connection handlers.
	for i, tn := range m.tethers {
		for _, name := range clientsOf(fmt.Sprintf("t%d", i)) {
			waitUntil(t, name+"'s socket", func() bool { return tn.srv.Sockets().Socket(m.sids[name]) != nil })
		}
	}
	for _, name := range clientsOf("n") {
		m.node.wait(name+"'s socket on the node server", func(l line) bool { return l.Op == "connection" && l.ID == m.sids[name] })
	}
	return m
}

// server names a server of the cluster: 0 and 1 are the Tether servers, 2
// the Node server.
func (m *mixed) serverName(i int) string {
	if i < len(m.tethers) {
		return m.tethers[i].name
	}
	return "node"
}

// emit broadcasts from server i.
func (m *mixed) emit(i int, rooms, except []string, event string, args ...any) {
	m.t.Helper()
	if i < len(m.tethers) {
		if err := m.tethers[i].srv.To(rooms...).Except(except...).Emit(event, args...); err != nil {
			m.t.Fatal(err)
		}
		return
	}
	for j, a := range args {
		args[j] = binaryJSON(a)
	}
	m.node.call("emit", map[string]any{"rooms": rooms, "except": except, "event": event, "args": args})
}

// binaryJSON returns v with its []byte as {"$bin": base64}, as the Node
// scripts exchange them.
func binaryJSON(v any) any {
	switch x := v.(type) {
	case []byte:
		return map[string]any{"$bin": x}
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = binaryJSON(e)
		}
		return out
	}
	return v
}

// events returns the events named event that each client received.
func (m *mixed) events(event string) map[string][]line {
	out := map[string][]line{}
	for _, l := range m.clients.snapshot() {
		if l.Op == "event" && l.Event == event {
			out[l.Name] = append(out[l.Name], l)
		}
	}
	return out
}

// fence broadcasts a fence from server i to every client still connected
// and waits for it everywhere: what server i broadcast before has arrived
// (a server's messages reach each other server in order).
func (m *mixed) fence(i int, clients []string) {
	m.t.Helper()
	m.fences++
	event := fmt.Sprintf("fence%d", m.fences)
	m.emit(i, nil, nil, event)
	for _, name := range clients {
		m.clients.wait(name+" to get "+event, func(l line) bool { return l.Op == "event" && l.Name == name && l.Event == event })
	}
}

// expect checks, after a fence from server i, that exactly the clients in
// want got event, once each, with first argument arg (JSON).
func (m *mixed) expect(i int, event, arg string, want []string) {
	m.t.Helper()
	// A transport may carry a room's broadcasts on a channel of their own,
	// with no order against the fence's (sharded pub/sub): the clients that
	// must get the event wait for it first.
	for _, name := range want {
		m.clients.wait(name+" to get "+event, func(l line) bool { return l.Op == "event" && l.Name == name && l.Event == event })
	}
	m.fence(i, m.names)
	got := m.events(event)
	for _, name := range m.names {
		n := len(got[name])
		wanted := slices.Contains(want, name)
		switch {
		case wanted && n != 1:
			m.t.Errorf("from %s: client %s got %s %d times, want once", m.serverName(i), name, event, n)
		case !wanted && n != 0:
			m.t.Errorf("from %s: client %s got %s %d times, want none", m.serverName(i), name, event, n)
		}
		for _, l := range got[name] {
			if len(l.Args) == 0 || string(l.Args[0]) != arg {
				m.t.Errorf("from %s: client %s got %s", m.serverName(i), name, l.raw)
			}
		}
	}
}

// join makes a client's socket join rooms on its server.
func (m *mixed) join(name string, rooms ...string) {
	m.t.Helper()
	if strings.HasPrefix(name, "n") {
		m.node.call("join", map[string]any{"id": m.sids[name], "rooms": rooms})
		return
	}
	tn := m.tethers[int(name[1]-'0')]
	tn.srv.Sockets().Socket(m.sids[name]).Join(rooms...)
	tn.settle(m.t)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMixedClassic runs a cluster of two Tether servers and one Node
// socket.io 4.8 server on @socket.io/redis-adapter 8.3, with two official
// clients on each, and checks that every operation crosses between the
// implementations both ways.
func TestMixedClassic(t *testing.T) { runMixed(t, startMixed(t, "mixed", "classic")) }

// TestMixedSharded is TestMixedClassic with the sharded adapters
// (createShardedAdapter, dynamic subscriptions).
func TestMixedSharded(t *testing.T) { runMixed(t, startMixed(t, "mixed", "sharded")) }

// TestMixedStreams is TestMixedClassic with @socket.io/redis-streams-adapter
// 0.3.
func TestMixedStreams(t *testing.T) { runMixed(t, startMixed(t, "mixed", "streams")) }

// TestMixedRedisCluster runs the mixed tests of every adapter family on a
// Redis Cluster of three masters, Node's server on node-redis'
// createCluster: classic pub/sub crosses the cluster's nodes (and
// @socket.io/redis-adapter counts servers on every master, as Tether does
// on every node), sharded pub/sub goes to each channel's master, the
// stream lives on one master.
func TestMixedRedisCluster(t *testing.T) {
	nodeBin := needNode(t)
	rc := peertest.StartRedisCluster(t, 3)
	for _, mode := range []string{"classic", "sharded", "streams"} {
		t.Run(mode, func(t *testing.T) {
			runMixed(t, startMixedOn(t, nodeBin, rc.URL(), "cluster:redis://"+rc.Nodes[2].Addr, "mixed-"+mode, mode))
		})
	}
}

// runMixed checks every operation across the implementations; what only the
// classic protocol has (allRooms requests, the emitters) is checked in
// classic mode only.
func runMixed(t *testing.T, m *mixed) {
	classic := m.mode == "classic"
	// Rooms: a = t0a, t1a, na; b = t0b, t1a, nb.
	m.join("t0a", "a")
	m.join("t1a", "a", "b")
	m.join("na", "a")
	m.join("t0b", "b")
	m.join("nb", "b")
	inA := []string{"na", "t0a", "t1a"}
	inB := []string{"nb", "t0b", "t1a"}

	t.Run("Broadcasts", func(t *testing.T) {
		for i := range 3 {
			src := m.serverName(i)
			m.emit(i, nil, nil, "all-"+src, i)
			m.expect(i, "all-"+src, fmt.Sprint(i), m.names)
			// One room: published on the room's channel.
			m.emit(i, []string{"a"}, nil, "a-"+src, i)
			m.expect(i, "a-"+src, fmt.Sprint(i), inA)
			m.emit(i, []string{"a"}, []string{"b"}, "anotb-"+src, i)
			m.expect(i, "anotb-"+src, fmt.Sprint(i), []string{"na", "t0a"})
			// Two rooms: on the namespace's channel; t1a, in both, gets it once.
			m.emit(i, []string{"a", "b"}, nil, "aorb-"+src, i)
			m.expect(i, "aorb-"+src, fmt.Sprint(i), slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(inA), inB...)))))
			m.emit(i, nil, []string{"a"}, "nota-"+src, i)
			m.expect(i, "nota-"+src, fmt.Sprint(i), []string{"nb", "t0b", "t1b"})
			// A socket's own room, on each server.
			for _, target := range []string{"t0b", "t1b", "nb"} {
				ev := "direct-" + src + "-" + target
				m.emit(i, []string{m.sids[target]}, nil, ev, i)
				m.expect(i, ev, fmt.Sprint(i), []string{target})
			}
		}
	})

	t.Run("Binary", func(t *testing.T) {
		for i := range 3 {
			ev := "bin-" + m.serverName(i)
			m.emit(i, nil, nil, ev, []byte{1, 2, 3}, map[string]any{"nested": []byte{9, 8}})
			// Each client waits for the event before the fence: on a Redis
			// Cluster, Node's client sends each PUBLISH to a node of its
			// choice, and the cluster bus keeps no order between messages
			// published on different nodes (a Tether node subscribed on
			// another node saw the fence first).
			for _, name := range m.names {
				m.clients.wait(name+" to get "+ev, func(l line) bool { return l.Op == "event" && l.Name == name && l.Event == ev })
			}
			m.fence(i, m.names)
			got := m.events(ev)
			for _, name := range m.names {
				if len(got[name]) != 1 {
					t.Errorf("%s got %s %d times", name, ev, len(got[name]))
					continue
				}
				args := got[name][0].Args
				if len(args) != 2 || string(args[0]) != `{"$bin":"AQID"}` || string(args[1]) != `{"nested":{"$bin":"CQg="}}` {
					t.Errorf("%s got %s", name, got[name][0].raw)
				}
			}
		}
	})

	t.Run("Acks", func(t *testing.T) {
		res, err := m.tethers[0].srv.Timeout(5*time.Second).EmitWithAck(context.Background(), "ask")
		got := make([]string, len(res))
		for i, r := range res {
			got[i] = string(r)
		}
		slices.Sort(got)
		if want := quoted(m.names); err != nil || !slices.Equal(got, want) {
			t.Errorf("EmitWithAck from tether0 = %q, %v; want %q", got, err, want)
		}
		res, err = m.tethers[1].srv.To("a").Timeout(5*time.Second).EmitWithAck(context.Background(), "ask-a")
		got = got[:0]
		for _, r := range res {
			got = append(got, string(r))
		}
		slices.Sort(got)
		if want := quoted(inA); err != nil || !slices.Equal(got, want) {
			t.Errorf("To(a).EmitWithAck from tether1 = %q, %v; want %q", got, err, want)
		}
		var answers []string
		if err := json.Unmarshal(m.node.call("emitWithAck", map[string]any{"event": "ask", "timeout": 5000}), &answers); err != nil {
			t.Fatal(err)
		}
		slices.Sort(answers)
		if !slices.Equal(answers, m.names) {
			t.Errorf("emitWithAck from node = %q, want %q", answers, m.names)
		}
	})

	t.Run("FetchSockets", func(t *testing.T) {
		socks, err := m.tethers[0].srv.FetchSockets(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]*socketio.RemoteSocket{}
		for _, s := range socks {
			byID[s.ID] = s
		}
		for _, name := range m.names {
			s := byID[m.sids[name]]
			if s == nil {
				t.Errorf("tether0's FetchSockets lacks %s", name)
				continue
			}
			want := "node"
			if name[0] == 't' {
				want = "tether" + name[1:2]
			}
			if s.Data["node"] != want || !slices.Contains(s.Rooms, s.ID) || s.Handshake == nil || s.Handshake.Address == "" {
				t.Errorf("tether0's FetchSockets: %s = data %v rooms %q handshake %+v", name, s.Data, s.Rooms, s.Handshake)
			}
		}
		if len(socks) != len(m.names) {
			t.Errorf("tether0's FetchSockets found %d sockets, want %d", len(socks), len(m.names))
		}
		inBRemote, err := m.tethers[1].srv.In("b").FetchSockets(context.Background())
		if err != nil || len(inBRemote) != len(inB) {
			t.Errorf("tether1's In(b).FetchSockets = %d sockets, %v", len(inBRemote), err)
		}
		var fromNode []struct {
			ID    string         `json:"id"`
			Rooms []string       `json:"rooms"`
			Data  map[string]any `json:"data"`
		}
		if err := json.Unmarshal(m.node.call("fetchSockets", map[string]any{"rooms": []string{"a"}}), &fromNode); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range fromNode {
			ids = append(ids, s.ID)
			if s.ID == m.sids["t1a"] && (s.Data["node"] != "tether1" || !slices.Contains(s.Rooms, "b")) {
				t.Errorf("node's fetchSockets: t1a = %+v", s)
			}
		}
		slices.Sort(ids)
		if want := m.ids(inA); !slices.Equal(ids, want) {
			t.Errorf("node's in(a).fetchSockets = %q, want %q", ids, want)
		}
		all, err := m.tethers[0].srv.In("a").AllSockets(context.Background())
		slices.Sort(all)
		if want := m.ids(inA); err != nil || !slices.Equal(all, want) {
			t.Errorf("tether0's In(a).AllSockets = %q, %v; want %q", all, err, want)
		}
	})

	t.Run("Rooms", func(t *testing.T) {
		m.join("nb", "node-only")
		rooms, err := m.tethers[0].adapter().AllRooms(context.Background())
		if err != nil || !slices.Contains(rooms, "node-only") || !slices.Contains(rooms, "a") || !slices.Contains(rooms, m.sids["t1b"]) {
			t.Errorf("tether0's AllRooms = %q, %v", rooms, err)
		}
		if classic { // Node's ClusterAdapter answers allRooms with its own rooms
			var nodeRooms []string
			if err := json.Unmarshal(m.node.call("allRooms", nil), &nodeRooms); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(nodeRooms, m.sids["t0a"]) || !slices.Contains(nodeRooms, "b") {
				t.Errorf("node's allRooms = %q", nodeRooms)
			}
		}
		var count int
		if err := json.Unmarshal(m.node.call("serverCount", nil), &count); err != nil || count != 3 {
			t.Errorf("node's serverCount = %d, %v", count, err)
		}
	})

	t.Run("SocketsJoinLeave", func(t *testing.T) {
		// Tether -> Node: na joins j1.
		if err := m.tethers[0].srv.In(m.sids["na"]).SocketsJoin("j1"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "na to join j1", func() bool {
			var socks []struct{ ID string }
			_ = json.Unmarshal(m.node.call("fetchSockets", map[string]any{"rooms": []string{"j1"}}), &socks)
			return len(socks) == 1 && socks[0].ID == m.sids["na"]
		})
		if m.mode == "sharded" {
			// Node subscribes to the room's channel a moment after the
			// join (on Redis Cluster, on the channel's master).
			c := m.tethers[0].client
			ch := m.key + "#/#j1#"
			waitUntil(t, "the node server to subscribe to j1", func() bool {
				n, err := c.Do(context.Background(), c.B().PubsubShardnumsub().Channel(ch).Build()).AsIntMap()
				return err == nil && n[ch] == 1
			})
		}
		m.emit(1, []string{"j1"}, nil, "j1", 1)
		m.expect(1, "j1", "1", []string{"na"})
		// Node -> Tether: t1b joins j2.
		m.node.call("socketsJoin", map[string]any{"rooms": []string{m.sids["t1b"]}, "join": []string{"j2"}})
		ts := m.tethers[1].srv.Sockets().Socket(m.sids["t1b"])
		waitUntil(t, "t1b to join j2", func() bool { return slices.Contains(ts.Rooms(), "j2") })
		m.tethers[1].settle(t)
		m.emit(2, []string{"j2"}, nil, "j2", 2)
		m.expect(2, "j2", "2", []string{"t1b"})
		// And out again, both ways.
		if err := m.tethers[0].srv.In("j1").SocketsLeave("j1"); err != nil {
			t.Fatal(err)
		}
		m.node.call("socketsLeave", map[string]any{"rooms": []string{"j2"}, "leave": []string{"j2"}})
		waitUntil(t, "t1b to leave j2", func() bool { return !slices.Contains(ts.Rooms(), "j2") })
		waitUntil(t, "na to leave j1", func() bool {
			var socks []struct{ ID string }
			_ = json.Unmarshal(m.node.call("fetchSockets", map[string]any{"rooms": []string{"j1"}}), &socks)
			return len(socks) == 0
		})
	})

	t.Run("ServerSideEmit", func(t *testing.T) {
		res, err := m.tethers[0].srv.Sockets().ServerSideEmitWithAck(context.Background(), "ping", "from tether0")
		got := quotedStrings(res)
		if want := []string{`"pong from node"`, `"pong from tether1"`}; err != nil || !slices.Equal(got, want) {
			t.Errorf("tether0's ServerSideEmitWithAck = %q, %v; want %q", got, err, want)
		}
		m.node.wait("the node server to get ping", func(l line) bool {
			return l.Op == "serverSideEmit" && l.Event == "ping" && len(l.Args) == 1 && string(l.Args[0]) == `"from tether0"`
		})
		var answers []string
		if err := json.Unmarshal(m.node.call("serverSideEmit", map[string]any{"event": "ping", "args": []any{"from node"}, "ack": true}), &answers); err != nil {
			t.Fatal(err)
		}
		slices.Sort(answers)
		if want := []string{"pong from tether0", "pong from tether1"}; !slices.Equal(answers, want) {
			t.Errorf("node's serverSideEmitWithAck = %q, want %q", answers, want)
		}
		m.node.call("serverSideEmit", map[string]any{"event": "note", "args": []any{1, "x"}})
		for _, tn := range m.tethers {
			waitUntil(t, tn.name+" to get the node's note", func() bool { return slices.Contains(tn.serverSideEvents(), `note 1 "x"`) })
		}
		if err := m.tethers[1].srv.Sockets().ServerSideEmit("note", 2); err != nil {
			t.Fatal(err)
		}
		m.node.wait("the node server to get tether1's note", func(l line) bool {
			return l.Op == "serverSideEmit" && l.Event == "note" && len(l.Args) == 1 && string(l.Args[0]) == "2"
		})
		waitUntil(t, "tether0 to get tether1's note", func() bool { return slices.Contains(m.tethers[0].serverSideEvents(), "note 2") })
		if slices.Contains(m.tethers[1].serverSideEvents(), "note 2") {
			t.Errorf("tether1 handled its own server-side emit")
		}
	})

	t.Run("Emitters", func(t *testing.T) {
		if !classic {
			t.Skip("the emitters publish into the classic adapter only")
		}
		// Node's @socket.io/redis-emitter reaches every server's clients.
		m.node.call("emitter", map[string]any{"event": "node-emitter", "args": []any{1, map[string]any{"$bin": []byte{7}}}})
		m.node.call("emitter", map[string]any{"event": "node-emitter-a", "rooms": []string{"a"}, "args": []any{2}})
		m.node.call("emitter", map[string]any{"event": "node-emitter-notb", "except": []string{"b"}, "args": []any{3}})
		// What the emitter published is in Redis' order before the node
		// server's own fence.
		m.expect(2, "node-emitter", "1", m.names)
		for name, ls := range m.events("node-emitter") {
			if len(ls[0].Args) != 2 || string(ls[0].Args[1]) != `{"$bin":"Bw=="}` {
				t.Errorf("%s got %s", name, ls[0].raw)
			}
		}
		m.expect(2, "node-emitter-a", "2", inA)
		m.expect(2, "node-emitter-notb", "3", []string{"na", "t0a", "t1b"})
		m.node.call("emitter", map[string]any{"op": "serverSideEmit", "event": "note", "args": []any{"emitter"}})
		for _, tn := range m.tethers {
			waitUntil(t, tn.name+" to get the emitter's note", func() bool { return slices.Contains(tn.serverSideEvents(), `note "emitter"`) })
		}

		// The Go emitter reaches Node's clients (and Tether's).
		e := redis.NewEmitter(m.tethers[0].client, &redis.EmitterOptions{Key: m.key})
		fenceAfter := func(event, arg string, want []string) {
			t.Helper()
			// The emitter publishes on tether0's client: tether0's fence
			// comes after it on the same connection.
			m.expect(0, event, arg, want)
		}
		if err := e.Emit("go-emitter", 1, []byte{5, 6}); err != nil {
			t.Fatal(err)
		}
		fenceAfter("go-emitter", "1", m.names)
		for name, ls := range m.events("go-emitter") {
			if len(ls[0].Args) != 2 || string(ls[0].Args[1]) != `{"$bin":"BQY="}` {
				t.Errorf("%s got %s", name, ls[0].raw)
			}
		}
		if err := e.To("b").Emit("go-emitter-b", 2); err != nil {
			t.Fatal(err)
		}
		fenceAfter("go-emitter-b", "2", inB)
		if err := e.To("a", "b").Except(m.sids["t1a"]).Emit("go-emitter-ab", 3); err != nil {
			t.Fatal(err)
		}
		fenceAfter("go-emitter-ab", "3", []string{"na", "nb", "t0a", "t0b"})
		if err := e.Of("/").To(m.sids["nb"]).SocketsJoin("ej"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "nb to join ej", func() bool {
			var socks []struct{ ID string }
			_ = json.Unmarshal(m.node.call("fetchSockets", map[string]any{"rooms": []string{"ej"}}), &socks)
			return len(socks) == 1
		})
		if err := e.ServerSideEmit("note", "go emitter"); err != nil {
			t.Fatal(err)
		}
		m.node.wait("the node server to get the Go emitter's note", func(l line) bool {
			return l.Op == "serverSideEmit" && l.Event == "note" && len(l.Args) == 1 && string(l.Args[0]) == `"go emitter"`
		})
	})

	t.Run("DisconnectSockets", func(t *testing.T) {
		if err := m.tethers[0].srv.In(m.sids["nb"]).DisconnectSockets(false); err != nil {
			t.Fatal(err)
		}
		m.clients.wait("nb to be disconnected", func(l line) bool { return l.Op == "disconnect" && l.Name == "nb" })
		m.node.call("disconnectSockets", map[string]any{"rooms": []string{m.sids["t1b"]}})
		l := m.clients.wait("t1b to be disconnected", func(l line) bool { return l.Op == "disconnect" && l.Name == "t1b" })
		if l.Reason != "io server disconnect" {
			t.Errorf("t1b: %s", l.raw)
		}
		// The others are still there.
		left := slices.DeleteFunc(slices.Clone(m.names), func(n string) bool { return n == "nb" || n == "t1b" })
		m.fence(2, left)
		for _, l := range m.clients.snapshot() {
			if l.Op == "disconnect" && l.Name != "nb" && l.Name != "t1b" {
				t.Errorf("%s", l.raw)
			}
		}
	})
}

func (m *mixed) ids(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, m.sids[n])
	}
	slices.Sort(out)
	return out
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = `"` + n + `"`
	}
	slices.Sort(out)
	return out
}

func quotedStrings(res []json.RawMessage) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = string(r)
	}
	slices.Sort(out)
	return out
}
