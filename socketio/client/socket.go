package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	eio "github.com/tether-rt/tether/engineio/client"
	"github.com/tether-rt/tether/socketio/parser"
)

// Socket is a connection to one namespace of the server, over its
// Manager's connection. It is safe for concurrent use.
//
// Handlers (On, Once, OnAny, OnConnect, OnDisconnect, OnConnectError) run
// one at a time, in the order of what the server sent, on the Manager's
// dispatch goroutine: a handler may call EmitWithAck and wait, the
// acknowledgement is read meanwhile; a handler that blocks holds up the
// Manager's other handlers.
//
// Invariants: the state is under mu; active says that the socket wants to
// be connected (Connect was called, and neither Disconnect, the server's
// DISCONNECT nor a CONNECT_ERROR ended it since): the Manager then
// reconnects it; connected is set from the CONNECT answer to the
// disconnection; buffered packets and events go out, and in, in order,
// before anything that comes after them.
type Socket struct {
	m    *Manager
	nsp  string
	opts SocketOptions

	mu          sync.Mutex
	active      bool
	connected   bool
	id          string
	pid         string // private id, with connection state recovery
	lastOffset  []byte // the offset of the last event, with recovery (reused: no allocation per event)
	nameTok     string // the JSON token of the last event's name…
	name        string // …and the name: most events repeat the last one's
	recovered   bool
	sentOn      *eio.Conn // the connection the CONNECT packet went on
	nextAck     uint64
	acks        map[uint64]chan ackResult
	sendBuf     []buffered      // packets emitted while offline
	recvBuf     []parser.Packet // events that came before the CONNECT answer
	waiters     []chan error    // Connect calls waiting
	handlers    map[string][]*listener
	anyHandlers []*anyListener
	onConnect   []func()
	onDisconn   []func(reason string)
	onConnErr   []func(err error)
	nextLid     uint64
}

type listener struct {
	id   uint64
	fn   func(e *Event)
	once bool
}

type anyListener struct {
	id uint64
	fn func(e *Event)
}

type buffered struct {
	pkts  []eio.Packet
	ackID uint64 // 0: no acknowledgement
}

type ackResult struct {
	args []json.RawMessage
	err  error
}

func newSocket(m *Manager, nsp string, opts *SocketOptions) *Socket {
	s := &Socket{m: m, nsp: nsp, acks: map[uint64]chan ackResult{}, handlers: map[string][]*listener{}}
	if opts != nil {
		s.opts = *opts
	}
	return s
}

// Event is an event the server sent.
type Event struct {
	// Name is the event's name.
	Name string
	// Args are its arguments as JSON; binary parts are base64 strings, so
	// that they decode into []byte. With connection state recovery on,
	// the server's broadcasts end with their offset, a string, as in the
	// JavaScript client.
	Args []json.RawMessage
	ack  func(args ...any) error
}

// ErrNoAck is returned by Event.Ack when the server asked for no
// acknowledgement.
var ErrNoAck = errors.New("socketio: the event asks for no acknowledgement")

// Decode decodes the arguments into dsts, in order, with encoding/json: a
// struct, a map, a string, a []byte for a binary part… A nil dst skips its
// argument; a missing argument is an error.
func (e *Event) Decode(dsts ...any) error {
	for i, dst := range dsts {
		if dst == nil {
			continue
		}
		if i >= len(e.Args) {
			return fmt.Errorf("socketio: event %q: no argument %d (%d arguments)", e.Name, i, len(e.Args))
		}
		if err := json.Unmarshal(e.Args[i], dst); err != nil {
			return fmt.Errorf("socketio: event %q: failed to decode argument %d: %w", e.Name, i, err)
		}
	}
	return nil
}

// WantsAck reports whether the server asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.ack != nil }

// Ack sends the acknowledgement the server asked for, with args (encoded
// as by Emit). Only the first call sends.
func (e *Event) Ack(args ...any) error {
	if e.ack == nil {
		return ErrNoAck
	}
	return e.ack(args...)
}

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() string { return s.nsp }

// Manager returns the socket's Manager.
func (s *Socket) Manager() *Manager { return s.m }

// ID returns the socket id the server gave, or "" while disconnected.
func (s *Socket) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Recovered reports whether the last connection recovered the session of
// the one before (connection state recovery): same id, rooms, and the
// events missed meanwhile delivered.
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

