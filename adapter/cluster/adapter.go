package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tether-rt/tether/adapter/internal/nodejson"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// Transport carries the messages of one namespace between its servers.
//
// Publish may be called concurrently. A transport hands what it receives to
// the [Handler] it was started with, one message at a time, in the order of
// the transport; it never gives a server its own messages back (the
// adapter drops them anyway).
type Transport interface {
	// Publish sends m to every other server of the namespace and returns
	// the offset the transport gave it: a log-based transport (Redis
	// Streams) gives each broadcast one, which goes with it to every
	// server, so that connection state recovery works across servers;
	// others return "".
	Publish(ctx context.Context, m *Message) (offset string, err error)
	// PublishResponse sends m (a response) to the server uid only.
	PublishResponse(ctx context.Context, uid string, m *Message) error
	// ServerCount returns the number of servers of the namespace, this one
	// included, as the transport sees them (subscribers of a channel), or
	// 0 when it cannot tell: the adapter then counts servers by heartbeats.
	ServerCount(ctx context.Context) (int, error)
	// Close stops the transport.
	Close() error
}

// Handler receives what a [Transport] reads.
type Handler interface {
	// HandleMessage handles a message another server published, with the
	// offset the transport gave it ("" for none).
	HandleMessage(m *Message, offset string)
	// HandleResponse handles a response to a request of this server.
	HandleResponse(m *Message)
}

// BatchHandler is a [Handler] that also takes several messages at once:
// a transport that reads messages in batches (Redis Streams) hands each
// batch to it, so that the broadcasts among them are delivered together.
type BatchHandler interface {
	Handler
	// HandleMessages handles ms in order, offsets[i] being the offset of
	// ms[i], as HandleMessage would each of them.
	HandleMessages(ms []*Message, offsets []string)
}

// Dialer starts the transport of namespace nsp for the server uid,
// handing what it reads to h.
type Dialer func(nsp, uid string, h Handler) (Transport, error)

// SessionStore is implemented by transports that keep the sessions of
// connection state recovery themselves, across servers (Redis Streams):
// the adapter then uses it instead of its in-memory log.
type SessionStore interface {
	// PersistSession keeps s for a client that reconnects, to any server.
	PersistSession(s *socketio.SessionToPersist) error
	// RestoreSession takes the session pid and finds the broadcasts after
	// offset of the namespace that it may have missed, up to the last one
	// the transport handed to the adapter, and calls attach with them, in
	// order, before it hands over any newer one: so the socket gets each
	// broadcast once, either among the missed ones or live. It returns
	// false, without calling attach, when the session cannot be restored
	// (unknown or expired, or offset no longer in the log).
	RestoreSession(pid, offset string, attach func(s *socketio.SessionToPersist, missed []OffsetMessage)) (bool, error)
}

// OwnDeliverer is implemented by transports that keep sessions (a
// SessionStore) and need to order this server's local deliveries of its
// own broadcasts with RestoreSession: the adapter makes each such delivery
// through DeliverOwn, with the offset the broadcast got ("" for none), so
// that a restored socket gets each of them once, either among the missed
// packets or live.
type OwnDeliverer interface {
	DeliverOwn(offset string, deliver func())
}

// RoomObserver is implemented by transports that subscribe to the other
// servers' traffic room by room (Redis sharded pub/sub in its dynamic
// mode): the adapter tells them when a room gets its first local socket
// (exists) and loses its last one. RoomChanged is called with the local
// sockets' lock held: it must not block.
type RoomObserver interface {
	RoomChanged(room string, exists bool)
}

// Settler is implemented by transports whose subscriptions follow the local
// rooms asynchronously (see RoomObserver): Settle waits until they caught up.
type Settler interface {
	Settle(ctx context.Context) error
}

// OffsetMessage is a broadcast message and its offset.
type OffsetMessage struct {
	Message *Message
	Offset  string
}

