package socketio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// engineConn is what the server uses of an *engineio.Socket; tests fake it.
type engineConn interface {
	ID() string
	Protocol() int
	Transport() string
	Request() *http.Request
	Send(pkts ...engineio.Packet) error
	Writable() bool
	Close() error
}

// maxQueued and maxQueuedBytes bound the packets of one connection waiting
// for their handlers; a client that sends more while its handlers are busy
// is disconnected.
const (
	maxQueued      = 4096
	maxQueuedBytes = 32 << 20
)

// connection is one client's Engine.IO connection and the sockets it
// opened, one per namespace. Its packets are decoded on the engine's
// reading goroutine; ACK packets are handled there, everything else
// (connections, events, disconnections) runs in order on the connection's
// dispatch goroutine, which exists only while there is work. (It is not
// named client: that is the Socket.IO client, package socketio/client.)
type connection struct {
	srv    *Server
	engine engineConn
	// dec holds a binary packet waiting for its attachments, and is nil
	// otherwise: an idle connection keeps no decoder. Reading goroutine
	// only.
	dec *parser.Decoder

	mu    sync.Mutex
	nsps  nspTable // a nil socket: CONNECT being processed
	timer *time.Timer

	qmu   sync.Mutex
	queue *connQueue // the work for the dispatch goroutine; nil when there is none

	closed  bool // guarded by mu
	joined  bool // guarded by mu
	running bool // guarded by qmu
	flooded bool // guarded by qmu: the queue overflowed, the client is being closed
}

// nspTable maps namespace names to a connection's sockets. A client
// joins one namespace or a few: no map per connection.
type nspTable = smallMap[*Socket]

type queued struct {
	fn   func()
	size int
}

// connQueue is a connection's work for its dispatch goroutine, made when
// work comes and dropped once it is done: an idle connection holds none.
// The first item has its place in it (one allocation for a lone packet).
type connQueue struct {
	items []queued
	bytes int // packet data held by items
	first [1]queued
}

func (srv *Server) newConnection(conn engineConn) *connection {
	c := &connection{srv: srv, engine: conn}
	srv.mu.Lock()
	srv.conns[c] = struct{}{}
	srv.mu.Unlock()
	c.mu.Lock()
	c.timer = time.AfterFunc(srv.opts.ConnectTimeout, c.onConnectTimeout)
	if c.v3() {
		// Socket.IO v2 clients (Engine.IO 3) join "/" without asking.
		c.nsps.set("/", nil)
	}
	c.mu.Unlock()
	if c.v3() {
		c.enqueue(func() { c.connect("/", nil) })
	}
	return c
}

// v3 reports whether the client speaks Engine.IO 3, so Socket.IO v2
// (protocol 4): implicit connection to "/", the auth of other namespaces in
// the query of the CONNECT packet's namespace, no data in the CONNECT
// answer, socket ids derived from the Engine.IO id, and the error's data
// (or message) alone in CONNECT_ERROR.
func (c *connection) v3() bool { return c.engine.Protocol() == 3 }

func (c *connection) onConnectTimeout() {
	c.mu.Lock()
	joined := c.joined
	c.mu.Unlock()
	if !joined {
		c.close()
	}
}

// HandleMessage and HandleClose make the connection its Engine.IO
// session's handler (engineio.Handler): no functions of its own.
func (c *connection) HandleMessage(m engineio.Packet)      { c.onMessage(m) }
func (c *connection) HandleClose(reason string, err error) { c.onEngineClose(reason, err) }

// onMessage takes the engine's messages, in order.
func (c *connection) onMessage(m engineio.Packet) {
	// m.Data is ours to keep (engineio's contract): packets and handlers
	// hold on to it without a copy.
	data := m.Data
	if data == nil {
		data = []byte{}
	}
	var p parser.Packet
	var ok bool
	var err error
	if c.dec != nil {
		p, ok, err = c.dec.Add(data, m.Binary)
		if ok || err != nil {
			c.dec = nil // the packet is complete, or the connection fails
		}
	} else {
		d := parser.Decoder{MaxAttachments: c.srv.opts.MaxAttachments}
		p, ok, err = d.Add(data, m.Binary)
		if err == nil && !ok {
			c.dec = new(parser.Decoder) // a binary packet: keep it until its attachments came
			*c.dec = d
		}
	}
	if err != nil {
		c.fail()
		return
	}
	if ok {
		c.handle(p)
	}
}

