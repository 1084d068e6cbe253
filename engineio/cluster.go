package engineio

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
)

// A cluster of Engine.IO servers serves every session from any of them:
// a polling request, a POST or an upgrade that reaches a server which does
// not have its session (no sticky sessions in front) is routed to the
// server that has it, the owner, through a [ClusterTransport]. The
// protocol is @socket.io/cluster-engine 0.1's (its RedisEngine's; package
// adapter/redis carries it over Redis), so Tether and Node servers share
// sessions:
//
//   - A request for a session unknown here asks the cluster for a lock
//     (ACQUIRE_LOCK: the session, the transport, read or write), which only
//     the owner answers (ACQUIRE_LOCK_RESPONSE); no answer within
//     ResponseTimeout means no server has it: 400 "Session ID unknown".
//   - A GET (read lock) is answered with the packets the owner sends once
//     it has some (DRAIN: one per lock); a POST's packets go to the owner
//     (PACKET), which delivers them as if they had come to it; a close
//     packet, or a transport that fails, closes the session there (CLOSE).
//   - An upgrade whose WebSocket reaches another server is probed there;
//     on the client's upgrade packet the owner either hands the session
//     over (UPGRADE_RESPONSE with takeOver and the messages it held: the
//     session had not been handed to OnConnection yet, see
//     ClusterOptions.ConnectionDelay) or keeps it and sends its packets to
//     the WebSocket's server, which relays the WebSocket both ways.
//
// Where Tether does better than cluster-engine 0.1, it says so in the
// messages it sends (a "_tether" field that Node ignores):
//
//   - A POST is answered "ok" only once the owner has delivered its
//     packets (a Tether owner acknowledges them; to a Node owner the
//     PACKETs are published in order before the answer), so that the
//     client's next POST, wherever it lands, comes after them.
//   - The server that probes an upgrade holds the packets the client sends
//     right after its upgrade packet until the owner has answered, and
//     delivers them after the owner's: a Node owner that hands the session
//     over drops those the requester forwarded meanwhile, so a Tether owner
//     hands sessions over only to Tether servers (it relays for Node ones).
//   - A server remembers which server owns a session and asks it directly
//     (no broadcast), and for a Tether owner sends a POST's packets without
//     asking for a lock first: one round trip through the transport.
//   - A server watches the servers it waits for or relays for: when one
//     leaves the cluster (ClusterTransport.Alive), the polls it held get
//     400 "Session ID unknown", the WebSockets it relayed are closed, and
//     the sessions it served remotely close, so clients reconnect at once
//     instead of after a heartbeat.
//   - A server that shuts down releases the polls it holds for Tether
//     owners, so that the clients' next polls, on other servers, find
//     their sessions intact.
//
// Invariants: a request for a session this server has never goes through
// the cluster (the only cost on that path is the map lookup it always
// made); the owner delivers every packet of a session in the order the
// client sent it, from one goroutine (the cluster's inbox); at most one
// poll of a session is pending in the whole cluster (the owner refuses a
// read lock while one is); a session is owned by one server at a time,
// and moves only while no poll is pending and before OnConnection.

// ClusterMessageType is the type of a [ClusterMessage]: cluster-engine's
// MessageType, plus Tether's own.
type ClusterMessageType int

// The message types. Tether's own (ClusterMsgPackets, ClusterMsgRelease) are
// sent only to Tether servers.
const (
	ClusterMsgAcquireLock ClusterMessageType = iota
	ClusterMsgLockResponse
	ClusterMsgDrain
	ClusterMsgPacket
	ClusterMsgUpgrade
	ClusterMsgUpgradeResponse
	ClusterMsgClose

	// ClusterMsgPackets carries a POST's packets to a Tether owner, with a
	// RequestID that the owner answers with a ClusterMsgLockResponse
	// once it has delivered them (Success), or refused them.
	ClusterMsgPackets ClusterMessageType = 32
	// ClusterMsgRelease asks a Tether owner to forget the poll the sender
	// holds for the session (it shuts down): the queue waits for the
	// client's next poll. Answered like ClusterMsgPackets.
	ClusterMsgRelease ClusterMessageType = 33
	// ClusterMsgDrained tells a Tether owner that the client took the
	// packets of the session's last DRAIN to the sender (its poll
	// response was written): until then, the owner closes the session if
	// the sender leaves the cluster, since they may be lost.
	ClusterMsgDrained ClusterMessageType = 34
)