// Options configures an [Adapter].
type Options struct {
	// RequestTimeout bounds the wait for the other servers' answers to a
	// request (FetchSockets, server-side emits with acknowledgements, the
	// client counts of a broadcast with acknowledgements); 0 means 5 s, as
	// in Node.
	RequestTimeout time.Duration
	// HeartbeatInterval and HeartbeatTimeout, for transports that cannot
	// count servers: each server announces itself every interval, and one
	// not heard of for the timeout is gone; 0 means 5 s and 10 s, as in
	// Node.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// Recovery turns connection state recovery on (nil: off), as the
	// server's Options.ConnectionStateRecovery must. Over a transport that
	// keeps sessions (a SessionStore: Redis Streams) broadcasts carry the
	// transport's offsets and a client recovers on any server; over the
	// others each server keeps its own log (socketio.InMemoryAdapter) and a
	// client recovers when it reconnects to the same server.
	Recovery *socketio.RecoveryOptions
	// Observer, when set, is told of every message published and received
	// and of every request's outcome, for metrics.
	Observer Observer
	// KeepSessions, over a transport that keeps sessions (a SessionStore),
	// stores the sessions of the connected sockets ahead of their
	// disconnection, as they would be stored then: within a second of a
	// socket's joining or leaving a room, and every KeepSessions (so they
	// do not expire while their sockets live). The clients of a server
	// that dies without a word (kill -9, a lost machine) then recover on
	// the others. 0 means Recovery.MaxDisconnectionDuration / 2; negative
	// turns it off (Node keeps sessions at disconnection only).
	KeepSessions time.Duration
	// MaxPendingBytes bounds the messages waiting to be published (their
	// data): publishing never blocks the caller, and while the broker is
	// slow or unreachable what does not fit is dropped, reported to the
	// Observer with ErrDropped and logged. 0 means 16 MiB.
	MaxPendingBytes int
	// MaxOffsetWait bounds how long, with Recovery over a transport that
	// gives offsets, a broadcast's local delivery waits for its offset
	// (the broker's answer): past it the broker is taken to hang, and
	// local delivery goes on without offsets until the broker answers
	// again. 0 means 500 ms.
	MaxOffsetWait time.Duration
}

// Observer receives what an [Adapter] does, for metrics. Its methods are
// called concurrently and must return quickly.
type Observer interface {
	// Published reports a message published to the other servers (err:
	// the broker failed, the message reached no other server).
	Published(nsp string, t MessageType, err error)
	// Received reports a message from another server.
	Received(nsp string, t MessageType)
	// Requested reports a request (FetchSockets, ServerSideEmit with
	// acknowledgements) that ended after d, with missing servers that did
	// not answer in time.
	Requested(nsp string, t MessageType, d time.Duration, missing int)
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 10 * time.Second
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = 16 << 20
	}
	if c.MaxOffsetWait <= 0 {
		c.MaxOffsetWait = 500 * time.Millisecond
	}
	return c
}

// NewFactory returns the socketio.AdapterFactory of adapters on the
// transports dial starts.
func NewFactory(dial Dialer, opts *Options) socketio.AdapterFactory {
	return func(h socketio.AdapterHost) (socketio.Adapter, error) { return New(h, dial, opts) }
}

// Adapter is a socketio.Adapter that spreads a namespace over several
// servers; see the package documentation.
type Adapter struct {
	host  socketio.AdapterHost
	local *socketio.LocalSockets
	mem   *socketio.InMemoryAdapter // local delivery and the local recovery log
	uid   string
	nsp   string
	t     Transport
	out   *outbox      // what is waiting to be published
	store SessionStore // when the transport keeps sessions
	opts  Options
	log   *slog.Logger

	// ready is closed once New has finished: what the transport hands
	// over before waits for it.
	ready chan struct{}

	mu        sync.Mutex
	dirty     map[string]struct{} // sockets whose rooms changed since their session was kept
	requests  map[string]*request
	nodes     map[string]time.Time // heartbeat mode: other servers, last heard of
	heartbeat bool                 // counting servers by heartbeats
	closed    bool
	stop      chan struct{}
}

