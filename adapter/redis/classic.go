package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/internal/nodejson"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// ClassicOptions configures the classic adapter ([NewClassicFactory]).
// The zero value is Node's defaults.
type ClassicOptions struct {
	// Key prefixes every channel, as the Node adapter's key option;
	// "" means "socket.io". Every server of the cluster must use the same.
	Key string
	// RequestTimeout bounds the wait for the other servers' answers
	// (FetchSockets, Sockets, AllRooms, server-side emits with
	// acknowledgements); 0 means 5 s, as Node's requestsTimeout.
	RequestTimeout time.Duration
	// PublishTimeout bounds each pipelined batch of PUBLISHes, and each
	// SUBSCRIBE, when Redis is slow; 0 means 5 s.
	PublishTimeout time.Duration
	// MaxPendingBytes bounds the messages waiting to be published (their
	// payloads and channels): while Redis is slow or away, what does not
	// fit is dropped and counted in ClassicStats.Dropped, and local
	// delivery goes on. 0 means 16 MiB.
	MaxPendingBytes int
	// SubscribeAllRooms subscribes to every room channel of a namespace
	// with one pattern (PSUBSCRIBE key#nsp#*), as Node's adapter does,
	// instead of to the channels of the rooms that have local members.
	// The server then receives every room's traffic and drops what its
	// rooms do not need; in exchange, a socket that joins a room receives
	// the broadcasts made to it from the moment it joined, with no
	// subscription round trip to wait for (see [ClassicAdapter.Settle]).
	SubscribeAllRooms bool
	// Recovery configures connection state recovery: each server keeps
	// its own log (socketio.InMemoryAdapter), so a client recovers when it
	// reconnects to the same server (the classic protocol carries no
	// offsets between servers). nil: no recovery.
	Recovery *socketio.RecoveryOptions
	// Stats, when not nil, counts what the adapters do (see
	// [ClassicStats]); one ClassicStats may be shared by several
	// factories.
	Stats *ClassicStats
	// OnRequest, when not nil, is called when a request that waits for the
	// other servers ends: op is "fetchSockets", "sockets", "allRooms" or
	// "serverSideEmit", took how long it waited, missing how many servers
	// did not answer in time. It must not block.
	OnRequest func(op string, took time.Duration, missing int)
}

// ClassicStats counts what the classic adapters of a server do, for
// metrics: read the fields at any time. Messages are Redis pub/sub
// messages (a broadcast, a request, an answer).
type ClassicStats struct {
	// Published counts the messages Redis accepted.
	Published atomic.Uint64
	// PublishErrors counts the messages Redis refused or did not answer in
	// PublishTimeout (lost).
	PublishErrors atomic.Uint64
	// Dropped counts the messages not published because the queue was
	// full (MaxPendingBytes).
	Dropped atomic.Uint64
	// Received counts the messages that arrived on the subscriptions,
	// the server's own included.
	Received atomic.Uint64
	// Invalid counts the messages received that could not be decoded
	// (ignored).
	Invalid atomic.Uint64
	// Requests counts the requests that waited for the other servers, and
	// PartialResults those of them that ended with answers missing.
	Requests       atomic.Uint64
	PartialResults atomic.Uint64
	// Reconnects counts the times the subscription connection was
	// established again after a failure (each time, every channel was
	// subscribed again).
	Reconnects atomic.Uint64
	// Subscriptions is the number of channels and patterns subscribed
	// right now.
	Subscriptions atomic.Int64
	// Connected is true while the subscription connection is up and
	// subscribed: false during a Redis outage.
	Connected atomic.Bool
}

// classicConfig is the options with their defaults.
type classicConfig struct {
	key             string
	requestTimeout  time.Duration
	publishTimeout  time.Duration
	maxPendingBytes int
	subscribeAll    bool
	recovery        *socketio.RecoveryOptions
	stats           *ClassicStats
	onRequest       func(string, time.Duration, int)
}

func (o *ClassicOptions) config() *classicConfig {
	var c ClassicOptions
	if o != nil {
		c = *o
	}
	cfg := &classicConfig{key: c.Key, requestTimeout: c.RequestTimeout, publishTimeout: c.PublishTimeout,
		maxPendingBytes: c.MaxPendingBytes, subscribeAll: c.SubscribeAllRooms, recovery: c.Recovery,
		stats: c.Stats, onRequest: c.OnRequest}
	if cfg.key == "" {
		cfg.key = "socket.io"
	}
	if cfg.requestTimeout <= 0 {
		cfg.requestTimeout = 5 * time.Second
	}
	if cfg.publishTimeout <= 0 {
		cfg.publishTimeout = 5 * time.Second
	}
	if cfg.maxPendingBytes <= 0 {
		cfg.maxPendingBytes = 16 << 20
	}
	if cfg.stats == nil {
		cfg.stats = &ClassicStats{}
	}
	return cfg
}

