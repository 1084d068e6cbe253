package redis

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/adaptertest"
	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// clusterClient returns a new client of the Redis Cluster c, closed when
// the test ends.
func clusterClient(t testing.TB, c *peertest.RedisCluster) rueidis.Client {
	t.Helper()
	rc, err := Connect(context.Background(), c.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return rc
}

func TestRedisClusterClassicSuite(t *testing.T) {
	rc := peertest.StartRedisCluster(t, 3)
	adaptertest.Run(t, adaptertest.Each(func(t *testing.T) *socketio.Server {
		srv := socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(clusterClient(t, rc), &ClassicOptions{Key: "suite-" + t.Name()})})
		t.Cleanup(func() { _ = srv.Close() })
		return srv
	}), 3)
}

func TestRedisClusterShardedSuite(t *testing.T) {
	rc := peertest.StartRedisCluster(t, 3)
	for _, mode := range []string{"dynamic", "static"} {
		t.Run(mode, func(t *testing.T) {
			adaptertest.Run(t, adaptertest.Each(func(t *testing.T) *socketio.Server {
				sh, err := NewSharded(clusterClient(t, rc), &ShardedOptions{SubscriptionMode: mode, ChannelPrefix: "suite-" + t.Name()})
				if err != nil {
					t.Fatal(err)
				}
				srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(sh.Dialer(), nil)})
				t.Cleanup(func() { _ = srv.Close() })
				return srv
			}), 3)
		})
	}
}

func TestRedisClusterStreamsSuite(t *testing.T) {
	rc := peertest.StartRedisCluster(t, 3)
	for _, sharded := range []bool{false, true} {
		name := "pubsub"
		if sharded {
			name = "sharded"
		}
		t.Run(name, func(t *testing.T) {
			adaptertest.Run(t, adaptertest.Each(func(t *testing.T) *socketio.Server {
				st := NewStreams(clusterClient(t, rc), &StreamsOptions{StreamName: "suite-" + t.Name(), ChannelPrefix: "suite-" + t.Name(), UseShardedPubSub: sharded})
				srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(st.Dialer(), nil)})
				t.Cleanup(func() { _ = srv.Close(); _ = st.Close() })
				return srv
			}), 3)
		})
	}
}

// TestRedisClusterStreamsRecovery: connection state recovery across
// servers on Redis Cluster (the stream on one node, the session's key on
// whichever node its slot is).
func TestRedisClusterStreamsRecovery(t *testing.T) {
	testStreamsRecoveryAcrossServers(t, peertest.StartRedisCluster(t, 3))
}

// TestRedisClusterEngineTransport: a polling session served by two
// Engine.IO servers on Redis Cluster; the liveness of a server is its
// subscription, counted on every node.
func TestRedisClusterEngineTransport(t *testing.T) {
	testEngineTransport(t, peertest.StartRedisCluster(t, 3))
}

// TestRedisClusterEmitter: the Go emitter's PUBLISH reaches Tether servers
// subscribed on other nodes of the cluster.
func TestRedisClusterEmitter(t *testing.T) {
	testEmitterReachesTether(t, peertest.StartRedisCluster(t, 3))
}

// slotOwners returns, for each slot of the cluster, the address of the
// master that serves it (CLUSTER SLOTS).
func slotOwners(t *testing.T, c rueidis.Client) map[int64]string {
	t.Helper()
	ranges, err := c.Do(context.Background(), c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	owners := map[int64]string{}
	for _, r := range ranges {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			t.Fatalf("CLUSTER SLOTS entry %v: %v", r, err)
		}
		from, _ := f[0].AsInt64()
		to, _ := f[1].AsInt64()
		master, _ := f[2].ToArray()
		host, _ := master[0].ToString()
		port, _ := master[1].AsInt64()
		for s := from; s <= to; s++ {
			owners[s] = fmt.Sprintf("%s:%d", host, port)
		}
	}
	return owners
}