// New returns the adapter of host's namespace on the transport dial
// starts.
func New(host socketio.AdapterHost, dial Dialer, opts *Options) (*Adapter, error) {
	o := opts.withDefaults()
	a := &Adapter{
		host:     host,
		local:    host.LocalSockets(),
		uid:      newUID(),
		nsp:      host.Name(),
		opts:     o,
		log:      host.Logger(),
		requests: map[string]*request{},
		nodes:    map[string]time.Time{},
		stop:     make(chan struct{}),
		ready:    make(chan struct{}),
	}
	defer close(a.ready)
	t, err := dial(a.nsp, a.uid, a)
	if err != nil {
		return nil, fmt.Errorf("failed to start the transport of namespace %s: %w", a.nsp, err)
	}
	a.t = t
	a.out = newOutbox(a)
	go a.out.run()
	if ro, ok := t.(RoomObserver); ok {
		a.local.OnRoomChange(ro.RoomChanged)
	}
	if s, ok := t.(SessionStore); ok {
		a.store = s
		if r := o.Recovery; r != nil && o.KeepSessions >= 0 {
			every := o.KeepSessions
			if every == 0 {
				every = r.MaxDisconnectionDuration / 2
				if every <= 0 {
					every = time.Minute
				}
			}
			a.dirty = map[string]struct{}{}
			a.local.OnMembershipChange(a.markDirty)
			go a.keepSessions(every)
		}
	} else {
		a.mem = socketio.NewInMemoryAdapter(host, o.Recovery)
	}
	if n, err := t.ServerCount(context.Background()); err == nil && n == 0 {
		a.heartbeat = true
		a.publish(&Message{Type: InitialHeartbeat})
		go a.heartbeats()
	}
	return a, nil
}

// newUID returns a server id as Node's ClusterAdapter makes them: 16 hex
// characters.
func newUID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Settle waits until the transport's subscriptions follow the rooms this
// server's sockets are in, when the transport subscribes room by room
// (Redis sharded pub/sub in a dynamic mode): a broadcast another server
// makes to a room after a local socket joined it and Settle returned reaches
// the socket. Without Settle such a broadcast may reach the other servers
// before this one subscribed, as with Node's adapter.
func (a *Adapter) Settle(ctx context.Context) error {
	if s, ok := a.t.(Settler); ok {
		return s.Settle(ctx)
	}
	return nil
}

// Flush waits until what this server queued for the other servers before
// the call is published (or failed), or ctx is done: a broadcast made
// before Flush returned is then in the broker, in order with another
// server's broadcasts made after. Publishing is asynchronous: Broadcast and
// the other operations return before the broker has their messages.
func (a *Adapter) Flush(ctx context.Context) error { return a.out.flush(ctx) }

// MarkPublish implements socketio.PublishMarker: the mark is a count of
// the messages not published so far, and confirm queues an item that the
// publisher runs once what was queued before it is published or failed
// (it never waits for a batch of its own).
func (a *Adapter) MarkPublish() (confirm func(done func(error))) {
	o := a.out
	before := o.failures.Load()
	return func(done func(error)) {
		o.add(outItem{mark: func(failures uint64, err error) {
			done(socketio.NotPublished(failures-before, err))
		}})
	}
}

// UID returns this server's id in the cluster.
func (a *Adapter) UID() string { return a.uid }

// publish queues m for the other servers, filling in the envelope; it
// never blocks (see outbox).
func (a *Adapter) publish(m *Message) {
	m.UID, m.NSP = a.uid, a.nsp
	a.out.add(outItem{m: m})
}

// respond queues the response m to the server uid.
func (a *Adapter) respond(uid string, m *Message) {
	m.UID, m.NSP = a.uid, a.nsp
	a.out.add(outItem{m: m, to: uid})
}