func (s *Socket) isActive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// On adds a handler of the event and returns a function that removes it.
func (s *Socket) On(event string, fn func(e *Event)) (off func()) {
	return s.addListener(event, fn, false)
}

// Once adds a handler called for the next occurrence of the event only.
func (s *Socket) Once(event string, fn func(e *Event)) (off func()) {
	return s.addListener(event, fn, true)
}

func (s *Socket) addListener(event string, fn func(e *Event), once bool) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextLid++
	l := &listener{id: s.nextLid, fn: fn, once: once}
	s.handlers[event] = append(s.handlers[event], l)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		// Copied, never changed in place: dispatchEvent holds lists
		// outside the lock.
		s.handlers[event] = slices.DeleteFunc(slices.Clone(s.handlers[event]), func(x *listener) bool { return x == l })
	}
}

// Off removes every handler of the event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	delete(s.handlers, event)
	s.mu.Unlock()
}

// OnAny adds a handler called for every event, before the event's own
// handlers, and returns a function that removes it.
func (s *Socket) OnAny(fn func(e *Event)) (off func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextLid++
	l := &anyListener{id: s.nextLid, fn: fn}
	s.anyHandlers = append(s.anyHandlers, l)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.anyHandlers = slices.DeleteFunc(slices.Clone(s.anyHandlers), func(x *anyListener) bool { return x == l })
	}
}

// OnConnect adds a handler called at each connection (the "connect"
// event), reconnections included.
func (s *Socket) OnConnect(fn func()) {
	s.mu.Lock()
	s.onConnect = append(s.onConnect, fn)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called at each disconnection (the
// "disconnect" event), with its reason.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisconn = append(s.onDisconn, fn)
	s.mu.Unlock()
}

// OnConnectError adds a handler called when a connection fails (the
// "connect_error" event): with a [*ConnectError] when the server refused
// the namespace (the socket then stays disconnected until Connect is
// called again), or with the error of the Engine.IO connection (the
// Manager goes on trying when reconnection is on).
func (s *Socket) OnConnectError(fn func(err error)) {
	s.mu.Lock()
	s.onConnErr = append(s.onConnErr, fn)
	s.mu.Unlock()
}

// Connect connects the socket, opening the Manager's connection if
// needed, and waits until the server accepted it (nil), refused it (a
// [*ConnectError]), the connection could not be opened (its error; with
// reconnection on, the Manager goes on trying and the socket connects
// when it can — call Disconnect to stop it), or ctx is done. A connected
// socket returns nil at once.
func (s *Socket) Connect(ctx context.Context) error {
	ch := make(chan error, 1)
	s.mu.Lock()
	if s.connected {
		s.mu.Unlock()
		return nil
	}
	s.waiters = append(s.waiters, ch)
	wasActive := s.active
	s.active = true
	s.mu.Unlock()
	s.m.mu.Lock()
	if s.m.closed {
		s.m.mu.Unlock()
		s.resolveWaiters(ErrManagerClosed)
		return ErrManagerClosed
	}
	e := s.m.engine
	if e == nil {
		s.m.openLocked()
	}
	s.m.mu.Unlock()
	if e != nil && !wasActive {
		s.onOpen(e)
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		s.waiters = slices.DeleteFunc(s.waiters, func(c chan error) bool { return c == ch })
		s.mu.Unlock()
		return ctx.Err()
	}
}

// resolveWaiters ends the Connect calls waiting with err.
func (s *Socket) resolveWaiters(err error) {
	s.mu.Lock()
	ws := s.waiters
	s.waiters = nil
	s.mu.Unlock()
	for _, ch := range ws {
		ch <- err
	}
}

// onOpen sends the CONNECT packet on the Manager's new connection e, when
// the socket wants to be connected.
func (s *Socket) onOpen(e *eio.Conn) {
	s.mu.Lock()
	if !s.active || s.connected || s.sentOn == e {
		s.mu.Unlock()
		return
	}
	s.sentOn = e
	pid, offset := s.pid, string(s.lastOffset)
	s.mu.Unlock()
	auth, err := s.authPayload(pid, offset)
	if err != nil {
		s.refused(err)
		return
	}
	p := parser.Packet{Type: parser.Connect, Namespace: s.nsp, Data: auth}
	if err := e.Send(eio.Packet{Data: p.AppendText(nil)}); err != nil {
		return // the connection is closing: its OnClose reconnects
	}
}

// authPayload returns the CONNECT packet's data: the auth payload, with
// the private id and offset of the last session when there is one (the
// payload's own fields win, as in the JavaScript client).
func (s *Socket) authPayload(pid, offset string) (json.RawMessage, error) {
	auth := s.opts.Auth
	if s.opts.AuthFunc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.m.opts.Timeout)
		a, err := s.opts.AuthFunc(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("socketio: auth: %w", err)
		}
		auth = a
	}
	var data []byte
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			return nil, fmt.Errorf("socketio: failed to encode auth: %w", err)
		}
		if string(b) != "null" {
			if len(b) == 0 || b[0] != '{' {
				return nil, fmt.Errorf("socketio: auth must be a JSON object, not %s", b)
			}
			data = b
		}
	}
	if pid == "" {
		return data, nil
	}
	rec := parser.RecoveryAuth{PID: &pid}
	if offset != "" {
		rec.Offset = &offset
	}
	b, _ := json.Marshal(rec)
	if offset == "" {
		b, _ = json.Marshal(map[string]string{"pid": pid})
	}
	if len(data) > 2 { // merge: {"pid":…,"offset":…, <auth's fields>}
		b = append(b[:len(b)-1], ',')
		b = append(b, data[1:]...)
	}
	return b, nil
}