// roomsOnEveryMaster returns a room name per master of the cluster, such
// that channel(room) hashes to a slot of that master.
func roomsOnEveryMaster(t *testing.T, c rueidis.Client, rc *peertest.RedisCluster, channel func(room string) string) []string {
	t.Helper()
	owners := slotOwners(t, c)
	byNode := map[string]string{}
	for i := 0; len(byNode) < len(rc.Nodes) && i < 1000; i++ {
		room := fmt.Sprintf("room-%d", i)
		slot, err := c.Do(context.Background(), c.B().ClusterKeyslot().Key(channel(room)).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if n := owners[slot]; n != "" && byNode[n] == "" {
			byNode[n] = room
		}
	}
	if len(byNode) != len(rc.Nodes) {
		t.Fatalf("found rooms on %d masters of %d", len(byNode), len(rc.Nodes))
	}
	var rooms []string
	for _, r := range byNode {
		rooms = append(rooms, r)
	}
	sort.Strings(rooms)
	return rooms
}

// TestRedisClusterRoomsOnEveryMaster runs two servers per adapter family on
// Redis Cluster, with rooms whose channels hash to slots of every master:
// a broadcast to a room from either server reaches each member on both
// servers exactly once and no one else, the servers count each other, and
// in the sharded adapter each room's channel has one subscriber per server
// on the master that owns its slot.
func TestRedisClusterRoomsOnEveryMaster(t *testing.T) {
	rc := peertest.StartRedisCluster(t, 3)
	admin := connect(t, rc)
	families := []struct {
		name string
		// sharded: the rooms' channels are sharded pub/sub channels.
		sharded bool
		newNode func(t *testing.T, prefix string) *socketio.Server
	}{
		{"pubsub", false, func(t *testing.T, prefix string) *socketio.Server {
			return socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(connect(t, rc), &ClassicOptions{Key: prefix})})
		}},
		{"sharded", true, func(t *testing.T, prefix string) *socketio.Server {
			sh, err := NewSharded(connect(t, rc), &ShardedOptions{ChannelPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(sh.Dialer(), nil)})
		}},
		{"streams", false, func(t *testing.T, prefix string) *socketio.Server {
			st := NewStreams(connect(t, rc), &StreamsOptions{StreamName: prefix, ChannelPrefix: prefix, UseShardedPubSub: true})
			t.Cleanup(func() { _ = st.Close() })
			return socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(st.Dialer(), nil)})
		}},
	}
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			prefix := "rooms-" + fam.name
			channel := func(room string) string { return prefix + "#/#" + room + "#" }
			rooms := roomsOnEveryMaster(t, admin, rc, channel)
			var srvs [2]*socketio.Server
			var urls [2]string
			for i := range srvs {
				srvs[i] = fam.newNode(t, prefix)
				t.Cleanup(func() { _ = srvs[i].Close() })
				hs := httptest.NewServer(srvs[i])
				t.Cleanup(hs.Close)
				urls[i] = hs.URL
			}
			for _, s := range srvs {
				waitServers(t, s, 2)
			}
			members := []*siotest.Client{siotest.Dial(t, urls[0], nil), siotest.Dial(t, urls[1], nil)}
			outsider := siotest.Dial(t, urls[1], nil)
			for i, c := range members {
				var s *socketio.Socket
				waitFor(t, "the socket", func() bool { s = srvs[i].Sockets().Socket(c.SID); return s != nil })
				s.Join(rooms...)
				syncAdapter(t, srvs[i].Sockets().Adapter())
			}
			if fam.sharded {
				for _, room := range rooms {
					n, err := admin.Do(context.Background(), admin.B().PubsubShardnumsub().Channel(channel(room)).Build()).AsIntMap()
					if err != nil || n[channel(room)] != 2 {
						t.Errorf("SHARDNUMSUB %s = %v, %v; want 2 subscribers", channel(room), n, err)
					}
				}
			}
			for from, src := range srvs {
				for _, room := range rooms {
					arg := fmt.Sprintf("%q", fmt.Sprintf("%s from %d", room, from))
					if err := src.To(room).Emit("room", arg[1:len(arg)-1]); err != nil {
						t.Fatal(err)
					}
					// The same server's broadcasts to the room arrive in order.
					if err := src.To(room).Emit("end"); err != nil {
						t.Fatal(err)
					}
					for _, c := range members {
						c.Next("end")
						var got []string
						for _, e := range c.Events() {
							if e.Name == "room" {
								got = append(got, string(e.Args[0]))
							}
						}
						if len(got) != 1 || got[0] != arg {
							t.Errorf("client %s got %q, want %s once", c.SID, got, arg)
						}
					}
				}
				if err := src.Emit("fence"); err != nil {
					t.Fatal(err)
				}
			}
			outsider.Next("fence")
			outsider.Next("fence")
			for _, e := range outsider.Events() {
				t.Errorf("the client in no room got %s", e.Raw)
			}
		})
	}
}

// syncAdapter waits until a's room subscriptions are made (adapters that
// subscribe room by room have a Settle method).
func syncAdapter(t *testing.T, a socketio.Adapter) {
	t.Helper()
	if sy, ok := a.(interface{ Settle(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), siotest.Timeout)
		defer cancel()
		if err := sy.Settle(ctx); err != nil {
			t.Fatalf("Settle: %v", err)
		}
	}
}