// Close implements socketio.Adapter.
func (a *Adapter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	close(a.stop)
	reqs := a.requests
	a.requests = map[string]*request{}
	a.mu.Unlock()
	for _, r := range reqs {
		r.finish()
	}
	if a.heartbeat {
		a.publish(&Message{Type: AdapterClose})
	}
	a.out.close()
	err := a.t.Close()
	if a.mem != nil {
		_ = a.mem.Close()
	}
	return err
}

// ServerCount implements socketio.Adapter.
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	if !a.heartbeat {
		n, err := a.t.ServerCount(ctx)
		if err != nil {
			if errors.Is(err, socketio.ErrPartialResult) {
				return max(n, 1), fmt.Errorf("failed to count every server: %w", err)
			}
			return 0, fmt.Errorf("failed to count the servers: %w", err)
		}
		return max(n, 1), nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return 1 + len(a.nodes), nil
}

// deliver delivers a broadcast locally: with the offset the transport gave
// it when recovery is on (and the packet is not volatile, as Node's
// addOffsetIfNecessary has it), or through the local recovery log.
func (a *Adapter) deliver(p *parser.Packet, opts *socketio.BroadcastOptions, offset string) {
	if a.mem == nil {
		if a.opts.Recovery == nil || opts.Flags.Volatile {
			offset = ""
		}
		a.local.Deliver(p, opts, offset)
		return
	}
	_ = a.mem.Broadcast(p, opts)
}

// eventPacket returns an EVENT packet of value (an event array).
func eventPacket(v parser.RawValue) *parser.Packet {
	return &parser.Packet{Type: parser.Event, Data: v.JSON, Attachments: v.Attachments}
}

// Broadcast implements socketio.Adapter: the packet is delivered locally
// and queued for the other servers (unless opts.Flags.Local); it never
// waits for the broker. With connection state recovery over a transport
// that gives offsets (Redis Streams), the local delivery waits for the
// offset, on the publisher's goroutine, in the order of the calls; while
// the broker fails, or when the queue is full, it is made at once without
// an offset (a client that later recovers on another server may then get
// such a packet again).
func (a *Adapter) Broadcast(p *parser.Packet, opts *socketio.BroadcastOptions) error {
	if opts.Flags.Local {
		a.deliver(p, opts, "")
		return nil
	}
	m := &Message{Type: Broadcast, Value: parser.RawValue{JSON: p.Data, Attachments: p.Attachments}, Opts: opts}
	m.UID, m.NSP = a.uid, a.nsp
	if a.store == nil || a.opts.Recovery == nil {
		a.deliver(p, opts, "")
		a.out.add(outItem{m: m})
		return nil
	}
	deliver := func(off string) {
		if od, ok := a.t.(OwnDeliverer); ok {
			od.DeliverOwn(off, func() { a.deliver(p, opts, off) })
			return
		}
		a.deliver(p, opts, off)
	}
	a.out.order.Lock()
	defer a.out.order.Unlock()
	if _, attached := a.out.add(outItem{m: m, after: deliver}); !attached {
		deliver("")
	}
	return nil
}

// BroadcastWithAck implements socketio.Adapter.
func (a *Adapter) BroadcastWithAck(ctx context.Context, p *parser.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(json.RawMessage)) error {
	if !opts.Flags.Local {
		id := newUID()[:12]
		r := &request{kind: BroadcastClientCount, clientCount: clientCount, ack: ack, done: make(chan struct{})}
		a.addRequest(id, r)
		context.AfterFunc(ctx, func() { a.endRequest(id) })
		m := &Message{Type: Broadcast, RequestID: id, Value: parser.RawValue{JSON: p.Data, Attachments: p.Attachments}, Opts: opts}
		a.publish(m)
	}
	clientCount(a.local.DeliverWithAck(ctx, p, opts, ack))
	return nil
}

