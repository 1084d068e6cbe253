package redis

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/adapter/internal/msgpack"
	"github.com/tether-rt/tether/socketio"
)

// StreamsOptions configures [NewStreams]. The zero value gives the
// defaults of Node's @socket.io/redis-streams-adapter 0.3.
type StreamsOptions struct {
	// StreamName is the stream's key ("socket.io"); with StreamCount > 1,
	// each namespace goes to one of StreamCount streams, named as Node
	// names them (StreamName-<index>).
	StreamName  string
	StreamCount int
	// ChannelPrefix prefixes the pub/sub channels of requests and
	// responses ("socket.io").
	ChannelPrefix string
	// UseShardedPubSub sends requests and responses with SPUBLISH (Redis
	// 7 sharded pub/sub) instead of PUBLISH.
	UseShardedPubSub bool
	// MaxLen trims the stream to about that many entries (10,000): a
	// client recovers only packets still in it.
	MaxLen int64
	// ReadCount is the most entries one XREAD returns (100); BlockTime how
	// long it blocks (5 s).
	ReadCount int64
	BlockTime time.Duration
	// SessionKeyPrefix prefixes the keys of the sessions kept for
	// connection state recovery ("sio:session:"); SessionTTL is how long
	// they are kept (the servers' MaxDisconnectionDuration: 2 minutes).
	SessionKeyPrefix string
	SessionTTL       time.Duration
	// Timeout bounds each Redis command, or pipelined batch of publishes,
	// of the transport (2 s): a write that Redis does not answer in time
	// is counted as failed (cluster.Adapter publishes on a goroutine of
	// its own: callers never wait for it).
	Timeout time.Duration
	// Logger receives the transport's warnings (Redis unreachable, bad
	// entries); nil means slog.Default.
	Logger *slog.Logger
}