// onOpenError reports a failed attempt to open the connection to an active
// socket that is not connected.
func (s *Socket) onOpenError(err error) {
	s.mu.Lock()
	if !s.active || s.connected {
		s.mu.Unlock()
		return
	}
	fns := slices.Clone(s.onConnErr)
	s.mu.Unlock()
	s.resolveWaiters(err)
	s.m.dispatch(func() {
		for _, fn := range fns {
			fn(err)
		}
	})
}

// refused ends a connection the server (or the auth function) refused:
// the socket is no longer active.
func (s *Socket) refused(err error) {
	s.mu.Lock()
	s.active = false
	s.sentOn = nil
	fns := slices.Clone(s.onConnErr)
	s.mu.Unlock()
	s.resolveWaiters(err)
	s.m.dispatch(func() {
		for _, fn := range fns {
			fn(err)
		}
	})
	s.m.maybeClose()
}

// onPacket handles a packet for this namespace, on the connection's
// reading goroutine; args are the elements of an EVENT or ACK packet's
// array, valid during the call only (the Manager reuses the slice; the
// elements themselves alias the message, which is the socket's to keep).
func (s *Socket) onPacket(p parser.Packet, args []json.RawMessage) {
	switch p.Type {
	case parser.Connect:
		var d parser.ConnectData
		if err := json.Unmarshal(p.Data, &d); err != nil || d.SID == "" {
			s.refused(&ConnectError{Message: "It seems you are trying to reach a Socket.IO server in v2.x with a v3.x client, but they are not compatible (more information here: https://socket.io/docs/v3/migrating-from-2-x-to-3-0/)"})
			return
		}
		s.onConnectPacket(d)
	case parser.ConnectError:
		ce := &ConnectError{}
		var d parser.ConnectErrorData
		if json.Unmarshal(p.Data, &d) == nil {
			ce.Message, ce.Data = d.Message, d.Data
		} else {
			var msg string
			json.Unmarshal(p.Data, &msg)
			ce.Message = msg
		}
		s.refused(ce)
	case parser.Event:
		s.mu.Lock()
		if !s.connected {
			// Before the CONNECT answer: a recovered session's missed
			// events, delivered after it.
			if s.active && len(s.recvBuf) < max(s.m.opts.MaxBuffered, 0)+1 {
				s.recvBuf = append(s.recvBuf, p)
			}
			s.mu.Unlock()
			return
		}
		if len(args) == 0 {
			s.mu.Unlock()
			return
		}
		s.trackOffsetArgsLocked(args)
		ev := newReceived(p, args, s.eventNameLocked(args[0]))
		s.mu.Unlock()
		s.m.dispatchEvent(s, ev)
	case parser.Ack:
		s.onAck(p)
	case parser.Disconnect:
		s.mu.Lock()
		was := s.connected
		s.active = false
		s.mu.Unlock()
		if was {
			s.onclose(ReasonIOServerDisconnect)
		}
		s.m.maybeClose()
	}
}

