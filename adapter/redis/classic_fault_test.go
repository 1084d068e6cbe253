package redis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// classicServer is a served Tether server with the classic adapter.
type classicServer struct {
	srv    *socketio.Server
	url    string
	stats  *ClassicStats
	client rueidis.Client
}

func (s *classicServer) adapter() *ClassicAdapter {
	return s.srv.Sockets().Adapter().(*ClassicAdapter)
}

func startClassic(t *testing.T, r redisServer, opts ClassicOptions) *classicServer {
	t.Helper()
	s := &classicServer{stats: &ClassicStats{}, client: connect(t, r)}
	opts.Stats = s.stats
	s.srv = socketio.NewServer(&socketio.Options{Adapter: NewClassicFactory(s.client, &opts)})
	t.Cleanup(func() { _ = s.srv.Close() })
	hs := httptest.NewServer(s.srv)
	t.Cleanup(hs.Close)
	s.url = hs.URL
	return s
}

func waitCount(t *testing.T, s *classicServer, want int) {
	t.Helper()
	waitFor(t, "the servers to count each other", func() bool {
		n, err := s.adapter().ServerCount(context.Background())
		return err == nil && n == want
	})
}

func settle(t *testing.T, s *classicServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), siotest.Timeout)
	defer cancel()
	if err := s.adapter().Settle(ctx); err != nil {
		t.Fatalf("Settle: %v", err)
	}
}

// count returns how many events named name c has received (and forgets
// every event).
func count(c *siotest.Client, name string) int {
	n := 0
	for _, e := range c.Events() {
		if e.Name == name {
			n++
		}
	}
	return n
}

// TestClassicRedisRestart kills Redis during traffic and starts it again
// (empty, as a failover to a fresh server would be): local delivery goes
// on during the outage, and the servers reconnect and subscribe again to
// every channel, those of rooms joined during the outage included, so
// that broadcasts flow again.
func TestClassicRedisRestart(t *testing.T) {
	r := peertest.StartRedis(t)
	opts := ClassicOptions{Key: "restart", PublishTimeout: time.Second, RequestTimeout: time.Second}
	s0, s1 := startClassic(t, r, opts), startClassic(t, r, opts)
	waitCount(t, s0, 2)
	c0, c1 := siotest.Dial(t, s0.url, nil), siotest.Dial(t, s1.url, nil)
	if err := s0.srv.Emit("before", 1); err != nil {
		t.Fatal(err)
	}
	c0.Next("before")
	c1.Next("before")

	r.Kill()
	for _, s := range []*classicServer{s0, s1} {
		waitFor(t, "the servers to notice the outage", func() bool { return !s.stats.Connected.Load() })
	}
	// Local delivery does not wait for Redis.
	for i := range 5 {
		if err := s0.srv.Emit("during", i); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		c0.Next("during")
	}
	// A room joined during the outage is subscribed once Redis is back.
	waitFor(t, "c1's socket", func() bool { return s1.srv.Sockets().Socket(c1.SID) != nil })
	s1.srv.Sockets().Socket(c1.SID).Join("late")
	// A request during the outage returns the local sockets and says the
	// rest is missing.
	socks, err := s0.srv.FetchSockets(context.Background())
	if !errors.Is(err, socketio.ErrPartialResult) || len(socks) != 1 || socks[0].ID != c0.SID {
		t.Errorf("FetchSockets during the outage = %d sockets, %v; want c0's and a partial result", len(socks), err)
	}

	r.Restart(t)
	for _, s := range []*classicServer{s0, s1} {
		waitFor(t, "the servers to subscribe again", func() bool { return s.stats.Connected.Load() && s.stats.Reconnects.Load() >= 1 })
	}
	waitCount(t, s0, 2)
	settle(t, s1)
	if err := s0.srv.Emit("after", 2); err != nil {
		t.Fatal(err)
	}
	if err := s0.srv.To("late").Emit("late", 3); err != nil {
		t.Fatal(err)
	}
	c1.Next("after")
	c1.Next("late")
	c0.Next("after")
	// What was published during the outage is lost (Redis pub/sub keeps
	// nothing) and counted.
	if n := count(c1, "during"); n != 0 {
		t.Errorf("c1 got %d broadcasts made while Redis was down", n)
	}
	if lost := s0.stats.PublishErrors.Load() + s0.stats.Dropped.Load(); lost < 5 {
		t.Errorf("PublishErrors+Dropped = %d, want at least the 5 broadcasts of the outage", lost)
	}
	if s1.stats.Received.Load() == 0 || s0.stats.Published.Load() == 0 {
		t.Errorf("stats: s0 published %d, s1 received %d", s0.stats.Published.Load(), s1.stats.Received.Load())
	}
}

