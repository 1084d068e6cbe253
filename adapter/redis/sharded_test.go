package redis

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/tether-rt/tether/adapter/adaptertest"
	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// shardedNode returns a server on the sharded transport of its own Redis
// client.
func shardedNode(t *testing.T, url, mode string) *socketio.Server {
	t.Helper()
	c, err := Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := NewSharded(c, &ShardedOptions{SubscriptionMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(sh.Dialer(), nil)})
	t.Cleanup(func() {
		_ = srv.Close()
		c.Close()
	})
	return srv
}

func TestShardedSuite(t *testing.T) {
	r := peertest.StartRedis(t)
	for _, mode := range []string{"dynamic", "static", "dynamic-private"} {
		t.Run(mode, func(t *testing.T) {
			adaptertest.Run(t, adaptertest.Each(func(t *testing.T) *socketio.Server { return shardedNode(t, r.URL(), mode) }), 3)
		})
	}
}

// TestShardedRoomChannels checks the dynamic mode's subscriptions: a
// room's channel has a subscriber per server with members in the room,
// none once they left, and socket ids get no channel.
func TestShardedRoomChannels(t *testing.T) {
	r := peertest.StartRedis(t)
	a, b := shardedNode(t, r.URL(), "dynamic"), shardedNode(t, r.URL(), "dynamic")
	sockets := make(chan *socketio.Socket, 2)
	a.OnConnection(func(s *socketio.Socket) { sockets <- s })
	ha, hb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(ha.Close)
	t.Cleanup(hb.Close)
	siotest.Dial(t, ha.URL, nil)
	siotest.Dial(t, hb.URL, nil)
	s := <-sockets
	rc, err := Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	subscribers := func(channel string) int64 {
		n, err := rc.Do(context.Background(), rc.B().PubsubShardnumsub().Channel(channel).Build()).AsIntMap()
		if err != nil {
			t.Fatal(err)
		}
		return n[channel]
	}
	s.Join("news")
	waitFor(t, "a to subscribe to the room's channel", func() bool { return subscribers("socket.io#/#news#") == 1 })
	if n := subscribers("socket.io#/#" + s.ID() + "#"); n != 0 {
		t.Errorf("the socket's own room has %d subscribers, want none", n)
	}
	s.Leave("news")
	waitFor(t, "a to leave the room's channel", func() bool { return subscribers("socket.io#/#news#") == 0 })
}