// AllRooms implements socketio.Adapter: the rooms of every server's
// sockets (from their details: the protocol has no request for it).
func (a *Adapter) AllRooms(ctx context.Context) ([]string, error) {
	socks, err := a.FetchSockets(ctx, &socketio.BroadcastOptions{})
	if err != nil && !errors.Is(err, socketio.ErrPartialResult) {
		return nil, err
	}
	set := map[string]struct{}{}
	for _, r := range a.local.Rooms() {
		set[r] = struct{}{}
	}
	for _, s := range socks {
		for _, r := range s.Rooms {
			set[r] = struct{}{}
		}
	}
	rooms := make([]string, 0, len(set))
	for r := range set {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	return rooms, err
}

// Sockets implements socketio.Adapter.
func (a *Adapter) Sockets(ctx context.Context, rooms []string) ([]string, error) {
	socks, err := a.FetchSockets(ctx, &socketio.BroadcastOptions{Rooms: rooms})
	if err != nil && !errors.Is(err, socketio.ErrPartialResult) {
		return nil, err
	}
	ids := make([]string, len(socks))
	for i, s := range socks {
		ids[i] = s.ID
	}
	return ids, err
}

// FetchSockets implements socketio.Adapter.
func (a *Adapter) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]*socketio.SocketDetails, error) {
	local := a.local.Fetch(opts)
	if opts.Flags.Local {
		return local, nil
	}
	n, countErr := a.ServerCount(ctx)
	if countErr != nil && !errors.Is(countErr, socketio.ErrPartialResult) {
		return local, fmt.Errorf("%w: %w", socketio.ErrPartialResult, countErr)
	}
	if n <= 1 {
		return local, countErr
	}
	timeout := a.opts.RequestTimeout
	if opts.Flags.Timeout > 0 {
		timeout = opts.Flags.Timeout
	}
	r := &request{kind: FetchSocketsResponse, expected: n - 1, done: make(chan struct{})}
	id := newUID()[:12]
	a.addRequest(id, r)
	defer a.endRequest(id)
	start := time.Now()
	a.publish(&Message{Type: FetchSockets, RequestID: id, Opts: opts})
	got, missing := r.wait(ctx, timeout)
	if o := a.opts.Observer; o != nil {
		o.Requested(a.nsp, FetchSockets, time.Since(start), missing)
	}
	out := append(local, got.sockets...)
	slices.SortFunc(out, func(x, y *socketio.SocketDetails) int { return strings.Compare(x.ID, y.ID) })
	if missing > 0 {
		return out, fmt.Errorf("%w: %d of %d servers did not answer FetchSockets within %v", socketio.ErrPartialResult, missing, n-1, timeout)
	}
	return out, countErr
}

// AddSockets implements socketio.Adapter.
func (a *Adapter) AddSockets(opts *socketio.BroadcastOptions, rooms []string) error {
	a.local.Join(opts, rooms)
	if !opts.Flags.Local {
		a.publish(&Message{Type: SocketsJoin, Opts: opts, Rooms: rooms})
	}
	return nil
}

// DelSockets implements socketio.Adapter.
func (a *Adapter) DelSockets(opts *socketio.BroadcastOptions, rooms []string) error {
	a.local.Leave(opts, rooms)
	if !opts.Flags.Local {
		a.publish(&Message{Type: SocketsLeave, Opts: opts, Rooms: rooms})
	}
	return nil
}

// DisconnectSockets implements socketio.Adapter.
func (a *Adapter) DisconnectSockets(opts *socketio.BroadcastOptions, close bool) error {
	if !opts.Flags.Local {
		a.publish(&Message{Type: DisconnectSockets, Opts: opts, Close: close})
	}
	a.local.Disconnect(opts, close)
	return nil
}

