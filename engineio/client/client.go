package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// The transport names, as they appear in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// The reasons a session closes with, as Options.OnClose gets them (the
// JavaScript client's words).
const (
	ReasonForcedClose    = "forced close"    // Conn.Close
	ReasonTransportClose = "transport close" // the server closed the session or the connection
	ReasonTransportError = "transport error" // a request or the WebSocket failed
	ReasonPingTimeout    = "ping timeout"    // the heartbeat stopped
	ReasonParseError     = "parse error"     // the server sent something that is not Engine.IO
)

// Defaults of [Options].
const (
	DefaultPath           = "/engine.io/"
	DefaultUpgradeTimeout = 10 * time.Second
	DefaultReadLimit      = 64 << 20
	DefaultMaxQueuedBytes = 16 << 20
)

// Errors of a [Conn].
var (
	// ErrClosed is returned by Send on a closed or closing connection.
	ErrClosed = errors.New("engineio: connection closed")
	// ErrQueueFull is returned by Send when the packets not yet written
	// hold more than Options.MaxQueuedBytes.
	ErrQueueFull = errors.New("engineio: send queue full")
)

// Packet is an Engine.IO message: text (valid UTF-8) or binary data.
type Packet struct {
	Data   []byte
	Binary bool
}

// Options configures [Dial]. The zero value is ready to use: protocol v4,
// the path /engine.io/, polling first then the upgrade to WebSocket, the
// environment's HTTP proxy.
type Options struct {
	// Path is the server's Engine.IO path; "" means the dial URL's path
	// when it has one, else [DefaultPath].
	Path string
	// Transports are the transports to use, the first one to open the
	// session; nil means {"polling", "websocket"}. With "websocket" after
	// "polling" the session upgrades when the server offers it.
	Transports []string
	// DisableUpgrade keeps the session on its first transport.
	DisableUpgrade bool
	// Protocol is the Engine.IO protocol revision, 4 or 3; 0 means 4.
	Protocol int
	// Header is sent with every HTTP request and WebSocket handshake.
	Header http.Header
	// Query is added to the query of every request.
	Query url.Values
	// TLSConfig is used for https and wss; nil means the defaults.
	TLSConfig *tls.Config
	// Proxy returns the HTTP proxy for a request, or nil for none; nil
	// means [http.ProxyFromEnvironment]. WebSockets go through it with
	// CONNECT.
	Proxy func(*http.Request) (*url.URL, error)
	// NetDialContext dials the TCP connections of both transports; nil
	// means a [net.Dialer]. It can pick the source address.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// HTTPClient, when set, makes the polling requests instead of a
	// client of the connection's own (then TLSConfig, Proxy and
	// NetDialContext apply to WebSockets only). Its Timeout must be 0 or
	// longer than the server's pingInterval: a poll waits that long.
	HTTPClient *http.Client
	// Compression configures permessage-deflate on WebSockets; the zero
	// value offers none.
	Compression websocket.CompressionOptions
	// ReadLimit bounds a WebSocket message and a poll response's body, in
	// bytes; 0 means [DefaultReadLimit].
	ReadLimit int64
	// MaxQueuedBytes bounds the data of the packets that Send queued and
	// that are not written yet; 0 means [DefaultMaxQueuedBytes]. One
	// Send into an empty queue always passes.
	MaxQueuedBytes int
	// UpgradeTimeout bounds the upgrade to WebSocket; 0 means
	// [DefaultUpgradeTimeout].
	UpgradeTimeout time.Duration

	// OnMessage is called with each message, in order, one call at a
	// time; p.Data is the callee's to keep.
	OnMessage func(p Packet)
	// OnClose is called once when the session ends, after the last
	// OnMessage, with the reason (see the Reason constants) and the error
	// behind it, if any.
	OnClose func(reason string, err error)
	// OnUpgrade is called when the session moved to the WebSocket.
	OnUpgrade func(transport string)
}

// HandshakeError is a handshake the server refused: its HTTP status and,
// when the body says so, Engine.IO's error code and message (such as 0
// "Transport unknown", 5 "Unsupported protocol version", or 4 "Forbidden"
// when the server's own check refused the request).
type HandshakeError struct {
	StatusCode int
	Code       int    // -1 when the body held no Engine.IO error
	Message    string // the error's message, or the body's start
}

