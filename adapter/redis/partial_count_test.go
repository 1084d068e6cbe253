package redis

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// TestRedisClusterServerCountPartial: when a node of a Redis Cluster stops
// answering (paused: its connections stay open, nothing comes back),
// ServerCount returns the servers subscribed on the other nodes, with an
// error that wraps ErrPartialResult and names the node, instead of failing;
// FetchSockets goes on with that count and returns what it got; once the
// node answers again the count is whole. For the classic adapter and the
// streams one (on classic pub/sub, counted on every node too).
func TestRedisClusterServerCountPartial(t *testing.T) {
	t.Run("classic", func(t *testing.T) {
		rc := peertest.StartRedisCluster(t, 3)
		opts := &ClassicOptions{Key: "partial", RequestTimeout: time.Second}
		a := socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(clusterClient(t, rc), opts)})
		b := socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(clusterClient(t, rc), opts)})
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		testServerCountPartial(t, rc, a, b, "partial-request#/#", 0)
	})
	t.Run("streams", func(t *testing.T) {
		rc := peertest.StartRedisCluster(t, 3)
		var srvs [2]*socketio.Server
		for i := range srvs {
			st := NewStreams(clusterClient(t, rc), &StreamsOptions{StreamName: "partial", ChannelPrefix: "partial", Timeout: time.Second})
			srvs[i] = socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(st.Dialer(), &cluster.Options{RequestTimeout: time.Second})})
			t.Cleanup(func() { _ = srvs[i].Close(); _ = st.Close() })
		}
		testServerCountPartial(t, rc, srvs[0], srvs[1], "partial#/#", 1)
	})
}

// testServerCountPartial runs the test on a and b, whose adapters answer
// on requestChannel and never count fewer than least servers (the cluster
// adapter counts itself).
func testServerCountPartial(t *testing.T, rc *peertest.RedisCluster, a, b *socketio.Server, requestChannel string, least int) {
	ha := httptest.NewServer(a)
	t.Cleanup(ha.Close)
	waitServers(t, a, 2)
	waitServers(t, b, 2)
	c := siotest.Dial(t, ha.URL, nil)

	// Where each server's subscription to the request channel is.
	cc := clusterClient(t, rc)
	perNode := map[string]int{}
	for _, r := range rc.Nodes {
		nc, ok := cc.Nodes()[r.Addr]
		if !ok {
			t.Fatalf("the client does not know the node %s", r.Addr)
		}
		n, err := countSubscribers(context.Background(), nc, requestChannel, false)
		if err != nil {
			t.Fatal(err)
		}
		perNode[r.Addr] = n
	}
	// Pause a node that holds a subscription: the count must drop by it.
	var paused *peertest.Redis
	for _, r := range rc.Nodes {
		if perNode[r.Addr] > 0 {
			paused = r
			break
		}
	}
	if paused == nil {
		t.Fatalf("no node holds a subscription to %s: %v", requestChannel, perNode)
	}
	want := 0
	for addr, n := range perNode {
		if addr != paused.Addr {
			want += n
		}
	}
	paused.Pause(t)

	n, err := a.Sockets().Adapter().ServerCount(context.Background())
	if !errors.Is(err, socketio.ErrPartialResult) || !strings.Contains(err.Error(), paused.Addr) {
		t.Fatalf("ServerCount with %s paused: %d, %v; want a partial result naming it", paused.Addr, n, err)
	}
	if n != max(want, least) {
		t.Fatalf("ServerCount with %s paused = %d, want %d (subscriptions per node: %v)", paused.Addr, n, max(want, least), perNode)
	}
	socks, err := a.Sockets().FetchSockets(context.Background())
	if !errors.Is(err, socketio.ErrPartialResult) {
		t.Fatalf("FetchSockets with %s paused: %v; want a partial result", paused.Addr, err)
	}
	if !slices.ContainsFunc(socks, func(s *socketio.RemoteSocket) bool { return s.ID == c.SID }) {
		t.Fatalf("FetchSockets with %s paused lost the local socket %s", paused.Addr, c.SID)
	}

	paused.Resume(t)
	waitServers(t, a, 2)
	// A resumed node first works off what queued up while it was stopped
	// (and a client may be reconnecting to it), so the first requests can
	// still miss b's answer: wait until one comes back whole.
	deadline := time.Now().Add(15 * time.Second)
	for {
		socks, err = a.Sockets().FetchSockets(context.Background())
		if err == nil && len(socks) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("FetchSockets after the resume: %d sockets, %v", len(socks), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
