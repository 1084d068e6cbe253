package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// Disconnect reasons, as Node's socket.io reports them.
const (
	ReasonTransportError            = "transport error"
	ReasonTransportClose            = "transport close"
	ReasonForcedClose               = "forced close"
	ReasonPingTimeout               = "ping timeout"
	ReasonParseError                = "parse error"
	ReasonServerShuttingDown        = "server shutting down"
	ReasonForcedServerClose         = "forced server close"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
)

// recoverable are the reasons after which a session is kept for connection
// state recovery.
var recoverable = map[string]bool{
	ReasonTransportError:     true,
	ReasonTransportClose:     true,
	ReasonForcedClose:        true,
	ReasonPingTimeout:        true,
	ReasonServerShuttingDown: true,
	ReasonForcedServerClose:  true,
}

// Errors of the socketio package.
var (
	// ErrAckTimeout is returned when acknowledgements did not all arrive in
	// time. It matches context.DeadlineExceeded too.
	ErrAckTimeout = fmt.Errorf("operation has timed out: %w", context.DeadlineExceeded)
	// ErrDisconnected is returned by operations on a disconnected socket.
	ErrDisconnected = errors.New("socket has been disconnected")
	// ErrReservedEvent is returned when emitting a reserved event name.
	ErrReservedEvent = errors.New("reserved event name")
	// ErrPartialResult is wrapped by the error of an operation that spans
	// several servers when some did not answer in time: the operation
	// returns what the others answered along with it (FetchSockets,
	// AllSockets, ServerSideEmitWithAck).
	ErrPartialResult = errors.New("some servers did not answer in time")
	// ErrNotPublished is wrapped by a [PublishMarker]'s confirmation when
	// a message for the other servers was not published.
	ErrNotPublished = errors.New("a message for the other servers was not published")
)

// EventHandler handles an event. args are the event's arguments (binary
// attachments appear as base64 strings, which decode into []byte); ack is
// nil unless the client asked for an acknowledgement.
type EventHandler func(s *Socket, args []json.RawMessage, ack AckFunc)

// RawArg is an event argument as it arrived, binary parts apart: JSON with
// a placeholder {"_placeholder":true,"num":N} for each binary part, which is
// Attachments[N] (the attachments of the whole packet). Given to Emit, an
// AckFunc or a broadcast, it is sent with its binary parts as binary again;
// its Decode method decodes it with the binary parts into []byte.
type RawArg = parser.RawValue

// RawEventHandler handles an event whose arguments keep their binary parts
// as binary (see [Socket.OnRaw]).
type RawEventHandler func(s *Socket, args []RawArg, ack AckFunc)

// Args returns args as the []any that Emit and AckFunc take, to send
// received arguments on:
//
//	s.OnRaw("message", func(s *socketio.Socket, args []socketio.RawArg, ack socketio.AckFunc) {
//		s.Broadcast().Emit("message", socketio.Args(args)...) // binary parts stay binary
//	})
func Args[T any](args []T) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// eventHandler is the handler of an event: one of the two kinds.
type eventHandler struct {
	fn  EventHandler
	raw RawEventHandler
}

// AckFunc acknowledges an event with the given arguments (encoded like
// [Socket.Emit]'s). Only its first call sends anything.
type AckFunc func(args ...any) error

// Handshake holds the details of the connection a socket was made on. Its
// JSON form is the one of Node's socket.handshake (as multi-server adapters
// exchange it): lower-case header names with string values, the time as a
// JavaScript date string plus "issued" in milliseconds, the query as an
// object of strings (arrays for repeated keys), the address as the IP
// without the port.
type Handshake struct {
	// Headers of the Engine.IO handshake request.
	Headers http.Header
	// Host is the request's Host header, which Go keeps apart from
	// Headers; the JSON form has it among the headers, as Node does.
	Host string
	// Query of the handshake request URL.
	Query url.Values
	// Auth is the payload of the CONNECT packet (JSON object), or nil.
	Auth json.RawMessage
	// Address is the client's address (the request's RemoteAddr, with the
	// port; without it when the handshake came from another server, as
	// Node's socket.handshake.address is).
	Address string
	// Time is when the socket was created.
	Time time.Time
	// URL is the request URI of the handshake request.
	URL string
	// XDomain reports whether the request had an Origin header.
	XDomain bool
	// Secure reports whether the request came over TLS.
	Secure bool
}