func (o *StreamsOptions) withDefaults() StreamsOptions {
	var c StreamsOptions
	if o != nil {
		c = *o
	}
	if c.StreamName == "" {
		c.StreamName = "socket.io"
	}
	if c.StreamCount < 1 {
		c.StreamCount = 1
	}
	if c.ChannelPrefix == "" {
		c.ChannelPrefix = "socket.io"
	}
	if c.MaxLen <= 0 {
		c.MaxLen = 10_000
	}
	if c.ReadCount <= 0 {
		c.ReadCount = 100
	}
	if c.BlockTime <= 0 {
		c.BlockTime = 5 * time.Second
	}
	if c.SessionKeyPrefix == "" {
		c.SessionKeyPrefix = "sio:session:"
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 2 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Streams is the transport of Node's Redis Streams adapter, for
// cluster.Adapter: broadcasts and bulk operations go through a Redis
// stream (XADD, read by every server with XREAD from where it stopped, so
// that a Redis blip loses nothing the stream still holds), requests and
// responses through pub/sub, and connection state recovery keeps sessions
// in Redis, so that a client recovers on any server. Each stream is read by
// one goroutine for all the namespaces of the process.
type Streams struct {
	c    rueidis.Client
	opts StreamsOptions
	ctx  context.Context
	stop context.CancelFunc

	mu      sync.Mutex
	readers map[string]*streamReader                // by stream key
	nsps    map[string]map[string]*streamsTransport // namespace -> uid -> transport
}

// NewStreams returns the Streams transport on client. Close stops it (it
// does not close client).
func NewStreams(client rueidis.Client, opts *StreamsOptions) *Streams {
	ctx, stop := context.WithCancel(context.Background())
	return &Streams{c: client, opts: opts.withDefaults(), ctx: ctx, stop: stop,
		readers: map[string]*streamReader{}, nsps: map[string]map[string]*streamsTransport{}}
}

// Close stops reading the streams and the channels.
func (s *Streams) Close() error {
	s.stop()
	s.mu.Lock()
	readers := s.readers
	s.readers = map[string]*streamReader{}
	s.mu.Unlock()
	for _, r := range readers {
		<-r.done
	}
	return nil
}

// Dialer returns the cluster.Dialer of the transport.
func (s *Streams) Dialer() cluster.Dialer {
	return func(nsp, uid string, h cluster.Handler) (cluster.Transport, error) {
		t := &streamsTransport{s: s, nsp: nsp, uid: uid, h: h, stream: s.streamKey(nsp)}
		t.main = s.opts.ChannelPrefix + "#" + nsp + "#"
		t.own = t.main + uid + "#"
		ctx, cancel := context.WithCancel(s.ctx)
		t.cancel = cancel
		t.subscribed = make(chan struct{})
		t.done = make(chan struct{})
		s.mu.Lock()
		if s.nsps[nsp] == nil {
			s.nsps[nsp] = map[string]*streamsTransport{}
		}
		s.nsps[nsp][uid] = t
		r := s.readers[t.stream]
		if r == nil {
			r = &streamReader{s: s, key: t.stream, done: make(chan struct{}), started: make(chan struct{})}
			s.readers[t.stream] = r
			go r.run()
		}
		t.reader = r
		s.mu.Unlock()
		go t.receive(ctx)
		// Counted (NUMSUB) and reading before the adapter uses it.
		select {
		case <-t.subscribed:
		case <-time.After(s.opts.Timeout):
			s.opts.Logger.Warn("redis streams: subscribing takes long; going on", "namespace", nsp)
		}
		<-r.started
		return t, nil
	}
}

// streamKey returns the stream of namespace nsp, as Node's adapter picks
// it: with several streams, by the Java-style hash of the name's UTF-16
// units, modulo the count with JavaScript's sign.
func (s *Streams) streamKey(nsp string) string {
	if s.opts.StreamCount == 1 {
		return s.opts.StreamName
	}
	var h int32
	for _, u := range utf16Units(nsp) {
		h = h*31 + int32(u)
	}
	return s.opts.StreamName + "-" + strconv.Itoa(int(h%int32(s.opts.StreamCount)))
}

func utf16Units(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
		} else {
			out = append(out, uint16(r))
		}
	}
	return out
}

// transports returns the transports of namespace nsp.
func (s *Streams) transports(nsp string) []*streamsTransport {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*streamsTransport, 0, len(s.nsps[nsp]))
	for _, t := range s.nsps[nsp] {
		out = append(out, t)
	}
	return out
}

// streamReader reads one stream and hands its entries to the namespaces'
// transports, one at a time, under mu (RestoreSession takes it too).
type streamReader struct {
	s       *Streams
	key     string
	started chan struct{}
	done    chan struct{}

	mu   sync.Mutex
	last string // the id of the last entry handed over
}

// run reads the stream until the transport closes: from its end when it
// starts, then from the last entry read, so that entries added while Redis
// was out of reach are read once it is back (as long as the stream holds
// them).
func (r *streamReader) run() {
	defer close(r.done)
	ctx := r.s.ctx
	o := &r.s.opts
	c := r.s.c
	backoff := newBackoff()
	for ctx.Err() == nil {
		last, err := r.tail(ctx)
		if err == nil {
			r.mu.Lock()
			r.last = last
			r.mu.Unlock()
			break
		}
		o.Logger.Warn("redis streams: failed to read the stream's end", "stream", r.key, "err", err)
		if !backoff.wait(ctx) {
			break
		}
	}
	close(r.started)
	backoff.reset()
	for ctx.Err() == nil {
		r.mu.Lock()
		from := r.last
		r.mu.Unlock()
		cmd := c.B().Xread().Count(o.ReadCount).Block(o.BlockTime.Milliseconds()).Streams().Key(r.key).Id(from).Build()
		res, err := c.Do(ctx, cmd).AsXRead()
		if err != nil && !rueidis.IsRedisNil(err) {
			if ctx.Err() != nil {
				return
			}
			o.Logger.Warn("redis streams: failed to read the stream", "stream", r.key, "err", err)
			if !backoff.wait(ctx) {
				return
			}
			continue
		}
		backoff.reset()
		r.dispatch(res[r.key])
	}
}