// ClusterMessage is a message between the servers of a cluster. The
// fields a type does not use are zero.
type ClusterMessage struct {
	Type ClusterMessageType
	// RequestID matches a response with its request: a counter of the
	// requesting server; 0 for messages that are neither.
	RequestID int64
	// Sender is the node ID of the server that sent the message; Recipient
	// that of the server it is for, or "" for every server.
	Sender, Recipient string
	// Tether is set on the messages of Tether servers.
	Tether bool
	// SID is the session's ID (every type but the responses).
	SID string
	// Transport ("polling" or "websocket") and Read ("read" lock for a GET
	// or an upgrade, "write" for a POST): ClusterMsgAcquireLock.
	Transport string
	Read      bool
	// Success: ClusterMsgLockResponse, ClusterMsgUpgrade.
	Success bool
	// TakeOver: ClusterMsgUpgradeResponse (the requester now owns the
	// session).
	TakeOver bool
	// Reason: ClusterMsgClose (one of the Reason* strings).
	Reason string
	// Packets: ClusterMsgDrain, ClusterMsgUpgradeResponse, ClusterMsgPackets; one
	// for ClusterMsgPacket.
	Packets []ClusterPacket
}

// ClusterPacket is an Engine.IO packet between servers (engine.io-parser's
// Packet object: a type name, string or binary data, options.compress).
type ClusterPacket struct {
	Type   parser.Type
	Data   []byte
	Binary bool
	// NoCompress is options.compress: false.
	NoCompress bool
}

// ClusterTransport carries [ClusterMessage]s between the servers of a
// cluster (package adapter/redis has one over Redis pub/sub).
type ClusterTransport interface {
	// NodeID returns this server's ID, unique in the cluster.
	NodeID() string
	// Start starts receiving the messages of the other servers for this
	// one (those with its ID as Recipient) and for all (no Recipient),
	// and calls handle with each, in the order they arrive, from one
	// goroutine at a time; handle returns quickly. Messages this server
	// sent are not passed on. Start is called once, before anything is
	// published; a transport that cannot receive yet keeps trying.
	Start(handle func(*ClusterMessage))
	// Publish sends m to m.Recipient, or to every server. It returns once
	// the messages it published before reach the recipients before m
	// does.
	Publish(ctx context.Context, m *ClusterMessage) error
	// Alive reports, for each of nodes, whether that server is still in
	// the cluster (receiving its messages).
	Alive(ctx context.Context, nodes []string) ([]bool, error)
	// Close stops receiving.
	Close() error
}

// ClusterBatchPublisher is a [ClusterTransport] that publishes several
// messages at once (pipelined), in order.
type ClusterBatchPublisher interface {
	PublishBatch(ctx context.Context, ms []*ClusterMessage) error
}

// ClusterObserver is told what a server does for the cluster, for
// metrics. Its methods must return quickly.
type ClusterObserver interface {
	// Forwarded is called for each request this server served for a
	// session of another server: kind "poll", "post" or "upgrade";
	// outcome "ok" ("takeover" or "relay" for an upgrade), "unknown_sid"
	// (no server owns the session, or its owner refused the request) or
	// "error" (the owner did not answer in time, or went away); took is
	// what the cluster added to the request: a poll's lock, a POST's
	// delivery, an upgrade's exchange with the owner.
	Forwarded(kind, outcome string, took time.Duration)
	// Served is called for each request another server forwarded to a
	// session of this one: kind "poll", "post" or "upgrade".
	Served(kind string)
}