type handshakeJSON struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

// jsDate is the format of JavaScript's Date.prototype.toString.
const jsDate = "Mon Jan 02 2006 15:04:05 GMT-0700"

// MarshalJSON encodes h as Node does.
func (h *Handshake) MarshalJSON() ([]byte, error) {
	j := handshakeJSON{
		Headers: map[string]any{},
		Time:    h.Time.Format(jsDate) + " (" + zoneName(h.Time) + ")",
		Address: hostOnly(h.Address), XDomain: h.XDomain, Secure: h.Secure,
		Issued: h.Time.UnixMilli(), URL: h.URL, Query: map[string]any{}, Auth: h.Auth,
	}
	if h.Host != "" {
		j.Headers["host"] = h.Host
	}
	for k, v := range h.Headers {
		k = strings.ToLower(k)
		if k == "set-cookie" {
			j.Headers[k] = v
		} else {
			j.Headers[k] = strings.Join(v, ", ")
		}
	}
	for k, v := range h.Query {
		if len(v) == 1 {
			j.Query[k] = v[0]
		} else {
			j.Query[k] = v
		}
	}
	if j.Auth == nil {
		j.Auth = json.RawMessage("{}")
	}
	return json.Marshal(j)
}

// hostOnly returns the IP of a "host:port" address, as Node's
// handshake.address gives it; anything else is returned as is.
func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func zoneName(t time.Time) string {
	name, _ := t.Zone()
	if name == "UTC" {
		return "Coordinated Universal Time"
	}
	return name
}

// UnmarshalJSON decodes the JSON form of MarshalJSON (and Node's).
func (h *Handshake) UnmarshalJSON(b []byte) error {
	var j handshakeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*h = Handshake{Headers: http.Header{}, Query: url.Values{}, Auth: j.Auth, Address: j.Address,
		Time: time.UnixMilli(j.Issued), URL: j.URL, XDomain: j.XDomain, Secure: j.Secure}
	addAll := func(add func(string, string), k string, v any) {
		switch x := v.(type) {
		case string:
			add(k, x)
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					add(k, s)
				}
			}
		}
	}
	for k, v := range j.Headers {
		if host, ok := v.(string); ok && strings.EqualFold(k, "host") {
			h.Host = host
			continue
		}
		addAll(h.Headers.Add, k, v)
	}
	for k, v := range j.Query {
		addAll(h.Query.Add, k, v)
	}
	return nil
}

// Socket is the connection of a client to one namespace. Its methods are
// safe for concurrent use. Event handlers, middlewares and connection and
// disconnection handlers of the sockets of one client connection run one at
// a time, in the order the packets arrived.
//
// (Its bool fields are together at the end, so that an idle socket does
// not pay for padding after each.)
type Socket struct {
	id   string
	pid  string
	nsp  *Namespace
	conn *connection
	// The handshake is made on demand from the engine's request and these
	// (see Handshake): the socket keeps no map of its own. The CONNECT
	// packet's auth payload, "" for none, is a string: 8 bytes less than a
	// json.RawMessage, which keeps Socket in the 224-byte size class.
	auth    string
	created int64 // Unix time in nanoseconds
	data    Data

	connected atomic.Bool
	closing   atomic.Bool

	mu sync.Mutex
	// While the socket connects (connecting), its middlewares and
	// connection handlers share one handshake, hs.
	hs       *Handshake
	handlers smallMap[eventHandler]
	// shared is the table of handlers the socket shares with others, and
	// value what its handlers are given to find the socket's state (see
	// SetHandlers).
	shared *Handlers
	value  any
	// own holds the socket's own middlewares, OnAny, disconnection and
	// error handlers and pending acknowledgements, made on first use: a
	// socket that has none (whose handlers are shared) holds no slices.
	own *socketOwn

	// done is closed when onclose has run (closedDone); it is made only
	// for someone waiting (see doneChan), so an idle socket holds no
	// channel.
	done chan struct{}

	sendMu sync.Mutex
	// held is the deliveries waiting for the CONNECT packet (holding),
	// nil when none: 8 bytes in every socket where a slice took 24.
	held *[]engineio.Packet

	recovered  bool
	connecting bool // guarded by mu
	closedDone bool // guarded by mu
	holding    bool // guarded by sendMu
}