// tail returns the id of the stream's last entry, "0-0" for an empty one.
func (r *streamReader) tail(ctx context.Context) (string, error) {
	c := r.s.c
	ctx, cancel := context.WithTimeout(ctx, r.s.opts.Timeout)
	defer cancel()
	entries, err := c.Do(ctx, c.B().Xrevrange().Key(r.key).End("+").Start("-").Count(1).Build()).AsXRange()
	if err != nil {
		return "", err
	}
	if len(entries) == 0 {
		return "0-0", nil
	}
	return entries[0].ID, nil
}

// dispatch hands the entries of one read to the transports of their
// namespaces, in order: consecutive entries of one namespace go together
// (cluster.BatchHandler), so that the broadcasts among them are
// delivered together.
func (r *streamReader) dispatch(es []rueidis.XRangeEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ms []*cluster.Message
	var ids []string
	flush := func() {
		if len(ms) == 0 {
			return
		}
		for _, t := range r.s.transports(ms[0].NSP) {
			if bh, ok := t.h.(cluster.BatchHandler); ok {
				bh.HandleMessages(ms, slices.Clone(ids))
				continue
			}
			for i, m := range ms {
				t.h.HandleMessage(m, ids[i])
			}
		}
		ms, ids = ms[:0], ids[:0]
	}
	for _, e := range es {
		r.last = e.ID
		m, err := decodeEntry(e)
		if err != nil {
			r.s.opts.Logger.Warn("redis streams: skipped an entry", "stream", r.key, "id", e.ID, "err", err)
			continue
		}
		if m == nil {
			continue
		}
		if len(ms) > 0 && ms[0].NSP != m.NSP {
			flush()
		}
		ms, ids = append(ms, m), append(ids, e.ID)
	}
	flush()
}

// decodeEntry decodes a stream entry: fields uid, nsp, type and data (the
// message's data as JSON, or as base64 of MessagePack when it holds binary
// data). It returns nil for an entry of no namespace, which Node ignores.
func decodeEntry(e rueidis.XRangeEntry) (*cluster.Message, error) {
	f := e.FieldValues
	nsp, ok := f["nsp"]
	if !ok {
		return nil, nil
	}
	typ, err := strconv.Atoi(f["type"])
	if err != nil {
		return nil, fmt.Errorf("bad type %q", f["type"])
	}
	m := &cluster.Message{UID: f["uid"], NSP: nsp, Type: cluster.MessageType(typ)}
	data := f["data"]
	if strings.HasPrefix(data, "{") {
		err = m.DecodeDataJSON([]byte(data))
	} else {
		var b []byte
		if b, err = base64.StdEncoding.DecodeString(data); err == nil {
			err = m.DecodeDataMsgpack(b, cluster.MsgpackJS)
		}
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// streamsTransport is the transport of one namespace of one server.
type streamsTransport struct {
	s      *Streams
	nsp    string
	uid    string
	h      cluster.Handler
	stream string
	reader *streamReader
	main   string // requests: ${prefix}#${nsp}#
	own    string // responses to this server: ${prefix}#${nsp}#${uid}#

	// ownMark is the offset of the last of this server's own broadcasts
	// delivered locally (DeliverOwn), guarded by reader.mu.
	ownMark string

	cancel     context.CancelFunc
	subscribed chan struct{} // closed once subscribed the first time
	done       chan struct{}
	mismatch   sync.Once // the error that another family shares the prefix
}

// isClassicBroadcast reports whether msg is a broadcast of the classic
// adapter: a MessagePack array of three, [uid, packet, opts].
func isClassicBroadcast(msg string) bool {
	var d msgpack.Decoder
	d.Reset([]byte(msg))
	n, err := d.ReadArrayHeader()
	return err == nil && n == 3
}

// inStream reports whether a message goes through the stream (broadcasts
// and bulk operations) rather than pub/sub (requests).
func inStream(m *cluster.Message) bool {
	switch m.Type {
	case cluster.Broadcast:
		return m.RequestID == ""
	case cluster.SocketsJoin, cluster.SocketsLeave, cluster.DisconnectSockets:
		return true
	}
	return false
}

// Publish implements cluster.Transport.
func (t *streamsTransport) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.s.opts.Timeout)
	defer cancel()
	cmd, xadd, err := t.command(m)
	if err != nil || cmd == (rueidis.Completed{}) {
		return "", err
	}
	if !xadd {
		return "", t.publish(ctx, cmd)
	}
	id, err := t.s.c.Do(ctx, cmd).ToString()
	if err != nil {
		return "", fmt.Errorf("redis streams: failed to add to the stream: %w", err)
	}
	return id, nil
}