// ClusterOptions makes a [Server] one server of a cluster.
type ClusterOptions struct {
	// Transport carries the messages. The server starts it and closes it
	// when the server closes.
	Transport ClusterTransport
	// ResponseTimeout bounds the wait for another server's answer; 0
	// means 1 s (cluster-engine's responseTimeout).
	ResponseTimeout time.Duration
	// ConnectionDelay is how long a new polling session waits before
	// OnConnection when it may upgrade: an upgrade that reaches another
	// server meanwhile moves the session there, rather than relaying its
	// WebSocket for good. Messages received meanwhile are held and
	// delivered after OnConnection (a session that holds more than
	// MaxPayload bytes of them connects at once). 0 means 300 ms
	// (cluster-engine's delayedConnectionTimeout); negative, no delay.
	ConnectionDelay time.Duration
	// PeerCheckInterval is how often the servers that this one waits for
	// or relays for are checked (ClusterTransport.Alive); one missing
	// twice in a row has left. 0 means 1 s.
	PeerCheckInterval time.Duration
	// Observer, when set, is told of forwarded requests.
	Observer ClusterObserver
}

// ReasonMoved is the reason the OnSession closed hook gets for a session
// that moved to another server of the cluster (an upgrade landed there
// before OnConnection). OnClose is not called for it: OnConnection was
// not either.
const ReasonMoved = "moved to another server"

// inboxLimit bounds the messages waiting to be handled: beyond it new ones
// are dropped (an OnMessage that blocks the inbox must not hold the
// cluster's traffic in memory).
const inboxLimit = 1 << 16

var (
	errNoOwner    = errors.New("engineio: no server of the cluster owns the session")
	errNoAnswer   = errors.New("engineio: the owner of the session did not answer in time")
	errOwnerGone  = errors.New("engineio: the owner of the session left the cluster")
	errClusterEnd = errors.New("engineio: the server is leaving the cluster")
)

// cluster is a Server's part in a cluster.
type cluster struct {
	srv  *Server
	t    ClusterTransport
	node string
	opts ClusterOptions
	obs  ClusterObserver

	lastID atomic.Int64

	// The inbox: messages waiting for the worker.
	inMu    sync.Mutex
	inbox   []*ClusterMessage
	inWake  chan struct{}
	dropped atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup // the worker, the watcher, relays' goroutines

	// The messages published without waiting, by recipient.
	outMu sync.Mutex
	outq  map[string]*outQueue

	mu       sync.Mutex
	leaving  bool                           // shutting down: polls for others are not served
	closed   bool                           // requests fail
	releases int                            // polls being released (leave)
	locking  int                            // polls whose lock is on its way (leave waits for them too)
	released sync.Cond                      // releases or locking dropped to 0
	pending  map[int64]chan *ClusterMessage // requests waiting for their response
	polls    map[string]*remotePoll         // sid: a poll served here for another server's session
	relays   map[string]*relay              // sid: a WebSocket relayed to another server's session
	owners   map[string]ownerEntry          // sid: the server that owns it, as last seen
	drains   map[string][]drainWait         // sid: DRAINs not confirmed yet, oldest first
	watched  map[string]map[*watch]struct{} // node: what to do if it leaves
	missing  map[string]int                 // node: checks in a row it was missing
}

// ownerEntry is a session's owner as a lock response said.
type ownerEntry struct {
	node   string
	tether bool
	used   time.Time
}

// watch is something to do when a node leaves the cluster.
type watch struct {
	node string
	fn   func()
}

func newCluster(srv *Server, o *ClusterOptions) *cluster {
	c := &cluster{
		srv:     srv,
		t:       o.Transport,
		node:    o.Transport.NodeID(),
		opts:    *o,
		obs:     o.Observer,
		inWake:  make(chan struct{}, 1),
		outq:    map[string]*outQueue{},
		stop:    make(chan struct{}),
		pending: map[int64]chan *ClusterMessage{},
		polls:   map[string]*remotePoll{},
		relays:  map[string]*relay{},
		owners:  map[string]ownerEntry{},
		drains:  map[string][]drainWait{},
		watched: map[string]map[*watch]struct{}{},
		missing: map[string]int{},
	}
	c.released.L = &c.mu
	if c.opts.ResponseTimeout <= 0 {
		c.opts.ResponseTimeout = time.Second
	}
	if c.opts.ConnectionDelay == 0 {
		c.opts.ConnectionDelay = 300 * time.Millisecond
	}
	if c.opts.PeerCheckInterval <= 0 {
		c.opts.PeerCheckInterval = time.Second
	}
	return c
}

