package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/tether-rt/tether/adapter/cluster"
)

// ShardedOptions configures [NewSharded]. The zero value gives the
// defaults of Node's createShardedAdapter (@socket.io/redis-adapter 8.3).
type ShardedOptions struct {
	// ChannelPrefix prefixes the channels ("socket.io").
	ChannelPrefix string
	// SubscriptionMode is "dynamic" (the default: a channel per public room
	// besides the namespace's two, so that a room's broadcasts reach only
	// the servers that have members in it), "dynamic-private" (a channel
	// per room, socket ids included) or "static" (the namespace's two
	// channels only). Every server of a cluster must use the same mode.
	SubscriptionMode string
	// Timeout bounds each Redis command of a publish or a request (2 s).
	Timeout time.Duration
	// Logger receives the transport's warnings; nil means slog.Default.
	Logger *slog.Logger
}

func (o *ShardedOptions) withDefaults() ShardedOptions {
	var c ShardedOptions
	if o != nil {
		c = *o
	}
	if c.ChannelPrefix == "" {
		c.ChannelPrefix = "socket.io"
	}
	if c.SubscriptionMode == "" {
		c.SubscriptionMode = "dynamic"
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Sharded is the transport of Node's sharded Redis adapter
// (createShardedAdapter), for cluster.Adapter: the ClusterAdapter protocol
// over Redis 7's sharded pub/sub (SPUBLISH, SSUBSCRIBE), JSON messages or,
// with binary data, notepack MessagePack. In the dynamic modes a broadcast
// to one room goes to that room's channel, to which only the servers with
// members in the room subscribe. The servers are counted with PUBSUB
// SHARDNUMSUB.
type Sharded struct {
	c    rueidis.Client
	opts ShardedOptions
}

// NewSharded returns the sharded transport on client.
func NewSharded(client rueidis.Client, opts *ShardedOptions) (*Sharded, error) {
	o := opts.withDefaults()
	switch o.SubscriptionMode {
	case "static", "dynamic", "dynamic-private":
	default:
		return nil, fmt.Errorf("redis: unknown sharded subscription mode %q (static, dynamic, dynamic-private)", o.SubscriptionMode)
	}
	return &Sharded{c: client, opts: o}, nil
}

// Dialer returns the cluster.Dialer of the transport.
func (s *Sharded) Dialer() cluster.Dialer {
	return func(nsp, uid string, h cluster.Handler) (cluster.Transport, error) {
		ctx, cancel := context.WithCancel(context.Background())
		t := &shardedTransport{s: s, nsp: nsp, uid: uid, h: h, ctx: ctx, cancel: cancel,
			rooms: map[string]*roomSub{}, changes: make(chan struct{}, 1)}
		t.main = s.opts.ChannelPrefix + "#" + nsp + "#"
		t.own = t.main + uid + "#"
		subscribed := make(chan struct{})
		t.wg.Add(2)
		go t.receive(t.main, subscribed)
		go t.roomLoop()
		own := make(chan struct{})
		t.wg.Add(1)
		go t.receive(t.own, own)
		for _, ch := range []chan struct{}{subscribed, own} {
			select {
			case <-ch:
			case <-time.After(s.opts.Timeout):
				s.opts.Logger.Warn("redis sharded: subscribing takes long; going on", "namespace", nsp)
			}
		}
		return t, nil
	}
}

// looksLikeASocketID is Node's test for a room that is a socket's own: its
// broadcasts go to the namespace's channel in the dynamic mode.
func looksLikeASocketID(room string) bool { return len(room) == 20 }

type shardedTransport struct {
	s      *Sharded
	nsp    string
	uid    string
	h      cluster.Handler
	main   string
	own    string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	rooms   map[string]*roomSub // rooms with local members (that have a channel)
	changes chan struct{}
}

// roomSub is the subscription to a room's channel.
type roomSub struct {
	want    bool               // the room has local members
	running bool               // a goroutine holds the subscription
	ready   chan struct{}      // closed once Redis confirmed it
	cancel  context.CancelFunc // ends it
}

// separate reports whether room has a channel of its own in the mode.
func (t *shardedTransport) separate(room string) bool {
	switch t.s.opts.SubscriptionMode {
	case "dynamic":
		return !looksLikeASocketID(room)
	case "dynamic-private":
		return true
	}
	return false
}

// RoomChanged implements cluster.RoomObserver: the subscription changes are
// made by roomLoop.
func (t *shardedTransport) RoomChanged(room string, exists bool) {
	if !t.separate(room) {
		return
	}
	t.mu.Lock()
	r := t.rooms[room]
	if r == nil {
		r = &roomSub{}
		t.rooms[room] = r
	}
	r.want = exists
	if exists && r.ready == nil {
		r.ready = make(chan struct{})
	}
	t.mu.Unlock()
	select {
	case t.changes <- struct{}{}:
	default:
	}
}

// roomLoop subscribes to the channels of the rooms that got local members
// and unsubscribes from those that lost them.
func (t *shardedTransport) roomLoop() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.changes:
		}
		t.mu.Lock()
		for room, r := range t.rooms {
			switch {
			case r.want && !r.running:
				ctx, cancel := context.WithCancel(t.ctx)
				r.running, r.cancel = true, cancel
				t.wg.Add(1)
				go t.receiveRoom(ctx, room, r.ready)
			case !r.want && r.running:
				r.cancel()
				r.running = false
				delete(t.rooms, room)
			case !r.want:
				delete(t.rooms, room)
			}
		}
		t.mu.Unlock()
	}
}

