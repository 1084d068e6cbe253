package socketio

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

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// Middleware runs when a client connects to a namespace, before the
// connection handlers. An error refuses the connection: the client gets a
// connect_error whose message is the error's text and whose data is the
// Data of a [*ConnectError] in the error's chain.
type Middleware func(s *Socket) error

// ConnectError is an error a [Middleware] returns to refuse a connection
// with data for the client (err.data in JavaScript).
type ConnectError struct {
	Message string
	Data    any
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// NewConnectError returns a [*ConnectError].
func NewConnectError(message string, data any) error {
	return &ConnectError{Message: message, Data: data}
}

// Namespace is a communication channel that multiplexes the clients'
// connections: a client connects to each namespace it uses, and gets a
// [Socket] per namespace. Its methods are safe for concurrent use.
type Namespace struct {
	server  *Server
	name    string
	local   *LocalSockets
	adapter Adapter
	err     error // the adapter's, when it could not be made
	parent  *ParentNamespace

	mu           sync.RWMutex
	middlewares  []Middleware
	connHandlers []func(*Socket)
	ssHandlers   map[string]func(args []json.RawMessage, ack func(json.RawMessage))

	ackIDs atomic.Uint64
}

func newNamespace(srv *Server, name string, parent *ParentNamespace) *Namespace {
	n := &Namespace{server: srv, name: name, parent: parent}
	n.local = newLocalSockets(n)
	if srv.opts.Adapter == nil {
		n.adapter = NewInMemoryAdapter(n, srv.opts.ConnectionStateRecovery)
		return n
	}
	a, err := srv.opts.Adapter(n)
	if err == nil && a == nil {
		err = errors.New("the adapter factory returned no adapter")
	}
	if err != nil {
		n.err = fmt.Errorf("socketio: failed to create the adapter of namespace %s: %w", name, err)
		srv.logger().Error("socketio: failed to create the adapter", "namespace", name, "err", err)
		a = failedAdapter{n.err}
	}
	n.adapter = a
	return n
}

// Name returns the namespace's name, such as "/" or "/admin".
func (n *Namespace) Name() string { return n.name }

// Err returns why the namespace is unusable: its adapter could not be made
// (see [AdapterFactory]). Its clients then get a connect_error, and its
// operations fail with this error. It is nil for a working namespace.
func (n *Namespace) Err() error { return n.err }

// LocalSockets returns the namespace's sockets on this server (it
// implements [AdapterHost]).
func (n *Namespace) LocalSockets() *LocalSockets { return n.local }

// Logger returns the server's logger (it implements [AdapterHost]).
func (n *Namespace) Logger() *slog.Logger { return n.server.logger() }

// Server returns the namespace's server.
func (n *Namespace) Server() *Server { return n.server }

// Adapter returns the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds a middleware run for each connecting socket, in the order added.
func (n *Namespace) Use(fn Middleware) *Namespace {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, fn)
	n.mu.Unlock()
	return n
}

// OnConnection adds a handler called for each connected socket.
func (n *Namespace) OnConnection(fn func(s *Socket)) *Namespace {
	n.mu.Lock()
	n.connHandlers = append(n.connHandlers, fn)
	n.mu.Unlock()
	return n
}

// OnSocketsJoinLeave sets a function called each time a socket of this
// server joins (joined true) or leaves a room by [BroadcastOperator.SocketsJoin]
// or SocketsLeave, made here or asked by another server of the cluster
// (where the caller cannot see the socket). It is not called for
// [Socket.Join] and [Socket.Leave], whose caller knows, nor when a socket
// leaves its rooms by disconnecting. It runs on the goroutine that made the
// change, after the namespace's locks are released, and may emit.
func (n *Namespace) OnSocketsJoinLeave(fn func(s *Socket, room string, joined bool)) {
	n.local.mu.Lock()
	n.local.bulkHook = fn
	n.local.mu.Unlock()
}

func (n *Namespace) nextAckID() uint64 { return n.ackIDs.Add(1) - 1 }

// Sockets returns the namespace's connected sockets on this server.
func (n *Namespace) Sockets() []*Socket {
	out := slices.DeleteFunc(n.local.all(), func(s *Socket) bool { return !s.Connected() })
	slices.SortFunc(out, func(a, b *Socket) int { return strings.Compare(a.id, b.id) })
	return out
}

// Socket returns the connected socket id of this server, or nil.
func (n *Namespace) Socket(id string) *Socket {
	if s := n.local.byID(id); s != nil && s.Connected() {
		return s
	}
	return nil
}