// start starts the worker, the watcher and the transport.
func (c *cluster) start() {
	c.wg.Add(2)
	go c.work()
	go c.watchPeers()
	c.t.Start(c.receive)
}

// receive queues a message from the transport for the worker.
func (c *cluster) receive(m *ClusterMessage) {
	if m.Sender == c.node {
		return
	}
	c.inMu.Lock()
	if len(c.inbox) >= inboxLimit {
		c.inMu.Unlock()
		c.dropped.Add(1)
		return
	}
	c.inbox = append(c.inbox, m)
	c.inMu.Unlock()
	select {
	case c.inWake <- struct{}{}:
	default:
	}
}

// work handles the inbox's messages, in order.
func (c *cluster) work() {
	defer c.wg.Done()
	var batch []*ClusterMessage
	for {
		select {
		case <-c.inWake:
		case <-c.stop:
			return
		}
		c.inMu.Lock()
		batch, c.inbox = c.inbox, batch[:0]
		c.inMu.Unlock()
		for i, m := range batch {
			c.handle(m)
			batch[i] = nil
		}
	}
}

// handle handles one message.
func (c *cluster) handle(m *ClusterMessage) {
	if m.Recipient != "" && m.Recipient != c.node {
		return
	}
	switch m.Type {
	case ClusterMsgAcquireLock:
		c.onLock(m)
	case ClusterMsgLockResponse, ClusterMsgUpgradeResponse:
		c.mu.Lock()
		ch := c.pending[m.RequestID]
		delete(c.pending, m.RequestID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m // buffered
		}
	case ClusterMsgDrain:
		c.onDrain(m)
	case ClusterMsgPacket:
		c.onPackets(m)
	case ClusterMsgPackets:
		if m.Tether {
			c.onPackets(m)
		}
	case ClusterMsgRelease:
		if m.Tether {
			c.onRelease(m)
		}
	case ClusterMsgDrained:
		if m.Tether {
			c.onDrained(m)
		}
	case ClusterMsgUpgrade:
		c.onUpgrade(m)
	case ClusterMsgClose:
		c.onClose(m)
	}
}

// nextID returns a new request ID.
func (c *cluster) nextID() int64 { return c.lastID.Add(1) }

// publish sends m, from this server, within ResponseTimeout.
func (c *cluster) publish(m *ClusterMessage) error {
	m.Sender, m.Tether = c.node, true
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ResponseTimeout)
	defer cancel()
	return c.t.Publish(ctx, m)
}

// publishAsync sends m without waiting, after the messages published
// this way before to the same recipient: a Node requester drops a DRAIN
// that comes before the answer to its lock.
func (c *cluster) publishAsync(m *ClusterMessage) {
	m.Sender, m.Tether = c.node, true
	c.outMu.Lock()
	q := c.outq[m.Recipient]
	if q == nil {
		q = &outQueue{}
		c.outq[m.Recipient] = q
	}
	q.msgs = append(q.msgs, m)
	if !q.running {
		q.running = true
		go c.flushOut(m.Recipient, q)
	}
	c.outMu.Unlock()
}

// outQueue holds the messages on their way to one recipient.
type outQueue struct {
	msgs    []*ClusterMessage
	running bool // flushOut runs for it
}

// flushOut publishes q's messages, in order, in batches when the
// transport takes them (ClusterBatchPublisher), until q is empty.
func (c *cluster) flushOut(recipient string, q *outQueue) {
	bp, _ := c.t.(ClusterBatchPublisher)
	for {
		c.outMu.Lock()
		batch := q.msgs
		q.msgs = nil
		if len(batch) == 0 {
			q.running = false
			delete(c.outq, recipient)
			c.outMu.Unlock()
			return
		}
		c.outMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.ResponseTimeout)
		if bp != nil && len(batch) > 1 {
			_ = bp.PublishBatch(ctx, batch)
		} else {
			for _, m := range batch {
				if c.t.Publish(ctx, m) != nil {
					break
				}
			}
		}
		cancel()
	}
}