// receiveRoom holds the subscription to a room's channel until ctx is done.
func (t *shardedTransport) receiveRoom(ctx context.Context, room string, ready chan struct{}) {
	defer t.wg.Done()
	channel := t.main + room + "#"
	t.subscribe(ctx, channel, ready)
	// Leave the channel (Receive returns on ctx without unsubscribing).
	uctx, cancel := context.WithTimeout(context.Background(), t.s.opts.Timeout)
	defer cancel()
	c := t.s.c
	_ = c.Do(uctx, c.B().Sunsubscribe().Channel(channel).Build()).Error()
}

// Settle waits until the channels of the rooms that have local members are
// subscribed to (or ctx is done): a broadcast another server makes to such a
// room after Settle returns reaches this server. Subscribing follows a room's
// first local member asynchronously; cluster.Adapter.Settle calls it.
func (t *shardedTransport) Settle(ctx context.Context) error {
	t.mu.Lock()
	var waits []chan struct{}
	for _, r := range t.rooms {
		if r.want && r.ready != nil {
			waits = append(waits, r.ready)
		}
	}
	t.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// receive holds the subscription to one of the namespace's channels until
// the transport closes.
func (t *shardedTransport) receive(channel string, subscribed chan struct{}) {
	defer t.wg.Done()
	t.subscribe(t.ctx, channel, subscribed)
}

// subscribe reads channel until ctx is done, subscribing again after a
// broken connection or a slot migration.
func (t *shardedTransport) subscribe(ctx context.Context, channel string, subscribed chan struct{}) {
	c := t.s.c
	var once sync.Once
	backoff := newBackoff()
	handle := inOrder(ctx, t.handle) // handle answers requests: it publishes
	for ctx.Err() == nil {
		hooked := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
			if s.Kind == "ssubscribe" && s.Channel == channel {
				backoff.reset()
				if subscribed != nil {
					once.Do(func() { close(subscribed) })
				}
			}
		})
		err := c.Receive(hooked, c.B().Ssubscribe().Channel(channel).Build(), handle)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			t.s.opts.Logger.Warn("redis sharded: lost a channel; subscribing again", "channel", channel, "err", err)
		}
		if !backoff.wait(ctx) {
			return
		}
	}
}

// handle decodes a message (JSON, or notepack MessagePack).
func (t *shardedTransport) handle(msg rueidis.PubSubMessage) {
	b := []byte(msg.Message)
	var m *cluster.Message
	var err error
	if len(b) > 0 && b[0] == '{' {
		m, err = cluster.DecodeJSON(b)
	} else {
		m, err = cluster.DecodeMsgpack(b, cluster.Notepack)
	}
	if err != nil {
		t.s.opts.Logger.Warn("redis sharded: skipped a message", "channel", msg.Channel, "err", err)
		return
	}
	if m.UID == t.uid {
		return
	}
	if msg.Channel == t.own {
		t.h.HandleResponse(m)
		return
	}
	t.h.HandleMessage(m, "")
}

