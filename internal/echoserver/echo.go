package echoserver

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// Server is the echo service: an http.Handler that accepts WebSocket
// connections on any path and echoes every message. It keeps track of its
// connections so that [Server.Shutdown] can close them with 1001 (going
// away), which net/http's own Shutdown cannot do for hijacked connections.
type Server struct {
	opts *websocket.AcceptOptions

	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	shutdown bool
}

// Handler returns a [Server] that accepts WebSocket connections on any path
// with opts and echoes every message. nil opts means [DefaultOptions].
func Handler(opts *websocket.AcceptOptions) *Server {
	if opts == nil {
		opts = DefaultOptions()
	}
	return &Server{opts: opts, conns: make(map[*websocket.Conn]struct{})}
}

// DefaultOptions returns the options `tether echo` serves with:
// permessage-deflate with context takeover, any Origin (it is a test tool,
// not a site), the default read limit.
func DefaultOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		Compression:        websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover},
	}
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
	// The handler returns; the connection is read by the poller while it
	// is idle (see websocket.Conn.ReadLoopAsync).
	c.ReadLoopAsync(func(typ websocket.MessageType, p []byte) error {
		return c.WriteMessage(typ, p)
	}, func(error) {
		c.CloseNow()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	})
}

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