// respond answers the request m.
func (c *cluster) respond(m *ClusterMessage, success bool) {
	c.publishAsync(&ClusterMessage{Type: ClusterMsgLockResponse, RequestID: m.RequestID, Recipient: m.Sender, Success: success})
}

// request publishes m with a new request ID and waits for its response.
func (c *cluster) request(ctx context.Context, m *ClusterMessage) (*ClusterMessage, error) {
	ch, err := c.ask(m)
	if err != nil {
		return nil, err
	}
	return c.answer(ctx, m, ch)
}

// ask publishes m with a new request ID; the response will come on the
// channel it returns.
func (c *cluster) ask(m *ClusterMessage) (chan *ClusterMessage, error) {
	ch := make(chan *ClusterMessage, 1)
	m.RequestID = c.nextID()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClusterEnd
	}
	c.pending[m.RequestID] = ch
	c.mu.Unlock()
	if err := c.publish(m); err != nil {
		c.mu.Lock()
		delete(c.pending, m.RequestID)
		c.mu.Unlock()
		return nil, err
	}
	return ch, nil
}

// answer waits for the response to m, which ask published, for at most
// ResponseTimeout.
func (c *cluster) answer(ctx context.Context, m *ClusterMessage, ch chan *ClusterMessage) (*ClusterMessage, error) {
	timer := time.NewTimer(c.opts.ResponseTimeout)
	defer timer.Stop()
	var err error
	select {
	case r := <-ch:
		return r, nil
	case <-timer.C:
		err = errNoAnswer
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.stop:
		err = errClusterEnd
	}
	c.mu.Lock()
	delete(c.pending, m.RequestID)
	c.mu.Unlock()
	return nil, err
}

// observe reports a forwarded request.
func (c *cluster) observe(kind, outcome string, took time.Duration) {
	if c.obs != nil {
		c.obs.Forwarded(kind, outcome, took)
	}
}

// served reports a request served for another server.
func (c *cluster) served(kind string) {
	if c.obs != nil {
		c.obs.Served(kind)
	}
}

// outcome names the outcome of a forwarded request that failed with err.
func outcome(err error) string {
	if errors.Is(err, errNoOwner) {
		return "unknown_sid"
	}
	return "error"
}

// --- Owners ---

// owner returns the owner of sid as last seen.
func (c *cluster) owner(sid string) (ownerEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.owners[sid]
	if ok {
		e.used = time.Now()
		c.owners[sid] = e
	}
	return e, ok
}

// remember records the owner of sid.
func (c *cluster) remember(sid, node string, tether bool) {
	c.mu.Lock()
	c.owners[sid] = ownerEntry{node: node, tether: tether, used: time.Now()}
	c.mu.Unlock()
}

// forget drops what is known of sid's owner.
func (c *cluster) forget(sid string) {
	c.mu.Lock()
	delete(c.owners, sid)
	c.mu.Unlock()
}

// ownerTTL is how long an owner is remembered without use: a live polling
// client polls at least once a heartbeat.
func (c *cluster) ownerTTL() time.Duration {
	return c.srv.cfg.PingInterval + c.srv.cfg.PingTimeout
}

// acquire asks the cluster for a lock on sid and returns the owner: the
// one it remembers, asked directly, or whichever server answers.
func (c *cluster) acquire(ctx context.Context, sid, transport string, read bool) (ownerEntry, error) {
	m := &ClusterMessage{Type: ClusterMsgAcquireLock, SID: sid, Transport: transport, Read: read}
	known, ok := c.owner(sid)
	if ok {
		m.Recipient = known.node
	}
	r, err := c.request(ctx, m)
	if err != nil || !r.Success {
		c.forget(sid)
		if err == nil || errors.Is(err, errNoAnswer) && !ok {
			err = errNoOwner
		}
		return ownerEntry{}, err
	}
	c.remember(sid, r.Sender, r.Tether)
	return ownerEntry{node: r.Sender, tether: r.Tether}, nil
}

// --- Watching other servers ---