// PublishBatch implements cluster.BatchPublisher: one round trip for ms.
func (t *streamsTransport) PublishBatch(ctx context.Context, ms []*cluster.Message, offsets []string, errs []error) {
	ctx, cancel := context.WithTimeout(ctx, t.s.opts.Timeout)
	defer cancel()
	cmds := make(rueidis.Commands, 0, len(ms))
	at := make([]int, 0, len(ms)) // the message of each command
	xadds := make([]bool, 0, len(ms))
	for i, m := range ms {
		cmd, xadd, err := t.command(m)
		if err != nil || cmd == (rueidis.Completed{}) {
			errs[i] = err
			continue
		}
		cmds = append(cmds, cmd)
		at = append(at, i)
		xadds = append(xadds, xadd)
	}
	if len(cmds) == 0 {
		return
	}
	for j, r := range t.s.c.DoMulti(ctx, cmds...) {
		i := at[j]
		if !xadds[j] {
			if err := r.Error(); err != nil {
				errs[i] = fmt.Errorf("redis streams: failed to publish: %w", err)
			}
			continue
		}
		id, err := r.ToString()
		if err != nil {
			errs[i] = fmt.Errorf("redis streams: failed to add to the stream: %w", err)
			continue
		}
		offsets[i] = id
	}
}

// command returns the command that publishes m: an XADD to the stream
// (xadd) for broadcasts and bulk operations, a PUBLISH (or SPUBLISH) on the
// request channel for requests; none for heartbeats, which Node's 0.3
// adapter does not send (it counts servers with NUMSUB).
func (t *streamsTransport) command(m *cluster.Message) (cmd rueidis.Completed, xadd bool, err error) {
	o := &t.s.opts
	c := t.s.c
	switch m.Type {
	case cluster.InitialHeartbeat, cluster.Heartbeat, cluster.AdapterClose:
		return rueidis.Completed{}, false, nil
	}
	if !inStream(m) {
		b, err := m.AppendMsgpack(nil, cluster.MsgpackJS)
		if err != nil {
			return rueidis.Completed{}, false, err
		}
		return t.publishCommand(t.main, b), false, nil
	}
	var data string
	if m.Type.MayCarryBinary() && m.HasBinary() {
		b, err := m.AppendDataMsgpack(nil, cluster.MsgpackJS)
		if err != nil {
			return rueidis.Completed{}, false, err
		}
		data = base64.StdEncoding.EncodeToString(b)
	} else {
		b, err := m.AppendDataJSON(nil)
		if err != nil {
			return rueidis.Completed{}, false, err
		}
		data = string(b)
	}
	cmd = c.B().Xadd().Key(t.stream).Maxlen().Almost().Threshold(strconv.FormatInt(o.MaxLen, 10)).Id("*").
		FieldValue().FieldValue("uid", m.UID).FieldValue("nsp", m.NSP).FieldValue("type", strconv.Itoa(int(m.Type))).FieldValue("data", data).Build()
	return cmd, true, nil
}