// socketOwn is what a socket holds of its own beyond its event handlers.
type socketOwn struct {
	anyHandlers     []func(s *Socket, event string, args []json.RawMessage)
	middlewares     []func(s *Socket, event string, args []json.RawMessage) error
	onDisconnecting []func(s *Socket, reason string)
	onDisconnect    []func(s *Socket, reason string)
	onError         []func(s *Socket, err error)
	acks            map[uint64]func(args []json.RawMessage, err error)
}

// ownLocked returns s.own, making it. The caller holds s.mu.
func (s *Socket) ownLocked() *socketOwn {
	if s.own == nil {
		s.own = &socketOwn{}
	}
	return s.own
}

// Handlers is a table of event handlers, middlewares and disconnection
// handlers that many sockets share (see [Socket.SetHandlers]), rather than
// each holding closures of its own: a server that sets the same handlers
// on every socket saves their memory per socket. A handler finds the
// socket's own state with [Socket.Value]. Set everything before the table
// is first given to a socket; it must not change afterwards.
type Handlers struct {
	events          map[string]eventHandler
	middlewares     []func(s *Socket, event string, args []json.RawMessage) error
	onDisconnecting []func(s *Socket, reason string)
	onDisconnect    []func(s *Socket, reason string)
}

// On sets the handler of event, as [Socket.On] does.
func (h *Handlers) On(event string, fn EventHandler) *Handlers {
	h.set(event, eventHandler{fn: fn})
	return h
}

// OnRaw sets the handler of event, as [Socket.OnRaw] does.
func (h *Handlers) OnRaw(event string, fn RawEventHandler) *Handlers {
	h.set(event, eventHandler{raw: fn})
	return h
}

func (h *Handlers) set(event string, eh eventHandler) {
	if h.events == nil {
		h.events = map[string]eventHandler{}
	}
	h.events[event] = eh
}

// Use adds a middleware, as [Socket.Use] does.
func (h *Handlers) Use(fn func(s *Socket, event string, args []json.RawMessage) error) *Handlers {
	h.middlewares = append(h.middlewares, fn)
	return h
}

// OnDisconnecting adds a handler, as [Socket.OnDisconnecting] does.
func (h *Handlers) OnDisconnecting(fn func(s *Socket, reason string)) *Handlers {
	h.onDisconnecting = append(h.onDisconnecting, fn)
	return h
}

// OnDisconnect adds a handler, as [Socket.OnDisconnect] does.
func (h *Handlers) OnDisconnect(fn func(s *Socket, reason string)) *Handlers {
	h.onDisconnect = append(h.onDisconnect, fn)
	return h
}

// SetHandlers makes the socket use the shared table h (nil for none) along
// with its own handlers, and sets what [Socket.Value] returns. h's
// middlewares run before the socket's own, h's handler of an event is used
// when the socket has none of its own for it (On, OnRaw; Off does not
// remove h's), and h's disconnection handlers run before the socket's own.
func (s *Socket) SetHandlers(h *Handlers, value any) {
	s.mu.Lock()
	s.shared, s.value = h, value
	s.mu.Unlock()
}