// NewClassicFactory returns the factory of classic adapters on client:
// @socket.io/redis-adapter 8.3's protocol (see the package documentation),
// so that Tether servers share a cluster with Node servers that use
// createAdapter, and with @socket.io/redis-emitter.
//
// The factory stands for one server: the adapters it makes share one
// subscription connection, on which each namespace subscribes to its
// request channel once (other servers count this server with PUBSUB
// NUMSUB). Give each socketio.Server its own factory; several servers in
// one process (tests) also need a rueidis client each, or at least a
// factory each. The client is the caller's: the adapters do not close it.
func NewClassicFactory(client rueidis.Client, opts *ClassicOptions) socketio.AdapterFactory {
	f := &classicFactory{client: client, cfg: opts.config()}
	return f.newAdapter
}

type classicFactory struct {
	client rueidis.Client
	cfg    *classicConfig

	mu    sync.Mutex
	nodes []*classicNode
}

// newAdapter returns the adapter of host's namespace, on a node (a
// subscription connection) that has none for that namespace yet.
func (f *classicFactory) newAdapter(host socketio.AdapterHost) (socketio.Adapter, error) {
	nsp := host.Name()
	a := &ClassicAdapter{
		host:     host,
		local:    host.LocalSockets(),
		uid:      classicUID(),
		nsp:      nsp,
		cfg:      f.cfg,
		log:      host.Logger(),
		f:        f,
		requests: map[string]*classicPending{},
		rooms:    map[string]bool{},
	}
	a.mem = socketio.NewInMemoryAdapter(host, f.cfg.recovery)
	prefix := f.cfg.key + "#" + nsp + "#"
	a.channel = prefix
	a.requestChannel = f.cfg.key + "-request#" + nsp + "#"
	a.responseChannel = f.cfg.key + "-response#" + nsp + "#"
	a.sse.wake = make(chan struct{}, 1)
	a.sse.stop = make(chan struct{})

	f.mu.Lock()
	for _, n := range f.nodes {
		n.mu.Lock()
		if n.adapters[nsp] == nil {
			n.adapters[nsp] = a
			a.node = n
		}
		n.mu.Unlock()
		if a.node != nil {
			break
		}
	}
	if a.node == nil {
		a.node = newClassicNode(f.client, f.cfg, a.log)
		a.node.adapters[nsp] = a
		f.nodes = append(f.nodes, a.node)
	}
	f.mu.Unlock()

	n := a.node
	n.route(classicSub{name: a.requestChannel}, classicRoute{a: a, kind: routeRequest}, true)
	n.route(classicSub{name: a.responseChannel}, classicRoute{a: a, kind: routeResponse}, true)
	n.route(classicSub{name: a.responseChannel + a.uid + "#"}, classicRoute{a: a, kind: routeResponse}, true)
	if f.cfg.subscribeAll {
		n.route(classicSub{pattern: true, name: globEscape(prefix) + "*"}, classicRoute{a: a, kind: routePattern}, true)
	} else {
		n.route(classicSub{name: prefix}, classicRoute{a: a, kind: routeMain}, true)
		a.local.OnRoomChange(a.roomChanged)
		for _, r := range a.local.Rooms() {
			a.roomChanged(r, true)
		}
	}
	go a.serverSideEmits()
	// Wait for the subscriptions, so that this server is counted and gets
	// the answers to its first requests; not when Redis is away (the node
	// subscribes once it is back).
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.requestTimeout)
	defer cancel()
	if err := n.settle(ctx, true); err != nil {
		a.log.Warn("redis: the classic adapter starts unsubscribed", "namespace", nsp, "err", err)
	}
	return a, nil
}

// release removes the adapter from its node, and stops the node when it
// was the last one.
func (f *classicFactory) release(a *ClassicAdapter) {
	n := a.node
	f.mu.Lock()
	n.mu.Lock()
	delete(n.adapters, a.nsp)
	last := len(n.adapters) == 0
	n.mu.Unlock()
	if last {
		f.nodes = slices.DeleteFunc(f.nodes, func(x *classicNode) bool { return x == n })
	}
	f.mu.Unlock()
	if last {
		n.shutdown()
	}
}