// publishCommand returns the PUBLISH (or SPUBLISH) of b on channel.
func (t *streamsTransport) publishCommand(channel string, b []byte) rueidis.Completed {
	c := t.s.c
	if t.s.opts.UseShardedPubSub {
		return c.B().Spublish().Channel(channel).Message(rueidis.BinaryString(b)).Build()
	}
	return c.B().Publish().Channel(channel).Message(rueidis.BinaryString(b)).Build()
}

// publish runs cmd, a PUBLISH or SPUBLISH.
func (t *streamsTransport) publish(ctx context.Context, cmd rueidis.Completed) error {
	// publish: one node for every PUBLISH on Redis Cluster.
	if err := publish(ctx, t.s.c, cmd); err != nil {
		return fmt.Errorf("redis streams: failed to publish: %w", err)
	}
	return nil
}

// PublishResponse implements cluster.Transport.
func (t *streamsTransport) PublishResponse(ctx context.Context, uid string, m *cluster.Message) error {
	ctx, cancel := context.WithTimeout(ctx, t.s.opts.Timeout)
	defer cancel()
	b, err := m.AppendMsgpack(nil, cluster.MsgpackJS)
	if err != nil {
		return err
	}
	return t.publish(ctx, t.publishCommand(t.main+uid+"#", b))
}

// ServerCount implements cluster.Transport: the subscribers of the request
// channel, one per server.
func (t *streamsTransport) ServerCount(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, t.s.opts.Timeout)
	defer cancel()
	return countSubscribers(ctx, t.s.c, t.main, t.s.opts.UseShardedPubSub)
}

// countSubscribers returns the subscribers of channel (PUBSUB NUMSUB, or
// SHARDNUMSUB), summed over the nodes of a Redis Cluster, which are asked
// at once. When some nodes fail to answer before ctx ends (a node that
// hangs or went away), it returns the sum over the others and an error
// wrapping socketio.ErrPartialResult that names the missing nodes; when
// none answers, only an error.
func countSubscribers(ctx context.Context, c rueidis.Client, channel string, sharded bool) (int, error) {
	count := func(n rueidis.Client) (int, error) {
		var cmd rueidis.Completed
		if sharded {
			cmd = n.B().PubsubShardnumsub().Channel(channel).Build()
		} else {
			cmd = n.B().PubsubNumsub().Channel(channel).Build()
		}
		counts, err := n.Do(ctx, cmd).AsIntMap()
		return int(counts[channel]), err
	}
	if c.Mode() != rueidis.ClientModeCluster || sharded {
		n, err := count(c)
		if err != nil {
			return 0, fmt.Errorf("failed to count the subscribers of %s: %w", channel, err)
		}
		return n, nil
	}
	nodes := c.Nodes()
	type result struct {
		addr string
		n    int
		err  error
	}
	results := make(chan result, len(nodes))
	for addr, nc := range nodes {
		go func() {
			n, err := count(nc)
			results <- result{addr, n, err}
		}()
	}
	total := 0
	var failed []string
	var first error
	for range nodes {
		r := <-results
		if r.err != nil {
			failed = append(failed, r.addr)
			first = cmp.Or(first, r.err)
			continue
		}
		total += r.n
	}
	switch {
	case len(failed) == 0:
		return total, nil
	case len(failed) == len(nodes):
		return 0, fmt.Errorf("failed to count the subscribers of %s: %w", channel, first)
	}
	slices.Sort(failed)
	return total, fmt.Errorf("%w: failed to count the subscribers of %s on %d of %d Redis nodes (%s): %w",
		socketio.ErrPartialResult, channel, len(failed), len(nodes), strings.Join(failed, ", "), first)
}