// publishesByNode returns the PUBLISH commands each node of the cluster
// has run (INFO commandstats).
func publishesByNode(t *testing.T, c rueidis.Client) map[string]int {
	t.Helper()
	out := map[string]int{}
	for addr, n := range c.Nodes() {
		info, err := n.Do(context.Background(), n.B().Info().Section("commandstats").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		if _, rest, ok := strings.Cut(info, "cmdstat_publish:calls="); ok {
			calls, _ = strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		}
		out[addr] = calls
	}
	return out
}

// TestRedisClusterPublishOneNode checks that each publisher sends all its
// PUBLISH commands to one node of the cluster: Redis keeps the order of a
// node's messages, but two nodes forward theirs independently, so a
// sender that spread its publishes over nodes could see them arrive out of
// order (an emitter's events, a polling session's packets).
func TestRedisClusterPublishOneNode(t *testing.T) {
	rc := peertest.StartRedisCluster(t, 3)
	admin := connect(t, rc)
	const n = 30
	check := func(what string, publish func(i int)) {
		t.Helper()
		before := publishesByNode(t, admin)
		for i := range n {
			publish(i)
		}
		var spread []string
		waitFor(t, what+"'s publishes", func() bool { // the classic adapter's go through a queue
			spread = nil
			total := 0
			for addr, calls := range publishesByNode(t, admin) {
				if d := calls - before[addr]; d > 0 {
					spread = append(spread, fmt.Sprintf("%s: %d", addr, d))
					total += d
				}
			}
			return total >= n
		})
		if len(spread) != 1 {
			t.Errorf("%s: %d publishes went to %v, want all on one node", what, n, spread)
		}
	}
	e := NewEmitter(connect(t, rc), nil)
	check("the emitter", func(i int) {
		if err := e.Emit("e", i); err != nil {
			t.Fatal(err)
		}
	})
	et := NewEngineTransport(connect(t, rc), nil)
	t.Cleanup(func() { _ = et.Close() })
	check("the engine transport", func(i int) {
		m := &engineio.ClusterMessage{Type: engineio.ClusterMsgPacket, Sender: et.NodeID(), Recipient: "other", SID: sid20,
			Packets: []engineio.ClusterPacket{{Type: parser.Message, Data: []byte("x")}}}
		var err error
		if i%2 == 0 {
			err = et.PublishBatch(context.Background(), []*engineio.ClusterMessage{m})
		} else {
			err = et.Publish(context.Background(), m)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	srv := socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(connect(t, rc), &ClassicOptions{Key: "order"})})
	t.Cleanup(func() { _ = srv.Close() })
	check("the classic adapter", func(i int) {
		if err := srv.Emit("e", i); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRedisClusterFailover runs two servers per adapter family on a Redis
// Cluster with a replica per master, and promotes the replica of the
// master that carries the room's traffic (the room's channel for sharded
// and pubsub, the stream for streams) while one server broadcasts to the
// room: the servers follow the new master, the other server's member gets
// the broadcasts again, each at most once and in order, and the servers
// count each other again.
func TestRedisClusterFailover(t *testing.T) {
	rc := peertest.StartRedisClusterReplicas(t, 3, 1)
	admin := connect(t, rc)
	families := []struct {
		name    string
		newNode func(t *testing.T, prefix string) *socketio.Server
		// key is what moves: the key or channel whose master fails over.
		key func(prefix, room string) string
		// requests is the channel of the servers' requests, which they
		// subscribe to with SUBSCRIBE ("" for sharded pub/sub).
		requests func(prefix string) string
	}{
		{"sharded", func(t *testing.T, prefix string) *socketio.Server {
			sh, err := NewSharded(connect(t, rc), &ShardedOptions{ChannelPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(sh.Dialer(), nil)})
		}, func(prefix, room string) string { return prefix + "#/#" + room + "#" }, nil},
		{"pubsub", func(t *testing.T, prefix string) *socketio.Server {
			return socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(connect(t, rc), &ClassicOptions{Key: prefix})})
		}, func(prefix, room string) string { return prefix + "#/#" + room + "#" }, func(prefix string) string { return prefix + "-request#/#" }},
		{"streams", func(t *testing.T, prefix string) *socketio.Server {
			st := NewStreams(connect(t, rc), &StreamsOptions{StreamName: prefix, ChannelPrefix: prefix, Timeout: time.Second})
			t.Cleanup(func() { _ = st.Close() })
			return socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(st.Dialer(), nil)})
		}, func(prefix, room string) string { return prefix }, func(prefix string) string { return prefix + "#/#" }},
	}
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			prefix := "failover-" + fam.name
			const room = "room"
			var srvs [2]*socketio.Server
			var clients [2]*siotest.Client
			for i := range srvs {
				srvs[i] = fam.newNode(t, prefix)
				t.Cleanup(func() { _ = srvs[i].Close() })
				hs := httptest.NewServer(srvs[i])
				t.Cleanup(hs.Close)
				clients[i] = siotest.Dial(t, hs.URL, nil)
			}
			for i, s := range srvs {
				waitServers(t, s, 2)
				var sock *socketio.Socket
				waitFor(t, "the socket", func() bool { sock = s.Sockets().Socket(clients[i].SID); return sock != nil })
				sock.Join(room)
				syncAdapter(t, s.Sockets().Adapter())
			}
			if fam.requests != nil {
				// The servers subscribe on masters, which every client of
				// the cluster knows (a replica may be missing from a
				// client's view).
				ch := fam.requests(prefix)
				masters := map[string]bool{}
				for _, m := range slotOwners(t, admin) {
					masters[m] = true
				}
				onMasters := 0
				// The admin client's view may lack a master that a
				// failover of an earlier subtest promoted: until it reads
				// the cluster's shape again.
				waitFor(t, "the admin client to know every master", func() bool {
					nodes := admin.Nodes()
					for m := range masters {
						if _, ok := nodes[m]; !ok {
							return false
						}
					}
					return true
				})
				nodes := admin.Nodes()
				for m := range masters {
					counts, err := nodes[m].Do(context.Background(), nodes[m].B().PubsubNumsub().Channel(ch).Build()).AsIntMap()
					if err != nil {
						t.Fatal(err)
					}
					onMasters += int(counts[ch])
				}
				if onMasters != 2 {
					t.Errorf("%d subscriptions to %s on the masters, want the 2 servers'", onMasters, ch)
				}
			}
			slot, err := admin.Do(context.Background(), admin.B().ClusterKeyslot().Key(fam.key(prefix, room)).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			// No wait for resubscription: the old master becomes a replica
			// of the new one, in the same shard, which passes on the
			// shard's SPUBLISH messages to a subscription still held on
			// it, and every node gets every PUBLISH.
			broadcastThroughFailover(t, srvs, clients, room, func() {
				from, to := rc.Failover(t, int(slot))
				t.Logf("slot %d moved from %s to %s", slot, from, to)
			}, nil)
		})
	}
}