// globEscape escapes the characters Redis' glob patterns give a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ClassicAdapter is the socketio.Adapter of one namespace on Redis
// pub/sub, wire-compatible with @socket.io/redis-adapter 8.3's
// createAdapter; see the package documentation.
type ClassicAdapter struct {
	host  socketio.AdapterHost
	local *socketio.LocalSockets
	mem   *socketio.InMemoryAdapter // local delivery and the local recovery log
	uid   string
	nsp   string
	cfg   *classicConfig
	log   *slog.Logger
	f     *classicFactory
	node  *classicNode

	channel         string // key#nsp#: broadcasts; a room's is channel + room + "#"
	requestChannel  string // key-request#nsp#
	responseChannel string // key-response#nsp#; this server's own is responseChannel + uid + "#"

	mu       sync.Mutex
	requests map[string]*classicPending
	rooms    map[string]bool // rooms routed to this adapter (guarded by mu)
	closed   bool
	mismatch sync.Once // the error that another adapter family shares the prefix

	// sse queues the server-side emits of other servers, handed to the
	// namespace in order on their own goroutine: a handler that blocks
	// must not stop the subscription.
	sse struct {
		mu    sync.Mutex
		queue []func()
		wake  chan struct{}
		stop  chan struct{}
	}
}

// UID returns the id of this server's namespace in the cluster: 6
// URL-safe characters, as Node's.
func (a *ClassicAdapter) UID() string { return a.uid }

// Settle waits until Redis has confirmed the subscriptions to the room
// channels of every room that got its first local member before the call
// (and stopped those of rooms that lost their last one), or until ctx is
// done.
//
// A server subscribes to a room's channel when the room gets its first
// local socket; Redis confirms it one round trip later, and a broadcast to
// that one room that another server publishes in between is not delivered
// here (Node's adapter subscribes to every room with a pattern and has no
// such window; ClassicOptions.SubscribeAllRooms does the same). Code that
// must not miss such a broadcast, such as a test that makes a socket join
// and at once broadcasts from another server, waits with Settle.
func (a *ClassicAdapter) Settle(ctx context.Context) error {
	return a.node.settle(ctx, false)
}

// roomChanged follows the local rooms: the hook of LocalSockets, called
// with its lock held, so it only changes the wanted subscriptions.
func (a *ClassicAdapter) roomChanged(room string, exists bool) {
	a.mu.Lock()
	if a.closed || a.rooms[room] == exists {
		a.mu.Unlock()
		return
	}
	if exists {
		a.rooms[room] = true
	} else {
		delete(a.rooms, room)
	}
	a.mu.Unlock()
	a.node.route(classicSub{name: a.roomChannel(room)}, classicRoute{a: a, kind: routeRoom, room: room}, exists)
}

func (a *ClassicAdapter) roomChannel(room string) string { return a.channel + room + "#" }

// broadcastChannel returns the channel of a broadcast: its room's when it
// has exactly one, as Node publishes.
func (a *ClassicAdapter) broadcastChannel(opts *socketio.BroadcastOptions) string {
	if len(opts.Rooms) == 1 {
		return a.roomChannel(opts.Rooms[0])
	}
	return a.channel
}

// publishResponse publishes an answer to the request's server: on its own
// response channel when the request names it (Node 8.x servers subscribe
// to it), else on the common one.
func (a *ClassicAdapter) publishResponse(uid string, payload []byte) {
	ch := a.responseChannel
	if uid != "" {
		ch += uid + "#"
	}
	a.node.publish(ch, payload, nil)
}

// Close implements socketio.Adapter: the adapter's subscriptions stop,
// waiting requests end with what they got, and the connection is closed
// with the server's last adapter (after the messages queued are published,
// within PublishTimeout).
func (a *ClassicAdapter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	reqs := a.requests
	a.requests = map[string]*classicPending{}
	rooms := a.rooms
	a.rooms = map[string]bool{}
	a.mu.Unlock()
	for _, r := range reqs {
		r.finish()
	}
	n := a.node
	n.route(classicSub{name: a.requestChannel}, classicRoute{a: a, kind: routeRequest}, false)
	n.route(classicSub{name: a.responseChannel}, classicRoute{a: a, kind: routeResponse}, false)
	n.route(classicSub{name: a.responseChannel + a.uid + "#"}, classicRoute{a: a, kind: routeResponse}, false)
	if a.cfg.subscribeAll {
		n.route(classicSub{pattern: true, name: globEscape(a.channel) + "*"}, classicRoute{a: a, kind: routePattern}, false)
	} else {
		n.route(classicSub{name: a.channel}, classicRoute{a: a, kind: routeMain}, false)
		for r := range rooms {
			n.route(classicSub{name: a.roomChannel(r)}, classicRoute{a: a, kind: routeRoom, room: r}, false)
		}
	}
	close(a.sse.stop)
	a.f.release(a)
	return a.mem.Close()
}