// receive reads the request and response channels until the transport
// closes, subscribing again after a broken connection. With sharded pub/sub
// each channel has a subscription of its own: on Redis Cluster the two hash
// to different slots, often on different nodes, and one SSUBSCRIBE cannot
// span slots.
func (t *streamsTransport) receive(ctx context.Context) {
	defer close(t.done)
	handle := inOrder(ctx, t.handle) // handle answers requests: it publishes
	var pending atomic.Int32
	ready := func() {
		if pending.Add(-1) == 0 {
			close(t.subscribed)
		}
	}
	if !t.s.opts.UseShardedPubSub {
		pending.Store(1)
		t.receiveChannels(ctx, handle, ready, t.main, t.own)
		return
	}
	pending.Store(2)
	var wg sync.WaitGroup
	for _, ch := range []string{t.main, t.own} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.receiveChannels(ctx, handle, ready, ch)
		}()
	}
	wg.Wait()
}

// receiveChannels holds one subscription to channels (SUBSCRIBE, or
// SSUBSCRIBE of channels of one slot) until ctx is done, subscribing again
// after a broken connection or a slot migration; ready is called once,
// when Redis first confirmed every channel.
func (t *streamsTransport) receiveChannels(ctx context.Context, handle func(rueidis.PubSubMessage), ready func(), channels ...string) {
	c := t.s.c
	var once sync.Once
	backoff := newBackoff()
	for ctx.Err() == nil {
		var cmd rueidis.Completed
		if t.s.opts.UseShardedPubSub {
			cmd = c.B().Ssubscribe().Channel(channels...).Build()
		} else {
			cmd = c.B().Subscribe().Channel(channels...).Build()
		}
		var mu sync.Mutex
		confirmed := map[string]bool{}
		hooked := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
			if (s.Kind == "subscribe" || s.Kind == "ssubscribe") && slices.Contains(channels, s.Channel) {
				mu.Lock()
				confirmed[s.Channel] = true
				all := len(confirmed) == len(channels)
				mu.Unlock()
				if all {
					backoff.reset()
					once.Do(ready)
				}
			}
		})
		// Leave the channels when the transport closes (Receive returns
		// on ctx without unsubscribing): the others then count this
		// server gone at once (NUMSUB) and stop waiting for its answers.
		// On the connection the subscription is held on: the pinned
		// master of a Redis Cluster, or the channel's shard.
		hooked = rueidis.WithOnReceiveReturnHook(hooked, func(err error, cc rueidis.CommandClient) error {
			if !errors.Is(err, context.Canceled) {
				return err
			}
			uctx, cancel := context.WithTimeout(context.Background(), t.s.opts.Timeout)
			defer cancel()
			var un rueidis.Completed
			if t.s.opts.UseShardedPubSub {
				un = cc.B().Sunsubscribe().Channel(channels...).Build()
			} else {
				un = cc.B().Unsubscribe().Channel(channels...).Build()
			}
			if uerr := cc.Do(uctx, un).Error(); uerr != nil {
				t.s.opts.Logger.Warn("redis streams: failed to leave the request channels", "namespace", t.nsp, "err", uerr)
			}
			return err
		})
		var err error
		if t.s.opts.UseShardedPubSub {
			err = c.Receive(hooked, cmd, handle)
		} else {
			err = receive(hooked, c, t.s.opts.ChannelPrefix, cmd, handle) // on a master of a Redis Cluster
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			t.s.opts.Logger.Warn("redis streams: lost the request channels; subscribing again", "namespace", t.nsp, "err", err)
		}
		if !backoff.wait(ctx) {
			return
		}
	}
}