// watch calls fn if node leaves the cluster, until cancelled.
func (c *cluster) watch(node string, fn func()) (cancel func()) {
	w := &watch{node: node, fn: fn}
	c.mu.Lock()
	set := c.watched[node]
	if set == nil {
		set = map[*watch]struct{}{}
		c.watched[node] = set
	}
	set[w] = struct{}{}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if set := c.watched[node]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(c.watched, node)
				delete(c.missing, node)
			}
		}
		c.mu.Unlock()
	}
}

// watchPeers checks the watched servers every PeerCheckInterval, and
// forgets owners not used for a while.
func (c *cluster) watchPeers() {
	defer c.wg.Done()
	tick := time.NewTicker(c.opts.PeerCheckInterval)
	defer tick.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-tick.C:
		case <-c.stop:
			return
		}
		c.checkPeers()
		if now := time.Now(); now.Sub(lastSweep) > c.ownerTTL() {
			lastSweep = now
			var stale []func()
			c.mu.Lock()
			for sid, e := range c.owners {
				if now.Sub(e.used) > c.ownerTTL() {
					delete(c.owners, sid)
				}
			}
			// Confirmations lost (the requester is there: it would have
			// sent it or closed the session).
			for sid, list := range c.drains {
				for len(list) > 0 && now.Sub(list[0].at) > c.ownerTTL() {
					stale = append(stale, list[0].cancel)
					list = list[1:]
				}
				if len(list) == 0 {
					delete(c.drains, sid)
				} else {
					c.drains[sid] = list
				}
			}
			c.mu.Unlock()
			for _, cancel := range stale {
				cancel()
			}
		}
	}
}