// broadcastThroughFailover has srvs[0] broadcast to room, of which both
// clients are members (one on each server), while failover runs, then
// waits until its broadcasts reach the other server's member again and the
// servers count each other again; that member must have got each broadcast
// at most once, in order.
//
// resubscribed, when not nil, says whether the servers' subscriptions
// that carry the room's broadcasts are on the new master: a probe may cross
// on the old master before the servers move there (a server publishes to
// the old master until its client learns of the new one, and another
// still listens there), and what is published while they move is lost; so
// the last broadcast, which must arrive, waits for it.
func broadcastThroughFailover(t *testing.T, srvs [2]*socketio.Server, clients [2]*siotest.Client, room string, failover func(), resubscribed func() bool) {
	t.Helper()
	a, cb := srvs[0], clients[1]
	if err := a.To(room).Emit("n", 0); err != nil {
		t.Fatal(err)
	}
	cb.Next("n")

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		sent := 0
		defer func() { done <- sent }()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_ = a.To(room).Emit("n", i)
			sent = i
		}
	}()
	failover()
	for i := 0; ; i++ {
		if err := a.To(room).Emit("probe", i); err != nil {
			t.Fatal(err)
		}
		if _, ok := cb.NextWithin("probe", 100*time.Millisecond); ok {
			break
		}
		if i == 100 {
			t.Fatal("a's broadcasts never reached b's member again after the failover")
		}
	}
	close(stop)
	sent := <-done
	for _, s := range srvs {
		waitServers(t, s, 2)
	}
	if resubscribed != nil {
		waitFor(t, "the servers to subscribe to the room on the new master", resubscribed)
	}
	if err := a.To(room).Emit("last"); err != nil {
		t.Fatal(err)
	}
	cb.Next("last")
	var got []int
	for _, e := range cb.Events() {
		if e.Name == "n" {
			n, _ := strconv.Atoi(string(e.Args[0]))
			got = append(got, n)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("b's member got %d after %d (a duplicate, or out of order): %v", got[i], got[i-1], got)
		}
	}
	t.Logf("%d broadcasts during the failover; b's member got %d", sent, len(got))
}
