package redis

import (
	"context"
	"testing"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/adaptertest"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/socketio"
)

// redisServer is a Redis server or cluster started for a test
// (*peertest.Redis, *peertest.RedisCluster).
type redisServer interface{ URL() string }

// connect returns a new client of r, closed when the test ends.
func connect(t testing.TB, r redisServer) rueidis.Client {
	t.Helper()
	c, err := Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// classicCluster returns servers on r with the classic adapter, each with
// its own Redis client (as separate processes would have).
func classicCluster(r *peertest.Redis, opts *ClassicOptions) adaptertest.NewCluster {
	return func(t *testing.T, n int) []*socketio.Server {
		var out []*socketio.Server
		for range n {
			srv := socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(connect(t, r), opts)})
			t.Cleanup(func() { _ = srv.Close() })
			out = append(out, srv)
		}
		return out
	}
}

func TestClassicSuite(t *testing.T) {
	r := peertest.StartRedis(t)
	adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server {
		// A prefix per test: the tests share one Redis.
		return classicCluster(r, &ClassicOptions{Key: "suite-" + t.Name()})(t, n)
	}, 3)
}

func TestClassicSuiteSubscribeAllRooms(t *testing.T) {
	r := peertest.StartRedis(t)
	adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server {
		return classicCluster(r, &ClassicOptions{Key: "all-" + t.Name(), SubscribeAllRooms: true})(t, n)
	}, 3)
}
