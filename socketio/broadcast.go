package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"sync"
	"time"
)

// BroadcastOperator selects sockets (by rooms, minus excepted rooms) and
// carries the flags of an emission. Its methods return modified copies, so
// an operator can be kept and reused:
//
//	srv.To("room1").Except("banned").Emit("news", item)
type BroadcastOperator struct {
	nsps   []*Namespace
	parent *ParentNamespace // resolved to its children at use
	rooms  []string
	except []string
	flags  BroadcastFlags
}

func (b BroadcastOperator) namespaces() []*Namespace {
	if b.parent != nil {
		return b.parent.Children()
	}
	return b.nsps
}

func (b BroadcastOperator) opts() *BroadcastOptions {
	return &BroadcastOptions{Rooms: b.rooms, Except: b.except, Flags: b.flags}
}

// To returns an operator that also targets the sockets in rooms (a socket
// in several of them gets each packet once). Rooms named twice count once;
// the operator keeps them in the order they were first named. It takes
// time linear in the number of rooms the operator holds.
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.rooms = appendUnique(slices.Clip(b.rooms), rooms)
	return b
}

// In is the same as To.
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except returns an operator that excludes the sockets in rooms. As with
// To, rooms named twice count once.
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.except = appendUnique(slices.Clip(b.except), rooms)
	return b
}

// uniqueScan is the most rooms appendUnique compares pairwise: up to
// there, a scan of the few rooms kept so far is cheaper than a set, and
// allocates nothing but dst.
const uniqueScan = 16

// appendUnique appends to dst, whose elements are distinct, each element of
// add that is not in dst yet, in order. It takes time linear in
// len(dst)+len(add): beyond uniqueScan rooms it looks them up in a set
// (a list of 100,000 rooms compared pairwise took seconds).
func appendUnique(dst, add []string) []string {
	if cap(dst)-len(dst) < len(add) { // one allocation, whatever the duplicates
		dst = append(make([]string, 0, len(dst)+len(add)), dst...)
	}
	if len(dst)+len(add) <= uniqueScan {
		for _, r := range add {
			if !slices.Contains(dst, r) {
				dst = append(dst, r)
			}
		}
		return dst
	}
	seen := make(map[string]struct{}, len(dst)+len(add))
	for _, r := range dst {
		seen[r] = struct{}{}
	}
	for _, r := range add {
		if _, ok := seen[r]; !ok {
			seen[r] = struct{}{}
			dst = append(dst, r)
		}
	}
	return dst
}

// Volatile returns an operator whose packets are dropped for the clients
// whose connection is not writable at the moment (and never stored for
// connection state recovery).
func (b BroadcastOperator) Volatile() BroadcastOperator {
	b.flags.Volatile = true
	return b
}

// Compress returns an operator with the compress flag set: with false, its
// packets are sent uncompressed (see BroadcastFlags.Compress).
func (b BroadcastOperator) Compress(compress bool) BroadcastOperator {
	b.flags.Compress = &compress
	return b
}

// Local returns an operator limited to the sockets of this server.
func (b BroadcastOperator) Local() BroadcastOperator {
	b.flags.Local = true
	return b
}

// Timeout returns an operator whose EmitWithAck waits at most d for the
// acknowledgements.
func (b BroadcastOperator) Timeout(d time.Duration) BroadcastOperator {
	b.flags.Timeout = d
	return b
}