// TestClassicPartialResults checks the requests to a server that is
// counted (it subscribed to the request channel) but does not answer, as a
// hung server or an incompatible one would (socket.io-redis-adapter#506):
// they return what the others answered, with an error wrapping
// ErrPartialResult that says how many servers were missing.
func TestClassicPartialResults(t *testing.T) {
	r := peertest.StartRedis(t)
	var took []int
	opts := ClassicOptions{Key: "partial", RequestTimeout: 300 * time.Millisecond,
		OnRequest: func(op string, _ time.Duration, missing int) {
			if op == "fetchSockets" {
				took = append(took, missing)
			}
		}}
	s0, s1 := startClassic(t, r, opts), startClassic(t, r, opts)
	// The silent server: a connection subscribed to the request channel.
	silent := connect(t, r)
	dc, release := silent.Dedicate()
	t.Cleanup(release)
	dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: func(rueidis.PubSubMessage) {}})
	if err := dc.Do(context.Background(), silent.B().Subscribe().Channel("partial-request#/#").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	waitCount(t, s0, 3)
	c0, c1 := siotest.Dial(t, s0.url, nil), siotest.Dial(t, s1.url, nil)
	waitFor(t, "the sockets", func() bool {
		return s0.srv.Sockets().Socket(c0.SID) != nil && s1.srv.Sockets().Socket(c1.SID) != nil
	})

	socks, err := s0.srv.FetchSockets(context.Background())
	if !errors.Is(err, socketio.ErrPartialResult) || !strings.Contains(err.Error(), "1 of 2 servers") {
		t.Fatalf("FetchSockets error = %v, want a partial result missing 1 of 2 servers", err)
	}
	var ids []string
	for _, s := range socks {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	want := []string{c0.SID, c1.SID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("FetchSockets = %q, want %q (the answering servers' sockets)", ids, want)
	}
	if !slices.Equal(took, []int{1}) || s0.stats.PartialResults.Load() != 1 {
		t.Errorf("OnRequest saw %v missing, PartialResults = %d", took, s0.stats.PartialResults.Load())
	}
	rooms, err := s1.adapter().AllRooms(context.Background())
	if !errors.Is(err, socketio.ErrPartialResult) || !slices.Contains(rooms, c0.SID) || !slices.Contains(rooms, c1.SID) {
		t.Errorf("AllRooms = %q, %v", rooms, err)
	}
	s1.srv.Sockets().OnServerSideEmit("q", func(_ []json.RawMessage, ack func(json.RawMessage)) { ack(json.RawMessage(`"s1"`)) })
	res, err := s0.srv.Sockets().ServerSideEmitWithAck(context.Background(), "q")
	if !errors.Is(err, socketio.ErrPartialResult) || len(res) != 1 || string(res[0]) != `"s1"` {
		t.Errorf("ServerSideEmitWithAck = %q, %v", res, err)
	}

	// The silent server goes away: requests are complete again.
	dc.Close()
	waitCount(t, s0, 2)
	if socks, err := s0.srv.FetchSockets(context.Background()); err != nil || len(socks) != 2 {
		t.Errorf("FetchSockets after the silent server left = %d sockets, %v", len(socks), err)
	}
}

// TestClassicRoomSubscriptions checks that a server subscribes to the
// channel of each room that has local sockets, and to no other room's
// (socket.io-redis-adapter#510, #565): Redis does not send it the traffic
// of the others' rooms.
func TestClassicRoomSubscriptions(t *testing.T) {
	r := peertest.StartRedis(t)
	s0 := startClassic(t, r, ClassicOptions{Key: "subs"})
	c := siotest.Dial(t, s0.url, nil)
	waitFor(t, "the socket", func() bool { return s0.srv.Sockets().Socket(c.SID) != nil })
	sock := s0.srv.Sockets().Socket(c.SID)
	sock.Join("x", "y")
	settle(t, s0)
	channels := func() []string {
		ch, err := s0.client.Do(context.Background(), s0.client.B().PubsubChannels().Pattern("subs*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ch)
		return ch
	}
	want := []string{"subs#/#", "subs#/#" + c.SID + "#", "subs#/#x#", "subs#/#y#", "subs-request#/#", "subs-response#/#", "subs-response#/#" + s0.adapter().UID() + "#"}
	slices.Sort(want)
	if got := channels(); !slices.Equal(got, want) {
		t.Errorf("subscribed to %q, want %q", got, want)
	}
	sock.Leave("x")
	settle(t, s0)
	if got := channels(); slices.Contains(got, "subs#/#x#") || !slices.Contains(got, "subs#/#y#") {
		t.Errorf("after leaving x: subscribed to %q", got)
	}
	// A broadcast to a room this server has no socket in does not reach
	// it.
	before := s0.stats.Received.Load()
	e := NewEmitter(s0.client, &EmitterOptions{Key: "subs"})
	if err := e.To("x").Emit("nobody", 1); err != nil {
		t.Fatal(err)
	}
	if err := e.To("y").Emit("fence"); err != nil {
		t.Fatal(err)
	}
	c.Next("fence")
	if got := s0.stats.Received.Load() - before; got != 1 {
		t.Errorf("received %d messages, want 1 (the fence, not the broadcast to x)", got)
	}
	c.Close()
	waitFor(t, "the socket to go", func() bool { return s0.srv.Sockets().Socket(c.SID) == nil })
	settle(t, s0)
	if got := channels(); slices.Contains(got, "subs#/#y#") || slices.Contains(got, "subs#/#"+c.SID+"#") {
		t.Errorf("after the socket left: subscribed to %q", got)
	}
	if n := s0.stats.Subscriptions.Load(); n != 4 {
		t.Errorf("Subscriptions = %d, want 4 (namespace, request and two response channels)", n)
	}
}

// TestClassicPublishQueueBound checks that a server whose Redis is stalled
// (CLIENT PAUSE) keeps delivering locally, without waiting, and drops (and
// counts) what exceeds MaxPendingBytes instead of holding it.
func TestClassicPublishQueueBound(t *testing.T) {
	r := peertest.StartRedis(t)
	s := startClassic(t, r, ClassicOptions{Key: "bound", MaxPendingBytes: 4 << 10, PublishTimeout: 5 * time.Second})
	c := siotest.Dial(t, s.url, nil)
	admin := connect(t, r)
	if err := admin.Do(context.Background(), admin.B().ClientPause().Timeout(1500).All().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	const n = 200
	payload := strings.Repeat("x", 1000)
	confirm := s.adapter().MarkPublish()
	for i := range n {
		if err := s.srv.Emit("burst", i, payload); err != nil {
			t.Fatal(err)
		}
	}
	confirmed := make(chan error, 1)
	confirm(func(err error) { confirmed <- err })
	for range n {
		c.Next("burst")
	}
	waitFor(t, "every broadcast to be published or dropped", func() bool {
		return s.stats.Dropped.Load()+s.stats.PublishErrors.Load()+s.stats.Published.Load() == n
	})
	if d := s.stats.Dropped.Load(); d == 0 || d == n {
		t.Errorf("Dropped = %d of %d: want what did not fit 4 KiB dropped, the rest published", d, n)
	}
	// The burst's confirmation reports the drops; a later one does not.
	if err := <-confirmed; !errors.Is(err, socketio.ErrNotPublished) {
		t.Errorf("confirmation of a burst with drops: %v, want ErrNotPublished", err)
	}
	confirm = s.adapter().MarkPublish()
	if err := s.srv.Emit("after"); err != nil {
		t.Fatal(err)
	}
	confirm(func(err error) { confirmed <- err })
	if err := <-confirmed; err != nil {
		t.Errorf("confirmation of a broadcast published after the burst: %v", err)
	}
}

// TestClassicDetectsStreams checks that a classic server says so, once,
// when a server of the streams family publishes on the same prefix (its
// requests use the channel classic servers broadcast on).
func TestClassicDetectsStreams(t *testing.T) {
	r := peertest.StartRedis(t)
	var logs syncBuffer
	client := connect(t, r)
	stats := &ClassicStats{}
	srv := socketio.NewServer(&socketio.Options{
		Adapter: NewClassicFactory(client, &ClassicOptions{Key: "mix", Stats: stats}),
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	t.Cleanup(func() { _ = srv.Close() })
	m := &cluster.Message{UID: "0123456789abcdef", NSP: "/", Type: cluster.FetchSockets, RequestID: "r", Opts: &socketio.BroadcastOptions{}}
	msg, err := m.AppendMsgpack(nil, cluster.MsgpackJS)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := client.Do(context.Background(), client.B().Publish().Channel("mix#/#").Message(string(msg)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the messages to be refused", func() bool { return stats.Invalid.Load() == 2 })
	if n := strings.Count(logs.String(), "another adapter family"); n != 1 {
		t.Errorf("logged the mismatch %d times, want once:\n%s", n, logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
