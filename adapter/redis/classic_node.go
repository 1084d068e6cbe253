package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// A classicNode is what one Tether server shares between its namespaces'
// classic adapters on one Redis client: a dedicated subscription
// connection and an ordered publish queue.
//
// Subscriptions. The node keeps the set of channels (and, with
// SubscribeAllRooms, patterns) its adapters want, each routed to the
// adapters that asked for it. A worker goroutine makes Redis' set match:
// it (re)connects with backoff, subscribes to the whole set on every new
// connection (so nothing is lost to a reconnect but what was published
// while the connection was down), then applies the changes as adapters
// report them, in batches. Adapters never wait for Redis: they change the
// set and signal the worker (room hooks run under the local sockets'
// lock).
//
// Publishing. Every message a server publishes (broadcasts, requests,
// answers) goes through one queue, in order, so that a REMOTE_JOIN and a
// broadcast to the joined room reach Redis in the order they were made, as
// Node's single publishing client sends them. A publisher goroutine sends
// what is queued in pipelined batches, each bounded by PublishTimeout. The
// queue is bounded in bytes: when Redis is slow or away, what does not fit
// is dropped and counted, and the callers never block.
//
// Invariants: n.mu is never held while calling into an adapter or into
// the socket layer; an adapter is registered in n.adapters under its
// namespace from New to Close, and routes are only added or removed by it.
type classicNode struct {
	client rueidis.Client
	cfg    *classicConfig
	log    *slog.Logger

	mu       sync.Mutex
	adapters map[string]*ClassicAdapter // by namespace: at most one each, so NUMSUB counts this server once
	routes   map[classicSub][]classicRoute
	have     map[classicSub]bool // confirmed on the current connection
	dirty    map[classicSub]struct{}
	wantGen  uint64        // incremented with every change of routes
	doneGen  uint64        // the generation Redis' subscriptions match
	up       bool          // subscribed on a live connection
	down     bool          // the last connection attempt failed
	progress chan struct{} // closed and replaced when doneGen or up changes
	signal   chan struct{} // wakes the subscription worker (capacity 1)

	pubMu      sync.Mutex
	queue      []classicPub
	queueBytes int
	pubSignal  chan struct{} // wakes the publisher (capacity 1)
	// failures counts the messages not published: failed, dropped (queue
	// full) or refused (node closed); marks compare it (MarkPublish).
	failures atomic.Uint64

	// The messages received and not handled yet (onMessage, handleInbox).
	inMu      sync.Mutex
	inbox     []classicIn
	inSpare   []classicIn   // the handler's last batch, emptied, for reuse
	inBytes   int           // of the messages in inbox
	inSignal  chan struct{} // wakes the handler (capacity 1)
	inDrained chan struct{} // the handler took a batch (capacity 1)

	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// classicIn is a received message and the routes of its subscription.
type classicIn struct {
	routes  []classicRoute
	channel string
	msg     []byte
}

// maxInboxBytes bounds the received messages waiting for the handler:
// beyond, the connection's reading goroutine waits, and Redis buffers
// (as when delivery ran on that goroutine).
const maxInboxBytes = 4 << 20

// classicSub is a channel or, when pattern is set, a pattern.
type classicSub struct {
	pattern bool
	name    string
}

// classicRoute says what a subscription means for one adapter.
type classicRoute struct {
	a    *ClassicAdapter
	kind classicChannelKind
	room string // the room of a room channel
}

type classicChannelKind uint8

const (
	routeMain     classicChannelKind = iota // broadcasts to the namespace
	routeRoom                               // broadcasts to one room
	routePattern                            // every broadcast channel of the namespace (PSUBSCRIBE)
	routeRequest                            // requests
	routeResponse                           // answers
)

// classicPub is a message waiting to be published; done, when not nil, is
// called with the result.
type classicPub struct {
	channel string
	payload []byte
	done    func(error)
	// mark, for a mark of MarkPublish (no message), is called once what
	// was queued before it is published or failed, with the count of
	// messages not published by then (classicNode.failures).
	mark func(failures uint64, err error)
}

// classicPubOverhead is what a queued message is counted for besides its
// payload and channel.
const classicPubOverhead = 64

// Reconnection backoff of the subscription connection: from
// classicMinBackoff, doubling, up to classicMaxBackoff, with jitter.
const (
	classicMinBackoff = 50 * time.Millisecond
	classicMaxBackoff = 2 * time.Second
)

// classicChunk bounds the channels of one SUBSCRIBE or UNSUBSCRIBE and the
// messages of one pipelined batch of PUBLISHes.
const classicChunk = 256

// errQueueFull is the error of a message dropped because the publish queue
// was full.
var errQueueFull = errors.New("redis: the publish queue is full")

// errNodeClosed is the error of a message queued after the node stopped.
var errNodeClosed = errors.New("redis: the adapter is closed")

func newClassicNode(client rueidis.Client, cfg *classicConfig, log *slog.Logger) *classicNode {
	n := &classicNode{
		client:    client,
		cfg:       cfg,
		log:       log,
		adapters:  map[string]*ClassicAdapter{},
		routes:    map[classicSub][]classicRoute{},
		have:      map[classicSub]bool{},
		dirty:     map[classicSub]struct{}{},
		progress:  make(chan struct{}),
		signal:    make(chan struct{}, 1),
		pubSignal: make(chan struct{}, 1),
		inSignal:  make(chan struct{}, 1),
		inDrained: make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	n.done.Add(3)
	go n.subscriptions()
	go n.publisher()
	go n.handleInbox()
	return n
}

// shutdown stops the node's goroutines once what was queued is published
// (within PublishTimeout) and waits for them.
func (n *classicNode) shutdown() {
	n.stopOnce.Do(func() { close(n.stop) })
	n.done.Wait()
}

// route adds (or, with add unset, removes) a's route for sub, and tells
// the worker. It may be called with the local sockets' lock held.
func (n *classicNode) route(sub classicSub, r classicRoute, add bool) {
	n.mu.Lock()
	rs := n.routes[sub]
	i := slices.IndexFunc(rs, func(x classicRoute) bool { return x.a == r.a && x.kind == r.kind && x.room == r.room })
	switch {
	case add && i < 0:
		// Routes are replaced, never modified in place: a reader may hold
		// the old slice.
		n.routes[sub] = append(slices.Clip(rs), r)
	case !add && i >= 0:
		if len(rs) == 1 {
			delete(n.routes, sub)
		} else {
			n.routes[sub] = slices.Delete(slices.Clone(rs), i, i+1)
		}
	default:
		n.mu.Unlock()
		return
	}
	n.wantGen++
	n.dirty[sub] = struct{}{}
	n.mu.Unlock()
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

// routesOf returns the routes of sub (a slice not modified later).
func (n *classicNode) routesOf(sub classicSub) []classicRoute {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.routes[sub]
}

// subscribed reports whether Redis has confirmed the subscription to the
// channel on the current connection.
func (n *classicNode) subscribed(channel string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up && n.have[classicSub{name: channel}]
}

// settle waits until Redis' subscriptions match every change made before
// the call, or until ctx is done. It fails at once with errNotSubscribed
// when failFast is set and the last connection attempt failed (Redis is
// away).
func (n *classicNode) settle(ctx context.Context, failFast bool) error {
	n.mu.Lock()
	gen := n.wantGen
	for !(n.up && n.doneGen >= gen) {
		if failFast && n.down {
			n.mu.Unlock()
			return errNotSubscribed
		}
		ch := n.progress
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return errNodeClosed
		}
		n.mu.Lock()
	}
	n.mu.Unlock()
	return nil
}

// errNotSubscribed reports that the subscription connection is down.
var errNotSubscribed = errors.New("redis: not subscribed (reconnecting)")

// notifyLocked wakes the settle waiters; the caller holds n.mu.
func (n *classicNode) notifyLocked() {
	close(n.progress)
	n.progress = make(chan struct{})
}

// subscriptions is the worker that keeps Redis' subscriptions in step,
// reconnecting after every failure until the node stops.
func (n *classicNode) subscriptions() {
	defer n.done.Done()
	backoff := classicMinBackoff
	first := true
	reported := false // the current outage was logged
	for {
		select {
		case <-n.stop:
			return
		default:
		}
		err := n.connection(first)
		first = false
		n.mu.Lock()
		wasUp := n.up
		n.up, n.down = false, err != nil
		clear(n.have)
		n.notifyLocked()
		n.mu.Unlock()
		n.cfg.stats.Subscriptions.Store(0)
		n.cfg.stats.Connected.Store(false)
		if err == nil {
			return // stopped
		}
		if wasUp {
			backoff, reported = classicMinBackoff, false
		}
		if !reported {
			reported = true
			n.log.Warn("redis: the classic adapter is not subscribed; reconnecting until Redis answers (broadcasts from other servers are lost meanwhile)", "err", err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, classicMaxBackoff)
		select {
		case <-n.stop:
			return
		case <-time.After(wait):
		}
	}
}

// connection runs one subscription connection: it subscribes to the whole
// wanted set, then follows the changes, until the connection fails (an
// error) or the node stops (nil).
func (n *classicNode) connection(first bool) error {
	// Through Sentinel, a dedicated connection stays with the master it was
	// made to when Sentinel promotes another (until the old one is made a
	// replica, which kills it: seconds, or never if it is cut off), so it
	// would hear only the old master's messages: the connection ends once
	// the client follows another master.
	var master string
	var check <-chan time.Time
	if n.client.Mode() == rueidis.ClientModeSentinel {
		master = currentMaster(n.client)
		tick := time.NewTicker(sentinelCheck)
		defer tick.Stop()
		check = tick.C
	}
	dc, release := n.client.Dedicate()
	defer func() {
		dc.Close()
		release()
	}()
	lost := dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: n.onMessage})
	if n.client.Mode() == rueidis.ClientModeCluster {
		// The subscriptions on a master, where every server counts them.
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.requestTimeout)
		err := pinToMaster(ctx, dc, n.cfg.key)
		cancel()
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	if err := n.sync(dc, true); err != nil {
		return err
	}
	n.mu.Lock()
	n.up, n.down = true, false
	n.notifyLocked()
	count := len(n.have)
	n.mu.Unlock()
	n.cfg.stats.Connected.Store(true)
	n.cfg.stats.Subscriptions.Store(int64(count))
	if !first {
		n.cfg.stats.Reconnects.Add(1)
		n.log.Info("redis: the classic adapter is subscribed again", "channels", count)
	}
	for {
		select {
		case <-n.stop:
			return nil
		case err, ok := <-lost:
			if !ok || err == nil {
				err = errors.New("redis: the subscription connection closed")
			}
			return err
		case <-n.signal:
			if err := n.sync(dc, false); err != nil {
				return err
			}
		case <-check:
			if m := currentMaster(n.client); m != master {
				return fmt.Errorf("redis: Sentinel moved the master from %s to %s", master, m)
			}
		}
	}
}

// sentinelCheck is how often a classic node checks, through Sentinel, that
// its subscriptions are on the current master.
const sentinelCheck = time.Second

// currentMaster returns the address of the master a Sentinel client sends
// its commands to.
func currentMaster(c rueidis.Client) string {
	for addr := range c.Nodes() {
		return addr
	}
	return ""
}

// sync subscribes to what is wanted and not subscribed, and unsubscribes
// from what is subscribed and no longer wanted: every subscription when
// full is set (a new connection), else those that changed.
func (n *classicNode) sync(dc rueidis.DedicatedClient, full bool) error {
	n.mu.Lock()
	gen := n.wantGen
	var sub, unsub, psub, punsub []string
	check := func(s classicSub) {
		want, have := len(n.routes[s]) > 0, n.have[s]
		switch {
		case want && !have && s.pattern:
			psub = append(psub, s.name)
		case want && !have:
			sub = append(sub, s.name)
		case !want && have && s.pattern:
			punsub = append(punsub, s.name)
		case !want && have:
			unsub = append(unsub, s.name)
		}
	}
	if full {
		for s := range n.routes {
			check(s)
		}
	} else {
		for s := range n.dirty {
			check(s)
		}
	}
	clear(n.dirty)
	n.mu.Unlock()

	run := func(names []string, pattern, add bool) error {
		for chunk := range slices.Chunk(names, classicChunk) {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.publishTimeout)
			var cmd rueidis.Completed
			switch {
			case pattern && add:
				cmd = n.client.B().Psubscribe().Pattern(chunk...).Build()
			case pattern:
				cmd = n.client.B().Punsubscribe().Pattern(chunk...).Build()
			case add:
				cmd = n.client.B().Subscribe().Channel(chunk...).Build()
			default:
				cmd = n.client.B().Unsubscribe().Channel(chunk...).Build()
			}
			err := dc.Do(ctx, cmd).Error()
			cancel()
			if err != nil {
				return err
			}
			n.mu.Lock()
			for _, name := range chunk {
				s := classicSub{pattern: pattern, name: name}
				if add {
					n.have[s] = true
				} else {
					delete(n.have, s)
				}
			}
			n.mu.Unlock()
		}
		return nil
	}
	for _, step := range []struct {
		names        []string
		pattern, add bool
	}{{sub, false, true}, {psub, true, true}, {unsub, false, false}, {punsub, true, false}} {
		if err := run(step.names, step.pattern, step.add); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.doneGen = max(n.doneGen, gen)
	n.notifyLocked()
	count := len(n.have)
	n.mu.Unlock()
	n.cfg.stats.Subscriptions.Store(int64(count))
	return nil
}

// onMessage queues a message for the adapters its subscription routes to.
// rueidis calls it on the connection's reading goroutine, one message at a
// time, in the order Redis sent them; handleInbox handles them in that
// order, on a goroutine of its own, so that the broadcasts that arrive
// while it delivers the previous ones go out together (see deliverBatch).
func (n *classicNode) onMessage(m rueidis.PubSubMessage) {
	n.cfg.stats.Received.Add(1)
	sub := classicSub{name: m.Channel}
	if m.Pattern != "" {
		sub = classicSub{pattern: true, name: m.Pattern}
	}
	routes := n.routesOf(sub)
	if len(routes) == 0 {
		return // unsubscribed since
	}
	in := classicIn{routes: routes, channel: m.Channel, msg: []byte(m.Message)}
	size := len(in.msg) + len(in.channel)
	n.inMu.Lock()
	for n.inBytes > 0 && n.inBytes+size > maxInboxBytes {
		n.inMu.Unlock()
		select {
		case <-n.inDrained:
		case <-n.stop:
			return
		}
		n.inMu.Lock()
	}
	n.inbox = append(n.inbox, in)
	n.inBytes += size
	n.inMu.Unlock()
	select {
	case n.inSignal <- struct{}{}:
	default:
	}
}

// handleInbox handles the received messages, every batch that arrived
// meanwhile at once, until the node stops (what is queued then is handled
// first).
func (n *classicNode) handleInbox() {
	defer n.done.Done()
	for {
		n.inMu.Lock()
		batch := n.inbox
		n.inbox, n.inSpare, n.inBytes = n.inSpare, nil, 0
		n.inMu.Unlock()
		if len(batch) > 0 {
			select {
			case n.inDrained <- struct{}{}:
			default:
			}
			deliverBatch(batch)
			clear(batch)
			n.inMu.Lock()
			n.inSpare = batch[:0]
			n.inMu.Unlock()
			continue
		}
		select {
		case <-n.inSignal:
		case <-n.stop:
			n.inMu.Lock()
			empty := len(n.inbox) == 0
			n.inMu.Unlock()
			if empty {
				return
			}
		}
	}
}

// deliverBatch handles received messages in order. Consecutive
// broadcasts of one adapter are delivered by one
// socketio.InMemoryAdapter.BroadcastEach, which sends those that select
// alike (the same rooms and flags, whatever they except) together: each
// socket gets its packets of them in one write, in order. Anything else
// ends the group first, so that requests (joins, leaves, disconnections)
// and broadcasts apply in the order Redis sent them.
func deliverBatch(batch []classicIn) {
	var g broadcastGroup
	for _, in := range batch {
		for _, r := range in.routes {
			if r.kind == routeRequest || r.kind == routeResponse {
				g.flush()
				r.a.handle(r, in.channel, in.msg)
				continue
			}
			p, opts := r.a.remoteBroadcast(r, in.channel, in.msg)
			if p == nil {
				continue
			}
			if g.a != r.a {
				g.flush()
			}
			g.a = r.a
			g.ps = append(g.ps, p)
			g.opts = append(g.opts, opts)
		}
	}
	g.flush()
}

// broadcastGroup is consecutive received broadcasts of one adapter,
// delivered together.
type broadcastGroup struct {
	a    *ClassicAdapter
	ps   []*parser.Packet
	opts []*socketio.BroadcastOptions
}

// flush delivers the group and empties it.
func (g *broadcastGroup) flush() {
	if len(g.ps) == 0 {
		return
	}
	g.a.mem.BroadcastEach(g.ps, g.opts)
	clear(g.ps)
	clear(g.opts)
	g.ps, g.opts, g.a = g.ps[:0], g.opts[:0], nil
}

// publish queues payload for channel. It never blocks: a message that does
// not fit the queue is dropped (done gets errQueueFull).
func (n *classicNode) publish(channel string, payload []byte, done func(error)) {
	size := len(payload) + len(channel) + classicPubOverhead
	n.pubMu.Lock()
	var err error
	select {
	case <-n.stop:
		err = errNodeClosed
	default:
		if n.queueBytes+size > n.cfg.maxPendingBytes && len(n.queue) > 0 {
			err = errQueueFull
		}
	}
	if err == nil {
		n.queue = append(n.queue, classicPub{channel: channel, payload: payload, done: done})
		n.queueBytes += size
	}
	n.pubMu.Unlock()
	if err != nil {
		n.failures.Add(1)
		if errors.Is(err, errQueueFull) {
			n.cfg.stats.Dropped.Add(1)
		}
		if done != nil {
			done(err)
		}
		return
	}
	n.wakePublisher()
}

// markPublish queues a mark: done is called once what was queued before
// it is published or failed, with the count of failures then (never
// dropped by the queue's bound: it carries no message).
func (n *classicNode) markPublish(mark func(failures uint64, err error)) {
	n.pubMu.Lock()
	select {
	case <-n.stop:
		n.pubMu.Unlock()
		mark(n.failures.Load(), errNodeClosed)
		return
	default:
	}
	n.queue = append(n.queue, classicPub{mark: mark})
	n.queueBytes += classicPubOverhead
	n.pubMu.Unlock()
	n.wakePublisher()
}

func (n *classicNode) wakePublisher() {
	select {
	case n.pubSignal <- struct{}{}:
	default:
	}
}

// publisher sends the queue in order, in pipelined batches, until the node
// stops (after one last batch of what was queued).
func (n *classicNode) publisher() {
	defer n.done.Done()
	failing := false
	for {
		stopping := false
		select {
		case <-n.pubSignal:
		case <-n.stop:
			stopping = true
		}
		for {
			n.pubMu.Lock()
			batch := n.queue[:min(len(n.queue), classicChunk)]
			n.queue = n.queue[len(batch):]
			for _, p := range batch {
				n.queueBytes -= len(p.payload) + len(p.channel) + classicPubOverhead
			}
			if len(n.queue) == 0 {
				n.queue = nil // let the backing array go
			}
			n.pubMu.Unlock()
			if len(batch) == 0 {
				break
			}
			cmds := make(rueidis.Commands, 0, len(batch))
			for _, p := range batch {
				if p.mark == nil {
					cmds = append(cmds, n.client.B().Publish().Channel(p.channel).Message(rueidis.BinaryString(p.payload)).Build())
				}
			}
			var res []rueidis.RedisResult
			if len(cmds) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), n.cfg.publishTimeout)
				// A batch: one node for every publish on Redis Cluster
				// (see publish).
				res = n.client.DoMulti(ctx, cmds...)
				cancel()
			}
			var firstErr error
			for _, p := range batch {
				if p.mark != nil {
					p.mark(n.failures.Load(), nil)
					continue
				}
				err := res[0].Error()
				res = res[1:]
				if err != nil {
					n.failures.Add(1)
					n.cfg.stats.PublishErrors.Add(1)
					if firstErr == nil {
						firstErr = err
					}
				} else {
					n.cfg.stats.Published.Add(1)
				}
				if p.done != nil {
					p.done(err)
				}
			}
			switch {
			case firstErr != nil && !failing:
				failing = true
				n.log.Warn("redis: the classic adapter failed to publish; messages are lost until Redis answers again", "err", firstErr)
			case firstErr == nil && failing && len(cmds) > 0:
				failing = false
				n.log.Info("redis: the classic adapter publishes again")
			}
		}
		if stopping {
			return
		}
	}
}