// encode encodes m as Node's sharded adapter does: MessagePack when it may
// and does carry binary data, JSON otherwise.
func encode(m *cluster.Message) ([]byte, error) {
	if m.Type.MayCarryBinary() && m.HasBinary() {
		return m.AppendMsgpack(nil, cluster.Notepack)
	}
	return m.AppendJSON(nil)
}

// channelOf returns the channel a message goes to: its room's for a
// broadcast (without acknowledgements) to one room that has a channel,
// the namespace's otherwise.
func (t *shardedTransport) channelOf(m *cluster.Message) string {
	if m.Type == cluster.Broadcast && m.RequestID == "" && m.Opts != nil && len(m.Opts.Rooms) == 1 && t.separate(m.Opts.Rooms[0]) {
		return t.main + m.Opts.Rooms[0] + "#"
	}
	return t.main
}

// Publish implements cluster.Transport.
func (t *shardedTransport) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	switch m.Type {
	case cluster.InitialHeartbeat, cluster.Heartbeat, cluster.AdapterClose:
		return "", nil // servers are counted with SHARDNUMSUB
	}
	b, err := encode(m)
	if err != nil {
		return "", err
	}
	return "", t.spublish(ctx, t.channelOf(m), b)
}

// PublishBatch implements cluster.BatchPublisher: one round trip for ms
// (per Redis Cluster node).
func (t *shardedTransport) PublishBatch(ctx context.Context, ms []*cluster.Message, _ []string, errs []error) {
	ctx, cancel := context.WithTimeout(ctx, t.s.opts.Timeout)
	defer cancel()
	c := t.s.c
	cmds := make(rueidis.Commands, 0, len(ms))
	at := make([]int, 0, len(ms))
	for i, m := range ms {
		switch m.Type {
		case cluster.InitialHeartbeat, cluster.Heartbeat, cluster.AdapterClose:
			continue
		}
		b, err := encode(m)
		if err != nil {
			errs[i] = err
			continue
		}
		cmds = append(cmds, c.B().Spublish().Channel(t.channelOf(m)).Message(rueidis.BinaryString(b)).Build())
		at = append(at, i)
	}
	if len(cmds) == 0 {
		return
	}
	for j, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			errs[at[j]] = fmt.Errorf("redis sharded: failed to publish: %w", err)
		}
	}
}

// PublishResponse implements cluster.Transport.
func (t *shardedTransport) PublishResponse(ctx context.Context, uid string, m *cluster.Message) error {
	b, err := encode(m)
	if err != nil {
		return err
	}
	return t.spublish(ctx, t.main+uid+"#", b)
}

func (t *shardedTransport) spublish(ctx context.Context, channel string, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, t.s.opts.Timeout)
	defer cancel()
	c := t.s.c
	if err := c.Do(ctx, c.B().Spublish().Channel(channel).Message(rueidis.BinaryString(b)).Build()).Error(); err != nil {
		return fmt.Errorf("redis sharded: failed to publish: %w", err)
	}
	return nil
}

// ServerCount implements cluster.Transport.
func (t *shardedTransport) ServerCount(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, t.s.opts.Timeout)
	defer cancel()
	return countSubscribers(ctx, t.s.c, t.main, true)
}

// Close implements cluster.Transport.
func (t *shardedTransport) Close() error {
	t.cancel()
	t.wg.Wait()
	c := t.s.c
	ctx, cancel := context.WithTimeout(context.Background(), t.s.opts.Timeout)
	defer cancel()
	// One SUNSUBSCRIBE per channel: on Redis Cluster the two hash to
	// different slots, and a command cannot span slots.
	for _, ch := range []string{t.main, t.own} {
		_ = c.Do(ctx, c.B().Sunsubscribe().Channel(ch).Build()).Error()
	}
	return nil
}