// ServerCount implements socketio.Adapter: the subscribers of the request
// channel (PUBSUB NUMSUB), this server included, as Node counts servers;
// on Redis Cluster, the sum over its nodes, asked at once: when some do not
// answer, the sum over the others with an error wrapping
// socketio.ErrPartialResult that names them. It waits at most
// RequestTimeout (rueidis retries a read-only command until its context
// ends: while Redis is away, without a bound, it would never return).
func (a *ClassicAdapter) ServerCount(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.requestTimeout)
	defer cancel()
	n, err := countSubscribers(ctx, a.node.client, a.requestChannel, false)
	if err != nil {
		return n, fmt.Errorf("redis: failed to count the servers: %w", err)
	}
	return n, nil
}

// others returns how many other servers a count of n includes: all of
// them but this one when this server's subscription is among them.
func (a *ClassicAdapter) others(n int) int {
	if a.node.subscribed(a.requestChannel) {
		return n - 1
	}
	return n
}

// deliver delivers a broadcast to the local sockets, through the local
// recovery log.
func (a *ClassicAdapter) deliver(p *parser.Packet, opts *socketio.BroadcastOptions) {
	_ = a.mem.Broadcast(p, opts)
}

// Broadcast implements socketio.Adapter: the packet is delivered to the
// local sockets first, then queued for Redis (unless opts.Flags.Local), so
// that a slow Redis never delays this server's clients.
func (a *ClassicAdapter) Broadcast(p *parser.Packet, opts *socketio.BroadcastOptions) error {
	// Delivery may replace p.Data (recovery appends an offset): keep the
	// event as the application made it.
	data, atts := p.Data, p.Attachments
	a.deliver(p, opts)
	if opts.Flags.Local {
		return nil
	}
	msg, err := appendClassicBroadcast(nil, a.uid, a.nsp, data, atts, opts, false)
	if err != nil {
		return fmt.Errorf("redis: failed to publish a broadcast: %w", err)
	}
	a.node.publish(a.broadcastChannel(opts), msg, nil)
	return nil
}

// MarkPublish implements socketio.PublishMarker over the node's publish
// queue, which the node's namespaces share: a failure in another
// namespace in the interval fails the confirmation too (conservative).
func (a *ClassicAdapter) MarkPublish() (confirm func(done func(error))) {
	n := a.node
	before := n.failures.Load()
	return func(done func(error)) {
		n.markPublish(func(failures uint64, err error) {
			done(socketio.NotPublished(failures-before, err))
		})
	}
}

// BroadcastWithAck implements socketio.Adapter: a BROADCAST request, which
// each other server answers with its number of receivers and then each of
// their acknowledgements.
func (a *ClassicAdapter) BroadcastWithAck(ctx context.Context, p *parser.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(json.RawMessage)) error {
	if !opts.Flags.Local {
		id := classicUID()
		msg, err := appendClassicBroadcastRequest(nil, a.uid, id, a.nsp, p.Data, p.Attachments, opts)
		if err != nil {
			return fmt.Errorf("redis: failed to publish a broadcast: %w", err)
		}
		r := &classicPending{kind: classicBroadcast, clientCount: clientCount, ack: ack, done: make(chan struct{})}
		if !a.addRequest(id, r) {
			return errNodeClosed
		}
		context.AfterFunc(ctx, func() { a.endRequest(id) })
		a.node.publish(a.requestChannel, msg, nil)
	}
	clientCount(a.local.DeliverWithAck(ctx, p, opts, ack))
	return nil
}

// request publishes a request that each other server answers, and waits
// for the answers until the timeout, ctx or a failure to publish. It
// returns what arrived, and an error wrapping socketio.ErrPartialResult
// when answers are missing, or when the servers could be counted on only
// some nodes of a Redis Cluster (the servers of the others are then
// neither counted nor waited for).
func (a *ClassicAdapter) request(ctx context.Context, op string, kind int, timeout time.Duration, payload func(id string) []byte) (*classicPending, error) {
	n, countErr := a.ServerCount(ctx)
	if countErr != nil {
		if !errors.Is(countErr, socketio.ErrPartialResult) {
			return nil, fmt.Errorf("%w: %w", socketio.ErrPartialResult, countErr)
		}
	}
	expected := a.others(n)
	if expected <= 0 {
		return nil, countErr
	}
	a.cfg.stats.Requests.Add(1)
	id := classicUID()
	r := &classicPending{kind: kind, expected: expected, done: make(chan struct{})}
	if !a.addRequest(id, r) {
		return nil, errNodeClosed
	}
	defer a.endRequest(id)
	start := time.Now()
	var pubErr atomic.Pointer[error]
	a.node.publish(a.requestChannel, payload(id), func(err error) {
		if err != nil {
			pubErr.Store(&err)
			r.finish()
		}
	})
	missing := r.wait(ctx, timeout)
	if a.cfg.onRequest != nil {
		a.cfg.onRequest(op, time.Since(start), missing)
	}
	if missing == 0 {
		if countErr != nil {
			a.cfg.stats.PartialResults.Add(1)
		}
		return r, countErr
	}
	a.cfg.stats.PartialResults.Add(1)
	why := fmt.Sprintf("within %v", timeout)
	if p := pubErr.Load(); p != nil {
		why = fmt.Sprintf("(the request was not published: %v)", *p)
	} else if ctx.Err() != nil {
		why = fmt.Sprintf("(%v)", ctx.Err())
	}
	return r, fmt.Errorf("%w: %d of %d servers did not answer %s %s", socketio.ErrPartialResult, missing, expected, op, why)
}

