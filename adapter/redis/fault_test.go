package redis

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// dropCounter is a cluster.Observer that counts failed and dropped
// publishes.
type dropCounter struct{ failed, published atomic.Int64 }

func (d *dropCounter) Published(_ string, _ cluster.MessageType, err error) {
	if err != nil {
		d.failed.Add(1)
	} else {
		d.published.Add(1)
	}
}
func (d *dropCounter) Received(string, cluster.MessageType)                      {}
func (d *dropCounter) Requested(string, cluster.MessageType, time.Duration, int) {}

// TestBroadcastWhileRedisPaused checks that a broadcast does not wait for a
// Redis that hangs (SIGSTOP): it reaches this server's clients, in order,
// while Redis is still paused, and the caller returns; once Redis answers
// again, broadcasts reach the other servers again. For the sharded and
// streams adapters, with connection state recovery (where local delivery
// waits for the stream's offset while Redis answers, up to
// cluster.Options.MaxOffsetWait) and without. The transports' command
// timeout is a minute: a broadcast that waited for Redis would not be
// delivered before Redis resumes.
func TestBroadcastWhileRedisPaused(t *testing.T) {
	r := peertest.StartRedis(t)
	type node struct {
		srv *socketio.Server
		obs *dropCounter
	}
	modes := []struct {
		name     string
		recovery bool
		start    func(t *testing.T, prefix string, recovery bool) node
	}{
		{"sharded", false, func(t *testing.T, prefix string, _ bool) node {
			c := connect(t, r)
			sh, err := NewSharded(c, &ShardedOptions{ChannelPrefix: prefix, Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			obs := &dropCounter{}
			srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(sh.Dialer(), &cluster.Options{Observer: obs})})
			t.Cleanup(func() { _ = srv.Close() })
			return node{srv, obs}
		}},
		{"streams", false, nil},
		{"streams-recovery", true, nil},
	}
	streams := func(t *testing.T, prefix string, recovery bool) node {
		obs := &dropCounter{}
		copts := &cluster.Options{Observer: obs}
		if recovery {
			copts.Recovery = &socketio.RecoveryOptions{}
		}
		srv := streamsNodeWith(t, r.URL(), &StreamsOptions{StreamName: prefix, ChannelPrefix: prefix, Timeout: time.Minute}, copts)
		return node{srv, obs}
	}
	modes[1].start, modes[2].start = streams, streams
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			prefix := "paused-" + mode.name
			a, b := mode.start(t, prefix, mode.recovery), mode.start(t, prefix, mode.recovery)
			ha, hb := httptest.NewServer(a.srv), httptest.NewServer(b.srv)
			t.Cleanup(ha.Close)
			t.Cleanup(hb.Close)
			waitServers(t, a.srv, 2)
			ca, cb := siotest.Dial(t, ha.URL, nil), siotest.Dial(t, hb.URL, nil)
			if err := a.srv.Emit("before", 0); err != nil {
				t.Fatal(err)
			}
			ca.Next("before")
			cb.Next("before")
			before := ca.LastOffset()

			r.Pause(t)
			const n = 20
			returned := make(chan error, 1)
			go func() {
				for i := range n {
					if err := a.srv.Emit("during", i); err != nil {
						returned <- err
						return
					}
				}
				returned <- nil
			}()
			// Every broadcast reaches the local client, in order, and
			// every call returns, while Redis is still paused.
			for i := range n {
				e := ca.Next("during")
				if got := string(e.Args[0]); got != fmt.Sprint(i) {
					t.Fatalf("local broadcast %d: got %s", i, e.Raw)
				}
			}
			select {
			case err := <-returned:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(siotest.Timeout):
				t.Fatal("Emit did not return while Redis was paused")
			}
			r.Resume(t)

			// Broadcasts reach the other server again.
			waitFor(t, "a broadcast to reach the other server after Redis resumed", func() bool {
				if err := a.srv.Emit("after", 1); err != nil {
					t.Fatal(err)
				}
				_, ok := cb.NextWithin("after", 200*time.Millisecond)
				return ok
			})
			if err := a.srv.Emit("last", 2); err != nil {
				t.Fatal(err)
			}
			cb.Next("last")
			ca.Next("last")
			if mode.recovery {
				// Local delivery has its offset again.
				if off := ca.LastOffset(); !strings.Contains(off, "-") || off == before {
					t.Errorf("after Redis resumed, the last offset is %q (%q before the pause): want a new stream id", off, before)
				}
			}
			if a.obs.published.Load() == 0 {
				t.Error("the observer saw no publish succeed")
			}
			t.Logf("publishes failed or dropped during the pause: %d", a.obs.failed.Load())
		})
	}
}
