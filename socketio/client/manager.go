package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	eio "github.com/tether-rt/tether/engineio/client"
	"github.com/tether-rt/tether/socketio/parser"
)

// Defaults of [Options].
const (
	DefaultPath                 = "/socket.io/"
	DefaultReconnectionDelay    = time.Second
	DefaultReconnectionDelayMax = 5 * time.Second
	DefaultRandomizationFactor  = 0.5
	DefaultTimeout              = 20 * time.Second
	DefaultMaxBuffered          = 10000
)

// The reasons a socket is disconnected with, as [Socket.OnDisconnect]
// handlers get them (the JavaScript client's words); the Engine.IO reasons
// ("transport close", "transport error", "ping timeout", "parse error")
// come through as they are.
const (
	ReasonIOServerDisconnect = "io server disconnect" // the server disconnected the socket
	ReasonIOClientDisconnect = "io client disconnect" // Socket.Disconnect
	ReasonForcedClose        = "forced close"         // Manager.Close
)

// Errors of the client.
var (
	// ErrDisconnected fails an EmitWithAck whose socket was disconnected
	// before the acknowledgement came, and a Connect that Disconnect
	// ended.
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrBufferFull is returned by Emit when the socket is offline and
	// Options.MaxBuffered packets wait already.
	ErrBufferFull = errors.New("socketio: offline buffer full")
	// ErrReservedEvent is returned by Emit for the names Socket.IO keeps
	// for itself ("connect", "connect_error", "disconnect",
	// "disconnecting", "newListener", "removeListener").
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrManagerClosed is returned by Connect on a closed Manager.
	ErrManagerClosed = errors.New("socketio: manager closed")
)

// ConnectError is the server's refusal of a namespace connection (a
// CONNECT_ERROR packet): the error's message and the data it came with
// (Node's err.data, as JSON; nil when there is none).
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

// Error returns the message.
func (e *ConnectError) Error() string {
	return "socketio: connection refused: " + e.Message
}

// SocketOptions configures a [Socket].
type SocketOptions struct {
	// Auth is the payload of the CONNECT packet (the server's
	// socket.handshake.auth): anything that encodes as a JSON object, or
	// nil.
	Auth any
	// AuthFunc, when set, is called at each connection (reconnections
	// included) for the payload, instead of Auth. An error fails that
	// connection.
	AuthFunc func(ctx context.Context) (any, error)
}

// Options configures a [Manager]. The zero value gives the JavaScript
// client's defaults: the path /socket.io/, polling then the upgrade to
// WebSocket, reconnection without limit from 1 s to 5 s with a
// randomization of 0.5, a 20 s connection timeout.
type Options struct {
	// SocketOptions configure the socket [Connect] makes.
	SocketOptions
	// Engine configures the Engine.IO connection: transports, headers,
	// query, TLS, proxy, dialer. Its Path, when empty, is [DefaultPath];
	// its callbacks are the Manager's own (whatever is set is replaced);
	// Protocol must be 0 or 4 (Socket.IO v5 runs on Engine.IO v4).
	Engine eio.Options
	// ForceNew makes [Connect] use a new Manager instead of the one it
	// keeps for the same server (the JavaScript client's forceNew).
	ForceNew bool
	// NoReconnect turns reconnection off: a lost connection stays lost.
	NoReconnect bool
	// ReconnectionAttempts is how many reconnection attempts are made in a
	// row before giving up (OnReconnectFailed); 0 means no limit.
	ReconnectionAttempts int
	// ReconnectionDelay is the delay before the first attempt, doubled at
	// each attempt; 0 means 1 s.
	ReconnectionDelay time.Duration
	// ReconnectionDelayMax caps the delay; 0 means 5 s.
	ReconnectionDelayMax time.Duration
	// RandomizationFactor spreads each delay by up to ± that share of it
	// (jitter, so that the clients of a server that restarts do not come
	// back all at once); 0 means 0.5, a negative value means none.
	RandomizationFactor float64
	// Timeout bounds each attempt to open the Engine.IO connection; 0
	// means 20 s.
	Timeout time.Duration
	// MaxBuffered bounds the packets a socket keeps while it is offline,
	// to be sent once it connects; 0 means 10,000, a negative value means
	// no bound.
	MaxBuffered int
	// MaxAttachments bounds the binary attachments of one received
	// packet; 0 means the parser's default.
	MaxAttachments int
}

