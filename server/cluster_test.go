package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/redis"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
)

// clusterNodes starts n tether serve nodes of one cluster on redisURL.
func clusterNodes(t *testing.T, redisURL, adapter string, n int) []*Server {
	t.Helper()
	return clusterNodesWith(t, redisURL, adapter, n, nil)
}

// clusterNodesWith is clusterNodes with edit applied to each node's
// configuration.
func clusterNodesWith(t *testing.T, redisURL, adapter string, n int, edit func(*Config)) []*Server {
	t.Helper()
	var out []*Server
	for range n {
		cfg := testConfig()
		cfg.Cluster.RedisURL = redisURL
		cfg.Cluster.Adapter = adapter
		cfg.API.Keys = []string{testAPIKey}
		if edit != nil {
			edit(cfg)
		}
		srv, ts := startServer(t, cfg)
		srv.testURL = ts.URL
		t.Cleanup(srv.closeCluster)
		out = append(out, srv)
	}
	return out
}

// settle waits until every node's adapter has its subscriptions in place.
func settle(t *testing.T, nodes []*Server) {
	t.Helper()
	eventually(t, "the nodes to settle", func() bool {
		for _, n := range nodes {
			if n.io.Sockets().Adapter().(interface{ Settle(context.Context) error }).Settle(context.Background()) != nil {
				return false
			}
		}
		return true
	})
}

// TestClusterServe checks tether serve in a cluster: a client's publish on
// one node reaches the room's members on the others, presence and the
// backend API span the nodes, and the cluster shows in /api/stats and
// /metrics.
func TestClusterServe(t *testing.T) {
	testClusterServe(t, peertest.StartRedis(t).URL())
}

// TestClusterServeRedisCluster is TestClusterServe on a Redis Cluster of
// three masters, given by one of its nodes (the client finds the others).
func TestClusterServeRedisCluster(t *testing.T) {
	rc := peertest.StartRedisCluster(t, 3)
	testClusterServe(t, "redis://"+rc.Nodes[1].Addr)
}

// TestClusterServeSentinel is TestClusterServe on a master found through
// Sentinel.
func TestClusterServeSentinel(t *testing.T) {
	testClusterServe(t, peertest.StartRedisSentinel(t).URL())
}