// Value returns the value given to [Socket.SetHandlers], or nil.
func (s *Socket) Value() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// generateID returns a random id like Node's base64id (20 characters).
func generateID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newSocket(nsp *Namespace, c *connection, auth json.RawMessage) *Socket {
	s := &Socket{
		id:         generateID(),
		nsp:        nsp,
		conn:       c,
		auth:       string(auth),
		created:    time.Now().UnixNano(),
		connecting: true,
		holding:    true,
	}
	switch {
	case c.v3():
		// As Node: the Engine.IO id, prefixed with the namespace but for "/".
		s.id = c.engine.ID()
		if nsp.name != "/" {
			s.id = nsp.name + "#" + s.id
		}
	case c.srv.opts.ConnectionStateRecovery != nil:
		s.pid = generateID()
	}
	return s
}

func buildHandshake(r *http.Request, auth json.RawMessage, created time.Time) *Handshake {
	h := &Handshake{Time: created, Auth: auth}
	if r != nil {
		h.Headers = r.Header
		h.Host = r.Host
		h.Query = r.URL.Query()
		h.Address = r.RemoteAddr
		h.URL = r.URL.RequestURI()
		h.XDomain = r.Header.Get("Origin") != ""
		h.Secure = r.TLS != nil
	}
	return h
}

// ID returns the socket's id. It is not the Engine.IO session id, which is
// kept private as in Node; it stays the same across a recovered
// reconnection.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns the details of the connection. It must not be
// modified. The socket does not keep it: it is made from what the
// Engine.IO session keeps of its handshake request (see
// [engineio.Socket.Request]), anew by each call once the socket is
// connected, so keep the result rather than calling Handshake for each
// event. While the socket connects, its middlewares and connection handlers
// get the same one.
func (s *Socket) Handshake() *Handshake {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return s.hs
	}
	var auth json.RawMessage // a copy of its own: the caller may change it
	if s.auth != "" {
		auth = json.RawMessage(s.auth)
	}
	h := buildHandshake(s.conn.engine.Request(), auth, time.Unix(0, s.created))
	if s.connecting {
		s.hs = h
	}
	return h
}

// connectDone drops the handshake the connection's middlewares and
// handlers shared: from now on Handshake makes one for each call.
func (s *Socket) connectDone() {
	s.mu.Lock()
	s.connecting, s.hs = false, nil
	s.mu.Unlock()
}

// Connecting reports whether the socket is still connecting: listed by
// its namespace, but its middlewares or connection handlers have not all
// returned (what they set, its data say, may not be there yet).
func (s *Socket) Connecting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connecting
}

// Recovered reports whether the socket's state (id, rooms, data) was
// restored by connection state recovery, and its missed packets resent.
func (s *Socket) Recovered() bool { return s.recovered }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool { return s.connected.Load() && !s.closing.Load() }

// Data returns the socket's data, kept across a recovered reconnection and
// reported by FetchSockets.
func (s *Socket) Data() *Data { return &s.data }

// Transport returns the name of the client connection's current transport:
// "polling" or "websocket".
func (s *Socket) Transport() string { return s.conn.engine.Transport() }

// EngineID returns the id of the underlying Engine.IO session. Unlike ID it
// is sensitive: do not share it with other clients.
func (s *Socket) EngineID() string { return s.conn.engine.ID() }

// On sets the handler of event, replacing any previous one.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	s.handlers.set(event, eventHandler{fn: h})
	s.mu.Unlock()
}

// OnRaw sets the handler of event, replacing any previous one, for a handler
// that gets the arguments with their binary parts as binary ([RawArg]), so
// that it can send them on unchanged. Middlewares and OnAny handlers still
// see the arguments as On's handlers do.
func (s *Socket) OnRaw(event string, h RawEventHandler) {
	s.mu.Lock()
	s.handlers.set(event, eventHandler{raw: h})
	s.mu.Unlock()
}

// Off removes the handler of event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	s.handlers.del(event)
	s.mu.Unlock()
}

// OnAny adds a handler called for every received event, before its own
// handler.
func (s *Socket) OnAny(fn func(s *Socket, event string, args []json.RawMessage)) {
	s.mu.Lock()
	o := s.ownLocked()
	o.anyHandlers = append(o.anyHandlers, fn)
	s.mu.Unlock()
}