// Manager is one connection to a server (an Engine.IO session) and the
// sockets that share it, one per namespace. It opens the connection when a
// socket connects, reconnects it with backoff when it is lost, and closes
// it when no socket wants it any more.
//
// Invariants: the state is under mu; engine is the open connection (nil
// while there is none), set only from the dial and cleared only by its own
// OnClose (ref tells the current connection from an old one); at most one
// dial runs (opening); user callbacks run in order on the dispatch
// goroutine (queue), never under mu.
type Manager struct {
	url  string // scheme://host[:port] plus the query
	opts Options

	mu           sync.Mutex
	engine       *eio.Conn
	ref          *engineRef // the current connection's callbacks
	opening      bool
	reconnecting bool
	attempts     int
	timer        *time.Timer
	closed       bool
	sockets      map[string]*Socket

	onReconnect        []func(attempt int)
	onReconnectAttempt []func(attempt int)
	onReconnectFailed  []func()
	onError            []func(err error)

	qmu     sync.Mutex
	queue   []task // from qhead on: the tasks to run
	qhead   int
	running bool
}

// maxKeptQueue is the capacity of the dispatch queue kept while it is
// empty, so that the next events do not grow it again: what a connection
// with events to dispatch keeps, for a few bytes per idle Manager.
const maxKeptQueue = 16

// task is a callback of the dispatch goroutine: fn, or the handlers of
// a received event.
type task struct {
	fn func()
	s  *Socket
	ev *received
}

// engineRef ties an Engine.IO connection's callbacks to it: its decoder
// (used by its reading goroutine only) and whether it is the current one.
type engineRef struct {
	dec  parser.Decoder
	args []json.RawMessage // reused for each packet's array elements
}

// NewManager returns a Manager for the server at rawURL (http, https, ws
// or wss; its path is not used: the namespace is the socket's, the
// Socket.IO path is Options.Engine.Path). It connects nothing yet.
func NewManager(rawURL string, opts *Options) (*Manager, error) {
	m := &Manager{sockets: map[string]*Socket{}}
	if opts != nil {
		m.opts = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("socketio: failed to parse URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, fmt.Errorf("socketio: unsupported URL scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("socketio: URL %q has no host", rawURL)
	}
	u.Path, u.RawPath, u.Fragment = "", "", ""
	m.url = u.String()
	o := &m.opts
	if o.Engine.Path == "" {
		o.Engine.Path = DefaultPath
	}
	if o.Engine.Protocol != 0 && o.Engine.Protocol != 4 {
		return nil, fmt.Errorf("socketio: Engine.IO protocol %d: Socket.IO v5 needs 4", o.Engine.Protocol)
	}
	if o.ReconnectionDelay <= 0 {
		o.ReconnectionDelay = DefaultReconnectionDelay
	}
	if o.ReconnectionDelayMax <= 0 {
		o.ReconnectionDelayMax = DefaultReconnectionDelayMax
	}
	if o.RandomizationFactor == 0 {
		o.RandomizationFactor = DefaultRandomizationFactor
	} else if o.RandomizationFactor < 0 {
		o.RandomizationFactor = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBuffered == 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	return m, nil
}

// Socket returns the manager's socket for the namespace nsp ("" means
// "/"), made with opts the first time. It does not connect: see
// [Socket.Connect].
func (m *Manager) Socket(nsp string, opts *SocketOptions) *Socket {
	if nsp == "" {
		nsp = "/"
	} else if !strings.HasPrefix(nsp, "/") {
		nsp = "/" + nsp
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sockets[nsp]; ok {
		return s
	}
	s := newSocket(m, nsp, opts)
	m.sockets[nsp] = s
	return s
}

// Transport returns the transport of the open connection ("polling" or
// "websocket"), or "" when there is none.
func (m *Manager) Transport() string {
	m.mu.Lock()
	e := m.engine
	m.mu.Unlock()
	if e == nil {
		return ""
	}
	return e.Transport()
}

// EngineID returns the Engine.IO session id of the open connection, or "".
func (m *Manager) EngineID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.engine == nil {
		return ""
	}
	return m.engine.ID()
}

// OnReconnect adds a handler called after a successful reconnection, with
// the number of attempts it took.
func (m *Manager) OnReconnect(fn func(attempt int)) {
	m.mu.Lock()
	m.onReconnect = append(m.onReconnect, fn)
	m.mu.Unlock()
}

// OnReconnectAttempt adds a handler called before each reconnection
// attempt, with its number (1 for the first).
func (m *Manager) OnReconnectAttempt(fn func(attempt int)) {
	m.mu.Lock()
	m.onReconnectAttempt = append(m.onReconnectAttempt, fn)
	m.mu.Unlock()
}

// OnReconnectFailed adds a handler called when Options.ReconnectionAttempts
// attempts in a row have failed: the manager stops trying.
func (m *Manager) OnReconnectFailed(fn func()) {
	m.mu.Lock()
	m.onReconnectFailed = append(m.onReconnectFailed, fn)
	m.mu.Unlock()
}

// OnError adds a handler called with the error of each failed attempt to
// open the connection.
func (m *Manager) OnError(fn func(err error)) {
	m.mu.Lock()
	m.onError = append(m.onError, fn)
	m.mu.Unlock()
}

// Close disconnects every socket (reason "forced close"), closes the
// connection and stops reconnecting. A closed Manager cannot be used
// again.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
	}
	e := m.engine
	m.engine, m.ref = nil, nil
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		s.destroy(ReasonForcedClose, ErrManagerClosed)
	}
	if e != nil {
		e.Close()
	}
	return nil
}

