package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// The error codes of Engine.IO's JSON error responses, as Node's engine.io
// numbers them.
const (
	CodeUnknownTransport    = 0
	CodeUnknownSID          = 1
	CodeBadHandshakeMethod  = 2
	CodeBadRequest          = 3
	CodeForbidden           = 4
	CodeUnsupportedProtocol = 5
)

var codeMessages = [...]string{
	CodeUnknownTransport:    "Transport unknown",
	CodeUnknownSID:          "Session ID unknown",
	CodeBadHandshakeMethod:  "Bad handshake method",
	CodeBadRequest:          "Bad request",
	CodeForbidden:           "Forbidden",
	CodeUnsupportedProtocol: "Unsupported protocol version",
}

// Server is an Engine.IO server: an [http.Handler] that serves both
// transports under one path (mount it at "/engine.io/", or "/socket.io/"
// under Socket.IO). Its methods are safe for concurrent use.
type Server struct {
	cfg          config
	onConnection atomic.Pointer[func(*Socket)]
	sessionHooks atomic.Pointer[sessionHooks]
	wsHook       atomic.Pointer[func(*http.Request)]
	cluster      *cluster // nil when alone
	hb           wheel    // the sessions' heartbeats

	mu       sync.Mutex
	sessions map[string]*Socket // open sessions, and retired ones for a moment
	open     int
	drained  chan struct{} // closed once open drops to 0, when Shutdown waits for that
	closed   bool
	// closing holds the WebSockets in their close handshake.
	closing map[*websocket.Conn]struct{}
	// wg counts each open session until its OnClose callback has
	// returned, each WebSocket writer, and each request handler that
	// holds a WebSocket, so that Close can wait for all of them.
	wg sync.WaitGroup
}

// NewServer returns a server configured by opts; nil means the defaults.
func NewServer(opts *Options) *Server {
	srv := &Server{cfg: newConfig(opts), sessions: make(map[string]*Socket), closing: make(map[*websocket.Conn]struct{})}
	if o := srv.cfg.Cluster; o != nil && o.Transport != nil {
		srv.cluster = newCluster(srv, o)
		srv.cluster.start()
	}
	return srv
}

// OnConnection sets the function called with each new session, before the
// client hears of it (so packets it sends can't be missed). Set it before
// serving. The socket's OnMessage and OnClose callbacks are set inside it;
// it runs with the socket's callback lock held, so the socket's other
// callbacks wait for it to return.
func (srv *Server) OnConnection(fn func(*Socket)) {
	srv.onConnection.Store(&fn)
}

// OnWebSocket sets a function called with the request of every WebSocket
// the server accepts, a handshake over WebSocket or an upgrade, once it is
// accepted: bookkeeping such as counting WebSockets by HTTP version
// (r.ProtoMajor is 2 for a WebSocket over HTTP/2). It must not block.
func (srv *Server) OnWebSocket(fn func(r *http.Request)) {
	srv.wsHook.Store(&fn)
}

// acceptedWebSocket calls the OnWebSocket function, if any.
func (srv *Server) acceptedWebSocket(r *http.Request) {
	if fn := srv.wsHook.Load(); fn != nil && *fn != nil {
		(*fn)(r)
	}
}

// sessionHooks are the functions set by OnSession.
type sessionHooks struct {
	opened func(*Socket)
	closed func(*Socket, string, error)
}

// OnSession sets functions called with every session: opened when it
// opens, before OnConnection, and closed once it has closed (with the
// reason and error OnClose gets), before its OnClose callback; either may
// be nil. They serve bookkeeping beside the layer that owns OnConnection
// (such as counting the sessions of each client IP, or the clients cut
// off as too slow: see [ErrSlowPoll] and the like); they must return
// quickly and not call the Server (opened runs with its lock held). Set
// them before serving.
func (srv *Server) OnSession(opened func(s *Socket), closed func(s *Socket, reason string, err error)) {
	srv.sessionHooks.Store(&sessionHooks{opened, closed})
}

// Count returns the number of open sessions.
func (srv *Server) Count() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.open
}