// connect runs on the client's dispatch goroutine: it creates the socket
// (restoring its session when possible), runs the middlewares and connects
// it.
func (n *Namespace) connect(c *connection, auth json.RawMessage) {
	s := n.newOrRestoredSocket(c, auth)
	defer s.connectDone()
	c.setSocket(n.name, s)

	var err error
	skip := s.recovered && n.server.opts.ConnectionStateRecovery.SkipMiddlewares
	if !skip {
		err = n.runMiddlewares(s)
	}
	if c.isClosed() || s.closing.Load() {
		s.closing.Store(true)
		n.local.unregister(s)
		c.removeSocket(s)
		return
	}
	if err != nil {
		n.local.unregister(s)
		c.removeSocket(s)
		msg := parser.ConnectErrorData{Message: err.Error()}
		var ce *ConnectError
		var jerr error
		if errors.As(err, &ce) && ce.Data != nil {
			msg.Data, jerr = json.Marshal(ce.Data)
		}
		var v any = msg
		if c.v3() {
			// Socket.IO v2: the error's data, or its message.
			v = err.Error()
			if msg.Data != nil {
				v = msg.Data
			}
		}
		var data []byte
		if jerr == nil {
			data, jerr = json.Marshal(v)
		}
		if jerr != nil {
			data, _ = json.Marshal(parser.ConnectErrorData{Message: err.Error()})
		}
		s.sendNow(&parser.Packet{Type: parser.ConnectError, Data: data})
		return
	}

	// Connected: join the own room, end the connect timeout (before the
	// CONNECT goes out: a client that got it must not be closed by the
	// timeout), send CONNECT and what was held.
	s.connected.Store(true)
	n.local.connected(s)
	c.connected()
	data, _ := json.Marshal(parser.ConnectData{SID: s.id, PID: s.pid})
	if c.v3() {
		data = nil
	}
	s.release(&parser.Packet{Type: parser.Connect, Data: data})

	for _, fn := range n.connectionHandlers() {
		if !s.Connected() {
			break
		}
		fn(s)
	}
}

func (n *Namespace) newOrRestoredSocket(c *connection, auth json.RawMessage) *Socket {
	if n.server.opts.ConnectionStateRecovery != nil && len(auth) > 0 && !c.v3() {
		var a parser.RecoveryAuth
		if json.Unmarshal(auth, &a) == nil && a.PID != nil && a.Offset != nil {
			n.takeOver(*a.PID)
			var s *Socket
			sess, err := n.adapter.RestoreSession(*a.PID, *a.Offset, func(sess *Session) {
				s = newSocket(n, c, auth)
				s.id, s.pid, s.recovered = sess.SID, sess.PID, true
				s.data.replace(sess.Data)
				var held []engineio.Packet
				for _, ep := range sess.MissedPackets {
					held = appendEnginePackets(held, ep, false)
				}
				if len(held) > 0 {
					s.held = &held
				}
				n.local.registerIn(s, sess.Rooms)
			})
			if err != nil {
				n.server.logger().Warn("socketio: failed to restore a session", "namespace", n.name, "err", err)
			}
			if sess != nil && s != nil {
				return s
			}
		}
	}
	s := newSocket(n, c, auth)
	n.local.register(s)
	return s
}

// takeOverTimeout bounds the wait for the disconnection of a socket whose
// client reconnected before the server noticed that it was gone.
const takeOverTimeout = 5 * time.Second

// takeOver handles a client that reconnects with the private id pid while
// its previous connection still looks alive here (a polling client whose
// connection broke between two requests is only noticed at the ping
// timeout): the private id is secret, so the previous connection is dead on
// the client's side. It is closed, which keeps its session, and the new
// connection can then restore it.
func (n *Namespace) takeOver(pid string) {
	old := n.local.byPID(pid)
	if old == nil {
		return
	}
	old.conn.onclose(ReasonTransportClose)
	_ = old.conn.engine.Close()
	select {
	case <-old.doneChan():
	case <-time.After(takeOverTimeout):
	}
}

func (n *Namespace) runMiddlewares(s *Socket) error {
	var mws []Middleware
	if n.parent != nil {
		n.parent.mu.Lock()
		mws = append(mws, n.parent.middlewares...)
		n.parent.mu.Unlock()
	}
	n.mu.RLock()
	mws = append(mws, n.middlewares...)
	n.mu.RUnlock()
	for _, mw := range mws {
		if err := mw(s); err != nil {
			return err
		}
	}
	return nil
}

