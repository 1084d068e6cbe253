package redis

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/tether-rt/tether/adapter/adaptertest"
	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// streamsNode returns a server on the Streams transport of its own Redis
// client, as a separate process would have.
func streamsNode(t *testing.T, url string, recovery bool) *socketio.Server {
	t.Helper()
	return streamsNodeOpts(t, url, recovery, &cluster.Options{})
}

// streamsNodeOpts is streamsNode with the adapter's options.
func streamsNodeOpts(t *testing.T, url string, recovery bool, copts *cluster.Options) *socketio.Server {
	t.Helper()
	if recovery {
		copts.Recovery = &socketio.RecoveryOptions{}
	}
	return streamsNodeWith(t, url, &StreamsOptions{Timeout: time.Second}, copts)
}

func TestStreamsSuite(t *testing.T) {
	r := peertest.StartRedis(t)
	adaptertest.Run(t, adaptertest.Each(func(t *testing.T) *socketio.Server { return streamsNode(t, r.URL(), false) }), 3)
}

// TestStreamsSuiteWithRecovery runs the suite with connection state
// recovery on: broadcasts are delivered with the offsets of the stream.
func TestStreamsSuiteWithRecovery(t *testing.T) {
	r := peertest.StartRedis(t)
	adaptertest.Run(t, adaptertest.Each(func(t *testing.T) *socketio.Server { return streamsNode(t, r.URL(), true) }), 3)
}

// TestStreamsRecoveryAcrossServers checks connection state recovery across
// servers: a client that loses its connection to one server and reconnects
// through another gets its session back (same id, rooms) and every packet
// it missed, in order, then the newer ones, each once.
func TestStreamsRecoveryAcrossServers(t *testing.T) {
	testStreamsRecoveryAcrossServers(t, peertest.StartRedis(t))
}