// AllRooms implements socketio.Adapter: the rooms of every server (an
// ALL_ROOMS request).
func (a *ClassicAdapter) AllRooms(ctx context.Context) ([]string, error) {
	set := map[string]struct{}{}
	for _, r := range a.local.Rooms() {
		set[r] = struct{}{}
	}
	r, err := a.request(ctx, "allRooms", classicAllRooms, a.cfg.requestTimeout, func(id string) []byte {
		return appendClassicRequestJSON(nil, a.uid, id, classicAllRooms, nil)
	})
	if r != nil {
		r.mu.Lock()
		for _, room := range r.rooms {
			set[room] = struct{}{}
		}
		r.mu.Unlock()
	}
	if err != nil && !errors.Is(err, socketio.ErrPartialResult) {
		return nil, err
	}
	return sortedKeys(set), err
}

func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Sockets implements socketio.Adapter: the ids of the sockets in rooms on
// every server (a SOCKETS request, which Node servers still answer).
func (a *ClassicAdapter) Sockets(ctx context.Context, rooms []string) ([]string, error) {
	set := map[string]struct{}{}
	for _, id := range a.local.IDs(&socketio.BroadcastOptions{Rooms: rooms}) {
		set[id] = struct{}{}
	}
	r, err := a.request(ctx, "sockets", classicSockets, a.cfg.requestTimeout, func(id string) []byte {
		return appendClassicRequestJSON(nil, a.uid, id, classicSockets, func(w *nodejson.Object) {
			w.Raw("rooms", nodejson.AppendStrings(nil, rooms))
		})
	})
	if r != nil {
		r.mu.Lock()
		for _, id := range r.ids {
			set[id] = struct{}{}
		}
		r.mu.Unlock()
	}
	if err != nil && !errors.Is(err, socketio.ErrPartialResult) {
		return nil, err
	}
	return sortedKeys(set), err
}

// FetchSockets implements socketio.Adapter: a REMOTE_FETCH request. When
// servers do not answer within the timeout (opts.Flags.Timeout, else
// RequestTimeout), it returns the sockets of those that did, with an
// error wrapping socketio.ErrPartialResult that says how many did not,
// where Node's adapter fails.
func (a *ClassicAdapter) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]*socketio.SocketDetails, error) {
	out := a.local.Fetch(opts)
	if opts.Flags.Local {
		return out, nil
	}
	timeout := a.cfg.requestTimeout
	if opts.Flags.Timeout > 0 {
		timeout = opts.Flags.Timeout
	}
	r, err := a.request(ctx, "fetchSockets", classicRemoteFetch, timeout, func(id string) []byte {
		return appendClassicRequestJSON(nil, a.uid, id, classicRemoteFetch, func(w *nodejson.Object) {
			w.Raw("opts", appendSelectionJSON(nil, opts))
		})
	})
	if r != nil {
		r.mu.Lock()
		out = append(out, r.sockets...)
		r.mu.Unlock()
		slices.SortFunc(out, func(x, y *socketio.SocketDetails) int { return strings.Compare(x.ID, y.ID) })
	}
	if err != nil && !errors.Is(err, socketio.ErrPartialResult) {
		return nil, err
	}
	return out, err
}

// AddSockets implements socketio.Adapter: applied here, and a REMOTE_JOIN
// request for the others.
func (a *ClassicAdapter) AddSockets(opts *socketio.BroadcastOptions, rooms []string) error {
	a.local.Join(opts, rooms)
	if !opts.Flags.Local {
		a.node.publish(a.requestChannel, appendClassicRequestJSON(nil, a.uid, "", classicRemoteJoin, func(w *nodejson.Object) {
			w.Raw("opts", appendSelectionJSON(nil, opts))
			w.Raw("rooms", nodejson.AppendStrings(nil, rooms))
		}), nil)
	}
	return nil
}