// ServerSideEmit implements socketio.Adapter.
func (a *Adapter) ServerSideEmit(ctx context.Context, args []json.RawMessage, ack func([]json.RawMessage, error)) error {
	value := parser.RawValue{JSON: nodejson.Array(args)}
	if ack == nil {
		a.publish(&Message{Type: ServerSideEmit, Value: value})
		return nil
	}
	n, countErr := a.ServerCount(ctx)
	if countErr != nil && !errors.Is(countErr, socketio.ErrPartialResult) {
		return countErr
	}
	if n <= 1 {
		ack([]json.RawMessage{}, countErr)
		return nil
	}
	r := &request{kind: ServerSideEmitResponse, expected: n - 1, done: make(chan struct{})}
	id := newUID()[:12]
	a.addRequest(id, r)
	start := time.Now()
	a.publish(&Message{Type: ServerSideEmit, RequestID: id, Value: value})
	go func() {
		defer a.endRequest(id)
		got, missing := r.wait(ctx, a.opts.RequestTimeout)
		if o := a.opts.Observer; o != nil {
			o.Requested(a.nsp, ServerSideEmit, time.Since(start), missing)
		}
		if missing > 0 {
			ack(got.responses, fmt.Errorf("%w: %d of %d servers did not answer the server-side emit within %v", socketio.ErrPartialResult, missing, n-1, a.opts.RequestTimeout))
			return
		}
		ack(got.responses, countErr)
	}()
	return nil
}

// PersistSession implements socketio.Adapter.
func (a *Adapter) PersistSession(s *socketio.SessionToPersist) error {
	if a.store != nil {
		return a.store.PersistSession(s)
	}
	return a.mem.PersistSession(s)
}

// RestoreSession implements socketio.Adapter.
func (a *Adapter) RestoreSession(pid, offset string, attach func(*socketio.Session)) (*socketio.Session, error) {
	if a.store == nil {
		return a.mem.RestoreSession(pid, offset, attach)
	}
	var sess *socketio.Session
	ok, err := a.store.RestoreSession(pid, offset, func(st *socketio.SessionToPersist, missed []OffsetMessage) {
		sess = &socketio.Session{SessionToPersist: *st}
		for _, om := range missed {
			m := om.Message
			if m.Type != Broadcast || m.RequestID != "" || m.Opts == nil || m.Opts.Flags.Volatile || !includes(st.Rooms, m.Opts) {
				continue
			}
			p := eventPacket(m.Value)
			p.Namespace = a.nsp
			if om.Offset != "" {
				p.Data = parser.AppendOffset(p.Data, om.Offset)
			}
			sess.MissedPackets = append(sess.MissedPackets, new(p.Encode()))
		}
		if attach != nil {
			attach(sess)
		}
	})
	if err != nil || !ok {
		return nil, err
	}
	return sess, nil
}

// includes reports whether a socket in rooms was selected by opts.
func includes(rooms []string, opts *socketio.BroadcastOptions) bool {
	in := len(opts.Rooms) == 0
	for _, r := range rooms {
		if slices.Contains(opts.Except, r) {
			return false
		}
		if !in && slices.Contains(opts.Rooms, r) {
			in = true
		}
	}
	return in
}

// HandleMessages implements [BatchHandler]: consecutive broadcasts
// without acknowledgement are delivered together
// (socketio.InMemoryAdapter.BroadcastEach, or LocalSockets.DeliverEach
// with their offsets): each socket gets those that select alike in one
// send, in order. Any other message ends the group first, so that joins,
// leaves and disconnections apply in their place between broadcasts.
func (a *Adapter) HandleMessages(ms []*Message, offsets []string) {
	<-a.ready
	var ps []*parser.Packet
	var opts []*socketio.BroadcastOptions
	var offs []string
	flush := func() {
		if len(ps) > 0 {
			a.deliverEach(ps, opts, offs)
			ps, opts, offs = ps[:0], opts[:0], offs[:0]
		}
	}
	for i, m := range ms {
		if m.UID == a.uid || m.NSP != a.nsp {
			continue
		}
		if m.Type != Broadcast || m.RequestID != "" {
			flush()
			a.HandleMessage(m, offsets[i])
			continue
		}
		a.heard(m.UID)
		if o := a.opts.Observer; o != nil {
			o.Received(a.nsp, m.Type)
		}
		o := m.Opts
		if o == nil {
			o = &socketio.BroadcastOptions{}
		}
		ps, opts, offs = append(ps, eventPacket(m.Value)), append(opts, o), append(offs, offsets[i])
	}
	flush()
}