func (c *connection) handle(p parser.Packet) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	name := p.Namespace
	if p.Type == parser.Connect && c.v3() {
		var err error
		if name, p.Data, err = splitV3Namespace(name); err != nil {
			c.mu.Unlock()
			c.fail()
			return
		}
	}
	s, exists := c.nsps.get(name)
	if p.Type == parser.Connect {
		if exists {
			c.mu.Unlock()
			c.close() // CONNECT to a namespace already joined
			return
		}
		c.nsps.set(name, nil)
		c.mu.Unlock()
		auth := p.Data
		c.enqueueSized(len(auth), func() { c.connect(name, auth) })
		return
	}
	c.mu.Unlock()
	if !exists || p.Type == parser.ConnectError {
		c.close() // invalid state, as in Node
		return
	}
	switch p.Type {
	case parser.Ack:
		if s != nil {
			s.onAck(p)
			return
		}
		c.enqueue(func() {
			if s := c.socket(name); s != nil {
				s.onAck(p)
			}
		})
	case parser.Event:
		size := len(p.Data)
		for _, a := range p.Attachments {
			size += len(a)
		}
		c.enqueueSized(size, func() {
			if s := c.socket(name); s != nil {
				s.onEvent(p)
			} else {
				c.close()
			}
		})
	case parser.Disconnect:
		if s != nil {
			// Forget the socket at once: the client may connect to the
			// namespace again right away.
			c.removeSocket(s)
			s.closeWith(ReasonClientNamespaceDisconnect)
			return
		}
		c.enqueue(func() {
			if s := c.socket(name); s != nil {
				c.removeSocket(s)
				s.closeWith(ReasonClientNamespaceDisconnect)
			}
		})
	}
}

func (c *connection) socket(name string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, _ := c.nsps.get(name)
	return s
}

// connect runs on the dispatch goroutine.
func (c *connection) connect(name string, auth json.RawMessage) {
	if c.isClosed() {
		return
	}
	nsp := c.srv.lookupNamespace(name, auth)
	if nsp == nil {
		c.mu.Lock()
		if s, ok := c.nsps.get(name); ok && s == nil {
			c.nsps.del(name)
		}
		c.mu.Unlock()
		p := &parser.Packet{Type: parser.ConnectError, Namespace: name, Data: json.RawMessage(`{"message":"Invalid namespace"}`)}
		_ = c.engine.Send(newOutPacket(p, false).pkts...)
		return
	}
	if nsp.err != nil {
		c.mu.Lock()
		if s, ok := c.nsps.get(name); ok && s == nil {
			c.nsps.del(name)
		}
		c.mu.Unlock()
		p := &parser.Packet{Type: parser.ConnectError, Namespace: name, Data: json.RawMessage(`{"message":"Namespace unavailable","data":{"reason":"adapter failed"}}`)}
		_ = c.engine.Send(newOutPacket(p, false).pkts...)
		return
	}
	nsp.connect(c, auth)
}

func (c *connection) setSocket(name string, s *Socket) {
	c.mu.Lock()
	if _, ok := c.nsps.get(name); ok && !c.closed {
		c.nsps.set(name, s)
	} else {
		s.closing.Store(true)
	}
	c.mu.Unlock()
}

func (c *connection) removeSocket(s *Socket) {
	c.mu.Lock()
	if cur, ok := c.nsps.get(s.nsp.name); ok && cur == s {
		c.nsps.del(s.nsp.name)
	}
	c.mu.Unlock()
}