// DelSockets implements socketio.Adapter: applied here, and a
// REMOTE_LEAVE request for the others.
func (a *ClassicAdapter) DelSockets(opts *socketio.BroadcastOptions, rooms []string) error {
	a.local.Leave(opts, rooms)
	if !opts.Flags.Local {
		a.node.publish(a.requestChannel, appendClassicRequestJSON(nil, a.uid, "", classicRemoteLeave, func(w *nodejson.Object) {
			w.Raw("opts", appendSelectionJSON(nil, opts))
			w.Raw("rooms", nodejson.AppendStrings(nil, rooms))
		}), nil)
	}
	return nil
}

// DisconnectSockets implements socketio.Adapter: a REMOTE_DISCONNECT
// request for the others, and applied here.
func (a *ClassicAdapter) DisconnectSockets(opts *socketio.BroadcastOptions, close bool) error {
	if !opts.Flags.Local {
		a.node.publish(a.requestChannel, appendClassicRequestJSON(nil, a.uid, "", classicRemoteDisconnect, func(w *nodejson.Object) {
			w.Raw("opts", appendSelectionJSON(nil, opts))
			w.Raw("close", []byte(fmt.Sprint(close)))
		}), nil)
	}
	a.local.Disconnect(opts, close)
	return nil
}

// ServerSideEmit implements socketio.Adapter: a SERVER_SIDE_EMIT request,
// with a request id when ack waits for the others' answers.
func (a *ClassicAdapter) ServerSideEmit(ctx context.Context, args []json.RawMessage, ack func([]json.RawMessage, error)) error {
	data := nodejson.Array(args)
	if ack == nil {
		a.node.publish(a.requestChannel, appendClassicRequestJSON(nil, a.uid, "", classicServerSideEmit, func(w *nodejson.Object) {
			w.Raw("data", data)
		}), nil)
		return nil
	}
	go func() {
		r, err := a.request(ctx, "serverSideEmit", classicServerSideEmit, a.cfg.requestTimeout, func(id string) []byte {
			return appendClassicRequestJSON(nil, a.uid, id, classicServerSideEmit, func(w *nodejson.Object) {
				w.Raw("data", data)
			})
		})
		answers := []json.RawMessage{}
		if r != nil {
			r.mu.Lock()
			answers = append(answers, r.answers...)
			r.mu.Unlock()
		}
		ack(answers, err)
	}()
	return nil
}

// PersistSession implements socketio.Adapter (the local recovery log).
func (a *ClassicAdapter) PersistSession(s *socketio.SessionToPersist) error {
	return a.mem.PersistSession(s)
}

// RestoreSession implements socketio.Adapter (the local recovery log).
func (a *ClassicAdapter) RestoreSession(pid, offset string, attach func(*socketio.Session)) (*socketio.Session, error) {
	return a.mem.RestoreSession(pid, offset, attach)
}

// handle handles a message that arrived on one of the adapter's
// subscriptions (on the subscription's goroutine, in Redis' order).
func (a *ClassicAdapter) handle(r classicRoute, channel string, msg []byte) {
	switch r.kind {
	case routeMain, routeRoom, routePattern:
		a.onBroadcast(r, channel, msg)
	case routeRequest:
		a.onRequest(msg)
	case routeResponse:
		a.onResponse(msg)
	}
}

// onBroadcast delivers another server's broadcast to the local sockets.
func (a *ClassicAdapter) onBroadcast(r classicRoute, channel string, msg []byte) {
	if p, opts := a.remoteBroadcast(r, channel, msg); p != nil {
		a.deliver(p, opts)
	}
}

// remoteBroadcast decodes another server's broadcast, or returns nil when
// it is not for this server's sockets (or not valid).
func (a *ClassicAdapter) remoteBroadcast(r classicRoute, channel string, msg []byte) (*parser.Packet, *socketio.BroadcastOptions) {
	if r.kind == routePattern {
		// Every broadcast channel of the namespace: drop the rooms this
		// server has no socket in before decoding, as Node does.
		rest, ok := strings.CutPrefix(channel, a.channel)
		if !ok {
			return nil, nil
		}
		if rest != "" {
			room, ok := strings.CutSuffix(rest, "#")
			if !ok || !a.local.HasRoom(room) {
				return nil, nil
			}
		}
	}
	if uidOf(msg) == a.uid {
		return nil, nil
	}
	b, err := decodeClassicBroadcast(msg)
	if err != nil {
		a.invalid(err)
		if isClusterMessage(msg) {
			a.mismatch.Do(func() {
				a.log.Error("redis: a node of another adapter family publishes on this prefix: a ClusterAdapter message (the Redis streams adapter) arrived on "+channel+"; every node of a cluster, Node or Tether, must use the same adapter, or another key prefix",
					"namespace", a.nsp)
			})
		}
		return nil, nil
	}
	if b.uid == a.uid || b.nsp != a.nsp {
		return nil, nil
	}
	return &parser.Packet{Type: parser.Event, Data: b.data, Attachments: b.atts}, &b.opts
}