// Use adds a middleware run for each received event before its handlers;
// an error stops the event and goes to the OnError handlers.
func (s *Socket) Use(fn func(s *Socket, event string, args []json.RawMessage) error) {
	s.mu.Lock()
	o := s.ownLocked()
	o.middlewares = append(o.middlewares, fn)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler called when the socket is about to be
// disconnected, while it is still in its rooms.
func (s *Socket) OnDisconnecting(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	o := s.ownLocked()
	o.onDisconnecting = append(o.onDisconnecting, fn)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called once the socket is disconnected, with
// the reason (see the Reason constants).
func (s *Socket) OnDisconnect(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	o := s.ownLocked()
	o.onDisconnect = append(o.onDisconnect, fn)
	s.mu.Unlock()
}

// OnError adds a handler for errors of the socket: a socket middleware's
// error, or arguments that an [OnTyped] handler could not decode.
func (s *Socket) OnError(fn func(s *Socket, err error)) {
	s.mu.Lock()
	o := s.ownLocked()
	o.onError = append(o.onError, fn)
	s.mu.Unlock()
}

func (s *Socket) reportError(err error) {
	s.mu.Lock()
	var fns []func(s *Socket, err error)
	if s.own != nil {
		fns = s.own.onError
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(s, err)
	}
}

// buildEvent encodes an EVENT packet's payload from Go values.
func buildEvent(event string, args []any) (*parser.Packet, error) {
	if parser.IsReservedEvent(event) {
		return nil, fmt.Errorf("failed to emit %q: %w", event, ErrReservedEvent)
	}
	buf, atts, err := parser.AppendEvent(make([]byte, 0, 32+len(event)), event, args, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to emit %q: %w", event, err)
	}
	return &parser.Packet{Type: parser.Event, Data: buf, Attachments: atts}, nil
}

func buildArgs(args []any) ([]byte, [][]byte, error) {
	return parser.AppendArgs(make([]byte, 0, 32), args, nil)
}

// Emit sends an event to the client. args are encoded as JSON (like
// encoding/json does) except that []byte values, at any depth, travel as
// binary attachments, which the JavaScript client receives as Buffer or
// ArrayBuffer. With connection state recovery enabled the packet gets an
// offset and is kept for a reconnecting client, as in Node.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := buildEvent(event, args)
	if err != nil {
		return err
	}
	if !s.Connected() {
		return ErrDisconnected
	}
	if s.conn.srv.opts.ConnectionStateRecovery != nil {
		return s.nsp.adapter.Broadcast(p, &BroadcastOptions{Rooms: []string{s.id}})
	}
	p.Namespace = s.nsp.name
	s.send(newOutPacket(p, false))
	return nil
}

// EmitWithAck sends an event and waits for the client's acknowledgement,
// returning its arguments. It fails with ErrAckTimeout when ctx's deadline
// passes first, with ctx's error when it is canceled, and with
// ErrDisconnected when the socket disconnects.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	p, err := buildEvent(event, args)
	if err != nil {
		return nil, err
	}
	if !s.Connected() {
		return nil, ErrDisconnected
	}
	type result struct {
		args []json.RawMessage
		err  error
	}
	ch := make(chan result, 1)
	p.Namespace = s.nsp.name
	p.ID, p.HasID = s.nsp.nextAckID(), true
	s.registerAck(p.ID, func(args []json.RawMessage, err error) { ch <- result{args, err} })
	s.send(newOutPacket(p, false))
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		s.removeAck(p.ID)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ErrAckTimeout
		}
		return nil, ctx.Err()
	}
}

func (s *Socket) registerAck(id uint64, fn func([]json.RawMessage, error)) {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		fn(nil, ErrDisconnected)
		return
	}
	o := s.ownLocked()
	if o.acks == nil {
		o.acks = map[uint64]func([]json.RawMessage, error){}
	}
	o.acks[id] = fn
	s.mu.Unlock()
}