// trackOffsetLocked keeps the offset that ends an event with recovery on.
func (s *Socket) trackOffsetLocked(p parser.Packet) {
	if s.pid == "" {
		return
	}
	args, err := parser.SplitArray(nil, p.Data)
	if err != nil {
		return
	}
	s.trackOffsetArgsLocked(args)
}

// trackOffsetArgsLocked is trackOffsetLocked with the event's array split.
func (s *Socket) trackOffsetArgsLocked(args []json.RawMessage) {
	if s.pid == "" || len(args) < 2 {
		return
	}
	last := args[len(args)-1]
	if len(last) < 2 || last[0] != '"' {
		return
	}
	// An offset is usually plain (tether's and Node's are): no escape to
	// decode.
	if inner := last[1 : len(last)-1]; last[len(last)-1] == '"' && !slices.Contains(inner, '\\') && !slices.Contains(inner, '"') {
		s.lastOffset = append(s.lastOffset[:0], inner...)
		return
	}
	var off string
	if json.Unmarshal(last, &off) == nil {
		s.lastOffset = append(s.lastOffset[:0], off...)
	}
}

// maxCachedName bounds the event name a socket keeps for the next event.
const maxCachedName = 128

// eventNameLocked returns the event name of the JSON token tok, the
// first element of an EVENT packet's array, as [parser.EventName]; the
// last one is kept, so that a run of events of the same name allocates
// no string.
func (s *Socket) eventNameLocked(tok json.RawMessage) string {
	if string(tok) == s.nameTok {
		return s.name
	}
	name := parser.EventName(tok)
	if len(tok) <= maxCachedName {
		s.nameTok, s.name = string(tok), name
	}
	return name
}

// onConnectPacket handles the server's CONNECT answer: the events that came
// before it, then the packets buffered while offline, then the connect
// handlers, as the JavaScript client.
func (s *Socket) onConnectPacket(d parser.ConnectData) {
	e := s.m.current()
	s.mu.Lock()
	if !s.active {
		s.mu.Unlock()
		return
	}
	s.id = d.SID
	s.recovered = d.PID != "" && d.PID == s.pid
	s.pid = d.PID
	s.connected = true
	recv := s.recvBuf
	s.recvBuf = nil
	for _, p := range recv {
		s.trackOffsetLocked(p)
	}
	// Under mu, so that an Emit that sees the socket connected goes out
	// after what was buffered.
	for len(s.sendBuf) > 0 && e != nil && e.Send(s.sendBuf[0].pkts...) == nil {
		s.sendBuf[0] = buffered{}
		s.sendBuf = s.sendBuf[1:]
	}
	if len(s.sendBuf) == 0 {
		s.sendBuf = nil
	}
	fns := slices.Clone(s.onConnect)
	s.mu.Unlock()
	for _, p := range recv {
		s.dispatchBuffered(p)
	}
	s.resolveWaiters(nil)
	s.m.dispatch(func() {
		for _, fn := range fns {
			fn()
		}
	})
}

// dispatchBuffered queues the handlers of an event that came before the
// CONNECT answer.
func (s *Socket) dispatchBuffered(p parser.Packet) {
	args, err := parser.SplitArray(nil, p.Data)
	if err != nil || len(args) == 0 {
		return
	}
	s.m.dispatchEvent(s, newReceived(p, args, parser.EventName(args[0])))
}

// received is an event on its way to the handlers: one allocation for
// what the dispatch goroutine needs and for the [Event] the handlers get
// (every received event goes through here).
type received struct {
	ev Event
	p  parser.Packet
	// argv holds the usual few elements of the event's array: the name
	// and the arguments, ev.Args.
	argv [4]json.RawMessage
}

// newReceived returns the event of packet p, whose array's elements are
// args (copied: the caller's slice may be reused) and whose name is name.
func newReceived(p parser.Packet, args []json.RawMessage, name string) *received {
	r := &received{p: p}
	all := append(r.argv[:0], args...) // in argv when they fit
	r.ev = Event{Name: name, Args: all[1:]}
	return r
}