// Close closes every session with the reason "server shutting down" and
// refuses new ones. Packets already queued are sent first: a WebSocket
// client gets them and a close frame (1001), a polling client with a
// request pending gets them and a close packet; a polling client without
// one finds its session gone at its next request. Close waits until every
// session's OnClose callback has returned and the server's goroutines have
// ended, so it must not be called from inside a callback.
func (srv *Server) Close() error {
	if srv.cluster != nil {
		srv.cluster.leave()
	}
	for _, s := range srv.closeSessions() {
		s.closeWith(ReasonServerShutdown, nil, closeGraceful)
	}
	srv.wg.Wait()
	if srv.cluster != nil {
		srv.cluster.close()
	}
	return nil
}

// Shutdown is [Server.Close] with a drain: a polling client that has
// packets queued and no request pending gets them, followed by a close
// packet, at its next poll, instead of losing them. Shutdown waits for
// those polls, and for the WebSocket sessions' queues to go out, until ctx
// is done; then it closes the sessions left as Close does and returns an
// error wrapping ctx's. The close handshakes of the WebSockets and the
// OnClose callbacks are waited for too, but a close handshake that the
// peer has not answered when ctx is done is cut short (the connection is
// closed) without making Shutdown fail: the drain had finished. Like
// Close, Shutdown must not be called from inside a callback.
func (srv *Server) Shutdown(ctx context.Context) error {
	if srv.cluster != nil {
		srv.cluster.leave()
	}
	for _, s := range srv.closeSessions() {
		s.closeWith(ReasonServerShutdown, nil, closeDrain)
	}
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		if srv.cluster != nil {
			srv.cluster.close()
		}
		close(done)
	}()
	drained := srv.drainedChan()
	select {
	case <-done:
		return nil
	case <-drained:
	case <-ctx.Done():
	}
	select {
	case <-drained:
		// Only close handshakes and callbacks are left.
		select {
		case <-done:
		case <-ctx.Done():
			srv.cutCloseHandshakes()
			<-done
		}
		return nil
	default:
	}
	left := srv.Count()
	for _, s := range srv.closeSessions() {
		s.closeWith(ReasonServerShutdown, nil, closeGraceful)
	}
	srv.cutCloseHandshakes()
	<-done
	return fmt.Errorf("engineio: failed to drain %d sessions (polling clients that did not poll for their last packets, or WebSocket clients that did not take them): %w", left, ctx.Err())
}

// drainedChan returns a channel closed once no session is open.
func (srv *Server) drainedChan() <-chan struct{} {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.drained == nil {
		srv.drained = make(chan struct{})
		if srv.open == 0 {
			close(srv.drained)
		}
	}
	return srv.drained
}

// countClosedLocked counts a session out of the open ones.
func (srv *Server) countClosedLocked() {
	srv.open--
	if srv.open == 0 && srv.drained != nil {
		select {
		case <-srv.drained:
		default:
			close(srv.drained)
		}
	}
}

// cutCloseHandshakes closes the connections whose close handshake is still
// waiting for the peer.
func (srv *Server) cutCloseHandshakes() {
	srv.mu.Lock()
	conns := make([]*websocket.Conn, 0, len(srv.closing))
	for c := range srv.closing {
		conns = append(conns, c)
	}
	srv.mu.Unlock()
	for _, c := range conns {
		c.CloseNow()
	}
}

// closeHandshake closes c with code and reason, where Shutdown can cut the
// wait for the peer short.
func (srv *Server) closeHandshake(c *websocket.Conn, code websocket.StatusCode, reason string) {
	srv.mu.Lock()
	srv.closing[c] = struct{}{}
	srv.mu.Unlock()
	c.Close(code, reason)
	srv.mu.Lock()
	delete(srv.closing, c)
	srv.mu.Unlock()
}

// closeSessions refuses new sessions and returns the known ones.
func (srv *Server) closeSessions() []*Socket {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.closed = true
	list := make([]*Socket, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s) // closing a closed session does nothing
	}
	return list
}