// socketList returns the sockets; m.mu is held.
func (m *Manager) socketList() []*Socket {
	socks := make([]*Socket, 0, len(m.sockets))
	for _, s := range m.sockets {
		socks = append(socks, s)
	}
	return socks
}

// openLocked opens the connection unless it is open, opening or waiting
// to reconnect; the sockets that are active send their CONNECT once it is.
func (m *Manager) openLocked() {
	if m.engine != nil || m.opening || m.reconnecting || m.closed {
		return
	}
	m.opening = true
	go m.dial(false)
}

// dial opens the Engine.IO connection. A failure is reported to the active
// sockets and starts reconnecting (the first time; a reconnection attempt
// goes on with the next).
func (m *Manager) dial(attempt bool) {
	ref := &engineRef{dec: parser.Decoder{MaxAttachments: m.opts.MaxAttachments}}
	eo := m.opts.Engine
	eo.OnMessage = func(p eio.Packet) { m.onEngineMessage(ref, p) }
	eo.OnClose = func(reason string, err error) { m.onEngineClose(ref, reason, err) }
	eo.OnUpgrade = nil
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
	e, err := eio.Dial(ctx, m.url, &eo)
	cancel()
	m.mu.Lock()
	m.opening = false
	if err == nil && (m.closed || !m.anyActiveLocked()) {
		m.reconnecting = false
		m.attempts = 0
		m.mu.Unlock()
		e.Close()
		return
	}
	if err != nil {
		m.reconnecting = false
		socks := m.socketList()
		errFns := m.onError
		m.mu.Unlock()
		// The error first, then the next attempt (or the news that there
		// is none), as the JavaScript client.
		m.dispatch(func() {
			for _, fn := range errFns {
				fn(err)
			}
		})
		for _, s := range socks {
			s.onOpenError(err)
		}
		m.mu.Lock()
		m.reconnectLocked()
		m.mu.Unlock()
		return
	}
	m.engine, m.ref = e, ref
	reconnected := m.reconnecting
	n := m.attempts
	m.reconnecting = false
	m.attempts = 0
	socks := m.socketList()
	fns := m.onReconnect
	m.mu.Unlock()
	if reconnected {
		m.dispatch(func() {
			for _, fn := range fns {
				fn(n)
			}
		})
	}
	for _, s := range socks {
		s.onOpen(e)
	}
}