// Error returns the status and the message.
func (e *HandshakeError) Error() string {
	if e.Code >= 0 {
		return fmt.Sprintf("engineio: handshake refused: %d %s: %s (code %d)", e.StatusCode, http.StatusText(e.StatusCode), e.Message, e.Code)
	}
	if e.Message != "" {
		return fmt.Sprintf("engineio: handshake refused: %d %s: %q", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
	}
	return fmt.Sprintf("engineio: handshake refused: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// newHandshakeError reads an Engine.IO error body {"code":N,"message":"…"}.
func newHandshakeError(status int, body []byte) *HandshakeError {
	e := &HandshakeError{StatusCode: status, Code: -1}
	var b struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &b) == nil && b.Code != nil {
		e.Code, e.Message = *b.Code, b.Message
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	e.Message = msg
	return e
}

// transport is a way to the server: polling or a WebSocket.
type transport interface {
	name() string
	// write sends pkts; only the writer goroutine calls it, one call at
	// a time.
	write(pkts []parser.Packet) error
	// shutdown ends the transport after a graceful close: a close packet
	// (polling) or a close frame (WebSocket).
	shutdown()
	// abort ends the transport at once.
	abort()
}

// Conn is an Engine.IO session.
//
// Invariants: the state is under mu; only the writer goroutine (writing)
// takes packets from queue, and only while not paused; a transport is
// current from the moment it carries the session (tr) until the session
// closes; callbacks run under deliverMu, never under mu, and OnClose runs
// after closed is set, so that no OnMessage follows it.
type Conn struct {
	opts  Options
	base  url.URL // scheme http or https, host, path and the fixed query
	proto parser.Version
	hs    parser.Handshake
	httpc *http.Client
	ownHC *http.Transport // the HTTP client's transport when it is ours

	ctx    context.Context // done when the session closes
	cancel context.CancelFunc

	mu         sync.Mutex
	cond       sync.Cond // signalled when writing or polling ends
	tr         transport
	queue      []parser.Packet
	queueBytes int
	writing    bool // a writer goroutine runs
	paused     bool // an upgrade waits for polling to stop
	closing    bool // Close was called: the writer sends the close packet last
	closed     bool
	closedA    atomic.Bool // closed, read without mu (once per message)
	deadline   *time.Timer // the heartbeat's deadline
	nextPing   *time.Timer // v3: the next ping

	deliverMu sync.Mutex
	done      chan struct{}
	reason    string
	err       error
}

// Dial opens an Engine.IO session with the server at rawURL (http, https,
// ws or wss) and returns once the server's open packet has arrived; ctx
// bounds that. An upgrade to WebSocket then goes on in the background.
// A server that refuses the handshake gives a [*HandshakeError].
func Dial(ctx context.Context, rawURL string, opts *Options) (*Conn, error) {
	c, err := newConn(rawURL, opts)
	if err != nil {
		return nil, err
	}
	first := c.opts.Transports[0]
	var hs []byte
	if first == TransportWebSocket {
		hs, err = c.openWebSocket(ctx)
	} else {
		hs, err = c.openPolling(ctx)
	}
	if err != nil {
		c.cancel()
		if c.ownHC != nil {
			c.ownHC.CloseIdleConnections()
		}
		return nil, err
	}
	if err := json.Unmarshal(hs, &c.hs); err != nil || c.hs.SID == "" {
		c.cancel()
		if c.tr != nil {
			c.tr.abort()
		}
		return nil, fmt.Errorf("engineio: invalid open packet %q", hs)
	}
	c.startHeartbeat()
	c.startReading()
	if first == TransportPolling && !c.opts.DisableUpgrade && slices.Contains(c.opts.Transports, TransportWebSocket) && slices.Contains(c.hs.Upgrades, TransportWebSocket) {
		go c.upgrade()
	}
	return c, nil
}

func newConn(rawURL string, opts *Options) (*Conn, error) {
	c := &Conn{done: make(chan struct{})}
	if opts != nil {
		c.opts = *opts
	}
	c.cond.L = &c.mu
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("engineio: failed to parse URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("engineio: unsupported URL scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("engineio: URL %q has no host", rawURL)
	}
	switch {
	case c.opts.Path != "":
		u.Path = c.opts.Path
	case u.Path == "" || u.Path == "/":
		u.Path = DefaultPath
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	switch c.opts.Protocol {
	case 0, 4:
		c.proto = parser.V4
	case 3:
		c.proto = parser.V3
	default:
		return nil, fmt.Errorf("engineio: unsupported protocol %d", c.opts.Protocol)
	}
	q := u.Query()
	for k, vs := range c.opts.Query {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("EIO", strconv.Itoa(int(c.proto)))
	u.RawQuery = q.Encode()
	u.Fragment = ""
	c.base = *u
	if len(c.opts.Transports) == 0 {
		c.opts.Transports = []string{TransportPolling, TransportWebSocket}
	}
	for _, t := range c.opts.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			return nil, fmt.Errorf("engineio: unknown transport %q", t)
		}
	}
	if c.opts.ReadLimit == 0 {
		c.opts.ReadLimit = DefaultReadLimit
	}
	if c.opts.MaxQueuedBytes == 0 {
		c.opts.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.opts.UpgradeTimeout == 0 {
		c.opts.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if c.opts.Proxy == nil {
		c.opts.Proxy = http.ProxyFromEnvironment
	}
	c.httpc = c.opts.HTTPClient
	if c.httpc == nil && slices.Contains(c.opts.Transports, TransportPolling) {
		c.ownHC = &http.Transport{
			Proxy:               c.opts.Proxy,
			DialContext:         c.opts.NetDialContext,
			TLSClientConfig:     c.opts.TLSConfig,
			MaxIdleConnsPerHost: 2, // a poll and a POST
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}
		c.httpc = &http.Client{Transport: c.ownHC}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// url returns the URL of a request on transport t, with the session id
// once there is one.
func (c *Conn) url(t string) string {
	u := c.base
	q := u.RawQuery + "&transport=" + t
	if c.hs.SID != "" {
		q += "&sid=" + url.QueryEscape(c.hs.SID)
	}
	u.RawQuery = q
	return u.String()
}

// ID returns the session id the server gave.
func (c *Conn) ID() string { return c.hs.SID }

// Protocol returns the protocol revision, 4 or 3.
func (c *Conn) Protocol() int { return int(c.proto) }

// Handshake returns the open packet's data: the session id, the upgrades
// offered, the heartbeat's timings and the server's maxPayload.
func (c *Conn) Handshake() parser.Handshake { return c.hs }

// Transport returns the name of the transport that carries the session
// now: "polling" or "websocket".
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.name()
}

// Writable reports whether a packet sent now would go out at once: the
// session is open, not in the middle of an upgrade, and nothing is being
// written. (Socket.IO's volatile packets are dropped otherwise.)
func (c *Conn) Writable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && !c.closing && !c.paused && !c.writing
}

// Done returns a channel that is closed once the session has ended and
// OnClose has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the session ended (the reason and its error), or nil
// while it is open.
func (c *Conn) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	if c.err != nil {
		return fmt.Errorf("engineio: %s: %w", c.reason, c.err)
	}
	return errors.New("engineio: " + c.reason)
}

// Send queues messages, to be written in order. It never blocks. It
// fails with [ErrClosed] once the session is closing, and with
// [ErrQueueFull] when the queue holds more than Options.MaxQueuedBytes.
// The packets' data must not be modified after Send.
func (c *Conn) Send(pkts ...Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return ErrClosed
	}
	n := 0
	for _, p := range pkts {
		n += len(p.Data)
	}
	if len(c.queue) > 0 && c.queueBytes+n > c.opts.MaxQueuedBytes {
		return ErrQueueFull
	}
	for _, p := range pkts {
		c.queue = append(c.queue, parser.Packet{Type: parser.Message, Data: p.Data, Binary: p.Binary})
	}
	c.queueBytes += n
	c.wakeLocked()
	return nil
}

// sendControl queues a packet of the protocol's own (pong, v3 ping).
func (c *Conn) sendControl(t parser.Type) {
	c.mu.Lock()
	if !c.closed {
		c.queue = append(c.queue, parser.Packet{Type: t})
		c.wakeLocked()
	}
	c.mu.Unlock()
}

// Close ends the session: what is queued is written first, then a close
// packet or frame, and OnClose gets "forced close". It does not wait:
// [Conn.Done] says when the session has ended.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return nil
	}
	c.closing = true
	c.wakeLocked()
	if !c.writing {
		// Paused for an upgrade: the upgrade gives up and the writer
		// starts when polling is idle.
		c.cond.Broadcast()
	}
	return nil
}

// wakeLocked starts the writer when there is something to write.
func (c *Conn) wakeLocked() {
	if c.writing || c.paused || c.closed || c.tr == nil || (len(c.queue) == 0 && !c.closing) {
		return
	}
	c.writing = true
	go c.writeLoop()
}

// writeLoop writes the queue until it is empty, then the close packet
// when the session is closing.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.closed || c.paused {
			c.writing = false
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		if len(c.queue) == 0 {
			if c.closing {
				tr := c.tr
				c.mu.Unlock()
				c.finalize(ReasonForcedClose, nil, tr.shutdown)
				c.mu.Lock()
			}
			c.writing = false
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		tr := c.tr
		batch := c.takeLocked(tr)
		c.mu.Unlock()
		if err := tr.write(batch); err != nil {
			if errors.Is(err, websocket.ErrClosed) {
				// The close handshake began: the server's close frame,
				// which the read side reports as a transport close when
				// its loop ends (or this side's close: the session is
				// closed). The write is not what failed; stop writing.
				c.mu.Lock()
				c.writing = false
				c.cond.Broadcast()
				c.mu.Unlock()
				return
			}
			c.fail(ReasonTransportError, err)
		}
	}
}