// track counts a goroutine that will hold a WebSocket, unless the server is
// closed.
func (srv *Server) track() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return false
	}
	srv.wg.Add(1)
	return true
}

// newID returns a random session ID of 20 URL-safe characters not in use.
func (srv *Server) newID() string {
	var b [15]byte
	for {
		rand.Read(b[:])
		id := base64.RawURLEncoding.EncodeToString(b[:])
		srv.mu.Lock()
		_, taken := srv.sessions[id]
		srv.mu.Unlock()
		if !taken {
			return id
		}
	}
}

// register adds a new session, unless the server is closed or the ID is
// taken.
func (srv *Server) register(s *Socket) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return false
	}
	if _, taken := srv.sessions[s.id]; taken {
		return false
	}
	srv.sessions[s.id] = s
	srv.open++
	srv.wg.Add(1) // released once OnClose has returned
	if h := srv.sessionHooks.Load(); h != nil && h.opened != nil {
		h.opened(s) // under srv.mu, so that it precedes closed
	}
	return true
}

func (srv *Server) remove(s *Socket) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
		srv.countClosedLocked()
	}
	srv.mu.Unlock()
}

// lateGrace is how long a session closed by its client stays known, so
// that a poll the client sent before closing ends cleanly.
const lateGrace = time.Second

// retire counts a closed session out but keeps it known for lateGrace.
func (srv *Server) retire(s *Socket) {
	srv.mu.Lock()
	srv.countClosedLocked()
	srv.mu.Unlock()
	time.AfterFunc(lateGrace, func() {
		srv.mu.Lock()
		if srv.sessions[s.id] == s {
			delete(srv.sessions, s.id)
		}
		srv.mu.Unlock()
	})
}

func (srv *Server) session(id string) *Socket {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id]
}

// ServeHTTP serves the Engine.IO transports: handshakes (a GET without
// sid, over polling or as a WebSocket upgrade), polls (GET with sid),
// packets from the client (POST with sid) and upgrades (a WebSocket
// handshake with sid). Refused requests get Node's JSON error body
// {"code":N,"message":"..."} with status 400 (403 for AllowRequest).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if srv.cfg.CORS != nil && srv.applyCORS(w, r) {
		return
	}
	q := r.URL.Query()
	transport := q.Get("transport")
	if !srv.cfg.enabled(transport) {
		writeError(w, CodeUnknownTransport, "")
		return
	}
	isWS := isWebSocketRequest(r)
	if sid := q.Get("sid"); sid != "" {
		s := srv.session(sid)
		if s == nil && srv.cluster != nil && len(sid) == 20 {
			// Another server's session, perhaps (cluster-engine's sids
			// are 20 characters long, as ours).
			srv.cluster.serve(w, r, q, sid, isWS)
			return
		}
		if s != nil {
			s.checkHeartbeat()
		}
		if s == nil || (sockState(s.state.Load()) == stateClosed && (isWS || r.Method != http.MethodGet)) {
			// (A closed session is still known for a moment to end a late
			// poll cleanly; see handlePoll.)
			writeError(w, CodeUnknownSID, "")
			return
		}
		if q.Get("EIO") != strconv.Itoa(int(s.proto)) {
			writeError(w, CodeBadRequest, "")
			return
		}
		if isWS {
			if transport != TransportWebSocket {
				writeError(w, CodeBadRequest, "")
				return
			}
			srv.upgrade(w, r, s)
			return
		}
		if transport != s.Transport() {
			writeError(w, CodeBadRequest, "") // transport mismatch
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.handlePoll(w, r)
		case http.MethodPost:
			s.handlePost(w, r)
		default:
			writeError(w, CodeBadRequest, "")
		}
		return
	}
	if r.Method != http.MethodGet && !isExtendedConnect(r) {
		writeError(w, CodeBadHandshakeMethod, "")
		return
	}
	proto := 0
	switch q.Get("EIO") {
	case "4":
		proto = 4
	case "3":
		if srv.cfg.AllowEIO3 {
			proto = 3
		}
	}
	if proto == 0 {
		writeError(w, CodeUnsupportedProtocol, "")
		return
	}
	if (transport == TransportWebSocket) != isWS || q.Has("j") {
		// A WebSocket handshake must be an upgrade, and a polling one
		// must not; JSONP polling is not supported.
		writeError(w, CodeBadRequest, "")
		return
	}
	if srv.cfg.AllowRequest != nil {
		if err := srv.cfg.AllowRequest(r); err != nil {
			writeError(w, CodeForbidden, err.Error())
			return
		}
	}
	if isWS {
		srv.openWebSocket(w, r, proto)
	} else {
		srv.openPolling(w, r, proto)
	}
}