// deliver runs the handlers of a received event, on the dispatch
// goroutine.
func (s *Socket) deliver(r *received) {
	name := r.ev.Name
	s.mu.Lock()
	// The lists are copied on change, never changed in place.
	ls := s.handlers[name]
	anys := s.anyHandlers
	if slices.ContainsFunc(ls, func(l *listener) bool { return l.once }) {
		s.handlers[name] = slices.DeleteFunc(slices.Clone(ls), func(l *listener) bool { return l.once })
	}
	s.mu.Unlock()
	if len(ls) == 0 && len(anys) == 0 {
		return
	}
	ev := &r.ev
	p := &r.p
	if len(p.Attachments) > 0 {
		data, err := parser.InlineAttachments(nil, p.Data, p.Attachments)
		if err == nil {
			all, err := parser.SplitArray(nil, data)
			if err == nil && len(all) == 1+len(ev.Args) {
				ev.Args = all[1:]
			}
		}
	}
	if p.HasID {
		ev.ack = s.ackFunc(p.ID)
	}
	for _, l := range anys {
		l.fn(ev)
	}
	for _, l := range ls {
		l.fn(ev)
	}
}

// ackFunc returns the function that acknowledges the server's event id.
func (s *Socket) ackFunc(id uint64) func(args ...any) error {
	var once sync.Once
	return func(args ...any) error {
		err := errors.New("socketio: event already acknowledged")
		once.Do(func() {
			data, atts, e := parser.AppendArgs(nil, args, nil)
			if e != nil {
				err = fmt.Errorf("socketio: failed to encode acknowledgement: %w", e)
				return
			}
			p := &parser.Packet{Type: parser.Ack, Namespace: s.nsp, ID: id, HasID: true, Data: data, Attachments: atts}
			err = s.send(encode(p), 0, false)
		})
		return err
	}
}

// onAck completes an EmitWithAck.
func (s *Socket) onAck(p parser.Packet) {
	if !p.HasID {
		return
	}
	s.mu.Lock()
	ch, ok := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if !ok {
		return
	}
	data := []byte(p.Data)
	if len(p.Attachments) > 0 {
		d, err := parser.InlineAttachments(nil, p.Data, p.Attachments)
		if err != nil {
			ch <- ackResult{err: fmt.Errorf("socketio: bad acknowledgement: %w", err)}
			return
		}
		data = d
	}
	args, err := parser.SplitArray(nil, data)
	if err != nil {
		ch <- ackResult{err: fmt.Errorf("socketio: bad acknowledgement: %w", err)}
		return
	}
	ch <- ackResult{args: args}
}

// onEngineClose disconnects the socket after the loss of the connection.
func (s *Socket) onEngineClose(reason string) {
	s.mu.Lock()
	was := s.connected
	s.sentOn = nil
	s.mu.Unlock()
	if was {
		s.onclose(reason)
	}
}

// onclose marks the socket disconnected, fails the acknowledgements it
// waits for, and queues the disconnect handlers.
func (s *Socket) onclose(reason string) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	s.connected = false
	s.id = ""
	s.sentOn = nil
	// The acknowledgements of packets that went out will not come; those
	// of packets still buffered may, once they are sent.
	var lost []chan ackResult
	for id, ch := range s.acks {
		if !slices.ContainsFunc(s.sendBuf, func(b buffered) bool { return b.ackID == id }) {
			lost = append(lost, ch)
			delete(s.acks, id)
		}
	}
	fns := slices.Clone(s.onDisconn)
	s.mu.Unlock()
	for _, ch := range lost {
		ch <- ackResult{err: ErrDisconnected}
	}
	s.m.dispatch(func() {
		for _, fn := range fns {
			fn(reason)
		}
	})
}

// Disconnect disconnects the socket (the server gets a DISCONNECT packet)
// and stops its reconnection; the Manager closes its connection when no
// socket uses it any more. The socket can connect again with Connect.
func (s *Socket) Disconnect() {
	s.mu.Lock()
	was := s.connected
	s.active = false
	s.mu.Unlock()
	if was {
		if e := s.m.current(); e != nil {
			p := parser.Packet{Type: parser.Disconnect, Namespace: s.nsp}
			e.Send(eio.Packet{Data: p.AppendText(nil)})
		}
		s.onclose(ReasonIOClientDisconnect)
	}
	s.resolveWaiters(ErrDisconnected)
	s.m.maybeClose()
}

