package redis

import (
	"context"
	"testing"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/adaptertest"
	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/peertest"
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
	adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server {
		var out []*socketio.Server
		for range n {
			srv := socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(clusterClient(t, rc), &ClassicOptions{Key: "suite-" + t.Name()})})
			t.Cleanup(func() { _ = srv.Close() })
			out = append(out, srv)
		}
		return out
	}, 3)
}

func TestRedisClusterShardedSuite(t *testing.T) {
	rc := peertest.StartRedisCluster(t, 3)
	for _, mode := range []string{"dynamic", "static"} {
		t.Run(mode, func(t *testing.T) {
			adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server {
				var out []*socketio.Server
				for range n {
					sh, err := NewSharded(clusterClient(t, rc), &ShardedOptions{SubscriptionMode: mode, ChannelPrefix: "suite-" + t.Name()})
					if err != nil {
						t.Fatal(err)
					}
					srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(sh.Dialer(), nil)})
					t.Cleanup(func() { _ = srv.Close() })
					out = append(out, srv)
				}
				return out
			}, 3)
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
			adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server {
				var out []*socketio.Server
				for range n {
					st := NewStreams(clusterClient(t, rc), &StreamsOptions{StreamName: "suite-" + t.Name(), ChannelPrefix: "suite-" + t.Name(), UseShardedPubSub: sharded})
					srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(st.Dialer(), nil)})
					t.Cleanup(func() { _ = srv.Close(); _ = st.Close() })
					out = append(out, srv)
				}
				return out
			}, 3)
		})
	}
}
