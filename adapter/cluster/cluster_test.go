package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/siotest"

	"github.com/tether-rt/tether/adapter/adaptertest"
	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/socketio"
)

// busCluster returns n servers on one bus.
func busCluster(bus *cluster.Bus) adaptertest.NewCluster { return busClusterOpts(bus, nil) }

// busClusterOpts returns n servers on one bus, their adapters configured
// by opts.
func busClusterOpts(bus *cluster.Bus, opts *cluster.Options) adaptertest.NewCluster {
	return func(t *testing.T, n int) []*socketio.Server {
		var out []*socketio.Server
		for range n {
			srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(bus.Dialer(), opts)})
			t.Cleanup(func() { _ = srv.Close() })
			out = append(out, srv)
		}
		return out
	}
}

func TestSuiteOnBus(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server { return busCluster(cluster.NewBus())(t, n) }, 3)
}

// TestSuiteOnBusWithHeartbeats runs the suite with servers counted by
// heartbeats, as over a transport that cannot count them.
func TestSuiteOnBusWithHeartbeats(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server {
		bus := cluster.NewBus()
		bus.Uncounted = true
		return busCluster(bus)(t, n)
	}, 3)
}

// silent is a server that subscribes (so it is counted) but never answers.
type silent struct{}

func (silent) HandleMessage(*cluster.Message, string) {}
func (silent) HandleResponse(*cluster.Message)        {}

// TestPartialFetch checks that FetchSockets returns what the servers that
// answered had, with ErrPartialResult, when one does not answer in time.
func TestPartialFetch(t *testing.T) {
	bus := cluster.NewBus()
	srvs := busClusterOpts(bus, &cluster.Options{RequestTimeout: 200 * time.Millisecond})(t, 2)
	tr, err := bus.Dialer()("/", "silent0123456789", silent{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	hs := httptest.NewServer(srvs[1])
	t.Cleanup(hs.Close)
	c := siotest.Dial(t, hs.URL, nil)
	socks, err := srvs[0].FetchSockets(context.Background())
	if !errors.Is(err, socketio.ErrPartialResult) || !strings.Contains(err.Error(), "1 of 2 servers") {
		t.Fatalf("FetchSockets error = %v, want a partial result missing 1 of 2 servers", err)
	}
	if len(socks) != 1 || socks[0].ID != c.SID {
		t.Fatalf("FetchSockets = %v, want the answering server's socket", socks)
	}
	srvs[1].Sockets().OnServerSideEmit("anyone", func(_ []json.RawMessage, ack func(json.RawMessage)) { ack(json.RawMessage("1")) })
	res, err := srvs[0].Sockets().ServerSideEmitWithAck(context.Background(), "anyone")
	if !errors.Is(err, socketio.ErrPartialResult) || len(res) != 1 {
		t.Fatalf("ServerSideEmitWithAck = %q, %v", res, err)
	}
}

// counter is an Observer that counts.
type counter struct {
	mu        sync.Mutex
	published map[cluster.MessageType]int
	received  map[cluster.MessageType]int
	requests  int
	missing   int
}

func newCounter() *counter {
	return &counter{published: map[cluster.MessageType]int{}, received: map[cluster.MessageType]int{}}
}

func (c *counter) Published(_ string, t cluster.MessageType, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.published[t]++
	}
}

func (c *counter) Received(_ string, t cluster.MessageType) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received[t]++
}

func (c *counter) Requested(_ string, _ cluster.MessageType, _ time.Duration, missing int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.missing += missing
}

func (c *counter) get(f func(*counter) int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c)
}

// TestObserver checks that the adapter reports what it publishes, receives
// and requests.
func TestObserver(t *testing.T) {
	bus := cluster.NewBus()
	obs := []*counter{newCounter(), newCounter()}
	var srvs []*socketio.Server
	for _, o := range obs {
		srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(bus.Dialer(), &cluster.Options{Observer: o})})
		t.Cleanup(func() { _ = srv.Close() })
		srvs = append(srvs, srv)
	}
	_ = srvs[0].Emit("x")
	if _, err := srvs[0].FetchSockets(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(siotest.Timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the counts", func() bool {
		return obs[0].get(func(c *counter) int { return c.published[cluster.Broadcast] }) == 1 &&
			obs[1].get(func(c *counter) int { return c.received[cluster.Broadcast] }) == 1 &&
			obs[1].get(func(c *counter) int { return c.published[cluster.FetchSocketsResponse] }) == 1 &&
			obs[0].get(func(c *counter) int { return c.received[cluster.FetchSocketsResponse] }) == 1 &&
			obs[0].get(func(c *counter) int { return c.requests }) == 1
	})
	if m := obs[0].get(func(c *counter) int { return c.missing }); m != 0 {
		t.Errorf("missing answers: %d", m)
	}
}