// handle decodes a request or a response.
func (t *streamsTransport) handle(msg rueidis.PubSubMessage) {
	m, err := cluster.DecodeMsgpack([]byte(msg.Message), cluster.MsgpackJS)
	if err != nil {
		if isClassicBroadcast(msg.Message) {
			t.mismatch.Do(func() {
				t.s.opts.Logger.Error("redis streams: a node of another adapter family publishes on this prefix: the classic redis adapter (createAdapter, cluster.adapter pubsub) broadcasts on "+msg.Channel+"; every node of a cluster, Node or Tether, must use the same adapter, or another key prefix",
					"namespace", t.nsp)
			})
			return
		}
		t.s.opts.Logger.Warn("redis streams: skipped a message", "channel", msg.Channel, "err", err)
		return
	}
	if m.UID == t.uid {
		return
	}
	if msg.Channel == t.own || m.Type.IsResponse() {
		t.h.HandleResponse(m)
		return
	}
	t.h.HandleMessage(m, "")
}

// Close implements cluster.Transport.
func (t *streamsTransport) Close() error {
	t.s.mu.Lock()
	if t.s.nsps[t.nsp][t.uid] == t {
		delete(t.s.nsps[t.nsp], t.uid)
	}
	t.s.mu.Unlock()
	t.cancel()
	<-t.done
	return nil
}

// DeliverOwn implements cluster.OwnDeliverer: this server's own broadcasts
// are delivered locally under the reader's lock, as the others' are, so
// that RestoreSession sees a consistent mark of what was delivered.
func (t *streamsTransport) DeliverOwn(offset string, deliver func()) {
	r := t.reader
	r.mu.Lock()
	defer r.mu.Unlock()
	deliver()
	if offset != "" && (t.ownMark == "" || compareIDs(offset, t.ownMark) > 0) {
		t.ownMark = offset
	}
}

// offsetRE is the form of a stream entry id, which is what offsets are.
var offsetRE = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// PersistSession implements cluster.SessionStore: the session is kept under
// SessionKeyPrefix+pid, as base64 of MessagePack {sid, pid, rooms, data},
// for SessionTTL, as Node keeps it.
func (t *streamsTransport) PersistSession(s *socketio.SessionToPersist) error {
	o := &t.s.opts
	e := msgpack.Encoder{Flavor: msgpack.MsgpackJS}
	e.MapHeader(4)
	e.Str("sid")
	e.Str(s.SID)
	e.Str("pid")
	e.Str(s.PID)
	e.Str("rooms")
	e.ArrayHeader(len(s.Rooms))
	for _, r := range s.Rooms {
		e.Str(r)
	}
	e.Str("data")
	data := any(map[string]any{})
	if s.Data != nil {
		data = jsonable(s.Data)
	}
	if err := e.Any(data); err != nil {
		return fmt.Errorf("redis streams: failed to encode a session's data: %w", err)
	}
	ctx, cancel := context.WithTimeout(t.s.ctx, o.Timeout)
	defer cancel()
	c := t.s.c
	val := base64.StdEncoding.EncodeToString(e.Buf)
	if err := c.Do(ctx, c.B().Set().Key(o.SessionKeyPrefix+s.PID).Value(val).PxMilliseconds(o.SessionTTL.Milliseconds()).Build()).Error(); err != nil {
		return fmt.Errorf("redis streams: failed to keep a session: %w", err)
	}
	return nil
}

