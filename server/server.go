package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tether-rt/tether/adminui"
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/websocket"
)

// Options configures [New].
type Options struct {
	// Config is the configuration; nil means [DefaultConfig]. It must be
	// valid ([Config.Validate]) and is not modified.
	Config *Config
	// Static is served at "/" (index.html for the root); nil serves a
	// built-in page that lists the endpoints.
	Static fs.FS
	// Logger receives the server's logs; nil means a logger to stderr in
	// Config.Log's level and format.
	Logger *slog.Logger
}

// connectTimeout is how long a new connection may take to join a namespace.
const connectTimeout = 20 * time.Second

// handshakeTTL is how long a handshake admitted by the per-IP limits counts
// as a connection before its session opens.
const handshakeTTL = 10 * time.Second

// Server is the standalone server: an http.Handler with the Socket.IO
// endpoint, the backend API, health and metrics endpoints and the static
// files, plus [Server.Serve] and [Server.Run], which serve it with TLS and
// shut down gracefully.
type Server struct {
	cfg      *Config
	log      *slog.Logger
	io       *socketio.Server
	verifier *verifier
	cluster  *clusterNode // nil when alone
	rules    map[string]*nsRules
	limiter  *ipLimiter
	ips      *ipResolver
	origins  *originPolicy
	metrics  *metrics
	handler  http.Handler
	started  time.Time
	admin    *adminui.Admin // nil unless admin_ui.enabled

	shuttingDown atomic.Bool
	testURL      string // tests: the base URL it is served at

	mu       sync.Mutex
	conns    map[*engineio.Socket]string // every client connection, with its IP
	inflight int                         // built-in event handlers running
	idle     chan struct{}               // closed when inflight drops to 0 while draining
}

// nsRules are a configured namespace's rules.
type nsRules struct {
	srv         *Server
	cfg         NamespaceConfig
	requireAuth bool
	nsp         *socketio.Namespace
	diffs       *presenceDiffs // nil without presence:diff events
}

// New returns a server for opts.
func New(opts Options) (*Server, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = NewLogger(os.Stderr, &cfg.Log)
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		rules:   map[string]*nsRules{},
		conns:   map[*engineio.Socket]string{},
		started: time.Now(),
		origins: newOriginPolicy(cfg.Origins),
		limiter: newIPLimiter(cfg.Limits.HandshakeRate, cfg.Limits.HandshakeBurst, cfg.Limits.ConnectionsPerIP, handshakeTTL),
	}
	var err error
	if s.ips, err = newIPResolver(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	if s.verifier, err = newVerifier(&cfg.Auth.JWT, cfg.ExpRequired(), log); err != nil {
		return nil, fmt.Errorf("failed to set up token verification: %w", err)
	}
	s.metrics = newMetrics(s.connectionsByTransport, s.recoveryLogSizes)
	if cfg.Cluster.RedisURL != "" {
		cm := newClusterMetrics()
		s.metrics.cluster = cm
		if s.cluster, err = newClusterNode(cfg, log, s.metrics); err != nil {
			return nil, fmt.Errorf("failed to join the cluster: %w", err)
		}
		s.metrics.reg.MustRegister(cm.collectors()...)
		s.metrics.reg.MustRegister(&gaugeCollector{
			desc:   prometheus.NewDesc("tether_cluster_nodes", "Nodes of the cluster, this one included, as its adapter counts them.", []string{"adapter"}, nil),
			values: s.clusterNodes,
		})
	}
	s.io = socketio.NewServer(s.socketioOptions())
	s.io.Engine().OnSession(s.sessionOpened, s.sessionClosed)
	s.io.Engine().OnWebSocket(s.metrics.webSocketAccepted)
	for _, nc := range cfg.Namespaces {
		r := &nsRules{srv: s, cfg: nc, requireAuth: cfg.Auth.Required}
		if nc.RequireAuth != nil {
			r.requireAuth = *nc.RequireAuth
		}
		r.nsp = s.io.Of(nc.Name)
		if err := r.nsp.Err(); err != nil {
			_ = s.io.Close()
			s.closeCluster()
			return nil, err
		}
		if nc.PresenceDiffInterval > 0 {
			r.diffs = newPresenceDiffs(r.nsp, nc.PresenceDiffInterval, log)
		}
		r.nsp.Use(s.connectMiddleware(r))
		r.nsp.OnConnection(func(sock *socketio.Socket) { s.onConnection(r, sock) })
		r.nsp.OnSocketsJoinLeave(bulkMembership)
		s.rules[nc.Name] = r
	}
	if cfg.AdminUI.Enabled {
		if s.admin, err = s.instrumentAdminUI(); err != nil {
			return nil, fmt.Errorf("failed to set up the Admin UI: %w", err)
		}
	}
	s.handler = s.routes(opts.Static)
	if s.verifier != nil && s.verifier.jwks != nil {
		go func() { // warm the cache; failures are logged, not fatal
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.verifier.jwks.fetch(ctx); err != nil {
				log.Warn("failed to fetch the JWKS", "url", cfg.Auth.JWT.JWKSURL, "err", err)
			}
		}()
	}
	return s, nil
}

