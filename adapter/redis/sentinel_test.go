package redis

import (
	"context"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// TestRedisSentinelFailover runs two classic servers on a master found
// through Sentinel (redis://sentinel?master_set=name) and has the sentinel
// promote the replica while one server broadcasts (the old master stays a
// master, as one cut off from the sentinels would): the servers follow the
// new master, subscribe again there, count each other, and every broadcast
// reaches the other server's client at most once and in order (pub/sub
// loses what is published while the master changes), then every broadcast
// again.
func TestRedisSentinelFailover(t *testing.T) {
	rs := peertest.StartRedisSentinelSplit(t)
	if c := connect(t, rs); c.Mode() != rueidis.ClientModeSentinel {
		t.Fatalf("a client of %s is in mode %v, want sentinel", rs.URL(), c.Mode())
	}
	opts := ClassicOptions{Key: "sentinel"}
	a, b := startClassic(t, rs, opts), startClassic(t, rs, opts)
	waitCount(t, a, 2)
	waitCount(t, b, 2)
	ca, cb := siotest.Dial(t, a.url, nil), siotest.Dial(t, b.url, nil)
	waitFor(t, "the sockets", func() bool {
		return a.srv.Sockets().Socket(ca.SID) != nil && b.srv.Sockets().Socket(cb.SID) != nil
	})
	if err := a.srv.Emit("n", 0); err != nil {
		t.Fatal(err)
	}
	cb.Next("n")

	// Broadcasts from a, during the failover.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_ = a.srv.Emit("n", i)
			sent = i
		}
	}()
	rs.Failover(t)
	// Every server's subscription started on the old master, so each moves
	// (a reconnect) once its client follows Sentinel to the new one; until
	// then probes can still cross on the old master, and what is published
	// while a server moves is lost.
	for _, s := range []*classicServer{a, b} {
		waitFor(t, "the servers to subscribe on the new master", func() bool {
			return s.stats.Connected.Load() && s.stats.Reconnects.Load() >= 1
		})
	}
	// Until each server's broadcasts reach the other's client again (a
	// server publishes to the old master until its client learns of the
	// new one). The old master stays one (split): a subscription left
	// there would never hear the new master's messages.
	for _, p := range []struct {
		from *classicServer
		to   *siotest.Client
	}{{a, cb}, {b, ca}} {
		for i := 0; ; i++ {
			if err := p.from.srv.Emit("probe", i); err != nil {
				t.Fatal(err)
			}
			if _, ok := p.to.NextWithin("probe", 100*time.Millisecond); ok {
				break
			}
			if i == 100 {
				t.Fatalf("%s's broadcasts never reached %s again after the failover", p.from.url, p.to.SID)
			}
		}
	}
	close(stop)
	wg.Wait()
	waitCount(t, a, 2)
	waitCount(t, b, 2)
	for _, src := range []*classicServer{a, b} {
		if err := src.srv.Emit("last"); err != nil {
			t.Fatal(err)
		}
		ca.Next("last")
		cb.Next("last")
	}
	seq := func(c *siotest.Client) []int {
		var out []int
		for _, e := range c.Events() {
			if e.Name == "n" {
				n, _ := strconv.Atoi(string(e.Args[0]))
				out = append(out, n)
			}
		}
		return out
	}
	// a's own client got them all (local delivery does not wait on Redis).
	if got := seq(ca); len(got) != sent+1 {
		t.Errorf("a's client got %d broadcasts of %d", len(got), sent+1)
	}
	got := seq(cb)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("b's client got %d after %d (a duplicate, or out of order): %v", got[i], got[i-1], got)
		}
	}
	t.Logf("%d broadcasts during the failover; b's client got %d of them", sent, len(got))
}

// TestRedisSentinelFailoverFamilies is TestRedisSentinelFailover for the
// sharded and streams adapters (their subscriptions are the client's, which
// drops them on the old master when it follows the new one).
func TestRedisSentinelFailoverFamilies(t *testing.T) {
	for _, fam := range []string{"sharded", "streams"} {
		t.Run(fam, func(t *testing.T) {
			rs := peertest.StartRedisSentinelSplit(t)
			var srvs [2]*socketio.Server
			var clients [2]*siotest.Client
			for i := range srvs {
				c := connect(t, rs)
				var dialer cluster.Dialer
				if fam == "sharded" {
					sh, err := NewSharded(c, &ShardedOptions{ChannelPrefix: "sentinel"})
					if err != nil {
						t.Fatal(err)
					}
					dialer = sh.Dialer()
				} else {
					st := NewStreams(c, &StreamsOptions{StreamName: "sentinel", ChannelPrefix: "sentinel", Timeout: time.Second})
					t.Cleanup(func() { _ = st.Close() })
					dialer = st.Dialer()
				}
				srvs[i] = socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(dialer, nil)})
				t.Cleanup(func() { _ = srvs[i].Close() })
				hs := httptest.NewServer(srvs[i])
				t.Cleanup(hs.Close)
				clients[i] = siotest.Dial(t, hs.URL, nil)
			}
			for i, s := range srvs {
				waitServers(t, s, 2)
				var sock *socketio.Socket
				waitFor(t, "the socket", func() bool { sock = s.Sockets().Socket(clients[i].SID); return sock != nil })
				sock.Join("room")
				syncAdapter(t, s.Sockets().Adapter())
			}
			var resubscribed func() bool
			if fam == "sharded" {
				// Both servers' subscriptions to the room's channel, on
				// the new master (the old one stays a master).
				ch := "sentinel#/#room#"
				resubscribed = func() bool {
					c, err := Connect(context.Background(), rs.URL())
					if err != nil {
						return false
					}
					defer c.Close()
					counts, err := c.Do(context.Background(), c.B().PubsubShardnumsub().Channel(ch).Build()).AsIntMap()
					return err == nil && counts[ch] == 2
				}
			}
			broadcastThroughFailover(t, srvs, clients, "room", func() { rs.Failover(t) }, resubscribed)
		})
	}
}