// newSocket makes a session for the handshake r; it is not registered yet.
func (srv *Server) newSocket(r *http.Request, proto int) *Socket {
	return &Socket{
		srv:   srv,
		id:    srv.newID(),
		proto: uint8(proto),
		req:   keepRequest(r),
		b64:   r.URL.Query().Get("b64") != "",
	}
}

// openPolling answers a polling handshake with the open packet.
func (srv *Server) openPolling(w http.ResponseWriter, r *http.Request, proto int) {
	s := srv.newSocket(r, proto)
	if !srv.register(s) {
		writeShuttingDown(w)
		return
	}
	srv.setCookie(w, s.id)
	open := s.openPacket(srv.cfg.upgrades)
	if c := srv.cluster; c != nil && c.opts.ConnectionDelay > 0 && len(srv.cfg.upgrades) > 0 {
		s.delayConnection(c.opts.ConnectionDelay)
	} else {
		s.connected()
	}
	s.writePayload(w, r, []outgoing{{Packet: open}})
}

// openPacket builds the handshake's open packet.
func (s *Socket) openPacket(upgrades []string) parser.Packet {
	cfg := &s.srv.cfg
	h := parser.Handshake{SID: s.id, Upgrades: upgrades, PingInterval: cfg.PingInterval.Milliseconds(), PingTimeout: cfg.PingTimeout.Milliseconds()}
	if s.proto == 4 {
		h.MaxPayload = cfg.MaxPayload
	}
	data, _ := json.Marshal(h)
	return parser.Packet{Type: parser.Open, Data: data}
}

// connected runs OnConnection and starts the heartbeat.
func (s *Socket) connected() {
	s.deliverMu.Lock()
	func() {
		defer s.deliverMu.Unlock()
		if fn := s.srv.onConnection.Load(); fn != nil {
			(*fn)(s)
		}
	}()
	s.startHeartbeat()
}

func (srv *Server) setCookie(w http.ResponseWriter, id string) {
	c := srv.cfg.Cookie
	if c == nil {
		return
	}
	ck := &http.Cookie{Name: c.Name, Value: id, Path: c.Path, HttpOnly: c.HTTPOnly, Secure: c.Secure, SameSite: c.SameSite}
	if ck.Name == "" {
		ck.Name = "io"
	}
	if ck.Path == "" {
		ck.Path = "/"
	}
	if ck.SameSite == 0 {
		ck.SameSite = http.SameSiteLaxMode
	}
	http.SetCookie(w, ck)
}

// applyCORS adds the CORS headers and answers preflight requests, which it
// reports.
func (srv *Server) applyCORS(w http.ResponseWriter, r *http.Request) bool {
	c := srv.cfg.CORS
	h := w.Header()
	origin := r.Header.Get("Origin")
	allow := ""
	for _, o := range c.Origins {
		if o == "*" {
			allow = "*"
			if c.Credentials && origin != "" {
				allow = origin
			}
			break
		}
		if origin != "" && strings.EqualFold(o, origin) {
			allow = origin
			break
		}
	}
	if allow != "" {
		h.Set("Access-Control-Allow-Origin", allow)
	}
	if allow != "*" {
		h.Add("Vary", "Origin")
	}
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method != http.MethodOptions {
		return false
	}
	methods := c.Methods
	if methods == nil {
		methods = []string{http.MethodGet, http.MethodPost}
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ","))
	if c.AllowedHeaders != nil {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowedHeaders, ","))
	} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.FormatInt(int64(c.MaxAge/time.Second), 10))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// isWebSocketRequest reports whether r asks for a WebSocket: an upgrade