// deliverEach delivers broadcasts from other servers as deliver would
// each, together.
func (a *Adapter) deliverEach(ps []*parser.Packet, opts []*socketio.BroadcastOptions, offsets []string) {
	if a.mem != nil {
		a.mem.BroadcastEach(ps, opts)
		return
	}
	for i := range offsets {
		if a.opts.Recovery == nil || opts[i].Flags.Volatile {
			offsets[i] = ""
		}
	}
	a.local.DeliverEach(ps, opts, offsets)
}

// HandleMessage implements [Handler].
func (a *Adapter) HandleMessage(m *Message, offset string) {
	<-a.ready
	if m.UID == a.uid || m.NSP != a.nsp {
		return
	}
	a.heard(m.UID)
	if o := a.opts.Observer; o != nil {
		o.Received(a.nsp, m.Type)
	}
	switch m.Type {
	case InitialHeartbeat:
		a.publish(&Message{Type: Heartbeat})
	case Heartbeat:
	case AdapterClose:
		a.mu.Lock()
		delete(a.nodes, m.UID)
		a.mu.Unlock()
	case Broadcast:
		opts := m.Opts
		if opts == nil {
			opts = &socketio.BroadcastOptions{}
		}
		p := eventPacket(m.Value)
		if m.RequestID == "" {
			a.deliver(p, opts, offset)
			return
		}
		timeout := a.opts.RequestTimeout
		if opts.Flags.Timeout > 0 {
			timeout = opts.Flags.Timeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		from, id := m.UID, m.RequestID
		n := a.local.DeliverWithAck(ctx, p, opts, func(arg json.RawMessage) {
			a.respond(from, &Message{Type: BroadcastAck, RequestID: id, Value: parser.RawValue{JSON: arg}})
		})
		if n == 0 {
			cancel()
		} else {
			time.AfterFunc(timeout, cancel)
		}
		a.respond(from, &Message{Type: BroadcastClientCount, RequestID: id, ClientCount: n})
	case SocketsJoin:
		if m.Opts != nil {
			a.local.Join(m.Opts, m.Rooms)
		}
	case SocketsLeave:
		if m.Opts != nil {
			a.local.Leave(m.Opts, m.Rooms)
		}
	case DisconnectSockets:
		if m.Opts != nil {
			a.local.Disconnect(m.Opts, m.Close)
		}
	case FetchSockets:
		opts := m.Opts
		if opts == nil {
			opts = &socketio.BroadcastOptions{}
		}
		a.respond(m.UID, &Message{Type: FetchSocketsResponse, RequestID: m.RequestID, Sockets: a.local.Fetch(opts)})
	case ServerSideEmit:
		args, err := parser.SplitArray(nil, m.Value.JSON)
		if err != nil || len(args) == 0 {
			return
		}
		var ack func(json.RawMessage)
		if m.RequestID != "" {
			from, id := m.UID, m.RequestID
			var once sync.Once
			ack = func(arg json.RawMessage) {
				once.Do(func() {
					a.respond(from, &Message{Type: ServerSideEmitResponse, RequestID: id, Value: parser.RawValue{JSON: arg}})
				})
			}
		}
		a.host.DispatchServerSideEmit(args, ack)
	}
}

// HandleResponse implements [Handler].
func (a *Adapter) HandleResponse(m *Message) {
	<-a.ready
	if m.NSP != a.nsp && m.NSP != "" {
		return
	}
	a.heard(m.UID)
	if o := a.opts.Observer; o != nil {
		o.Received(a.nsp, m.Type)
	}
	a.mu.Lock()
	r := a.requests[m.RequestID]
	a.mu.Unlock()
	if r != nil {
		r.add(m)
	}
}

// markDirty records that socket id changed rooms (LocalSockets calls it
// under its lock).
func (a *Adapter) markDirty(id string) {
	a.mu.Lock()
	a.dirty[id] = struct{}{}
	a.mu.Unlock()
}

// keepSessions stores, until Close, the sessions of the sockets that changed
// rooms, every second, and those of every connected socket every period.
func (a *Adapter) keepSessions(every time.Duration) {
	tick := time.NewTicker(min(time.Second, every))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-a.stop:
			return
		case now := <-tick.C:
			all := now.Sub(last) >= every
			if all {
				last = now
			}
			a.mu.Lock()
			dirty := a.dirty
			a.dirty = map[string]struct{}{}
			a.mu.Unlock()
			if !all && len(dirty) == 0 {
				continue
			}
			for _, s := range a.local.Sessions() {
				if _, changed := dirty[s.SID]; !all && !changed {
					continue
				}
				if err := a.store.PersistSession(s); err != nil {
					a.log.Warn("cluster: failed to keep a session ahead of time", "namespace", a.nsp, "err", err)
					break
				}
			}
		}
	}
}