func testStreamsRecoveryAcrossServers(t *testing.T, r redisServer) {
	a, b := streamsNode(t, r.URL(), true), streamsNode(t, r.URL(), true)
	joined := make(chan struct{}, 1)
	a.OnConnection(func(s *socketio.Socket) {
		s.Join("room")
		joined <- struct{}{}
	})
	ha, hb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(ha.Close)
	t.Cleanup(hb.Close)
	waitServers(t, a, 2)
	waitServers(t, b, 2)

	c := siotest.Dial(t, ha.URL, nil)
	<-joined
	if err := b.To("room").Emit("m", 0); err != nil {
		t.Fatal(err)
	}
	e := c.Next("m")
	offset := c.LastOffset()
	if string(e.Args[0]) != "0" || !strings.Contains(offset, "-") {
		t.Fatalf("first packet %s, offset %q: want a stream id as offset", e.Raw, offset)
	}
	sid, pid := c.SID, c.PID
	c.Close()
	// The session is kept (by a) before the client comes back.
	rc, err := Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	waitFor(t, "the session to be kept", func() bool {
		n, err := rc.Do(context.Background(), rc.B().Exists().Key("sio:session:"+pid).Build()).AsInt64()
		return err == nil && n == 1
	})
	for i := 1; i <= 3; i++ { // missed, from both servers
		src := a
		if i%2 == 0 {
			src = b
		}
		if err := src.To("room").Emit("m", i); err != nil {
			t.Fatal(err)
		}
		// In the stream before the other server's next one.
		if err := src.Sockets().Adapter().(*cluster.Adapter).Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_ = a.To("other").Emit("m", 99) // not for the client
	c2 := siotest.Dial(t, hb.URL, &siotest.Options{Auth: map[string]string{"pid": pid, "offset": offset}})
	if c2.SID != sid || c2.PID != pid {
		t.Fatalf("reconnected as %s/%s, want the session %s/%s restored", c2.SID, c2.PID, sid, pid)
	}
	if err := a.To("room").Emit("m", 4); err != nil { // live, after the recovery
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		e := c2.Next("m")
		if got := string(e.Args[0]); got != string(rune('0'+i)) {
			t.Fatalf("packet %d: got %s", i, e.Raw)
		}
	}
	if e, ok := c2.NextWithin("m", 300*time.Millisecond); ok {
		t.Fatalf("got %s once more", e.Raw)
	}
	// In its rooms again, on b.
	if err := b.To("room").Emit("m", 5); err != nil {
		t.Fatal(err)
	}
	if e := c2.Next("m"); string(e.Args[0]) != "5" {
		t.Fatalf("after recovery: got %s", e.Raw)
	}
}

// TestStreamsRedisRestart checks that the servers read the stream and the
// channels again after Redis restarts.
func TestStreamsRedisRestart(t *testing.T) {
	r := peertest.StartRedis(t)
	a, b := streamsNode(t, r.URL(), false), streamsNode(t, r.URL(), false)
	ha, hb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(ha.Close)
	t.Cleanup(hb.Close)
	waitServers(t, a, 2)
	ca := siotest.Dial(t, ha.URL, nil)
	cb := siotest.Dial(t, hb.URL, nil)
	r.Restart(t)
	waitServers(t, a, 2)
	waitServers(t, b, 2)
	// The first command on a connection that Redis dropped fails (a
	// broadcast then reaches this server's clients only): retry until both
	// directions flow.
	waitFor(t, "broadcasts to flow again", func() bool {
		_ = a.Emit("again")
		_, ok := cb.NextWithin("again", 200*time.Millisecond)
		return ok
	})
	waitFor(t, "broadcasts to flow back", func() bool {
		_ = b.Emit("back")
		_, ok := ca.NextWithin("back", 200*time.Millisecond)
		return ok
	})
	res, err := a.FetchSockets(context.Background())
	if err != nil || len(res) != 2 {
		t.Fatalf("FetchSockets after the restart: %d sockets, %v", len(res), err)
	}
}

// waitServers waits until srv counts n servers.
func waitServers(t *testing.T, srv *socketio.Server, n int) {
	t.Helper()
	waitFor(t, "the servers to see each other", func() bool {
		c, err := srv.Sockets().Adapter().ServerCount(context.Background())
		return err == nil && c == n
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStreamsDetectsClassic checks that a streams node says so when a node
// of the classic family broadcasts on the same prefix.
func TestStreamsDetectsClassic(t *testing.T) {
	r := peertest.StartRedis(t)
	c, err := Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	st := NewStreams(c, &StreamsOptions{Logger: log})
	defer st.Close()
	srv := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(st.Dialer(), nil)})
	defer srv.Close()
	// A classic broadcast: notepack [uid, {type, data, nsp}, opts].
	classic := "\x93\xa6xaaFKm\x83\xa4type\x02\xa4data\x91\xa1x\xa3nsp\xa1/\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80"
	waitFor(t, "the mismatch to be reported", func() bool {
		_ = c.Do(context.Background(), c.B().Publish().Channel("socket.io#/#").Message(classic).Build()).Error()
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "another adapter family")
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestStreamsRecoveryAfterCrash checks that a client recovers on another
// server when the one it was connected to says nothing (it died): the
// sessions are kept ahead of the disconnection (KeepSessions).
func TestStreamsRecoveryAfterCrash(t *testing.T) {
	r := peertest.StartRedis(t)
	a := streamsNodeOpts(t, r.URL(), true, &cluster.Options{KeepSessions: 100 * time.Millisecond})
	b := streamsNode(t, r.URL(), true)
	joined := make(chan struct{}, 1)
	a.OnConnection(func(s *socketio.Socket) {
		s.Join("room")
		joined <- struct{}{}
	})
	ha, hb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(ha.Close)
	t.Cleanup(hb.Close)
	waitServers(t, b, 2)
	c := siotest.Dial(t, ha.URL, nil)
	<-joined
	_ = b.To("room").Emit("m", 0)
	c.Next("m")
	offset := c.LastOffset()
	rc, err := Connect(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// The session is kept while the client is still connected to a, which
	// will never tell it is gone.
	waitFor(t, "the session to be kept ahead of time", func() bool {
		n, err := rc.Do(context.Background(), rc.B().Exists().Key("sio:session:"+c.PID).Build()).AsInt64()
		return err == nil && n == 1
	})
	_ = b.To("room").Emit("m", 1) // missed
	c2 := siotest.Dial(t, hb.URL, &siotest.Options{Auth: map[string]string{"pid": c.PID, "offset": offset}})
	if c2.SID != c.SID {
		t.Fatalf("reconnected as %s, want the session %s restored", c2.SID, c.SID)
	}
	if e := c2.Next("m"); string(e.Args[0]) != "1" {
		t.Fatalf("missed packet: %s", e.Raw)
	}
	_ = b.To("room").Emit("m", 2) // in its rooms on b
	if e := c2.Next("m"); string(e.Args[0]) != "2" {
		t.Fatalf("after recovery: %s", e.Raw)
	}
}

// streamsNodeWith is streamsNode with the transport's options.
func streamsNodeWith(t *testing.T, url string, sopts *StreamsOptions, copts *cluster.Options) *socketio.Server {
	t.Helper()
	c, err := Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	st := NewStreams(c, sopts)
	opts := &socketio.Options{Adapter: cluster.NewFactory(st.Dialer(), copts)}
	if copts.Recovery != nil {
		opts.ConnectionStateRecovery = copts.Recovery
	}
	srv := socketio.NewServer(opts)
	t.Cleanup(func() {
		_ = srv.Close()
		_ = st.Close()
		c.Close()
	})
	return srv
}

// TestStreamsCloseLeavesChannels checks that a server whose streams
// adapter closes leaves its request and response channels at once: the
// others count it gone (PUBSUB NUMSUB, or SHARDNUMSUB) and their requests
// no longer wait for its answer.
func TestStreamsCloseLeavesChannels(t *testing.T) {
	r := peertest.StartRedis(t)
	for _, sharded := range []bool{false, true} {
		name := "pubsub"
		if sharded {
			name = "sharded-pubsub"
		}
		t.Run(name, func(t *testing.T) {
			prefix := "close-" + name
			opts := &StreamsOptions{StreamName: prefix, ChannelPrefix: prefix, UseShardedPubSub: sharded, Timeout: time.Second}
			a := streamsNodeWith(t, r.URL(), opts, &cluster.Options{RequestTimeout: 10 * time.Second})
			b := streamsNodeWith(t, r.URL(), opts, &cluster.Options{})
			waitServers(t, a, 2)
			rc := connect(t, r)
			numsub := func(channel string) int64 {
				t.Helper()
				var cmd rueidis.Completed
				if sharded {
					cmd = rc.B().PubsubShardnumsub().Channel(channel).Build()
				} else {
					cmd = rc.B().PubsubNumsub().Channel(channel).Build()
				}
				n, err := rc.Do(context.Background(), cmd).AsIntMap()
				if err != nil {
					t.Fatal(err)
				}
				return n[channel]
			}
			main := prefix + "#/#"
			own := main + b.Sockets().Adapter().(*cluster.Adapter).UID() + "#"
			if n, m := numsub(main), numsub(own); n != 2 || m != 1 {
				t.Fatalf("before closing: %d subscribers of %s, %d of %s; want 2 and 1", n, main, m, own)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if n, m := numsub(main), numsub(own); n != 1 || m != 0 {
				t.Fatalf("after closing: %d subscribers of %s, %d of %s; want 1 and 0", n, main, m, own)
			}
			if n, err := a.Sockets().Adapter().ServerCount(context.Background()); err != nil || n != 1 {
				t.Fatalf("ServerCount = %d, %v; want 1", n, err)
			}
			// A request expects no answer from the closed server: it ends
			// complete, not after RequestTimeout with an answer missing.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := a.FetchSockets(ctx); err != nil {
				t.Fatalf("FetchSockets after the other server closed: %v", err)
			}
		})
	}
}