func testClusterServe(t *testing.T, url string) {
	for _, adapter := range []string{ClusterPubSub, ClusterStreams, ClusterSharded} {
		t.Run(adapter, func(t *testing.T) {
			nodes := clusterNodes(t, url, adapter, 2)
			a := siotest.Dial(t, nodes[0].testURL, nil)
			b := siotest.Dial(t, nodes[1].testURL, nil)
			for _, c := range []*siotest.Client{a, b} {
				if res := c.Call("subscribe", map[string]any{"room": "lobby"}); !strings.Contains(string(res[0]), `"ok":true`) {
					t.Fatalf("subscribe: %s", res[0])
				}
			}
			settle(t, nodes)
			res := a.Call("publish", map[string]any{"room": "lobby", "event": "news", "data": "from a"})
			if !strings.Contains(string(res[0]), `"ok":true`) {
				t.Fatalf("publish: %s", res[0])
			}
			if e := b.Next("news"); string(e.Args[0]) != `"from a"` {
				t.Fatalf("b got %s", e.Raw)
			}
			res = b.Call("presence", map[string]any{"room": "lobby"})
			if !strings.Contains(string(res[0]), a.SID) || !strings.Contains(string(res[0]), b.SID) {
				t.Fatalf("presence on b = %s, want both sockets", res[0])
			}
			// The backend API of node 1 reaches node 0's client.
			status, body := apiRequest(t, nodes[1].testURL, "POST", "/api/emit", `{"rooms":["lobby"],"event":"api","data":1}`)
			if status != http.StatusAccepted {
				t.Fatalf("emit: %d %s", status, body)
			}
			a.Next("api")
			_, body = apiRequest(t, nodes[0].testURL, "GET", "/api/sockets?room=lobby", "")
			if !strings.Contains(body, a.SID) || !strings.Contains(body, b.SID) {
				t.Fatalf("/api/sockets on node 0 = %s, want both sockets", body)
			}
			_, body = apiRequest(t, nodes[0].testURL, "GET", "/api/stats", "")
			var stats struct {
				Cluster struct {
					Adapter string
					Nodes   int
				}
			}
			if err := json.Unmarshal([]byte(body), &stats); err != nil || stats.Cluster.Adapter != adapter || stats.Cluster.Nodes != 2 {
				t.Fatalf("/api/stats = %s", body)
			}
			metrics := get(t, nodes[0].testURL+"/metrics")
			published := `tether_cluster_messages_published_total{type="broadcast"}`
			if adapter == ClusterPubSub {
				published = `tether_cluster_messages_published_total{type="all"}`
			}
			for _, want := range []string{published, `tether_cluster_nodes{adapter="` + adapter + `"} 2`} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

// TestClusterStreamsShardedPubSub checks cluster.sharded_pubsub: the
// streams adapter's nodes take their requests over sharded pub/sub (counted
// with PUBSUB SHARDNUMSUB, not NUMSUB), and broadcasts, presence and the
// backend API still span the nodes.
func TestClusterStreamsShardedPubSub(t *testing.T) {
	r := peertest.StartRedis(t)
	nodes := clusterNodesWith(t, r.URL(), ClusterStreams, 2, func(cfg *Config) { cfg.Cluster.ShardedPubSub = true })
	rc, err := redis.Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	channel := "socket.io#/#"
	for _, cmd := range []string{"SHARDNUMSUB", "NUMSUB"} {
		counts, err := rc.Do(context.Background(), rc.B().Arbitrary("PUBSUB", cmd).Args(channel).Build()).AsIntMap()
		if err != nil {
			t.Fatal(err)
		}
		want := int64(2)
		if cmd == "NUMSUB" {
			want = 0
		}
		if counts[channel] != want {
			t.Fatalf("PUBSUB %s %s = %d, want %d", cmd, channel, counts[channel], want)
		}
	}
	a := siotest.Dial(t, nodes[0].testURL, nil)
	b := siotest.Dial(t, nodes[1].testURL, nil)
	for _, c := range []*siotest.Client{a, b} {
		if res := c.Call("subscribe", map[string]any{"room": "lobby"}); !strings.Contains(string(res[0]), `"ok":true`) {
			t.Fatalf("subscribe: %s", res[0])
		}
	}
	if res := a.Call("publish", map[string]any{"room": "lobby", "event": "news", "data": "from a"}); !strings.Contains(string(res[0]), `"ok":true`) {
		t.Fatalf("publish: %s", res[0])
	}
	b.Next("news")
	res := b.Call("presence", map[string]any{"room": "lobby"})
	if !strings.Contains(string(res[0]), a.SID) || !strings.Contains(string(res[0]), b.SID) {
		t.Fatalf("presence on b = %s, want both sockets", res[0])
	}
	if _, body := apiRequest(t, nodes[0].testURL, "GET", "/api/sockets?room=lobby", ""); !strings.Contains(body, a.SID) || !strings.Contains(body, b.SID) {
		t.Fatalf("/api/sockets on node 0 = %s, want both sockets", body)
	}
}

// TestClusterReadyz checks that /readyz reports a Redis that does not
// answer.
func TestClusterReadyz(t *testing.T) {
	r := peertest.StartRedis(t)
	node := clusterNodes(t, r.URL(), ClusterStreams, 1)[0]
	if body := get(t, node.testURL+"/readyz"); body != "ok\n" {
		t.Fatalf("/readyz = %q", body)
	}
	r.Kill()
	resp, err := http.Get(node.testURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "redis unreachable") {
		t.Fatalf("/readyz with Redis down = %d %q", resp.StatusCode, b)
	}
}

// TestClusterRedisDownAtStart checks that a node that cannot reach Redis
// does not start, and says why.
func TestClusterRedisDownAtStart(t *testing.T) {
	r := peertest.StartRedis(t)
	r.Kill()
	cfg := testConfig()
	cfg.Cluster.RedisURL = "redis://:hunter2@" + r.Addr
	_, err := New(Options{Config: cfg, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "failed to join the cluster") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("New = %v; want a clear error without the password", err)
	}
}

func apiRequest(t *testing.T, base, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestClusterRoutePolling checks that a polling client's requests are
// served by whichever node they reach (route_polling, on by default), and
// that the nodes count them.
func TestClusterRoutePolling(t *testing.T) {
	testClusterRoutePolling(t, peertest.StartRedis(t).URL())
}

// TestClusterRoutePollingRedisCluster is TestClusterRoutePolling on a
// Redis Cluster of three masters.
func TestClusterRoutePollingRedisCluster(t *testing.T) {
	testClusterRoutePolling(t, peertest.StartRedisCluster(t, 3).URL())
}

func testClusterRoutePolling(t *testing.T, url string) {
	nodes := clusterNodes(t, url, ClusterPubSub, 2)
	waitEngine := func(url string) {
		// The engine's channels are subscribed a moment after start.
		eventually(t, "the node to route", func() bool {
			resp, err := http.Get(url + "/socket.io/?EIO=4&transport=polling&sid=" + strings.Repeat("z", 20))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusBadRequest
		})
	}
	waitEngine(nodes[1].testURL)
	do := func(node int, method, query, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, nodes[node].testURL+"/socket.io/?EIO=4&transport=polling"+query, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s on node %d: %d %s", method, query, node, resp.StatusCode, b)
		}
		return string(b)
	}
	open := do(0, "GET", "", "")
	var hs struct{ SID string }
	if err := json.Unmarshal([]byte(open[1:]), &hs); err != nil {
		t.Fatalf("open packet %q: %v", open, err)
	}
	do(1, "POST", "&sid="+hs.SID, "40")
	if got := do(1, "GET", "&sid="+hs.SID, ""); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("the CONNECT answer, polled on node 1: %q", got)
	}
	do(1, "POST", "&sid="+hs.SID, `420["subscribe",{"room":"lobby"}]`)
	if got := do(1, "GET", "&sid="+hs.SID, ""); got != `430[{"ok":true}]` {
		t.Fatalf("the subscribe ack, polled on node 1: %q", got)
	}
	metrics := get(t, nodes[1].testURL+"/metrics")
	for _, want := range []string{`tether_cluster_forwarded_requests_total{kind="post",outcome="ok"} 2`, `tether_cluster_forwarded_requests_total{kind="poll",outcome="ok"} 2`, `tether_cluster_forward_seconds_count{kind="post"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("node 1's /metrics lacks %s", want)
		}
	}
	if metrics := get(t, nodes[0].testURL+"/metrics"); !strings.Contains(metrics, `tether_cluster_served_requests_total{kind="poll"} 2`) || !strings.Contains(metrics, `tether_cluster_served_requests_total{kind="post"} 2`) {
		t.Errorf("node 0's /metrics lacks the polls it served")
	}
}

// TestClusterPresenceDiff checks presence:diff across the nodes of a
// cluster, with each adapter: a member on one node follows the joins and
// leaves made on the other, and the list it builds matches the presence
// event's (which asks every node).
func TestClusterPresenceDiff(t *testing.T) {
	url := peertest.StartRedis(t).URL()
	for _, adapter := range []string{ClusterPubSub, ClusterStreams, ClusterSharded} {
		t.Run(adapter, func(t *testing.T) {
			nodes := clusterNodes(t, url, adapter, 2)
			a := siotest.Dial(t, nodes[0].testURL, nil)
			b := siotest.Dial(t, nodes[1].testURL, nil)
			c := siotest.Dial(t, nodes[1].testURL, nil)
			settle(t, nodes)
			call := func(cl *siotest.Client, event string) {
				t.Helper()
				if res := cl.Call(event, map[string]any{"room": "lobby"}); !strings.Contains(string(res[0]), `"ok":true`) {
					t.Fatalf("%s: %s", event, res[0])
				}
			}
			call(a, "subscribe")
			call(b, "subscribe")
			call(c, "subscribe")
			call(b, "unsubscribe")
			set := map[string]bool{a.SID: true} // a is not sent its own join
			for !(len(set) == 2 && set[a.SID] && set[c.SID]) {
				e := a.Next(EventPresenceDiff)
				var d presenceDiff
				if err := json.Unmarshal(e.Args[0], &d); err != nil {
					t.Fatalf("presence:diff %s: %v", e.Raw, err)
				}
				for _, m := range d.Joins {
					set[m.ID] = true
				}
				for _, m := range d.Leaves {
					delete(set, m.ID)
				}
			}
			res := a.Call("presence", map[string]any{"room": "lobby"})
			if !strings.Contains(string(res[0]), a.SID) || !strings.Contains(string(res[0]), c.SID) || strings.Contains(string(res[0]), b.SID) {
				t.Fatalf("presence on a = %s, want a and c", res[0])
			}
		})
	}
}

// TestClusterAPIMembershipPresence checks that the backend API's join and
// leave of a socket on another node are announced to the room as a
// subscribe and an unsubscribe are: the node that has the socket tells
// the room with presence:diff.
func TestClusterAPIMembershipPresence(t *testing.T) {
	url := peertest.StartRedis(t).URL()
	for _, adapter := range []string{ClusterPubSub, ClusterStreams} {
		t.Run(adapter, func(t *testing.T) {
			nodes := clusterNodes(t, url, adapter, 2)
			a := siotest.Dial(t, nodes[0].testURL, nil)
			b := siotest.Dial(t, nodes[1].testURL, nil)
			if res := a.Call("subscribe", map[string]any{"room": "lobby"}); !strings.Contains(string(res[0]), `"ok":true`) {
				t.Fatalf("subscribe: %s", res[0])
			}
			settle(t, nodes)
			next := func() presenceDiff {
				t.Helper()
				e := a.Next(EventPresenceDiff)
				var d presenceDiff
				if err := json.Unmarshal(e.Args[0], &d); err != nil {
					t.Fatalf("presence:diff %s: %v", e.Raw, err)
				}
				return d
			}
			body := `{"sockets":["` + b.SID + `"],"rooms":["lobby"]}`
			if status, resp := apiRequest(t, nodes[0].testURL, "POST", "/api/sockets/join", body); status != http.StatusOK {
				t.Fatalf("join: %d %s", status, resp)
			}
			if d := next(); len(d.Joins) != 1 || d.Joins[0].ID != b.SID || len(d.Leaves) != 0 {
				t.Fatalf("after the join, presence:diff = %+v, want b joined", d)
			}
			if status, resp := apiRequest(t, nodes[0].testURL, "POST", "/api/sockets/leave", body); status != http.StatusOK {
				t.Fatalf("leave: %d %s", status, resp)
			}
			if d := next(); len(d.Leaves) != 1 || d.Leaves[0].ID != b.SID || len(d.Joins) != 0 {
				t.Fatalf("after the leave, presence:diff = %+v, want b left", d)
			}
		})
	}
}

// TestClusterPublishAckAfterBroker checks that a client's publish, and the
// backend's /api/emit, are acknowledged only once Redis has the event:
// while Redis hangs, no acknowledgement comes; when it answers again the
// acknowledgement is ok and the other node's member gets the event; when
// it does not answer in time the publish is refused, not acknowledged.
func TestClusterPublishAckAfterBroker(t *testing.T) {
	for _, adapter := range []string{ClusterPubSub, ClusterStreams} {
		t.Run(adapter, func(t *testing.T) {
			rd := peertest.StartRedis(t)
			nodes := clusterNodes(t, rd.URL(), adapter, 2)
			a := siotest.Dial(t, nodes[0].testURL, nil)
			b := siotest.Dial(t, nodes[1].testURL, nil)
			for _, c := range []*siotest.Client{a, b} {
				if res := c.Call("subscribe", map[string]any{"room": "lobby"}); !strings.Contains(string(res[0]), `"ok":true`) {
					t.Fatalf("subscribe: %s", res[0])
				}
			}
			settle(t, nodes)

			rd.Pause(t)
			ack := a.Go("publish", map[string]any{"room": "lobby", "event": "news", "data": 1})
			api := make(chan int, 1)
			go func() {
				status, _ := apiRequest(t, nodes[0].testURL, "POST", "/api/emit", `{"rooms":["lobby"],"event":"api","data":1}`)
				api <- status
			}()
			select {
			case res := <-ack:
				t.Fatalf("publish acknowledged (%s) while Redis hung", res[0])
			case status := <-api:
				t.Fatalf("/api/emit answered %d while Redis hung", status)
			case <-time.After(300 * time.Millisecond): // Redis stays paused far longer
			}
			rd.Resume(t)
			if res := <-ack; !strings.Contains(string(res[0]), `"ok":true`) {
				t.Fatalf("publish after Redis answered again: %s", res[0])
			}
			if status := <-api; status != http.StatusAccepted {
				t.Fatalf("/api/emit after Redis answered again: %d", status)
			}
			if e := b.Next("news"); string(e.Args[0]) != "1" {
				t.Fatalf("b got %s", e.Raw)
			}
			b.Next("api")

			// Redis hangs past the time a publish may wait: refused.
			rd.Pause(t)
			res := a.Call("publish", map[string]any{"room": "lobby", "event": "late", "data": 2})
			if !strings.Contains(string(res[0]), `"ok":false`) || !strings.Contains(string(res[0]), ReasonInternal) {
				t.Fatalf("publish while Redis hung past the wait: %s, want refused", res[0])
			}
			rd.Resume(t)
		})
	}
}