// instrumentAdminUI serves the Socket.IO Admin UI's namespace, with the
// bytes the listener counted for its dashboard.
func (s *Server) instrumentAdminUI() (*adminui.Admin, error) {
	c := &s.cfg.AdminUI
	opts := adminui.Options{
		Namespace:  c.Namespace,
		NoAuth:     c.NoAuth,
		ReadOnly:   c.ReadOnly,
		Production: c.Mode == "production",
		ServerID:   c.ServerID,
		Traffic:    func() (uint64, uint64) { return s.metrics.bytesRead.Load(), s.metrics.bytesWritten.Load() },
		Logger:     s.log,
	}
	if !c.NoAuth {
		opts.Auth = &adminui.BasicAuth{Username: c.Username, PasswordHash: c.PasswordHash}
	}
	a, err := adminui.Instrument(s.io, opts)
	if err == nil {
		s.log.Info("Admin UI namespace", "namespace", c.Namespace, "auth", !c.NoAuth, "read_only", c.ReadOnly, "mode", c.Mode)
	}
	return a, err
}

// NewLogger returns a logger to w in c's level and format.
func NewLogger(w io.Writer, c *LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	ho := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func (s *Server) socketioOptions() *socketio.Options {
	c := s.cfg
	o := &socketio.Options{
		Options: engineio.Options{
			PingInterval:   c.Engine.PingInterval,
			PingTimeout:    c.Engine.PingTimeout,
			MaxPayload:     c.Limits.MaxPayload,
			SendQueue:      c.Limits.SendQueue,
			SendQueueBytes: c.Limits.SendQueueBytes,
			Transports:     c.Engine.Transports,
			WebSocket: websocket.AcceptOptions{
				OriginPatterns: slices.DeleteFunc(slices.Clone(c.Origins), func(o string) bool { return o == "*" }),
			},
		},
		ConnectTimeout: connectTimeout,
		Logger:         s.log,
	}
	if c.Engine.Compression {
		o.WebSocket.Compression.Mode = websocket.CompressionContextTakeover
	}
	if len(c.Origins) > 0 {
		// Requests from origins that are not allowed never get here (see
		// serveIO): the engine may answer CORS for any that does.
		o.CORS = &engineio.CORSOptions{Origins: []string{"*"}, Credentials: c.CORSCredentials}
		if slices.Contains(c.Origins, "*") {
			o.WebSocket.InsecureSkipVerify = true
		}
	}
	if s.cluster != nil {
		o.Adapter = s.cluster.factory
		o.Cluster = s.cluster.engine
	}
	if c.Recovery.Enabled {
		o.ConnectionStateRecovery = &socketio.RecoveryOptions{
			MaxDisconnectionDuration: c.Recovery.MaxDisconnection,
			MaxLogBytes:              c.Recovery.MaxLogBytes,
			MaxLogPackets:            c.Recovery.MaxLogPackets,
			OnDrop:                   s.metrics.recoveryLogDropped,
		}
	}
	return o
}

// IO returns the Socket.IO server, for applications that add their own
// events and namespaces.
func (s *Server) IO() *socketio.Server { return s.io }

// Config returns the server's configuration. It must not be modified.
func (s *Server) Config() *Config { return s.cfg }

// ServeHTTP serves every endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Ready reports whether the server takes new connections (not shutting down).
func (s *Server) Ready() bool { return !s.shuttingDown.Load() }

func (s *Server) routes(static fs.FS) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(s.cfg.Path, s.serveIO)
	mux.Handle("/api/", s.apiHandler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		if s.cluster != nil {
			if err := s.cluster.ping(r.Context()); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "redis unreachable: %v\n", err)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if static != nil {
		mux.Handle("/", http.FileServerFS(static))
	} else {
		mux.HandleFunc("/", s.serveIndex)
	}
	return mux
}

// serveIO checks the Origin and, for handshakes, the server's state and
// the per-IP limits, then hands the request to Socket.IO.
func (s *Server) serveIO(w http.ResponseWriter, r *http.Request) {
	if !s.origins.allowed(r.Header.Get("Origin"), r.Host) {
		s.reject(w, r, http.StatusForbidden, rejectOrigin, "origin not allowed")
		return
	}
	// A handshake is a GET without sid, or an extended CONNECT without sid
	// (a WebSocket over HTTP/2).
	if (r.Method == http.MethodGet || r.Method == http.MethodConnect) && r.URL.Query().Get("sid") == "" {
		if s.shuttingDown.Load() {
			s.reject(w, r, http.StatusServiceUnavailable, rejectShutdown, "server shutting down")
			return
		}
		switch s.limiter.handshake(s.ips.clientIP(r.RemoteAddr, r.Header), time.Now()) {
		case "rate":
			w.Header().Set("Retry-After", "1")
			s.reject(w, r, http.StatusTooManyRequests, rejectRate, "too many connection attempts")
			return
		case "connections":
			s.reject(w, r, http.StatusTooManyRequests, rejectConnections, "too many connections")
			return
		}
	}
	s.io.ServeHTTP(w, r)
}

// reject refuses a request with an Engine.IO-style JSON error.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	s.metrics.rejectedHandshake.WithLabelValues(reason).Inc()
	s.log.Debug("refused a connection", "reason", reason, "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":%d,"message":%q}`, engineio.CodeForbidden, msg)
}

// sessionOpened counts a new client connection (Engine.IO session),
// whichever namespaces it joins, against its IP's limit.
func (s *Server) sessionOpened(es *engineio.Socket) {
	var h http.Header // read only behind a trusted proxy: the session makes it anew
	if len(s.ips.trusted) > 0 {
		h = es.Header()
	}
	ip := s.limiter.connected(s.ips.clientIP(es.RemoteAddr(), h), time.Now())
	s.mu.Lock()
	s.conns[es] = ip
	s.mu.Unlock()
}

// sessionClosed forgets a client connection, and counts and logs a client
// cut off as too slow.
func (s *Server) sessionClosed(es *engineio.Socket, reason string, err error) {
	s.mu.Lock()
	ip, ok := s.conns[es]
	delete(s.conns, es)
	s.mu.Unlock()
	if !ok {
		return
	}
	s.limiter.closed(ip)
	if slow := slowReason(reason, err); slow != "" {
		s.metrics.slowDisconnects.WithLabelValues(slow).Inc()
		s.log.Info("disconnected a slow client", "remote", ip, "session", es.ID(), "reason", slow)
	}
}

// connectionsByTransport counts the open client connections.
func (s *Server) connectionsByTransport() map[string]int {
	m := map[string]int{engineio.TransportPolling: 0, engineio.TransportWebSocket: 0}
	s.mu.Lock()
	conns := make([]*engineio.Socket, 0, len(s.conns))
	for es := range s.conns {
		conns = append(conns, es)
	}
	s.mu.Unlock()
	for _, es := range conns {
		m[es.Transport()]++
	}
	return m
}

// recoveryLogSizes returns the packets and bytes of each namespace's
// connection state recovery log (none when recovery is off).
func (s *Server) recoveryLogSizes() (packets, bytes map[string]int) {
	packets, bytes = map[string]int{}, map[string]int{}
	if !s.cfg.Recovery.Enabled {
		return packets, bytes
	}
	for _, name := range s.io.Namespaces() {
		if a, ok := s.io.Of(name).Adapter().(interface{ RecoveryLogSize() (int, int64) }); ok {
			n, b := a.RecoveryLogSize()
			packets[name], bytes[name] = n, int(b)
		}
	}
	return packets, bytes
}

// enter registers a built-in handler call; it returns false while draining.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle != nil {
		return false
	}
	s.inflight++
	return true
}

func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
}

// drain refuses new built-in events and waits for the running ones.
func (s *Server) drain(ctx context.Context) error {
	s.mu.Lock()
	if s.idle == nil {
		s.idle = make(chan struct{})
		if s.inflight == 0 {
			close(s.idle)
		}
	}
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to wait for event handlers: %w", ctx.Err())
	}
}

// Shutdown shuts the Socket.IO side down gracefully: new connections are
// refused and /readyz answers 503, events being handled are answered (new
// ones get {ok:false, reason:"server shutting down"}), then every client is
// disconnected at the transport level, after what was queued for it has
// been sent, so that it reconnects (to another server). A polling client
// with packets queued and no request pending gets them with its next poll,
// as long as ctx allows. It does not close listeners: [Server.Serve] does
// that.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	if s.admin != nil {
		_ = s.admin.Close()
	}
	err := s.drain(ctx)
	for _, r := range s.rules {
		if r.diffs != nil {
			r.diffs.close()
		}
	}
	if derr := s.io.Engine().Shutdown(ctx); derr != nil && err == nil {
		err = fmt.Errorf("failed to drain the connections: %w", derr)
	}
	if cerr := s.io.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("failed to close the Socket.IO server: %w", cerr)
	}
	s.closeCluster()
	return err
}

// closeCluster leaves the cluster (closes the Redis client).
func (s *Server) closeCluster() {
	if s.cluster != nil {
		s.cluster.stop()
	}
}

// Run listens on Config.Addr (and Config.AdminAddr) and serves until ctx
// is done, then shuts down gracefully within Config.ShutdownTimeout. An
// address with the host "localhost" listens on both 127.0.0.1 and ::1 (when
// the system has IPv6), whichever a browser tries first.
func (s *Server) Run(ctx context.Context) error {
	ln, err := listen(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	var admin net.Listener
	if s.cfg.AdminAddr != "" {
		if admin, err = listen(s.cfg.AdminAddr); err != nil {
			ln.Close()
			return fmt.Errorf("failed to listen on the admin address: %w", err)
		}
	}
	return s.Serve(ctx, ln, admin)
}

// Serve serves on ln (with TLS when configured) and, when admin is not nil,
// pprof and /metrics on admin, until ctx is done; then it shuts down
// gracefully within Config.ShutdownTimeout: /readyz answers 503 for
// Config.ShutdownDelay, [Server.Shutdown] runs while ln still accepts the
// polling clients' last requests (handshakes are refused), and then ln
// and the HTTP connections close. It returns nil after a graceful
// shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, admin net.Listener) error {
	// net/http's own error lines (TLS handshake errors, a handler's panic)
	// go to the configured logger, not to the standard log package.
	errorLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errorLog,
	}
	counted := &countingListener{Listener: ln, m: s.metrics, noGroups: !s.cfg.Engine.IOUring}
	scheme := "http"
	serve := func() error { return hs.Serve(counted) }
	if s.cfg.TLS.CertFile != "" {
		cert, err := loadCertificate(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			ln.Close()
			return err
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
		serve = func() error { return hs.ServeTLS(counted, "", "") }
		s.logHTTP2WebSocket()
	}
	errc := make(chan error, 2)
	go func() { errc <- serve() }()
	var as *http.Server
	if admin != nil {
		as = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errorLog}
		go func() { errc <- as.Serve(admin) }()
		s.log.Info("admin server listening", "addr", "http://"+admin.Addr().String(), "on", strings.Join(listenAddrs(admin), ","))
	}
	s.log.Info("tether listening", "url", listenURL(scheme, s.cfg.Addr, ln), "addr", scheme+"://"+ln.Addr().String(), "on", strings.Join(listenAddrs(ln), ","), "path", s.cfg.Path,
		"namespaces", len(s.cfg.Namespaces), "auth", s.verifier != nil, "api", len(s.cfg.API.Keys) > 0)
	if !s.cfg.Engine.IOUring {
		s.log.Info("broadcasts write to each WebSocket with a system call of its own: engine.io_uring is off")
	} else if err := websocket.GroupSupport(); err != nil {
		s.log.Info("broadcasts write to each WebSocket with a system call of its own: io_uring is unavailable", "err", err)
	} else {
		s.log.Info("broadcasts write to idle WebSockets in batches, with io_uring")
	}
	if s.cluster != nil {
		s.log.Info("cluster node", "node", s.cluster.id, "adapter", s.cluster.adapter, "key_prefix", s.cfg.Cluster.KeyPrefix, "route_polling", s.cfg.Cluster.RoutePolling)
	}

	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go releaseIdleMemory(rctx)

	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
loop:
	for {
		select {
		case err := <-errc:
			// A listener failed: stop everything.
			_ = hs.Close()
			if as != nil {
				_ = as.Close()
			}
			_ = s.io.Close()
			s.closeCluster()
			return fmt.Errorf("failed to serve: %w", err)
		case now := <-sweep.C:
			s.limiter.sweep(now)
		case <-ctx.Done():
			break loop
		}
	}

	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	s.shuttingDown.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if d := s.cfg.ShutdownDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-sctx.Done():
		}
	}
	// Keep listening while the clients are drained: a polling client's
	// last requests (the poll that takes what is queued for it, a POST)
	// may come on a new connection, and must be served like the others;
	// handshakes are refused (503) meanwhile. The drain ends a little
	// before the deadline, so that closing the HTTP connections fits in it
	// too.
	deadline, _ := sctx.Deadline()
	dctx, dcancel := context.WithDeadline(sctx, deadline.Add(-shutdownMargin(s.cfg.ShutdownTimeout)))
	defer dcancel()
	err := s.Shutdown(dctx)
	if herr := hs.Shutdown(sctx); herr != nil {
		_ = hs.Close()
		if err == nil {
			err = fmt.Errorf("failed to finish HTTP requests: %w", herr)
		}
	}
	if as != nil {
		_ = as.Close()
	}
	if err != nil {
		s.log.Warn("shutdown was not clean", "err", err)
		return err
	}
	s.log.Info("stopped")
	return nil
}

// logHTTP2WebSocket says whether browsers may open WebSockets over HTTP/2
// (RFC 8441): net/http decides it for the whole process from GODEBUG when
// the program starts, which may disagree with http2_websocket when the
// server runs in another program than the tether command (which starts
// itself again with the right GODEBUG).
func (s *Server) logHTTP2WebSocket() {
	on := websocket.ExtendedConnectEnabled()
	switch {
	case s.cfg.HTTP2WebSocket && !on:
		s.log.Warn("http2_websocket is on, but this process's HTTP/2 server does not allow WebSockets over HTTP/2: start it with GODEBUG=http2xconnect=1 in its environment (tether serve does this itself); WebSockets use HTTP/1.1")
	case !s.cfg.HTTP2WebSocket && on:
		s.log.Warn("http2_websocket is off, but GODEBUG=http2xconnect=1 has this process's HTTP/2 server allow WebSockets over HTTP/2: browsers use them, and they are served")
	default:
		s.log.Info("WebSockets over HTTP/2 (RFC 8441)", "enabled", on)
	}
}

// shutdownMargin is the part of a shutdown's timeout left for closing the
// HTTP connections once the clients are drained: a tenth, at most a
// second.
func shutdownMargin(timeout time.Duration) time.Duration {
	return min(timeout/10, time.Second)
}

// adminHandler serves pprof and /metrics.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// errShuttingDown refuses a namespace connection during shutdown.
var errShuttingDown = socketio.NewConnectError("server shutting down", map[string]string{"reason": "server shutting down"})

// reasonLabel turns a reason into a metric label.
func reasonLabel(reason string) string {
	return strings.ReplaceAll(reason, " ", "_")
}