// heard records that the server uid is alive (heartbeat mode).
func (a *Adapter) heard(uid string) {
	if !a.heartbeat || uid == "" || uid == "emitter" {
		return
	}
	a.mu.Lock()
	a.nodes[uid] = time.Now()
	a.mu.Unlock()
}

// heartbeats announces this server and forgets the silent ones, until
// Close.
func (a *Adapter) heartbeats() {
	beat := time.NewTicker(a.opts.HeartbeatInterval)
	check := time.NewTicker(time.Second)
	defer beat.Stop()
	defer check.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-beat.C:
			a.publish(&Message{Type: Heartbeat})
		case now := <-check.C:
			a.mu.Lock()
			for uid, t := range a.nodes {
				if now.Sub(t) > a.opts.HeartbeatTimeout {
					delete(a.nodes, uid)
				}
			}
			a.mu.Unlock()
		}
	}
}

func (a *Adapter) addRequest(id string, r *request) {
	a.mu.Lock()
	a.requests[id] = r
	a.mu.Unlock()
}

func (a *Adapter) endRequest(id string) {
	a.mu.Lock()
	r := a.requests[id]
	delete(a.requests, id)
	a.mu.Unlock()
	if r != nil {
		r.finish()
	}
}

// request is a request of this server waiting for the others' answers.
type request struct {
	kind        MessageType // the responses it takes
	expected    int         // answers awaited (fetch, server-side emit)
	clientCount func(int)   // broadcast with acknowledgements
	ack         func(json.RawMessage)

	mu       sync.Mutex
	got      int
	sockets  []*socketio.SocketDetails
	answers  []json.RawMessage
	finished bool
	done     chan struct{}
}

// result is what a request got.
type result struct {
	sockets   []*socketio.SocketDetails
	responses []json.RawMessage
}

func (r *request) add(m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	switch {
	case r.kind == BroadcastClientCount && m.Type == BroadcastClientCount:
		r.clientCount(m.ClientCount)
	case r.kind == BroadcastClientCount && m.Type == BroadcastAck:
		r.ack(m.Value.JSON)
	case r.kind == FetchSocketsResponse && m.Type == FetchSocketsResponse:
		r.sockets = append(r.sockets, m.Sockets...)
		r.count()
	case r.kind == ServerSideEmitResponse && m.Type == ServerSideEmitResponse:
		r.answers = append(r.answers, nodejson.OrNull(m.Value.JSON))
		r.count()
	}
}

// count counts an answer; the caller holds r.mu.
func (r *request) count() {
	r.got++
	if r.got >= r.expected {
		r.finished = true
		close(r.done)
	}
}

// finish ends the request: late answers are dropped.
func (r *request) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.finished {
		r.finished = true
		close(r.done)
	}
}

// wait waits for the answers until ctx is done or timeout passes, and
// returns what came and how many answers are missing.
func (r *request) wait(ctx context.Context, timeout time.Duration) (result, int) {
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
	return result{sockets: r.sockets, responses: r.answers}, max(0, r.expected-r.got)
}