// connected records that a namespace was joined: the connect timeout ends.
func (c *connection) connected() {
	c.mu.Lock()
	c.joined = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil // an idle connection keeps no timer
	}
	c.mu.Unlock()
}

func (c *connection) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// enqueue adds work for the dispatch goroutine, starting it if needed.
func (c *connection) enqueue(fn func()) { c.enqueueSized(0, fn) }

// enqueueSized is enqueue for work that holds size bytes of packet data.
func (c *connection) enqueueSized(size int, fn func()) {
	c.qmu.Lock()
	q := c.queue
	if q == nil {
		q = &connQueue{}
		q.items = q.first[:0]
	}
	if size > 0 && (len(q.items) >= maxQueued || q.bytes+size > maxQueuedBytes) {
		n, b, first := len(q.items), q.bytes, !c.flooded
		c.flooded = true
		c.qmu.Unlock()
		if first { // the packets that come while it closes are dropped quietly
			c.srv.logger().Warn("socketio: closing a client whose packets pile up before its handlers",
				"client", c.engine.ID(), "packets", n, "bytes", b)
			go c.close()
		}
		return
	}
	q.bytes += size
	q.items = append(q.items, queued{fn, size})
	c.queue = q
	if !c.running {
		c.running = true
		go c.run()
	}
	c.qmu.Unlock()
}

func (c *connection) run() {
	for {
		c.qmu.Lock()
		q := c.queue
		if q == nil || len(q.items) == 0 {
			c.running = false
			c.queue = nil
			c.qmu.Unlock()
			return
		}
		w := q.items[0]
		q.items[0] = queued{}
		q.items = q.items[1:]
		q.bytes -= w.size
		c.qmu.Unlock()
		c.call(w.fn)
	}
}

// call runs a handler; a panic closes the client's connection instead of
// the whole program, as net/http does for requests.
func (c *connection) call(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.logger().Error("socketio: panic serving a client", "client", c.engine.ID(), "panic", r, "stack", string(debug.Stack()))
			c.close()
		}
	}()
	fn()
}

// fail closes the connection after a protocol error.
func (c *connection) fail() {
	c.onclose(ReasonForcedClose) // first: the engine's own reason comes later
	_ = c.engine.Close()
}

// close closes the connection from the server side.
func (c *connection) close() {
	if c.isClosed() {
		return
	}
	c.onclose(ReasonForcedServerClose) // first: the engine's own reason comes later
	_ = c.engine.Close()
}

// onEngineClose is the engine's OnClose callback.
func (c *connection) onEngineClose(reason string, _ error) {
	c.onclose(reason)
}

// onclose disconnects every socket of the client with reason.
func (c *connection) onclose(reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	var sockets []*Socket
	c.nsps.each(func(_ string, s *Socket) {
		if s != nil {
			sockets = append(sockets, s)
		}
	})
	c.mu.Unlock()
	c.srv.mu.Lock()
	delete(c.srv.conns, c)
	c.srv.mu.Unlock()
	for _, s := range sockets {
		s.closeWith(reason)
	}
}

// disconnectAll disconnects every socket (each gets a DISCONNECT packet)
// and closes the connection.
func (c *connection) disconnectAll() {
	c.mu.Lock()
	var sockets []*Socket
	c.nsps.each(func(_ string, s *Socket) {
		if s != nil {
			sockets = append(sockets, s)
		}
	})
	c.mu.Unlock()
	for _, s := range sockets {
		s.disconnect(true)
	}
	c.close()
}

// splitV3Namespace splits the namespace of a Socket.IO v2 CONNECT packet,
// "/name?key=value", into the name and the query as a JSON object (what
// Node passes on as the auth payload).
func splitV3Namespace(nsp string) (string, json.RawMessage, error) {
	name, query, ok := strings.Cut(nsp, "?")
	if !ok {
		return nsp, nil, nil
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("failed to parse the namespace query: %w", err)
	}
	auth := make(map[string]string, len(values))
	for k, v := range values {
		auth[k] = v[len(v)-1]
	}
	data, err := json.Marshal(auth)
	return name, data, err
}
