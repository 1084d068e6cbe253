package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/redis"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
)

// buildTether builds the tether command once for the test.
func buildTether(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tether")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found: %v", err)
	}
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/tether-rt/tether/cmd/tether").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tether: %v\n%s", err, out)
	}
	return bin
}

// serveNode is a `tether serve` process of a cluster.
type serveNode struct {
	url string
	cmd *exec.Cmd
	out bytes.Buffer
}

// startServe starts `tether serve` on a free port with the streams adapter
// on redisURL, and waits until it is ready.
func startServe(t *testing.T, bin, redisURL, name string) *serveNode {
	t.Helper()
	return startServeAdapter(t, bin, redisURL, name, "streams")
}

// startServeAdapter is startServe with another adapter, and extra flags.
func startServeAdapter(t *testing.T, bin, redisURL, name, adapter string, extra ...string) *serveNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	n := &serveNode{url: "http://" + addr}
	n.cmd = exec.Command(bin, "serve", "-addr", addr, "-demos=false", "-redis-url", redisURL, "-cluster-adapter", adapter,
		"-handshake-rate", "0", "-connections-per-ip", "0", "-event-rate", "0")
	n.cmd.Args = append(n.cmd.Args, extra...)
	n.cmd.Env = append(os.Environ(), "TETHER_CLUSTER_NODE_ID="+name)
	n.cmd.Stdout, n.cmd.Stderr = &n.out, &n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s printed:\n%s", name, n.out.String())
		}
	})
	waitUntil(t, name+" to be ready", func() bool {
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return n
}

// kill kills the node at once, as a crash would.
func (n *serveNode) kill() {
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

// TestKillNode runs three `tether serve` nodes on the streams adapter,
// with clients on each subscribed to one room and a publisher on the first,
// and kills the third node (kill -9) in the middle of the traffic. Its
// clients reconnect through the second node with their session's private
// id and last offset (as socket.io-client does), and every client must
// have got every message exactly once, in order.
func TestKillNode(t *testing.T) {
	bin := buildTether(t)
	r := peertest.StartRedis(t)
	var nodes []*serveNode
	for i := range 3 {
		nodes = append(nodes, startServe(t, bin, r.URL(), fmt.Sprintf("node%d", i)))
	}
	subscribe := func(c *siotest.Client) {
		t.Helper()
		if res := c.Call("subscribe", map[string]any{"room": "lobby"}); len(res) == 0 || !strings.Contains(string(res[0]), `"ok":true`) {
			t.Fatalf("subscribe: %s", res)
		}
	}
	type receiver struct {
		node    int
		clients []*siotest.Client // the first, then the one that recovered
	}
	var receivers []*receiver
	for i, n := range nodes {
		for range 3 {
			c := siotest.Dial(t, n.url, nil)
			subscribe(c)
			receivers = append(receivers, &receiver{node: i, clients: []*siotest.Client{c}})
		}
	}
	pub := siotest.Dial(t, nodes[0].url, nil)
	subscribe(pub)
	// The nodes keep each session within a second of its subscription
	// (later on a busy machine): wait until Redis has them all.
	rc, err := redis.Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for _, rcv := range receivers {
		pid := rcv.clients[0].PID
		waitUntil(t, "the session of "+rcv.clients[0].SID+" to be kept", func() bool {
			n, err := rc.Do(context.Background(), rc.B().Exists().Key("sio:session:"+pid).Build()).AsInt64()
			return err == nil && n == 1
		})
	}

	const total, killAt = 60, 20
	publish := func(seq int) {
		t.Helper()
		res := pub.Call("publish", map[string]any{"room": "lobby", "event": "tick", "data": seq})
		if len(res) == 0 || !strings.Contains(string(res[0]), `"ok":true`) {
			t.Fatalf("publish %d: %s", seq, res)
		}
	}
	for seq := range killAt {
		publish(seq)
	}
	nodes[2].kill()
	for seq := killAt; seq < total; seq++ {
		publish(seq)
		if seq == killAt+5 {
			// The killed node's clients notice and reconnect through node1.
			for _, rc := range receivers {
				if rc.node != 2 {
					continue
				}
				old := rc.clients[0]
				old.Disconnected()
				c := siotest.Dial(t, nodes[1].url, &siotest.Options{Auth: map[string]string{"pid": old.PID, "offset": old.LastOffset()}})
				if c.SID != old.SID {
					t.Errorf("client %s came back as %s: its session was not recovered", old.SID, c.SID)
				}
				rc.clients = append(rc.clients, c)
			}
		}
	}
	for _, rc := range receivers {
		var got []int
		deadline := time.Now().Add(siotest.Timeout)
		for len(got) < total && time.Now().Before(deadline) {
			got = got[:0]
			for _, c := range rc.clients {
				for _, e := range peek(c, "tick") {
					var seq int
					_ = json.Unmarshal(e.Args[0], &seq)
					got = append(got, seq)
				}
			}
			if len(got) < total {
				time.Sleep(20 * time.Millisecond)
			}
		}
		want := make([]int, total)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got, want) {
			t.Errorf("client of node%d (%s) got %v, want 0..%d once each, in order", rc.node, rc.clients[0].SID, got, total-1)
		}
	}
}

// peek returns the events named name that c received so far, in order,
// leaving them queued.
func peek(c *siotest.Client, name string) []siotest.Event {
	var out []siotest.Event
	for _, e := range c.Peek() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// TestRedisRestartDuringTraffic restarts Redis (with nothing kept) while a
// publisher on one node sends to a room with members on two nodes: the
// publisher's node delivers everything to its own clients; the other node
// gets what was published while Redis was up, nothing twice, in order, and
// the traffic flows again once the nodes reconnected.
func TestRedisRestartDuringTraffic(t *testing.T) {
	bin := buildTether(t)
	for _, adapter := range []string{"pubsub", "streams"} {
		t.Run(adapter, func(t *testing.T) {
			r := peertest.StartRedis(t)
			nodes := []*serveNode{startServeAdapter(t, bin, r.URL(), "node0", adapter), startServeAdapter(t, bin, r.URL(), "node1", adapter)}
			call := func(c *siotest.Client, event string, arg map[string]any) {
				t.Helper()
				if res := c.Call(event, arg); len(res) == 0 || !strings.Contains(string(res[0]), `"ok":true`) {
					t.Fatalf("%s: %s", event, res)
				}
			}
			var local, remote []*siotest.Client
			for i, n := range nodes {
				for range 2 {
					c := siotest.Dial(t, n.url, nil)
					call(c, "subscribe", map[string]any{"room": "lobby"})
					if i == 0 {
						local = append(local, c)
					} else {
						remote = append(remote, c)
					}
				}
			}
			pub := siotest.Dial(t, nodes[0].url, nil)
			call(pub, "subscribe", map[string]any{"room": "lobby"})
			// Room subscriptions (pubsub) are in place once a probe crosses.
			// A probe refused (Redis did not take it: the publish ack
			// waits for the broker) did not cross.
			crossed := func() bool {
				res := pub.Call("publish", map[string]any{"room": "lobby", "event": "probe", "data": 0})
				if len(res) == 0 || !strings.Contains(string(res[0]), `"ok":true`) {
					return false
				}
				_, ok := remote[0].NextWithin("probe", 300*time.Millisecond)
				return ok
			}
			waitUntil(t, "the nodes to exchange broadcasts", crossed)
			publish := func(from, to int) {
				for seq := from; seq < to; seq++ {
					call(pub, "publish", map[string]any{"room": "lobby", "event": "tick", "data": seq})
				}
			}
			publish(0, 10)
			// Everything so far has reached Redis (a node publishes in order)
			// once a probe made after it crossed.
			waitUntil(t, "the first messages to cross", crossed)
			r.Kill()
			// While Redis is away a publish is refused, not acknowledged:
			// the node could not hand it to the other servers.
			for seq := 10; seq < 13; seq++ {
				res := pub.Call("publish", map[string]any{"room": "lobby", "event": "tick", "data": seq})
				if len(res) == 0 || !strings.Contains(string(res[0]), `"ok":false`) {
					t.Fatalf("publish while Redis is away: %s, want refused", res)
				}
			}
			r.Restart(t)
			for _, n := range nodes {
				waitUntil(t, "the nodes to be ready again", func() bool {
					resp, err := http.Get(n.url + "/readyz")
					if err != nil {
						return false
					}
					resp.Body.Close()
					return resp.StatusCode == http.StatusOK
				})
			}
			// A node's Redis client has several connections (rueidis: 4
			// for a single server), one picked at random per keyed command
			// (XADD), each holding the error of the restart until a
			// command uses it (that command fails, its message is lost:
			// publishing is at most once while the broker fails). Probe
			// until many cross in a row, so that every connection was
			// renewed before the messages that must arrive.
			streak := 0
			waitUntil(t, "broadcasts to cross again, 30 in a row", func() bool {
				if crossed() {
					streak++
				} else {
					streak = 0
				}
				return streak >= 30
			})
			publish(13, 23)
			seqs := func(c *siotest.Client, n int) []int {
				var got []int
				deadline := time.Now().Add(siotest.Timeout)
				for {
					got = got[:0]
					for _, e := range peek(c, "tick") {
						var seq int
						_ = json.Unmarshal(e.Args[0], &seq)
						got = append(got, seq)
					}
					if len(got) >= n || time.Now().After(deadline) {
						return got
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			all := make([]int, 23)
			for i := range all {
				all[i] = i
			}
			for _, c := range local {
				if got := seqs(c, 23); !slices.Equal(got, all) {
					t.Errorf("client of the publisher's node got %v, want every message", got)
				}
			}
			for _, c := range remote {
				got := seqs(c, 20)
				if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
					t.Errorf("client of the other node got %v: out of order or twice", got)
				}
				for _, seq := range all {
					if (seq < 10 || seq >= 13) && !slices.Contains(got, seq) {
						t.Errorf("client of the other node got %v: %d, published while Redis was up, is missing", got, seq)
						break
					}
				}
			}
		})
	}
}