// checkPeers asks which watched servers are still there, and runs what
// waits on those missing twice in a row.
func (c *cluster) checkPeers() {
	c.mu.Lock()
	nodes := make([]string, 0, len(c.watched))
	for n := range c.watched {
		nodes = append(nodes, n)
	}
	c.mu.Unlock()
	if len(nodes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ResponseTimeout)
	alive, err := c.t.Alive(ctx, nodes)
	cancel()
	if err != nil || len(alive) != len(nodes) {
		return // the transport cannot tell: nobody is declared gone
	}
	var fns []func()
	c.mu.Lock()
	for i, n := range nodes {
		if alive[i] {
			delete(c.missing, n)
			continue
		}
		c.missing[n]++
		if c.missing[n] < 2 {
			continue
		}
		for w := range c.watched[n] {
			fns = append(fns, w.fn)
		}
		delete(c.watched, n)
		delete(c.missing, n)
		for sid, e := range c.owners {
			if e.node == n {
				delete(c.owners, sid)
			}
		}
	}
	c.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// --- The owner's side ---

// session returns session sid if it is open, or closed by its client a
// moment ago (a poll then gets a noop), or nil.
func (c *cluster) session(sid string) *Socket {
	s := c.srv.session(sid)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sockState(s.state.Load()) == stateClosed && !s.lateNoop {
		return nil
	}
	return s
}

// onLock answers a lock request for a session of this server. Requests
// for sessions it does not have are answered only when addressed to it
// (a requester that remembered it as the owner): a broadcast one is the
// owner's to answer.
func (c *cluster) onLock(m *ClusterMessage) {
	s := c.session(m.SID)
	if s == nil {
		if m.Recipient != "" {
			c.respond(m, false)
		}
		return
	}
	s.checkHeartbeat()
	switch {
	case m.Transport == TransportPolling && m.Read:
		c.served("poll")
		c.lockPoll(s, m)
	case m.Transport == TransportPolling:
		if !m.Tether {
			c.served("post") // a Tether requester's packets are counted as they come
		}
		s.mu.Lock()
		ok := sockState(s.state.Load()) != stateClosed && s.ws == nil
		s.mu.Unlock()
		c.respond(m, ok)
	case m.Transport == TransportWebSocket:
		c.served("upgrade")
		c.respond(m, c.lockUpgrade(s, m.Sender))
	default:
		c.respond(m, false)
	}
}

// lockPoll starts a poll for the requester of m, as if the GET had come
// here: the packets go to it in a DRAIN.
func (c *cluster) lockPoll(s *Socket, m *ClusterMessage) {
	requester := m.Sender
	// Until the poll is answered, and for a Tether requester until it
	// confirms that the client took the packets: if the requester leaves,
	// the client has lost its poll (or the packets the requester held),
	// and the session closes, so that the client reconnects and recovers
	// what it missed rather than go on without it.
	cancel := c.watch(requester, func() {
		s.closeWith(ReasonTransportError, errors.New("engineio: the server that held the poll left the cluster"), closeError)
	})
	drain := func(pkts []outgoing) {
		if pkts == nil {
			pkts = []outgoing{noopPacket} // upgraded meanwhile
		}
		if m.Tether {
			c.mu.Lock()
			c.drains[s.id] = append(c.drains[s.id], drainWait{node: requester, cancel: cancel, at: time.Now()})
			c.mu.Unlock()
		} else {
			cancel() // a Node requester does not confirm
		}
		c.publishAsync(&ClusterMessage{Type: ClusterMsgDrain, Recipient: requester, SID: s.id, Packets: clusterPackets(pkts)})
	}
	pkts, pw, code := s.startPoll(requester, drain)
	if code >= 0 {
		cancel()
		c.respond(m, false)
		return
	}
	c.respond(m, true)
	if pw == nil {
		drain(pkts)
	}
}

// drainWait is a DRAIN sent to a Tether requester that has not confirmed
// it yet.
type drainWait struct {
	node   string
	cancel func() // stops watching node
	at     time.Time
}

// onDrained takes the confirmation of the oldest DRAIN of the session sent
// to the sender.
func (c *cluster) onDrained(m *ClusterMessage) {
	c.mu.Lock()
	list := c.drains[m.SID]
	var cancel func()
	for i, d := range list {
		if d.node == m.Sender {
			cancel = d.cancel
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(c.drains, m.SID)
	} else {
		c.drains[m.SID] = list
	}
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// lockUpgrade reserves the session's upgrade for a WebSocket that node
// probes; it reports whether the session can upgrade.
func (c *cluster) lockUpgrade(s *Socket, node string) bool {
	t := &wsTransport{s: s, remote: &remoteSink{c: c, node: node, sid: s.id}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv.cfg.DisableUpgrades || sockState(s.state.Load()) != stateOpen || s.ws != nil || s.probe != nil {
		return false
	}
	s.probe = t
	// End polls with a noop until the upgrade completes, so that the
	// client can pause polling; give up after UpgradeTimeout.
	s.probed = true
	s.coldLocked().noopTimer = time.AfterFunc(s.srv.cfg.noopInterval, s.noopTick)
	time.AfterFunc(s.srv.cfg.UpgradeTimeout, func() { s.abortProbe(t) })
	return true
}

// onUpgrade completes an upgrade whose WebSocket another server probed:
// the session moves there if OnConnection has not run yet and that server
// is a Tether server; otherwise it stays here and that server relays its
// WebSocket.
func (c *cluster) onUpgrade(m *ClusterMessage) {
	s := c.session(m.SID)
	if s == nil {
		return // the requester gives up after ResponseTimeout
	}
	s.mu.Lock()
	t := s.probe
	ours := t != nil && t.remote != nil && t.remote.node == m.Sender
	s.mu.Unlock()
	if !ours {
		return
	}
	if !m.Success {
		s.abortProbe(t)
		return
	}
	if m.Tether {
		if held, ok := s.moveAway(t); ok {
			c.publishAsync(&ClusterMessage{Type: ClusterMsgUpgradeResponse, RequestID: m.RequestID, Recipient: m.Sender,
				TakeOver: true, Packets: messagePackets(held)})
			return
		}
	}
	if !s.completeUpgrade(t) {
		s.abortProbe(t)
		return
	}
	t.remote.cancel = c.watch(m.Sender, func() {
		s.closeWith(ReasonTransportError, errors.New("engineio: the server that held the WebSocket left the cluster"), closeError)
	})
	s.connectDelayed()
	c.publishAsync(&ClusterMessage{Type: ClusterMsgUpgradeResponse, RequestID: m.RequestID, Recipient: m.Sender, Packets: []ClusterPacket{}})
}

// onPackets delivers packets a requester forwarded (a POST's, or a
// relayed WebSocket's), in order, and acknowledges them when asked
// (ClusterMsgPackets).
func (c *cluster) onPackets(m *ClusterMessage) {
	ack := m.Type == ClusterMsgPackets
	s := c.session(m.SID)
	if s != nil && ack {
		s.mu.Lock()
		ok := s.ws == nil && sockState(s.state.Load()) != stateClosed
		s.mu.Unlock()
		if !ok {
			s = nil
		}
	}
	if s == nil {
		if ack {
			c.respond(m, false)
		}
		return
	}
	for _, p := range m.Packets {
		if !s.onPacket(p.packet(), true) {
			break
		}
	}
	if ack {
		c.served("post")
		c.respond(m, true)
	}
}

// onRelease forgets the poll the sender holds for the session.
func (c *cluster) onRelease(m *ClusterMessage) {
	s := c.session(m.SID)
	ok := false
	if s != nil {
		s.mu.Lock()
		if pw := s.poll; pw != nil && pw.remote == m.Sender {
			s.poll = nil
			ok = true
		}
		s.mu.Unlock()
	}
	c.respond(m, ok)
}

// onClose closes a session whose transport another server saw close.
func (c *cluster) onClose(m *ClusterMessage) {
	s := c.srv.session(m.SID)
	if s == nil {
		return
	}
	mode := closeError
	if m.Reason == ReasonTransportClose {
		mode = closeByClient
	}
	reason := m.Reason
	switch reason {
	case ReasonTransportClose, ReasonTransportError, ReasonParseError:
	default:
		reason = ReasonTransportError
	}
	s.closeWith(reason, errors.New("engineio: closed by the server that served the client's request"), mode)
}

// remoteSink is the other end of a session's WebSocket that another
// server holds and relays: the session's batches go there as DRAINs.
type remoteSink struct {
	c      *cluster
	node   string
	sid    string
	cancel func() // stops watching node
}

// drain sends a batch to the WebSocket's server.
func (r *remoteSink) drain(pkts []outgoing) error {
	return r.c.publish(&ClusterMessage{Type: ClusterMsgDrain, Recipient: r.node, SID: r.sid, Packets: clusterPackets(pkts)})
}

// close ends the relay: the WebSocket's server gets a close packet, which
// it passes on before closing the WebSocket (a Node server passes it on,
// and the client closes).
func (r *remoteSink) close(reason string) {
	if r.cancel != nil {
		r.cancel()
	}
	if reason == ReasonTransportClose {
		return // the WebSocket is gone already
	}
	_ = r.drain([]outgoing{closePacket})
}

// --- Conversions ---

// clusterPackets converts queued packets for the wire.
func clusterPackets(pkts []outgoing) []ClusterPacket {
	out := make([]ClusterPacket, len(pkts))
	for i, p := range pkts {
		out[i] = ClusterPacket{Type: p.Type, Data: p.Data, Binary: p.Binary, NoCompress: p.noCompress}
	}
	return out
}

// messagePackets converts messages for the wire.
func messagePackets(msgs []Packet) []ClusterPacket {
	out := make([]ClusterPacket, len(msgs))
	for i, p := range msgs {
		out[i] = ClusterPacket{Type: parser.Message, Data: p.Data, Binary: p.Binary}
	}
	return out
}

// packet returns p as a parser packet.
func (p ClusterPacket) packet() parser.Packet {
	return parser.Packet{Type: p.Type, Data: p.Data, Binary: p.Binary}
}

// outgoing returns p as a queued packet.
func (p ClusterPacket) outgoing() outgoing {
	return outgoing{Packet: p.packet(), noCompress: p.NoCompress}
}

// requestVersion returns the protocol a request with sid speaks, or false
// when this server does not serve it.
func (srv *Server) requestVersion(q url.Values) (int, bool) {
	switch q.Get("EIO") {
	case "4":
		return 4, true
	case "3":
		return 3, srv.cfg.AllowEIO3
	}
	return 0, false
}