// invalid counts and logs (at debug level) a message that could not be
// decoded.
func (a *ClassicAdapter) invalid(err error) {
	a.cfg.stats.Invalid.Add(1)
	a.log.Debug("redis: ignored a message", "namespace", a.nsp, "err", err)
}

// onRequest answers another server's request, or applies it.
func (a *ClassicAdapter) onRequest(msg []byte) {
	req, err := decodeClassicRequest(msg)
	if err != nil {
		a.invalid(err)
		return
	}
	if req.uid == a.uid {
		return // this server's own request: applied or answered already
	}
	a.mu.Lock()
	_, own := a.requests[req.requestID]
	a.mu.Unlock()
	if own && req.requestID != "" {
		return
	}
	switch req.typ {
	case classicSockets:
		ids := a.local.IDs(&socketio.BroadcastOptions{Rooms: req.rooms})
		a.publishResponse(req.uid, appendClassicRequestJSON(nil, "", req.requestID, -1, func(w *nodejson.Object) {
			w.Raw("sockets", nodejson.AppendStrings(nil, ids))
		}))
	case classicAllRooms:
		a.publishResponse(req.uid, appendClassicRequestJSON(nil, "", req.requestID, -1, func(w *nodejson.Object) {
			w.Raw("rooms", nodejson.AppendStrings(nil, a.local.Rooms()))
		}))
	case classicRemoteJoin, classicRemoteLeave, classicRemoteDisconnect:
		a.onRemoteOperation(req)
	case classicRemoteFetch:
		opts := req.opts
		if opts == nil {
			opts = &socketio.BroadcastOptions{}
		}
		socks, err := appendClassicSocketsJSON(nil, a.local.Fetch(opts))
		if err != nil {
			a.log.Warn("redis: failed to answer fetchSockets", "namespace", a.nsp, "err", err)
			socks = []byte("[]")
		}
		a.publishResponse(req.uid, appendClassicRequestJSON(nil, "", req.requestID, -1, func(w *nodejson.Object) {
			w.Raw("sockets", socks)
		}))
	case classicServerSideEmit:
		a.onServerSideEmit(req)
	case classicBroadcast:
		a.onBroadcastWithAck(req)
	}
}

// onRemoteOperation applies REMOTE_JOIN, REMOTE_LEAVE or
// REMOTE_DISCONNECT, in their current form (a selection) or the legacy
// one (one socket, answered).
func (a *ClassicAdapter) onRemoteOperation(req *classicRequest) {
	if req.opts != nil {
		switch req.typ {
		case classicRemoteJoin:
			a.local.Join(req.opts, req.rooms)
		case classicRemoteLeave:
			a.local.Leave(req.opts, req.rooms)
		case classicRemoteDisconnect:
			a.local.Disconnect(req.opts, req.close)
		}
		return
	}
	if req.sid == "" || len(a.local.IDs(&socketio.BroadcastOptions{Rooms: []string{req.sid}})) == 0 {
		return
	}
	one := &socketio.BroadcastOptions{Rooms: []string{req.sid}}
	switch req.typ {
	case classicRemoteJoin:
		a.local.Join(one, []string{req.room})
	case classicRemoteLeave:
		a.local.Leave(one, []string{req.room})
	case classicRemoteDisconnect:
		a.local.Disconnect(one, req.close)
	}
	a.publishResponse(req.uid, appendClassicRequestJSON(nil, "", req.requestID, -1, nil))
}

// onServerSideEmit queues another server's event for the namespace's
// handler; the answer, when the sender waits for one, goes back once.
func (a *ClassicAdapter) onServerSideEmit(req *classicRequest) {
	args, err := parser.SplitArray(nil, req.data)
	if err != nil || len(args) == 0 {
		a.invalid(fmt.Errorf("%w: server-side emit without an event", errInvalidMessage))
		return
	}
	var ack func(json.RawMessage)
	if req.requestID != "" {
		from, id := req.uid, req.requestID
		var once sync.Once
		ack = func(arg json.RawMessage) {
			once.Do(func() {
				a.publishResponse(from, appendClassicRequestJSON(nil, "", id, classicServerSideEmit, func(w *nodejson.Object) {
					w.Raw("data", arg)
				}))
			})
		}
	}
	a.sse.mu.Lock()
	a.sse.queue = append(a.sse.queue, func() { a.host.DispatchServerSideEmit(args, ack) })
	a.sse.mu.Unlock()
	select {
	case a.sse.wake <- struct{}{}:
	default:
	}
}