// Emit sends an event to the selected sockets. The packet is encoded once
// for all of them. Arguments are encoded as by [Socket.Emit].
func (b BroadcastOperator) Emit(event string, args ...any) error {
	nsps := b.namespaces()
	var first error
	for _, n := range nsps {
		p, err := buildEvent(event, args)
		if err != nil {
			return err
		}
		if err := n.adapter.Broadcast(p, b.opts()); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// EmitWithAck sends an event to the selected sockets and waits for each
// client's acknowledgement, until every one of them answered, the Timeout
// passed or ctx is done. It returns the first argument of each answer (in
// the order they arrived) and, when some are missing, ErrAckTimeout (or
// ctx's error) with the answers received so far.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	var cancel context.CancelFunc
	if b.flags.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, b.flags.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	// Done when EmitWithAck returns: the adapters stop waiting for the
	// acknowledgements that did not come.
	defer cancel()
	nsps := b.namespaces()
	var (
		mu            sync.Mutex
		responses     []json.RawMessage
		expectClients int
		gotServers    int
		expectServers int
		done          = make(chan struct{})
		closed        bool
	)
	check := func() {
		if !closed && gotServers >= expectServers && len(responses) >= expectClients {
			closed = true
			close(done)
		}
	}
	for _, n := range nsps {
		// A partial count (servers behind a broker node that did not
		// answer) is waited for as it is: those servers are unreachable.
		c, err := n.adapter.ServerCount(ctx)
		if err != nil && !errors.Is(err, ErrPartialResult) {
			return nil, err
		}
		expectServers += c
	}
	for _, n := range nsps {
		p, err := buildEvent(event, args)
		if err != nil {
			return nil, err
		}
		err = n.adapter.BroadcastWithAck(ctx, p, b.opts(), func(count int) {
			mu.Lock()
			expectClients += count
			gotServers++
			check()
			mu.Unlock()
		}, func(arg json.RawMessage) {
			mu.Lock()
			if !closed {
				responses = append(responses, arg)
				check()
			}
			mu.Unlock()
		})
		if err != nil {
			return nil, err
		}
	}
	mu.Lock()
	check()
	mu.Unlock()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = ErrAckTimeout
		}
	}
	mu.Lock()
	if !closed {
		closed = true
		close(done)
	}
	out := slices.Clone(responses)
	mu.Unlock()
	return out, err
}

// AllSockets returns the ids of the selected sockets. When some servers
// did not answer in time, it returns the others' with an error wrapping
// [ErrPartialResult].
func (b BroadcastOperator) AllSockets(ctx context.Context) ([]string, error) {
	var ids []string
	var partial error
	keep := func(err error) error {
		if err != nil && errors.Is(err, ErrPartialResult) {
			if partial == nil {
				partial = err
			}
			return nil
		}
		return err
	}
	for _, n := range b.namespaces() {
		if len(b.except) == 0 {
			got, err := n.adapter.Sockets(ctx, b.rooms)
			if err = keep(err); err != nil {
				return nil, err
			}
			ids = append(ids, got...)
			continue
		}
		socks, err := n.adapter.FetchSockets(ctx, b.opts())
		if err = keep(err); err != nil {
			return nil, err
		}
		for _, s := range socks {
			ids = append(ids, s.ID)
		}
	}
	return ids, partial
}

// FetchSockets returns the selected sockets, on every server. When some
// servers did not answer in time, it returns the others' sockets with an
// error wrapping [ErrPartialResult].
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	var out []*RemoteSocket
	var partial error
	for _, n := range b.namespaces() {
		details, err := n.adapter.FetchSockets(ctx, b.opts())
		if err != nil && !errors.Is(err, ErrPartialResult) {
			return nil, err
		}
		if err != nil && partial == nil {
			partial = err
		}
		for _, d := range details {
			out = append(out, &RemoteSocket{ID: d.ID, Handshake: d.Handshake, Rooms: d.Rooms, Data: d.Data, nsp: n, local: d.local})
		}
	}
	return out, partial
}

// SocketsJoin makes the selected sockets join rooms.
func (b BroadcastOperator) SocketsJoin(rooms ...string) error {
	for _, n := range b.namespaces() {
		if err := n.adapter.AddSockets(b.opts(), rooms); err != nil {
			return err
		}
	}
	return nil
}

// SocketsLeave makes the selected sockets leave rooms.
func (b BroadcastOperator) SocketsLeave(rooms ...string) error {
	for _, n := range b.namespaces() {
		if err := n.adapter.DelSockets(b.opts(), rooms); err != nil {
			return err
		}
	}
	return nil
}