// takeLocked takes packets from the queue: all of them for a WebSocket,
// and for a POST as many as fit in the server's maxPayload (at least one).
func (c *Conn) takeLocked(tr transport) []parser.Packet {
	n := len(c.queue)
	if tr.name() == TransportPolling && c.hs.MaxPayload > 0 {
		size := 0
		for i := range c.queue {
			l, _ := parser.PayloadLen(c.proto, c.queue[i:i+1], false)
			if i > 0 {
				l++ // the record separator
			}
			if i > 0 && int64(size+l) > c.hs.MaxPayload {
				n = i
				break
			}
			size += l
		}
	}
	batch := slices.Clone(c.queue[:n])
	for i := range n {
		c.queueBytes -= len(c.queue[i].Data)
		c.queue[i] = parser.Packet{}
	}
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
		c.queueBytes = 0
	}
	return batch
}

// fail ends the session after an error.
func (c *Conn) fail(reason string, err error) {
	c.finalize(reason, err, nil)
}

// finalize ends the session once: it marks it closed, stops the timers,
// ends the transport (with end, or at once), cancels the requests in
// flight, and calls OnClose after the last OnMessage.
func (c *Conn) finalize(reason string, err error, end func()) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.closedA.Store(true)
	c.reason, c.err = reason, err
	if c.deadline != nil {
		c.deadline.Stop()
	}
	if c.nextPing != nil {
		c.nextPing.Stop()
	}
	tr := c.tr
	c.queue = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	if end != nil {
		end()
	} else if tr != nil {
		tr.abort()
	}
	c.cancel()
	if c.ownHC != nil {
		c.ownHC.CloseIdleConnections()
	}
	go func() {
		c.deliverMu.Lock()
		if fn := c.opts.OnClose; fn != nil {
			fn(reason, err)
		}
		c.deliverMu.Unlock()
		close(c.done)
	}()
}