func (s *Socket) removeAck(id uint64) {
	s.mu.Lock()
	if s.own != nil {
		delete(s.own.acks, id)
	}
	s.mu.Unlock()
}

// failAcks ends every pending acknowledgement wait with ErrDisconnected.
func (s *Socket) failAcks() {
	s.mu.Lock()
	var acks map[uint64]func([]json.RawMessage, error)
	if s.own != nil {
		acks, s.own.acks = s.own.acks, nil
	}
	s.mu.Unlock()
	for _, fn := range acks {
		fn(nil, ErrDisconnected)
	}
}

// deliver sends a packet of a broadcast (or holds it while connecting).
// The packet's Engine.IO form is shared with the broadcast's other
// receivers: delivering it allocates nothing (but for the held list).
func (s *Socket) deliver(o *outPacket, volatile bool) {
	s.deliverPackets(nil, o.pkts, volatile)
}

// groupSender is an engine connection that can leave a direct write to a
// broadcast's engineio.Group (engineio.Socket).
type groupSender interface {
	SendGroup(g *engineio.Group, pkts ...engineio.Packet) error
}

// deliverPackets sends pkts (one packet's, or several broadcasts') in one
// engine send, as deliver; with g set, a direct write to the socket's
// WebSocket may be left to g, which the caller flushes.
func (s *Socket) deliverPackets(g *engineio.Group, pkts []engineio.Packet, volatile bool) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.closing.Load() {
		return
	}
	if s.holding {
		if !volatile {
			s.holdLocked(pkts...)
		}
		return
	}
	if volatile && !s.conn.engine.Writable() {
		return
	}
	if gs, ok := s.conn.engine.(groupSender); ok && g != nil {
		_ = gs.SendGroup(g, pkts...)
		return
	}
	_ = s.conn.engine.Send(pkts...)
}

// holdLocked keeps pkts until the CONNECT packet goes out. The caller
// holds sendMu, or owns the socket (a restored one, before anyone sends
// to it).
func (s *Socket) holdLocked(pkts ...engineio.Packet) {
	if s.held == nil {
		s.held = new([]engineio.Packet)
	}
	*s.held = append(*s.held, pkts...)
}

// send sends a packet to this socket only.
func (s *Socket) send(o *outPacket) {
	s.deliver(o, false)
}

// sendNow sends a packet even while holding (CONNECT, CONNECT_ERROR).
func (s *Socket) sendNow(p *parser.Packet) {
	p.Namespace = s.nsp.name
	_ = s.conn.engine.Send(newOutPacket(p, false).pkts...)
}

// release sends the CONNECT packet, then what was held, and ends holding.
func (s *Socket) release(connect *parser.Packet) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	connect.Namespace = s.nsp.name
	enc := connect.Encode()
	var held []engineio.Packet
	if s.held != nil {
		held = *s.held
	}
	pkts := appendEnginePackets(make([]engineio.Packet, 0, 1+len(held)), &enc, false)
	_ = s.conn.engine.Send(append(pkts, held...)...)
	s.held = nil
	s.holding = false
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	if s.closing.Load() {
		return
	}
	s.nsp.local.join(s, rooms)
}

// Leave removes the socket from rooms.
func (s *Socket) Leave(rooms ...string) {
	s.nsp.local.leave(s, rooms)
}

// Rooms returns the rooms the socket is in, its own id (a room of its own)
// included, sorted.
func (s *Socket) Rooms() []string {
	return s.nsp.local.socketRooms(s.id)
}

// Disconnect disconnects the socket from its namespace (the client gets a
// DISCONNECT packet: reason "io server disconnect" on its side, "server
// namespace disconnect" here). With close set it disconnects the client's
// sockets of every namespace and closes the connection.
func (s *Socket) Disconnect(close bool) {
	if close {
		s.conn.disconnectAll()
		return
	}
	s.disconnect(true)
}