// DisconnectSockets disconnects the selected sockets; with close set it also
// closes their connections.
func (b BroadcastOperator) DisconnectSockets(close bool) error {
	for _, n := range b.namespaces() {
		if err := n.adapter.DisconnectSockets(b.opts(), close); err != nil {
			return err
		}
	}
	return nil
}

// RemoteSocket is a socket returned by FetchSockets: a snapshot of its
// details, and operations that go through the adapter (so they work for a
// socket of another server too).
type RemoteSocket struct {
	ID        string
	Handshake *Handshake
	Rooms     []string
	Data      map[string]any

	nsp   *Namespace
	local *Socket
}

// Local returns the socket when it is connected to this server, or nil.
func (r *RemoteSocket) Local() *Socket { return r.local }

func (r *RemoteSocket) operator() BroadcastOperator {
	return BroadcastOperator{nsps: []*Namespace{r.nsp}, rooms: []string{r.ID}}
}

// Emit sends an event to the socket.
func (r *RemoteSocket) Emit(event string, args ...any) error {
	return r.operator().Emit(event, args...)
}

// EmitWithAck sends an event to the socket and returns the first argument of
// its acknowledgement.
func (r *RemoteSocket) EmitWithAck(ctx context.Context, event string, args ...any) (json.RawMessage, error) {
	res, err := r.operator().EmitWithAck(ctx, event, args...)
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, ErrDisconnected
	}
	return res[0], nil
}

// Join makes the socket join rooms.
func (r *RemoteSocket) Join(rooms ...string) error { return r.operator().SocketsJoin(rooms...) }

// Leave makes the socket leave rooms.
func (r *RemoteSocket) Leave(rooms ...string) error { return r.operator().SocketsLeave(rooms...) }

// Disconnect disconnects the socket.
func (r *RemoteSocket) Disconnect(close bool) error {
	return r.operator().DisconnectSockets(close)
}

// ParentNamespace is a dynamic namespace: it creates a child [Namespace]
// for each name its match function accepts. The middlewares and connection
// handlers of the parent apply to every child (before the child's own), and
// its operators target all the children.
type ParentNamespace struct {
	server *Server
	match  func(name string, auth json.RawMessage) bool

	mu           sync.Mutex
	children     []*Namespace
	middlewares  []Middleware
	connHandlers []func(*Socket)
}

// Use adds a middleware for the sockets of every child namespace.
func (p *ParentNamespace) Use(fn Middleware) *ParentNamespace {
	p.mu.Lock()
	p.middlewares = append(p.middlewares, fn)
	p.mu.Unlock()
	return p
}

// OnConnection adds a connection handler for every child namespace.
func (p *ParentNamespace) OnConnection(fn func(s *Socket)) *ParentNamespace {
	p.mu.Lock()
	p.connHandlers = append(p.connHandlers, fn)
	p.mu.Unlock()
	return p
}

// Children returns the namespaces created so far.
func (p *ParentNamespace) Children() []*Namespace {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.children)
}

func (p *ParentNamespace) operator() BroadcastOperator { return BroadcastOperator{parent: p} }

// To returns an operator over every child namespace.
func (p *ParentNamespace) To(rooms ...string) BroadcastOperator { return p.operator().To(rooms...) }

// Except returns an operator over every child namespace.
func (p *ParentNamespace) Except(rooms ...string) BroadcastOperator {
	return p.operator().Except(rooms...)
}

// Emit sends an event to every socket of every child namespace.
func (p *ParentNamespace) Emit(event string, args ...any) error {
	return p.operator().Emit(event, args...)
}

// FetchSockets returns the sockets of every child namespace.
func (p *ParentNamespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return p.operator().FetchSockets(ctx)
}

// DisconnectSockets disconnects the sockets of every child namespace.
func (p *ParentNamespace) DisconnectSockets(close bool) error {
	return p.operator().DisconnectSockets(close)
}

// regexpMatcher adapts a regular expression to a ParentNamespace match.
func regexpMatcher(re *regexp.Regexp) func(string, json.RawMessage) bool {
	return func(name string, _ json.RawMessage) bool { return re.MatchString(name) }
}