func (n *Namespace) connectionHandlers() []func(*Socket) {
	var fns []func(*Socket)
	if n.parent != nil {
		n.parent.mu.Lock()
		fns = append(fns, n.parent.connHandlers...)
		n.parent.mu.Unlock()
	}
	n.mu.RLock()
	fns = append(fns, n.connHandlers...)
	n.mu.RUnlock()
	return fns
}

func (n *Namespace) operator() BroadcastOperator {
	return BroadcastOperator{nsps: []*Namespace{n}}
}

// To returns an operator that targets the sockets in rooms.
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.operator().To(rooms...) }

// In is the same as To.
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.operator().To(rooms...) }

// Except returns an operator that targets the sockets in none of rooms.
func (n *Namespace) Except(rooms ...string) BroadcastOperator {
	return n.operator().Except(rooms...)
}

// Volatile returns an operator whose packets may be dropped for clients
// that cannot receive them right now.
func (n *Namespace) Volatile() BroadcastOperator { return n.operator().Volatile() }

// Compress returns an operator with the compress flag set.
func (n *Namespace) Compress(compress bool) BroadcastOperator {
	return n.operator().Compress(compress)
}

// Local returns an operator limited to this server.
func (n *Namespace) Local() BroadcastOperator { return n.operator().Local() }

// Timeout returns an operator whose EmitWithAck waits at most d.
func (n *Namespace) Timeout(d time.Duration) BroadcastOperator { return n.operator().Timeout(d) }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.operator().Emit(event, args...) }

// EmitWithAck sends an event to every socket of the namespace and collects
// their acknowledgements (see [BroadcastOperator.EmitWithAck]).
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return n.operator().EmitWithAck(ctx, event, args...)
}

// FetchSockets returns the sockets of the namespace.
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return n.operator().FetchSockets(ctx)
}

// AllSockets returns the ids of the sockets of the namespace.
func (n *Namespace) AllSockets(ctx context.Context) ([]string, error) {
	return n.operator().AllSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(rooms ...string) error { return n.operator().SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(rooms ...string) error { return n.operator().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the namespace.
func (n *Namespace) DisconnectSockets(close bool) error {
	return n.operator().DisconnectSockets(close)
}

// OnServerSideEmit sets the handler of event for events sent by the other
// servers' [Namespace.ServerSideEmit]. ack is nil unless the sender waits
// for answers.
func (n *Namespace) OnServerSideEmit(event string, fn func(args []json.RawMessage, ack func(json.RawMessage))) {
	n.mu.Lock()
	if n.ssHandlers == nil {
		n.ssHandlers = map[string]func([]json.RawMessage, func(json.RawMessage)){}
	}
	n.ssHandlers[event] = fn
	n.mu.Unlock()
}

// DispatchServerSideEmit is called by adapters with an event another server
// sent with ServerSideEmit: args[0] is the event name.
func (n *Namespace) DispatchServerSideEmit(args []json.RawMessage, ack func(json.RawMessage)) {
	if len(args) == 0 {
		return
	}
	name := parser.EventName(args[0])
	n.mu.RLock()
	fn := n.ssHandlers[name]
	n.mu.RUnlock()
	if fn != nil {
		fn(args[1:], ack)
	}
}

// ServerSideEmit sends an event to the same namespace of the other servers
// (nothing happens with the in-memory adapter).
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	raw, err := rawArgs(event, args)
	if err != nil {
		return err
	}
	return n.adapter.ServerSideEmit(context.Background(), raw, nil)
}

// ServerSideEmitWithAck sends an event to the other servers and returns
// their answers.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	raw, err := rawArgs(event, args)
	if err != nil {
		return nil, err
	}
	type result struct {
		r   []json.RawMessage
		err error
	}
	ch := make(chan result, 1)
	if err := n.adapter.ServerSideEmit(ctx, raw, func(r []json.RawMessage, err error) { ch <- result{r, err} }); err != nil {
		return nil, err
	}
	select {
	case res := <-ch:
		return res.r, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func rawArgs(event string, args []any) ([]json.RawMessage, error) {
	if parser.IsReservedEvent(event) || event == "connection" || event == "new_namespace" {
		return nil, fmt.Errorf("failed to emit %q: %w", event, ErrReservedEvent)
	}
	out := []json.RawMessage{parser.AppendString(nil, event)}
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("failed to emit %q: %w", event, err)
		}
		out = append(out, b)
	}
	return out, nil
}