// disconnect sends a DISCONNECT packet (when notify is set) and closes the
// socket with reason "server namespace disconnect".
func (s *Socket) disconnect(notify bool) {
	if !s.connected.Load() || !s.closing.CompareAndSwap(false, true) {
		return
	}
	s.conn.removeSocket(s) // the client may connect to the namespace again
	if notify {
		s.sendMu.Lock()
		_ = s.conn.engine.Send(newOutPacket(&parser.Packet{Type: parser.Disconnect, Namespace: s.nsp.name}, false).pkts...)
		s.sendMu.Unlock()
	}
	s.failAcks()
	s.conn.enqueue(func() { s.onclose(ReasonServerNamespaceDisconnect) })
}

// closeWith marks the socket closed for reason and queues its disconnection.
func (s *Socket) closeWith(reason string) {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	s.failAcks()
	s.conn.enqueue(func() { s.onclose(reason) })
}

// doneChan returns a channel closed once the socket's disconnection
// (onclose) has run.
func (s *Socket) doneChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.closedDone {
			close(s.done)
		}
	}
	return s.done
}

// markDone closes the channel of doneChan.
func (s *Socket) markDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closedDone = true
	if s.done != nil {
		close(s.done)
	}
}

// onclose runs on the client's dispatch goroutine.
func (s *Socket) onclose(reason string) {
	defer s.markDone()
	s.conn.removeSocket(s)
	if !s.connected.Load() {
		s.nsp.local.unregister(s)
		return
	}
	s.mu.Lock()
	var shared, own []func(s *Socket, reason string)
	if s.shared != nil {
		shared = s.shared.onDisconnecting
	}
	if s.own != nil {
		own = s.own.onDisconnecting
	}
	s.mu.Unlock()
	for _, fn := range shared {
		fn(s, reason)
	}
	for _, fn := range own {
		fn(s, reason)
	}
	// The session is persisted (the in-memory adapter takes the socket out
	// of its rooms in the same step, see InMemoryAdapter.recoverableLocked),
	// then the socket is forgotten; a reconnecting client that restores the
	// session meanwhile registers a new socket of the same id, which
	// unregistering this one leaves alone.
	if s.conn.srv.opts.ConnectionStateRecovery != nil && recoverable[reason] {
		sess := &SessionToPersist{SID: s.id, PID: s.pid, Rooms: s.Rooms(), Data: s.data.Snapshot()}
		if err := s.nsp.adapter.PersistSession(sess); err != nil {
			s.nsp.Logger().Warn("socketio: failed to persist a session", "namespace", s.nsp.name, "err", err)
		}
	}
	s.nsp.local.unregister(s)
	s.connected.Store(false)
	s.mu.Lock()
	shared, own = nil, nil
	if s.shared != nil {
		shared = s.shared.onDisconnect
	}
	if s.own != nil {
		own = s.own.onDisconnect
	}
	s.mu.Unlock()
	for _, fn := range shared {
		fn(s, reason)
	}
	for _, fn := range own {
		fn(s, reason)
	}
}

// onEvent runs on the client's dispatch goroutine.
func (s *Socket) onEvent(p parser.Packet) {
	if !s.Connected() {
		return
	}
	raw, err := parser.SplitArray(nil, p.Data)
	if err != nil || len(raw) == 0 {
		return
	}
	name := parser.EventName(raw[0]) // a string or a number, never binary
	raw = raw[1:]
	var ack AckFunc
	if p.HasID {
		ack = s.ackFunc(p.ID)
	}
	s.mu.Lock()
	var sharedMws, mws []func(s *Socket, event string, args []json.RawMessage) error
	var anys []func(s *Socket, event string, args []json.RawMessage)
	if s.own != nil {
		mws, anys = s.own.middlewares, s.own.anyHandlers
	}
	h, ok := s.handlers.get(name)
	if s.shared != nil {
		sharedMws = s.shared.middlewares
		if !ok {
			h = s.shared.events[name]
		}
	}
	s.mu.Unlock()
	// The arguments as JSON, binary parts inlined as base64 strings.
	args := raw
	if len(p.Attachments) > 0 && (len(sharedMws) > 0 || len(mws) > 0 || len(anys) > 0 || h.fn != nil) {
		data, err := parser.InlineAttachments(nil, p.Data, p.Attachments)
		if err == nil {
			args, err = parser.SplitArray(nil, data)
		}
		if err != nil {
			s.reportError(err)
			return
		}
		args = args[1:] // as many elements as raw had: the name is first
	}
	for _, list := range [2][]func(s *Socket, event string, args []json.RawMessage) error{sharedMws, mws} {
		for _, mw := range list {
			if err := mw(s, name, args); err != nil {
				s.reportError(err)
				return
			}
		}
	}
	for _, fn := range anys {
		fn(s, name, args)
	}
	switch {
	case h.fn != nil:
		h.fn(s, args, ack)
	case h.raw != nil:
		rargs := make([]RawArg, len(raw))
		for i, a := range raw {
			rargs[i] = RawArg{JSON: a, Attachments: p.Attachments}
		}
		h.raw(s, rargs, ack)
	}
}

