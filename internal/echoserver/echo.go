package echoserver

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// Server is the echo service: an http.Handler that accepts WebSocket
// connections on any path and echoes every message. It keeps track of its
// connections so that [Server.Shutdown] can close them with 1001 (going
// away), which net/http's own Shutdown cannot do for hijacked connections.
type Server struct {
	// Logger, when set (before serving), logs each connection closed
	// because its peer went quiet (see [SetIdleTimeout]).
	Logger *slog.Logger

	// NoInline, when set before serving, has every message answered by a
	// reader goroutine, not by the poller itself with io_uring (see
	// [websocket.InlineHandler]).
	NoInline bool

	opts *websocket.AcceptOptions

	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	shutdown bool

	timedOut atomic.Int64
}

// Handler returns a [Server] that accepts WebSocket connections on any path
// with opts and echoes every message. nil opts means [DefaultOptions].
func Handler(opts *websocket.AcceptOptions) *Server {
	if opts == nil {
		opts = DefaultOptions()
	}
	return &Server{opts: opts, conns: make(map[*websocket.Conn]struct{})}
}

// DefaultIdleTimeout is how long `tether echo` lets a connection send
// nothing, not even a pong, before closing it (see [SetIdleTimeout]).
const DefaultIdleTimeout = 60 * time.Second

// DefaultOptions returns the options `tether echo` serves with:
// permessage-deflate with context takeover, any Origin (it is a test tool,
// not a site), the default read limit, and [DefaultIdleTimeout].
func DefaultOptions() *websocket.AcceptOptions {
	opts := &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		Compression:        websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover},
	}
	SetIdleTimeout(opts, DefaultIdleTimeout)
	return opts
}

// SetIdleTimeout sets the heartbeat of opts so that a connection whose
// peer sends nothing, not even a pong, for d is closed: a connection quiet
// for d/2 to d is pinged, and closed when nothing arrives within d/2 of
// the ping, so between d and 1.5×d after the last byte it received. A
// client that answers pings stays connected however long it is idle; one
// that stops in the middle of a frame cannot answer (a pong cannot come
// inside a frame) and is closed, and so is one that does not read its
// echo (the connection is not read while the echo waits to be written).
// d <= 0 turns the heartbeat off.
func SetIdleTimeout(opts *websocket.AcceptOptions, d time.Duration) {
	if d <= 0 {
		opts.PingInterval, opts.PingTimeout = 0, 0
		return
	}
	opts.PingInterval = d / 2
	opts.PingTimeout = d - d/2
}

// ServeHTTP upgrades the request and echoes until the connection closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, s.opts)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	// Over HTTP/1.1 the handler returns; the connection is read by the
	// poller while it is idle, and by a goroutine of its own while it is
	// busy (see websocket.Conn.ReadLoopAsync); on Linux with io_uring the
	// poller answers small messages itself (websocket.InlineHandler).
	e := &session{s: s, c: c}
	if s.NoInline {
		c.ReadLoopAsyncHandler(readerSession{e})
	} else {
		c.ReadLoopAsyncHandler(e)
	}
	if r.ProtoMajor == 2 {
		// A WebSocket over HTTP/2 is this request's stream, which net/http
		// ends when the handler returns.
		<-c.Done()
	}
}

// session is the echo of one connection, its [websocket.InlineHandler].
type session struct {
	s *Server
	c *websocket.Conn
}

// HandleMessage echoes a message on a reader goroutine.
func (e *session) HandleMessage(typ websocket.MessageType, p []byte) error {
	return e.c.WriteMessage(typ, p)
}

// HandleInline echoes a message that the poller serves: into its batch,
// which the poller writes with the other connections' echoes.
func (e *session) HandleInline(typ websocket.MessageType, p []byte, b *websocket.Batch) error {
	return b.WriteMessage(typ, p)
}

// ReadEnded closes the connection and forgets it.
func (e *session) ReadEnded(err error) {
	s, c := e.s, e.c
	c.CloseNow()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if errors.Is(err, websocket.ErrHeartbeatTimeout) {
		s.timedOut.Add(1)
		if s.Logger != nil {
			s.Logger.Info("echo: closed a connection that went quiet", "remote", c.RemoteAddr().String(),
				"idle_timeout", s.idleTimeout())
		}
	}
}

// readerSession is a session whose messages readers answer (NoInline):
// it is no [websocket.InlineHandler].
type readerSession struct{ e *session }

func (r readerSession) HandleMessage(typ websocket.MessageType, p []byte) error {
	return r.e.HandleMessage(typ, p)
}
func (r readerSession) ReadEnded(err error) { r.e.ReadEnded(err) }

// idleTimeout is the idle timeout that the heartbeat of s's options
// amounts to (see [SetIdleTimeout]).
func (s *Server) idleTimeout() time.Duration {
	if s.opts.PingTimeout <= 0 {
		return 2 * s.opts.PingInterval
	}
	return s.opts.PingInterval + s.opts.PingTimeout
}

// TimedOut returns how many connections the server has closed because
// their peer went quiet: it sent nothing, not even a pong, within the
// idle timeout (see [SetIdleTimeout]).
func (s *Server) TimedOut() int64 { return s.timedOut.Load() }

// Shutdown closes every open connection with status 1001 (going away) and
// refuses new ones the same way. It returns once the close handshakes are
// done (each is bounded by the connection's close timeout).
func (s *Server) Shutdown() error {
	s.mu.Lock()
	s.shutdown = true
	conns := make([]*websocket.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close(websocket.StatusGoingAway, "server shutting down")
		}()
	}
	wg.Wait()
	return nil
}

// HTTPServer returns the http.Server that `tether echo` serves h with:
// the handshake's header must arrive within 10 s.
func HTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
}

// Echo sends every message read from c back to it until the connection
// closes, and returns nil after a clean close. It works for both client and
// server connections.
func Echo(c *websocket.Conn) error {
	defer c.CloseNow()
	err := c.ReadLoop(func(typ websocket.MessageType, p []byte) error {
		return c.WriteMessage(typ, p)
	})
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return nil
	}
	if errors.Is(err, websocket.ErrClosed) {
		return nil
	}
	return err
}