// anyActiveLocked reports whether a socket wants the connection.
func (m *Manager) anyActiveLocked() bool {
	for _, s := range m.sockets {
		if s.isActive() {
			return true
		}
	}
	return false
}

// reconnectLocked schedules the next reconnection attempt, with backoff,
// unless reconnection is off, one is scheduled, or the attempts ran out.
func (m *Manager) reconnectLocked() {
	if m.reconnecting || m.opening || m.engine != nil || m.closed || m.opts.NoReconnect || !m.anyActiveLocked() {
		return
	}
	if m.opts.ReconnectionAttempts > 0 && m.attempts >= m.opts.ReconnectionAttempts {
		m.attempts = 0
		fns := m.onReconnectFailed
		m.dispatch(func() {
			for _, fn := range fns {
				fn()
			}
		})
		return
	}
	d := m.backoffLocked()
	m.reconnecting = true
	n := m.attempts
	m.timer = time.AfterFunc(d, func() {
		m.mu.Lock()
		if m.closed || !m.reconnecting {
			m.mu.Unlock()
			return
		}
		if !m.anyActiveLocked() {
			m.reconnecting = false
			m.attempts = 0
			m.mu.Unlock()
			return
		}
		fns := m.onReconnectAttempt
		m.opening = true
		m.mu.Unlock()
		m.dispatch(func() {
			for _, fn := range fns {
				fn(n)
			}
		})
		m.dial(true)
	})
}

// backoffLocked returns the delay before the next attempt and counts it:
// ReconnectionDelay × 2^attempts, spread by ± RandomizationFactor of it
// at random, at most ReconnectionDelayMax (the JavaScript client's
// backoff).
func (m *Manager) backoffLocked() time.Duration {
	d := backoff(m.opts.ReconnectionDelay, m.opts.ReconnectionDelayMax, m.opts.RandomizationFactor, m.attempts, rand.Float64())
	m.attempts++
	return d
}

// backoff is the delay of attempt (from 0) with the random number r in
// [0, 1).
func backoff(delay, max time.Duration, factor float64, attempt int, r float64) time.Duration {
	ms := float64(delay) * math.Pow(2, float64(min(attempt, 62)))
	if factor > 0 {
		dev := math.Floor(r * factor * ms)
		if int(math.Floor(r*10))&1 == 0 {
			ms -= dev
		} else {
			ms += dev
		}
	}
	if ms > float64(max) || math.IsInf(ms, 0) {
		return max
	}
	return time.Duration(ms)
}

// maybeClose closes the connection when no socket is active any more.
func (m *Manager) maybeClose() {
	m.mu.Lock()
	if m.anyActiveLocked() {
		m.mu.Unlock()
		return
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	m.reconnecting = false
	m.attempts = 0
	e := m.engine
	m.engine, m.ref = nil, nil
	m.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// onEngineMessage decodes the connection's messages into packets and
// routes them to the sockets, on the connection's reading goroutine.
func (m *Manager) onEngineMessage(ref *engineRef, msg eio.Packet) {
	p, args, ok, err := ref.dec.AddArgs(msg.Data, msg.Binary, ref.args[:0])
	defer func() { ref.args = args[:0] }()
	defer clear(args) // no message kept alive by the reused slice
	if err != nil {
		m.mu.Lock()
		e := m.engine
		cur := m.ref == ref
		m.mu.Unlock()
		if cur && e != nil {
			m.engineLost(ref, "parse error", err)
			e.Close()
		}
		return
	}
	if !ok {
		return
	}
	m.mu.Lock()
	s := m.sockets[nspName(p.Namespace)]
	m.mu.Unlock()
	if s != nil {
		s.onPacket(p, args)
	}
}

func nspName(n string) string {
	if n == "" {
		return "/"
	}
	return n
}

// onEngineClose is the connection's OnClose.
func (m *Manager) onEngineClose(ref *engineRef, reason string, err error) {
	m.engineLost(ref, reason, err)
}

// engineLost disconnects the sockets after the loss of the connection ref
// (if it is still the current one) and reconnects.
func (m *Manager) engineLost(ref *engineRef, reason string, _ error) {
	m.mu.Lock()
	if m.ref != ref {
		m.mu.Unlock()
		return
	}
	m.engine, m.ref = nil, nil
	m.attempts = 0
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		s.onEngineClose(reason)
	}
	m.mu.Lock()
	m.reconnectLocked()
	m.mu.Unlock()
}

// current returns the open connection, or nil.
func (m *Manager) current() *eio.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.engine
}