// isClosed reports whether the session has ended.
func (c *Conn) isClosed() bool {
	return c.closedA.Load()
}

// onPacket handles a packet the server sent, on the goroutine that read it.
// It reports false when the packet ended the session.
func (c *Conn) onPacket(p parser.Packet) bool {
	if c.proto == parser.V3 {
		c.resetDeadline(c.pingInterval() + c.pingTimeout())
	}
	switch p.Type {
	case parser.Message:
		c.deliverMu.Lock()
		if !c.isClosed() && c.opts.OnMessage != nil {
			c.opts.OnMessage(Packet{Data: p.Data, Binary: p.Binary})
		}
		c.deliverMu.Unlock()
	case parser.Ping:
		if c.proto == parser.V4 {
			c.resetDeadline(c.pingInterval() + c.pingTimeout())
			c.sendControl(parser.Pong)
		}
	case parser.Pong:
		if c.proto == parser.V3 {
			c.scheduleV3Ping()
		}
	case parser.Close:
		c.fail(ReasonTransportClose, nil)
		return false
	case parser.Noop, parser.Open, parser.Upgrade:
	}
	return true
}

// startHeartbeat arms the heartbeat after the open packet.
func (c *Conn) startHeartbeat() {
	c.resetDeadline(c.pingInterval() + c.pingTimeout())
	if c.proto == parser.V3 {
		c.scheduleV3Ping()
	}
}

func (c *Conn) pingInterval() time.Duration {
	return time.Duration(c.hs.PingInterval) * time.Millisecond
}

func (c *Conn) pingTimeout() time.Duration {
	return time.Duration(c.hs.PingTimeout) * time.Millisecond
}

// resetDeadline gives the server d to show that it lives: in v4 its next
// ping is due within pingInterval + pingTimeout of the last one; in v3 any
// packet counts, and after a ping of ours the answer is due within
// pingTimeout. When the deadline passes the session ends ("ping timeout").
func (c *Conn) resetDeadline(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.deadline == nil {
		c.deadline = time.AfterFunc(d, func() { c.fail(ReasonPingTimeout, nil) })
		return
	}
	c.deadline.Reset(d)
}

// scheduleV3Ping (v3, where the client pings) sends the next ping in
// pingInterval, after the open packet or a pong, as the JavaScript client
// does.
func (c *Conn) scheduleV3Ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.nextPing != nil {
		c.nextPing.Stop()
	}
	c.nextPing = time.AfterFunc(c.pingInterval(), func() {
		c.sendControl(parser.Ping)
		c.resetDeadline(c.pingTimeout())
	})
}

// startReading starts the current transport's reading.
func (c *Conn) startReading() {
	c.mu.Lock()
	tr := c.tr
	if t, ok := tr.(*polling); ok {
		t.startPollingLocked()
	}
	c.mu.Unlock()
	if t, ok := tr.(*wsTransport); ok {
		t.startReading()
	}
}