// serverSideEmits hands the queued server-side emits to the namespace, in
// order, until Close.
func (a *ClassicAdapter) serverSideEmits() {
	for {
		select {
		case <-a.sse.stop:
			return
		case <-a.sse.wake:
		}
		for {
			a.sse.mu.Lock()
			q := a.sse.queue
			a.sse.queue = nil
			a.sse.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, fn := range q {
				fn()
			}
		}
	}
}

// onBroadcastWithAck delivers another server's broadcast with
// acknowledgements: the number of local receivers goes back at once, each
// acknowledgement as it comes, until the broadcast's timeout.
func (a *ClassicAdapter) onBroadcastWithAck(req *classicRequest) {
	if req.packet == nil || req.packet.nsp != a.nsp {
		return
	}
	opts := req.packet.opts
	timeout := a.cfg.requestTimeout
	if opts.Flags.Timeout > 0 {
		timeout = opts.Flags.Timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	from, id := req.uid, req.requestID
	p := &parser.Packet{Type: parser.Event, Data: req.packet.data, Attachments: req.packet.atts}
	count := a.local.DeliverWithAck(ctx, p, &opts, func(arg json.RawMessage) {
		msg, err := appendClassicAck(nil, id, arg)
		if err != nil {
			a.log.Warn("redis: failed to forward an acknowledgement", "namespace", a.nsp, "err", err)
			return
		}
		a.publishResponse(from, msg)
	})
	if count == 0 {
		cancel()
	} else {
		time.AfterFunc(timeout, cancel)
	}
	a.publishResponse(from, appendClassicRequestJSON(nil, "", id, classicBroadcastClientCount, func(w *nodejson.Object) {
		w.Raw("clientCount", []byte(fmt.Sprint(count)))
	}))
}

// onResponse hands an answer to the request of this server it belongs to
// (answers to the other servers' requests arrive on the common channel
// too, and are dropped).
func (a *ClassicAdapter) onResponse(msg []byte) {
	resp, err := decodeClassicResponse(msg)
	if err != nil {
		a.invalid(err)
		return
	}
	a.mu.Lock()
	r := a.requests[resp.requestID]
	a.mu.Unlock()
	if r != nil {
		r.add(resp, a)
	}
}

func (a *ClassicAdapter) addRequest(id string, r *classicPending) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.requests[id] = r
	return true
}

func (a *ClassicAdapter) endRequest(id string) {
	a.mu.Lock()
	r := a.requests[id]
	delete(a.requests, id)
	a.mu.Unlock()
	if r != nil {
		r.finish()
	}
}

// classicPending is a request of this server waiting for the others'
// answers.
type classicPending struct {
	kind        int // the request type
	expected    int // answers awaited (every type but BROADCAST)
	clientCount func(int)
	ack         func(json.RawMessage)

	mu       sync.Mutex
	got      int
	sockets  []*socketio.SocketDetails
	ids      []string
	rooms    []string
	answers  []json.RawMessage
	finished bool
	done     chan struct{}
}

// add takes an answer.
func (r *classicPending) add(resp *classicResponse, a *ClassicAdapter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	switch r.kind {
	case classicBroadcast:
		switch resp.typ {
		case classicBroadcastClientCount:
			r.clientCount(resp.clientCount)
		case classicBroadcastAck:
			r.ack(orJSONNull(resp.packet))
		}
		return
	case classicRemoteFetch:
		for _, raw := range resp.sockets {
			s, err := decodeClassicSocket(raw)
			if err != nil {
				a.invalid(err)
				continue
			}
			r.sockets = append(r.sockets, s)
		}
	case classicSockets:
		r.ids = append(r.ids, nodejson.Texts(resp.sockets)...)
	case classicAllRooms:
		r.rooms = append(r.rooms, resp.rooms...)
	case classicServerSideEmit:
		r.answers = append(r.answers, orJSONNull(resp.data))
	}
	r.got++
	if r.got >= r.expected {
		r.finished = true
		close(r.done)
	}
}

func orJSONNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// finish ends the request: later answers are dropped.
func (r *classicPending) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.finished {
		r.finished = true
		close(r.done)
	}
}

// wait waits for the answers until ctx is done or the timeout passes, and
// returns how many are missing.
func (r *classicPending) wait(ctx context.Context, timeout time.Duration) int {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
	case <-ctx.Done():
	}
	r.finish()
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(0, r.expected-r.got)
}