// RestoreSession implements cluster.SessionStore, as Node's adapter
// restores: the session is taken (read and deleted), the offset must still
// be in the stream, and the namespace's broadcasts after it are the missed
// packets — here only up to the last entry this server handed over, under
// the reader's lock, so that the newer ones reach the restored socket live,
// once.
func (t *streamsTransport) RestoreSession(pid, offset string, attach func(*socketio.SessionToPersist, []cluster.OffsetMessage)) (bool, error) {
	if !offsetRE.MatchString(offset) {
		return false, nil
	}
	o := &t.s.opts
	c := t.s.c
	ctx, cancel := context.WithTimeout(t.s.ctx, 4*o.Timeout)
	defer cancel()
	key := o.SessionKeyPrefix + pid
	res := c.DoMulti(ctx, c.B().Multi().Build(), c.B().Get().Key(key).Build(), c.B().Del().Key(key).Build(), c.B().Exec().Build())
	exec, err := res[3].ToArray()
	if err != nil {
		return false, fmt.Errorf("redis streams: failed to take a session: %w", err)
	}
	raw, err := exec[0].ToString()
	if rueidis.IsRedisNil(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis streams: failed to take a session: %w", err)
	}
	sess, err := decodeSession(raw)
	if err != nil {
		return false, err
	}
	r := t.reader
	r.mu.Lock()
	defer r.mu.Unlock()
	found, err := c.Do(ctx, c.B().Xrange().Key(t.stream).Start(offset).End(offset).Build()).AsXRange()
	if err != nil {
		return false, fmt.Errorf("redis streams: failed to find the offset: %w", err)
	}
	if len(found) == 0 {
		return false, nil // trimmed, or never there
	}
	// Missed: the others' broadcasts up to the last entry the reader
	// handed over, this server's own up to the last one delivered
	// locally (DeliverOwn); the later ones reach the socket live.
	var missed []cluster.OffsetMessage
	from := offset
	upto := r.last
	if t.ownMark != "" && (upto == "" || compareIDs(t.ownMark, upto) > 0) {
		upto = t.ownMark
	}
	for upto != "" && compareIDs(from, upto) < 0 {
		entries, err := c.Do(ctx, c.B().Xrange().Key(t.stream).Start(nextID(from)).End(upto).Count(o.ReadCount).Build()).AsXRange()
		if err != nil {
			return false, fmt.Errorf("redis streams: failed to read the missed packets: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			from = e.ID
			m, err := decodeEntry(e)
			if err != nil || m == nil || m.NSP != t.nsp {
				continue
			}
			if m.UID == t.uid {
				if t.ownMark == "" || compareIDs(e.ID, t.ownMark) > 0 {
					continue
				}
			} else if r.last == "" || compareIDs(e.ID, r.last) > 0 {
				continue
			}
			missed = append(missed, cluster.OffsetMessage{Message: m, Offset: e.ID})
		}
	}
	attach(sess, missed)
	return true, nil
}

// decodeSession decodes a session as PersistSession (and Node) keeps it.
func decodeSession(raw string) (*socketio.SessionToPersist, error) {
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("redis streams: bad session: %w", err)
	}
	v, err := msgpack.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("redis streams: bad session: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("redis streams: bad session: not a map")
	}
	s := &socketio.SessionToPersist{}
	s.SID, _ = m["sid"].(string)
	s.PID, _ = m["pid"].(string)
	if rooms, ok := m["rooms"].([]any); ok {
		for _, r := range rooms {
			s.Rooms = append(s.Rooms, fmt.Sprint(r))
		}
	}
	if d, ok := m["data"].(map[string]any); ok {
		s.Data = d
	}
	if s.SID == "" {
		return nil, errors.New("redis streams: bad session: no sid")
	}
	return s, nil
}

// jsonable returns v with the values the MessagePack encoder takes: what
// JSON would make of Go values it does not know (structs, typed slices).
func jsonable(v map[string]any) any {
	out, err := roundTripJSON(v)
	if err != nil {
		return map[string]any{}
	}
	return out
}

// compareIDs compares two stream ids.
func compareIDs(a, b string) int {
	ams, aseq := splitID(a)
	bms, bseq := splitID(b)
	switch {
	case ams < bms:
		return -1
	case ams > bms:
		return 1
	case aseq < bseq:
		return -1
	case aseq > bseq:
		return 1
	}
	return 0
}

func splitID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	a, _ := strconv.ParseUint(ms, 10, 64)
	b, _ := strconv.ParseUint(seq, 10, 64)
	return a, b
}

// nextID returns the smallest id after id (XRANGE's start is inclusive;
// "(" needs Redis 6.2, which Node's adapter avoids too).
func nextID(id string) string {
	ms, seq := splitID(id)
	return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq+1, 10)
}