func (s *Socket) ackFunc(id uint64) AckFunc {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return nil
		}
		data, atts, err := buildArgs(args)
		if err != nil {
			return fmt.Errorf("failed to encode acknowledgement: %w", err)
		}
		if s.closing.Load() {
			return ErrDisconnected
		}
		s.send(newOutPacket(&parser.Packet{Type: parser.Ack, Namespace: s.nsp.name, ID: id, HasID: true, Data: data, Attachments: atts}, false))
		return nil
	}
}

// onAck runs on the client's reading goroutine.
func (s *Socket) onAck(p parser.Packet) {
	var fn func([]json.RawMessage, error)
	s.mu.Lock()
	if s.own != nil {
		fn = s.own.acks[p.ID]
		delete(s.own.acks, p.ID)
	}
	s.mu.Unlock()
	if fn == nil {
		return
	}
	data := []byte(p.Data)
	if len(p.Attachments) > 0 {
		var err error
		if data, err = parser.InlineAttachments(nil, data, p.Attachments); err != nil {
			fn(nil, err)
			return
		}
	}
	args, err := parser.SplitArray(nil, data)
	fn(args, err)
}

// Broadcast returns an operator that targets every socket of the namespace
// but this one.
func (s *Socket) Broadcast() BroadcastOperator {
	return s.nsp.operator().Except(s.id)
}

// To returns an operator that targets the sockets in rooms, except this one.
func (s *Socket) To(rooms ...string) BroadcastOperator {
	return s.Broadcast().To(rooms...)
}

// In is the same as To.
func (s *Socket) In(rooms ...string) BroadcastOperator { return s.To(rooms...) }

// Except returns an operator that targets every socket of the namespace
// that is in none of rooms, except this one.
func (s *Socket) Except(rooms ...string) BroadcastOperator {
	return s.Broadcast().Except(rooms...)
}

// Data is a socket's key-value store, safe for concurrent use. Values should
// be JSON-encodable: FetchSockets and multi-server adapters exchange them
// as JSON.
type Data struct {
	mu sync.RWMutex
	m  map[string]any
}

// Get returns the value of key.
func (d *Data) Get(key string) (any, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	v, ok := d.m[key]
	return v, ok
}

// Set sets the value of key.
func (d *Data) Set(key string, v any) {
	d.mu.Lock()
	if d.m == nil {
		d.m = map[string]any{}
	}
	d.m[key] = v
	d.mu.Unlock()
}

// Delete removes key.
func (d *Data) Delete(key string) {
	d.mu.Lock()
	delete(d.m, key)
	d.mu.Unlock()
}

// Snapshot returns a copy of the data (values are not deep-copied).
func (d *Data) Snapshot() map[string]any {
	d.mu.RLock()
	defer d.mu.RUnlock()
	m := make(map[string]any, len(d.m))
	for k, v := range d.m {
		m[k] = v
	}
	return m
}

func (d *Data) replace(m map[string]any) {
	d.mu.Lock()
	d.m = m
	d.mu.Unlock()
}