// over HTTP/1.1, or an extended CONNECT over HTTP/2 (RFC 8441), which has
// no Connection or Upgrade header.
func isWebSocketRequest(r *http.Request) bool {
	if isExtendedConnect(r) {
		return true
	}
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

// isExtendedConnect reports whether r opens a WebSocket over HTTP/2.
func isExtendedConnect(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect && strings.EqualFold(r.Header.Get(":protocol"), "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// writeError writes Node's JSON error body; message "" means the code's
// standard message.
func writeError(w http.ResponseWriter, code int, message string) {
	status := http.StatusBadRequest
	if code == CodeForbidden {
		status = http.StatusForbidden
	}
	writeJSONError(w, status, code, message)
}

func writeJSONError(w http.ResponseWriter, status, code int, message string) {
	if message == "" {
		message = codeMessages[code]
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func writeShuttingDown(w http.ResponseWriter) {
	writeJSONError(w, http.StatusServiceUnavailable, CodeBadRequest, "Server is shutting down")
}

// writePayload answers a poll with pkts, compressed when the client
// accepts it, the payload is big enough and one of the packets allows it.
// The packets' data is written as it is, never copied whole (a broadcast
// to many polling clients is held once, however slowly they read), and the
// client has TransferTimeout to take the response: one that does not has its
// session closed.
func (s *Socket) writePayload(w http.ResponseWriter, r *http.Request, pkts []outgoing) {
	err := writePayloadTo(w, r, &s.srv.cfg, s.ver(), s.b64, pkts, func(rc *http.ResponseController) {
		s.mu.Lock()
		s.coldLocked().pollWrite = rc
		s.mu.Unlock()
	})
	if err != nil {
		s.closeWith(ReasonTransportError, err, closeError)
	}
}

// writePayloadTo writes pkts as a poll response in protocol ver (b64: a
// v3 client without binary support), within cfg.TransferTimeout, and
// returns the error that ended it. track, when not nil, is told of the
// transfer's response controller while it runs, and of nil after.
func writePayloadTo(w http.ResponseWriter, r *http.Request, cfg *config, ver parser.Version, b64 bool, pkts []outgoing, track func(*http.ResponseController)) error {
	ps := make([]parser.Packet, len(pkts))
	compressible := false
	for i, p := range pkts {
		ps[i] = p.Packet
		compressible = compressible || !p.noCompress
	}
	size, binary := parser.PayloadLen(ver, ps, b64)
	h := w.Header()
	if binary {
		h.Set("Content-Type", "application/octet-stream")
	} else {
		h.Set("Content-Type", "text/plain; charset=UTF-8")
	}
	h.Set("Cache-Control", "no-store")
	enc := ""
	if compressible && !cfg.DisableHTTPCompression && size >= compressionThreshold {
		enc = acceptedEncoding(r.Header.Values("Accept-Encoding"))
	}

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(cfg.TransferTimeout))
	if track != nil {
		track(rc)
	}
	var err error
	if enc != "" {
		// Streamed: the length is known only at the end (chunked).
		h.Set("Content-Encoding", enc)
		w.WriteHeader(http.StatusOK)
		c := newCompressor(enc, w)
		_, err = parser.WritePayload(c, ver, ps, b64)
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	} else {
		h.Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusOK)
		_, err = parser.WritePayload(w, ver, ps, b64)
	}
	if err == nil {
		// What net/http still buffers goes out before the deadline too.
		err = rc.Flush()
	}
	// net/http leaves a connection's write deadline as it is for the next
	// request on it.
	_ = rc.SetWriteDeadline(time.Time{})
	if track != nil {
		track(nil)
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ErrSlowPoll, err)
		}
		return fmt.Errorf("engineio: failed to write a poll response: %w", err)
	}
	return nil
}