// destroy ends the socket when its Manager closes.
func (s *Socket) destroy(reason string, err error) {
	s.mu.Lock()
	s.active = false
	s.mu.Unlock()
	s.onclose(reason)
	s.resolveWaiters(err)
}

// encode encodes p as Engine.IO messages: its text, then its attachments.
func encode(p *parser.Packet) []eio.Packet {
	pkts := make([]eio.Packet, 1, 1+len(p.Attachments))
	pkts[0] = eio.Packet{Data: p.AppendText(make([]byte, 0, p.TextLen()))}
	for _, a := range p.Attachments {
		pkts = append(pkts, eio.Packet{Data: a, Binary: true})
	}
	return pkts
}

// Emitter emits with flags; see [Socket.Volatile].
type Emitter struct {
	s        *Socket
	volatile bool
}

// Volatile returns an Emitter whose events are dropped, rather than
// buffered or queued, when they cannot be written at once: the socket is
// offline or its connection is busy (in the middle of an upgrade, or
// still writing) — for events whose loss does not matter, such as
// positions sent many times a second.
func (s *Socket) Volatile() Emitter { return Emitter{s: s, volatile: true} }

// Emit sends the event; see [Socket.Emit].
func (em Emitter) Emit(event string, args ...any) error {
	p, err := buildEvent(em.s.nsp, event, args)
	if err != nil {
		return err
	}
	return em.s.send(encode(p), 0, em.volatile)
}

// Emit sends an event with args, encoded as JSON by encoding/json's rules
// except that every []byte (at any depth) travels as a binary attachment
// (a Buffer for a Node server). While the socket is offline the event is
// buffered (at most Options.MaxBuffered) and sent once it connects.
func (s *Socket) Emit(event string, args ...any) error {
	return Emitter{s: s}.Emit(event, args...)
}

// EmitWithAck sends an event and waits for the server's acknowledgement,
// returning its arguments (binary parts as base64 strings), or until ctx
// is done (its error; an event still buffered is then not sent), or the
// socket is disconnected first ([ErrDisconnected]).
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	p, err := buildEvent(s.nsp, event, args)
	if err != nil {
		return nil, err
	}
	ch := make(chan ackResult, 1)
	s.mu.Lock()
	s.nextAck++
	id := s.nextAck
	s.acks[id] = ch
	s.mu.Unlock()
	p.ID, p.HasID = id, true
	if err := s.send(encode(p), id, false); err != nil {
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
		return nil, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.acks, id)
		s.sendBuf = slices.DeleteFunc(s.sendBuf, func(b buffered) bool { return b.ackID == id })
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// buildEvent encodes an EVENT packet.
func buildEvent(nsp, event string, args []any) (*parser.Packet, error) {
	if parser.IsReservedEvent(event) {
		return nil, fmt.Errorf("failed to emit %q: %w", event, ErrReservedEvent)
	}
	data, atts, err := parser.AppendEvent(make([]byte, 0, 32+len(event)), event, args, nil)
	if err != nil {
		return nil, fmt.Errorf("socketio: failed to emit %q: %w", event, err)
	}
	return &parser.Packet{Type: parser.Event, Namespace: nsp, Data: data, Attachments: atts}, nil
}

// send sends a packet's messages when connected, or buffers them (drops
// them when volatile).
//
// Lock order: the Manager's mu (current), then the socket's, then the
// connection's (Send, which never blocks).
func (s *Socket) send(pkts []eio.Packet, ackID uint64, volatile bool) error {
	e := s.m.current()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected && e != nil {
		if volatile && !e.Writable() {
			return nil
		}
		err := e.Send(pkts...)
		if err == nil || !errors.Is(err, eio.ErrClosed) {
			return err
		}
		// The connection is going: buffer for the next one.
	}
	if volatile {
		return nil
	}
	if max := s.m.opts.MaxBuffered; max > 0 && len(s.sendBuf) >= max {
		return ErrBufferFull
	}
	s.sendBuf = append(s.sendBuf, buffered{pkts: pkts, ackID: ackID})
	return nil
}