// dispatch runs fn after the callbacks queued before it, on the dispatch
// goroutine, which exists only while there is work.
func (m *Manager) dispatch(fn func()) {
	m.enqueue(task{fn: fn})
}

// dispatchEvent runs the handlers of s's received event ev as dispatch
// runs a callback.
func (m *Manager) dispatchEvent(s *Socket, ev *received) {
	m.enqueue(task{s: s, ev: ev})
}

func (m *Manager) enqueue(t task) {
	m.qmu.Lock()
	if len(m.queue) == cap(m.queue) && m.qhead > 0 { // reuse the room of the tasks run
		n := copy(m.queue, m.queue[m.qhead:])
		clear(m.queue[n:])
		m.queue, m.qhead = m.queue[:n], 0
	}
	m.queue = append(m.queue, t)
	if !m.running {
		m.running = true
		go m.run()
	}
	m.qmu.Unlock()
}

func (m *Manager) run() {
	for {
		m.qmu.Lock()
		if m.qhead == len(m.queue) {
			m.running = false
			if cap(m.queue) > maxKeptQueue {
				m.queue = nil
			} else {
				m.queue = m.queue[:0]
			}
			m.qhead = 0
			m.qmu.Unlock()
			return
		}
		t := m.queue[m.qhead]
		m.queue[m.qhead] = task{}
		m.qhead++
		m.qmu.Unlock()
		if t.ev != nil {
			t.s.deliver(t.ev)
		} else {
			t.fn()
		}
	}
}

// managers are the Managers Connect shares, by server and path.
var managers struct {
	sync.Mutex
	m map[string]*Manager
}

// Connect connects to the namespace in rawURL's path ("/" when it has
// none; "http://host:3000/chat" is the namespace "/chat") and returns the
// socket once the server accepted it, as the JavaScript client's io(url)
// followed by the "connect" event. Sockets of different namespaces on the
// same server share one Manager (one connection), unless opts.ForceNew is
// set or the shared Manager has a socket for that namespace already.
// Options.SocketOptions configure the socket. On an error the socket is
// not returned and, unless the server refused it, the Manager goes on
// trying in the background only if another socket uses it.
func Connect(ctx context.Context, rawURL string, opts *Options) (*Socket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("socketio: failed to parse URL: %w", err)
	}
	nsp := u.Path
	if nsp == "" {
		nsp = "/"
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	path := o.Engine.Path
	if path == "" {
		path = DefaultPath
	}
	key := u.Scheme + "://" + u.Host + path + "?" + u.RawQuery
	var m *Manager
	if !o.ForceNew {
		managers.Lock()
		if cur := managers.m[key]; cur != nil {
			cur.mu.Lock()
			_, taken := cur.sockets[nsp]
			if !taken && !cur.closed {
				m = cur
			}
			cur.mu.Unlock()
		}
		managers.Unlock()
	}
	if m == nil {
		if m, err = NewManager(rawURL, &o); err != nil {
			return nil, err
		}
		if !o.ForceNew {
			managers.Lock()
			if managers.m == nil {
				managers.m = map[string]*Manager{}
			}
			managers.m[key] = m
			managers.Unlock()
		}
	}
	s := m.Socket(nsp, &o.SocketOptions)
	if err := s.Connect(ctx); err != nil {
		s.Disconnect()
		return nil, err
	}
	return s, nil
}
