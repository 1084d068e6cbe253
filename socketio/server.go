package socketio

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tether-rt/tether/engineio"
)

// Server is a Socket.IO server (protocol v5, for the socket.io 3.x and 4.x
// clients) on top of an Engine.IO server. It is an http.Handler: mount it
// at the clients' path, "/socket.io/" by default.
//
// The methods of the main namespace "/" are available on the Server itself.
type Server struct {
	opts   Options
	engine *engineio.Server

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*ParentNamespace
	conns   map[*connection]struct{}
	main    *Namespace
}

// NewServer returns a server configured by opts (nil means the defaults).
func NewServer(opts *Options) *Server {
	s := &Server{
		opts:  opts.withDefaults(),
		nsps:  map[string]*Namespace{},
		conns: map[*connection]struct{}{},
	}
	s.main = s.Of("/")
	s.engine = engineio.NewServer(&s.opts.Options)
	s.engine.OnConnection(func(es *engineio.Socket) {
		es.SetHandler(s.newConnection(es))
	})
	return s
}

// logger returns Options.Logger, or the default logger.
func (s *Server) logger() *slog.Logger {
	if s.opts.Logger != nil {
		return s.opts.Logger
	}
	return slog.Default()
}

// ServeHTTP serves the Engine.IO requests (polling and WebSocket).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Engine returns the Engine.IO server underneath.
func (s *Server) Engine() *engineio.Server { return s.engine }

// Close disconnects every socket (reason "server shutting down") and closes
// the Engine.IO server.
func (s *Server) Close() error {
	s.mu.Lock()
	conns := make([]*connection, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.onclose(ReasonServerShuttingDown)
	}
	err := s.engine.Close()
	s.mu.RLock()
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.RUnlock()
	for _, n := range nsps {
		_ = n.adapter.Close()
	}
	return err
}

// Of returns the namespace name ("/" is prepended when missing), creating
// it if needed.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	n := s.nsps[name]
	if n == nil {
		n = newNamespace(s, name, nil)
		s.nsps[name] = n
	}
	s.mu.Unlock()
	return n
}

// OfFunc adds a dynamic namespace: a client may connect to any namespace
// name that match accepts (given the CONNECT packet's auth payload); a
// child namespace is created for each accepted name. Static namespaces
// (from Of) take precedence; dynamic ones are tried in the order added.
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *ParentNamespace {
	p := &ParentNamespace{server: s, match: match}
	s.mu.Lock()
	s.parents = append(s.parents, p)
	s.mu.Unlock()
	return p
}

// OfRegexp adds a dynamic namespace for the names re matches.
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	return s.OfFunc(regexpMatcher(re))
}

// lookupNamespace returns the namespace name, creating a dynamic one when a
// parent accepts it, or nil.
func (s *Server) lookupNamespace(name string, auth json.RawMessage) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	for _, p := range parents {
		if !p.match(name, auth) {
			continue
		}
		s.mu.Lock()
		n = s.nsps[name]
		if n == nil {
			n = newNamespace(s, name, p)
			s.nsps[name] = n
			p.mu.Lock()
			p.children = append(p.children, n)
			p.mu.Unlock()
		}
		s.mu.Unlock()
		return n
	}
	return nil
}

// Namespaces returns the names of the existing namespaces.
func (s *Server) Namespaces() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.nsps))
	for name := range s.nsps {
		names = append(names, name)
	}
	return names
}

// Sockets returns the main namespace "/".
func (s *Server) Sockets() *Namespace { return s.main }

// Use adds a middleware to the main namespace.
func (s *Server) Use(fn Middleware) *Server {
	s.main.Use(fn)
	return s
}

// OnConnection adds a connection handler to the main namespace.
func (s *Server) OnConnection(fn func(*Socket)) *Server {
	s.main.OnConnection(fn)
	return s
}

// Emit sends an event to every socket of the main namespace.
func (s *Server) Emit(event string, args ...any) error { return s.main.Emit(event, args...) }

// EmitWithAck sends an event to every socket of the main namespace and
// collects the acknowledgements.
func (s *Server) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return s.main.EmitWithAck(ctx, event, args...)
}

// To returns an operator on the main namespace that targets rooms.
func (s *Server) To(rooms ...string) BroadcastOperator { return s.main.To(rooms...) }

// In is the same as To.
func (s *Server) In(rooms ...string) BroadcastOperator { return s.main.To(rooms...) }

// Except returns an operator on the main namespace that excludes rooms.
func (s *Server) Except(rooms ...string) BroadcastOperator { return s.main.Except(rooms...) }

// Volatile returns a volatile operator on the main namespace.
func (s *Server) Volatile() BroadcastOperator { return s.main.Volatile() }

// Compress returns an operator on the main namespace with the compress flag.
func (s *Server) Compress(compress bool) BroadcastOperator { return s.main.Compress(compress) }

// Local returns an operator on the main namespace limited to this server.
func (s *Server) Local() BroadcastOperator { return s.main.Local() }

// Timeout returns an operator on the main namespace whose EmitWithAck
// waits at most d.
func (s *Server) Timeout(d time.Duration) BroadcastOperator { return s.main.Timeout(d) }

// FetchSockets returns the sockets of the main namespace.
func (s *Server) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return s.main.FetchSockets(ctx)
}

// SocketsJoin makes every socket of the main namespace join rooms.
func (s *Server) SocketsJoin(rooms ...string) error { return s.main.SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the main namespace leave rooms.
func (s *Server) SocketsLeave(rooms ...string) error { return s.main.SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the main namespace.
func (s *Server) DisconnectSockets(close bool) error { return s.main.DisconnectSockets(close) }
