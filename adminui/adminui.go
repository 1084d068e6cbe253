package adminui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tether-rt/tether/socketio"
)

// DefaultNamespace is the admin namespace of the official instrument(), which
// the UI connects to unless told otherwise.
const DefaultNamespace = "/admin"

// The features the server announces in its config event: what the UI
// offers. The M ones are the operations on every socket of a namespace or a
// room (Socket.IO v4); the UI uses them when announced.
const (
	FeatureEmit             = "EMIT"
	FeatureJoin             = "JOIN"
	FeatureLeave            = "LEAVE"
	FeatureDisconnect       = "DISCONNECT"
	FeatureMJoin            = "MJOIN"
	FeatureMLeave           = "MLEAVE"
	FeatureMDisconnect      = "MDISCONNECT"
	FeatureAggregatedEvents = "AGGREGATED_EVENTS"
	FeatureAllEvents        = "ALL_EVENTS"
)

// Options configures [Instrument]. The zero value is not enough: it must
// set Auth, or NoAuth.
type Options struct {
	// Namespace is the admin namespace; "" means [DefaultNamespace].
	Namespace string

	// Auth, when set, is the credentials the UI must give (basic
	// authentication, as instrument()'s auth: {type: "basic"}).
	Auth *BasicAuth
	// NoAuth lets anyone who reaches the server use the UI (instrument()'s
	// auth: false); it is required when Auth is nil, so that running
	// without authentication is never an oversight.
	NoAuth bool

	// ReadOnly announces no operation (emit, join, leave, disconnect) and
	// handles none: the UI only watches.
	ReadOnly bool

	// Production is instrument()'s mode "production": the server sends
	// its statistics but no details of each socket (no socket list, no
	// per-socket events), and does not follow rooms and transports, which
	// saves the work of watching every socket. The default is the
	// "development" mode, with everything.
	Production bool

	// ServerID names this server in the UI's server list; "" means the
	// host name. Servers of a cluster must have distinct ids.
	ServerID string

	// Traffic, when set, returns the bytes received from and sent to the
	// clients so far (cumulative counts); the dashboard charts their
	// increase. Without it the chart stays empty.
	Traffic func() (in, out uint64)

	// StatsInterval is the time between two server_stats events; 0 means
	// 2 s, as instrument().
	StatsInterval time.Duration
	// ScanInterval is the time between two looks at the sockets, which
	// finds the rooms they joined or left and the transport upgrades
	// (development mode), the namespaces created since, and the sockets
	// that left unseen; 0 means 1 s.
	ScanInterval time.Duration

	// Logger receives the admin actions (emit, join, leave, disconnect),
	// refused logins and failures; nil means slog.Default.
	Logger *slog.Logger
}

// BasicAuth is the username and password the UI must give.
type BasicAuth struct {
	Username string
	// PasswordHash is the bcrypt hash of the password (prefix $2a$, $2b$
	// or $2y$), as instrument() takes it; the password itself is never
	// configured.
	PasswordHash string
}

// Limits of the login sessions: the UI reconnects with the session id it
// was given instead of the password, for sessionTTL; the store keeps at
// most maxSessions (the oldest go first).
const (
	sessionTTL  = 24 * time.Hour
	maxSessions = 1000
)

// Admin is the server side of the Admin UI on a Socket.IO server.
type Admin struct {
	io       *socketio.Server
	nsp      *socketio.Namespace
	opts     Options
	log      *slog.Logger
	hash     []byte
	features []string
	base     map[string]any // serverId, hostname, pid

	// scanMu makes the scans (the periodic one, and those after an
	// operation of a UI) run one at a time: each compares the rooms with
	// those the last one saw, and sends the changes after, so that two at
	// once could send a room_joined after the room_left that followed it.
	scanMu sync.Mutex

	mu       sync.Mutex
	hooked   map[string]bool
	sockets  map[*socketio.Socket]*tracked
	sessions map[string]int // engine session id -> its tracked sockets
	events   map[eventKey]int
	logins   map[string]time.Time // login session id -> expiry
	lastIn   uint64
	lastOut  uint64

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// tracked is what the admin knows of a socket.
type tracked struct {
	nsp       string
	id        string
	engineID  string
	rooms     []string // sorted, in development mode
	transport string
	// hooked is set once a connection handler of the socket's namespace
	// saw it followed: its OnDisconnect handler, set before, will run
	// (the server runs the connection handlers and the disconnection on
	// the client's dispatch goroutine, one after the other).
	hooked bool
	// emitMu is held while the UIs are told about the socket, in
	// development mode, so that they hear of it in order: socket_connected
	// first (track takes emitMu before the socket can be found in
	// Admin.sockets), socket_disconnected last (left is set then), and a
	// scan's changes in between. A socket that only a scan followed has
	// no connection handler to wait for: its disconnection could
	// otherwise be told before its connection, and the UI would show it
	// for ever.
	emitMu sync.Mutex
	left   bool // under emitMu
}

// testHooks are called, in tests, where the order of what track and
// untrack tell the UIs could be lost: after track made the socket
// findable, and after untrack told the UIs.
var testHooks struct {
	tracked, untracked atomic.Pointer[func(s *socketio.Socket)]
}

// callHook calls the test hook in h, if one is set.
func callHook(h *atomic.Pointer[func(s *socketio.Socket)], s *socketio.Socket) {
	if fn := h.Load(); fn != nil {
		(*fn)(s)
	}
}

// eventKey identifies an aggregated event: its second, type and sub-type.
type eventKey struct {
	second  int64
	typ     string
	subType string
}

// processStart approximates the time the process started, for the
// uptime the UI shows.
var processStart = time.Now()

// Instrument serves the Admin UI's namespace on io: the UI's login (with
// Auth), the server's statistics every StatsInterval, the sockets, rooms
// and events in development mode, and the UI's operations unless ReadOnly.
// Namespaces created later are picked up within ScanInterval. Close stops
// it; the namespace stays.
func Instrument(io *socketio.Server, opts Options) (*Admin, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = 2 * time.Second
	}
	if opts.ScanInterval <= 0 {
		opts.ScanInterval = time.Second
	}
	a := &Admin{
		io:       io,
		opts:     opts,
		log:      opts.Logger,
		hooked:   map[string]bool{},
		sockets:  map[*socketio.Socket]*tracked{},
		sessions: map[string]int{},
		events:   map[eventKey]int{},
		logins:   map[string]time.Time{},
		done:     make(chan struct{}),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	switch {
	case opts.Auth != nil:
		if opts.Auth.Username == "" {
			return nil, errors.New("adminui: Auth.Username is empty")
		}
		if _, err := bcrypt.Cost([]byte(opts.Auth.PasswordHash)); err != nil {
			return nil, fmt.Errorf("adminui: Auth.PasswordHash is not a bcrypt hash: %w", err)
		}
		a.hash = []byte(opts.Auth.PasswordHash)
	case !opts.NoAuth:
		return nil, errors.New("adminui: set Options.Auth, or Options.NoAuth to run without authentication")
	default:
		a.log.Warn("the Admin UI needs no authentication: anyone who reaches the server can use it", "namespace", opts.Namespace)
	}
	if !opts.ReadOnly {
		a.features = []string{FeatureEmit, FeatureJoin, FeatureLeave, FeatureDisconnect, FeatureMJoin, FeatureMLeave, FeatureMDisconnect}
	}
	a.features = append(a.features, FeatureAggregatedEvents)
	if !opts.Production {
		a.features = append(a.features, FeatureAllEvents)
	}
	host, _ := os.Hostname()
	id := opts.ServerID
	if id == "" {
		id = host
	}
	a.base = map[string]any{"serverId": id, "hostname": host, "pid": os.Getpid()}
	if opts.Traffic != nil {
		a.lastIn, a.lastOut = opts.Traffic()
	}

	a.nsp = io.Of(opts.Namespace)
	if a.hash != nil {
		a.nsp.Use(a.authenticate)
	}
	a.nsp.OnConnection(a.onAdminConnection)
	a.scan(time.Now())
	a.wg.Add(1)
	go a.run()
	return a, nil
}

// Namespace returns the admin namespace.
func (a *Admin) Namespace() *socketio.Namespace { return a.nsp }

// Close stops the statistics and the watching of the sockets. It does not
// disconnect the UI.
func (a *Admin) Close() error {
	a.closeOnce.Do(func() {
		close(a.done)
		a.wg.Wait()
	})
	return nil
}

func (a *Admin) run() {
	defer a.wg.Done()
	stats := time.NewTicker(a.opts.StatsInterval)
	defer stats.Stop()
	scan := time.NewTicker(a.opts.ScanInterval)
	defer scan.Stop()
	a.emitStats(time.Now())
	for {
		select {
		case <-a.done:
			return
		case now := <-scan.C:
			a.scan(now)
		case now := <-stats.C:
			a.emitStats(now)
		}
	}
}

// authenticate is the admin namespace's middleware: a known login session
// id, or the username and password, which open a session whose id the UI
// gets in a session event.
func (a *Admin) authenticate(s *socketio.Socket) error {
	var auth struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		SessionID string `json:"sessionId"`
	}
	_ = json.Unmarshal(s.Handshake().Auth, &auth)
	now := time.Now()
	if auth.SessionID != "" && a.validLogin(auth.SessionID, now) {
		return nil
	}
	// The password is checked whatever the username, so that the time
	// taken does not tell whether the username is right.
	userOK := subtle.ConstantTimeCompare([]byte(auth.Username), []byte(a.opts.Auth.Username)) == 1
	passOK := bcrypt.CompareHashAndPassword(a.hash, []byte(auth.Password)) == nil
	if !userOK || !passOK {
		a.log.Warn("refused an Admin UI login", "remote", address(s.Handshake()), "username", auth.Username)
		return errors.New("invalid credentials")
	}
	id := randomID()
	a.mu.Lock()
	a.saveLoginLocked(id, now)
	a.mu.Unlock()
	a.log.Info("Admin UI login", "remote", address(s.Handshake()), "username", auth.Username)
	// A socket cannot emit before it is connected: onAdminConnection
	// sends the id.
	s.Data().Set(sessionKey, id)
	return nil
}

// sessionKey is the key of the socket data under which authenticate
// leaves a new login session's id for onAdminConnection.
const sessionKey = "_adminSession"

// validLogin reports whether id is a login session that has not expired.
func (a *Admin) validLogin(id string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.logins[id]
	if ok && now.After(exp) {
		delete(a.logins, id)
		return false
	}
	return ok
}

// saveLoginLocked stores a login session, dropping the expired ones and,
// beyond maxSessions, the oldest.
func (a *Admin) saveLoginLocked(id string, now time.Time) {
	for k, exp := range a.logins {
		if now.After(exp) {
			delete(a.logins, k)
		}
	}
	for len(a.logins) >= maxSessions {
		var oldest string
		for k, exp := range a.logins {
			if oldest == "" || exp.Before(a.logins[oldest]) {
				oldest = k
			}
		}
		delete(a.logins, oldest)
	}
	a.logins[id] = now.Add(sessionTTL)
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// onAdminConnection serves a UI: its operations, the config event and, in
// development mode, every socket.
func (a *Admin) onAdminConnection(s *socketio.Socket) {
	if id, ok := s.Data().Get(sessionKey); ok {
		s.Data().Delete(sessionKey)
		_ = s.Emit("session", id)
	}
	if !a.opts.ReadOnly {
		s.On("emit", a.onEmit)
		s.On("join", func(s *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) { a.onRooms(s, "join", args) })
		s.On("leave", func(s *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) { a.onRooms(s, "leave", args) })
		s.On("_disconnect", a.onDisconnect)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": a.features})
	if a.opts.Production {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		all, err := a.allSockets(ctx)
		if err != nil {
			a.log.Warn("failed to list the sockets for the Admin UI", "err", err)
		}
		_ = s.Emit("all_sockets", all)
	}()
}

// allSockets returns every socket of every namespace, on every server.
func (a *Admin) allSockets(ctx context.Context) ([]map[string]any, error) {
	names := a.io.Namespaces()
	slices.Sort(names)
	out := []map[string]any{}
	var errs []error
	for _, name := range names {
		rs, err := a.io.Of(name).FetchSockets(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", name, err))
		}
		for _, r := range rs {
			out = append(out, serializeRemote(r, name))
		}
	}
	return out, errors.Join(errs...)
}

// namespaceArg returns the namespace an operation names, when it exists
// (an operation never creates one).
func (a *Admin) namespaceArg(args []json.RawMessage, i int) (*socketio.Namespace, string, bool) {
	name, err := socketio.Decode[string](args, i)
	if err != nil || !slices.Contains(a.io.Namespaces(), name) {
		return nil, name, false
	}
	return a.io.Of(name), name, true
}

// optString returns the string argument i, "" when absent or null.
func optString(args []json.RawMessage, i int) string {
	s, _ := socketio.Decode[string](args, i)
	return s
}

// onEmit handles emit(nsp, filter, event, ...args): the event to the
// namespace, or to the room (or socket id) filter.
func (a *Admin) onEmit(s *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) {
	nsp, name, ok := a.namespaceArg(args, 0)
	filter, event := optString(args, 1), optString(args, 2)
	if !ok || event == "" {
		a.log.Warn("refused an Admin UI emit", "namespace", name, "event", event, "admin", s.ID())
		return
	}
	op := nsp.In() // every socket
	if filter != "" {
		op = nsp.In(filter)
	}
	var rest []any
	if len(args) > 3 {
		rest = socketio.Args(args[3:])
	}
	a.log.Info("Admin UI emit", "namespace", name, "room", filter, "event", event, "admin", s.ID())
	if err := op.Emit(event, rest...); err != nil {
		a.log.Warn("failed an Admin UI emit", "namespace", name, "event", event, "err", err)
	}
}

// onRooms handles join(nsp, room, filter) and leave(nsp, room, filter):
// the sockets of the namespace, or of the room (or socket id) filter, join
// or leave room.
func (a *Admin) onRooms(s *socketio.Socket, action string, args []json.RawMessage) {
	nsp, name, ok := a.namespaceArg(args, 0)
	room, filter := optString(args, 1), optString(args, 2)
	if !ok || room == "" {
		a.log.Warn("refused an Admin UI "+action, "namespace", name, "room", room, "admin", s.ID())
		return
	}
	op := nsp.In()
	if filter != "" {
		op = nsp.In(filter)
	}
	a.log.Info("Admin UI "+action, "namespace", name, "room", room, "sockets", filter, "admin", s.ID())
	var err error
	if action == "join" {
		err = op.SocketsJoin(room)
	} else {
		err = op.SocketsLeave(room)
	}
	if err != nil {
		a.log.Warn("failed an Admin UI "+action, "namespace", name, "room", room, "err", err)
	}
	a.scan(time.Now()) // show it at once
}

// onDisconnect handles _disconnect(nsp, close, filter): the sockets of the
// namespace, or of the room (or socket id) filter, are disconnected (with
// close, their whole connection).
func (a *Admin) onDisconnect(s *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) {
	nsp, name, ok := a.namespaceArg(args, 0)
	if !ok {
		a.log.Warn("refused an Admin UI disconnect", "namespace", name, "admin", s.ID())
		return
	}
	closeConn, _ := socketio.Decode[bool](args, 1)
	filter := optString(args, 2)
	op := nsp.In()
	if filter != "" {
		op = nsp.In(filter)
	}
	a.log.Info("Admin UI disconnect", "namespace", name, "sockets", filter, "close", closeConn, "admin", s.ID())
	if err := op.DisconnectSockets(closeConn); err != nil {
		a.log.Warn("failed an Admin UI disconnect", "namespace", name, "err", err)
	}
}

// hookLocked makes the admin follow the sockets of namespace name.
func (a *Admin) hookLocked(name string) {
	if a.hooked[name] {
		return
	}
	a.hooked[name] = true
	nsp := a.io.Of(name)
	nsp.OnConnection(func(s *socketio.Socket) { a.track(s, nsp, time.Now(), true) })
}

// track starts following a socket: it counts its connection (once per
// client connection) and, in development mode, tells the UIs about it and
// the events it sends. hooked tells that it runs in a connection handler
// of the namespace (else in a scan).
func (a *Admin) track(s *socketio.Socket, nsp *socketio.Namespace, now time.Time, hooked bool) {
	a.mu.Lock()
	if t, ok := a.sockets[s]; ok || !s.Connected() {
		if ok && hooked {
			t.hooked = true
		}
		a.mu.Unlock()
		return
	}
	t := &tracked{nsp: nsp.Name(), id: s.ID(), engineID: s.EngineID(), hooked: hooked}
	// Set with the socket followed, under a.mu: a connection handler that
	// finds it followed knows that the handler is set.
	s.OnDisconnect(func(s *socketio.Socket, reason string) { a.untrack(s, reason, time.Now()) })
	if !a.opts.Production {
		t.rooms = sortedRooms(s)
		t.transport = s.Transport()
		setAdminData(s, t.engineID, t.transport)
	}
	a.sockets[s] = t
	if a.sessions[t.engineID] == 0 {
		a.countLocked(now, "rawConnection", "", 1)
	}
	a.sessions[t.engineID]++
	if !a.opts.Production {
		t.emitMu.Lock() // nobody else can see t yet
	}
	a.mu.Unlock()

	if a.opts.Production {
		return
	}
	defer t.emitMu.Unlock()
	callHook(&testHooks.tracked, s)
	if nsp != a.nsp {
		s.OnAny(func(s *socketio.Socket, event string, args []json.RawMessage) {
			ev := make([]any, 0, len(args)+1)
			ev = append(ev, event)
			for _, arg := range args {
				ev = append(ev, arg)
			}
			_ = a.nsp.Emit("event_received", t.nsp, t.id, ev, jsTime(time.Now()))
		})
	}
	_ = a.nsp.Emit("socket_connected", serializeLocal(s, t.nsp), jsTime(now))
}

// untrack stops following a socket that disconnected.
func (a *Admin) untrack(s *socketio.Socket, reason string, now time.Time) {
	a.mu.Lock()
	t, ok := a.sockets[s]
	if ok {
		delete(a.sockets, s)
		if a.sessions[t.engineID]--; a.sessions[t.engineID] <= 0 {
			delete(a.sessions, t.engineID)
			a.countLocked(now, "rawDisconnection", reason, 1)
		}
	}
	a.mu.Unlock()
	if !ok || a.opts.Production {
		return
	}
	t.emitMu.Lock()
	t.left = true
	_ = a.nsp.Emit("socket_disconnected", t.nsp, t.id, reason, jsTime(now))
	for _, r := range t.rooms {
		_ = a.nsp.Emit("room_left", t.nsp, r, t.id, jsTime(now))
	}
	t.emitMu.Unlock()
	callHook(&testHooks.untracked, s)
}

// scan picks up new namespaces and sockets the hooks missed, forgets the
// sockets that left unseen and, in development mode, tells the UIs about
// the rooms joined and left and the transport upgrades since the last scan.
func (a *Admin) scan(now time.Time) {
	a.scanMu.Lock()
	defer a.scanMu.Unlock()
	names := a.io.Namespaces()
	slices.Sort(names)
	a.mu.Lock()
	for _, name := range names {
		a.hookLocked(name)
	}
	a.mu.Unlock()
	for _, name := range names {
		nsp := a.io.Of(name)
		for _, s := range nsp.Sockets() {
			if s.Connecting() {
				// Its connection handlers run: the hook follows it when
				// they are done (or the next scan, if it is not hooked),
				// with what they set; socket_connected told now would
				// show its data before the application set it.
				continue
			}
			a.track(s, nsp, now, false) // does nothing for a socket it follows
		}
	}
	type change struct {
		t     *tracked
		event string
		args  []any
	}
	var changes []change
	var gone []*socketio.Socket
	a.mu.Lock()
	for s, t := range a.sockets {
		if !s.Connected() {
			// A socket that a connection handler saw is disconnecting:
			// its OnDisconnect handler will untrack it, with the reason,
			// once the handlers it waits for returned. One that only a
			// scan followed may have disconnected before the handler
			// was set.
			if !t.hooked {
				gone = append(gone, s)
			}
			continue
		}
		if a.opts.Production {
			continue
		}
		rooms := sortedRooms(s)
		for _, r := range rooms {
			if _, found := slices.BinarySearch(t.rooms, r); !found {
				changes = append(changes, change{t, "room_joined", []any{t.nsp, r, t.id, jsTime(now)}})
			}
		}
		for _, r := range t.rooms {
			if _, found := slices.BinarySearch(rooms, r); !found {
				changes = append(changes, change{t, "room_left", []any{t.nsp, r, t.id, jsTime(now)}})
			}
		}
		t.rooms = rooms
		if tr := s.Transport(); tr != t.transport {
			t.transport = tr
			// Before socket_updated goes out, so that a UI that lists
			// the sockets after it sees the new transport.
			setAdminData(s, t.engineID, tr)
			changes = append(changes, change{t, "socket_updated", []any{map[string]any{"id": t.id, "nsp": t.nsp, "transport": tr}}})
		}
	}
	a.mu.Unlock()
	for _, s := range gone {
		a.untrack(s, socketio.ReasonTransportClose, now)
	}
	for _, c := range changes {
		c.t.emitMu.Lock()
		if !c.t.left {
			_ = a.nsp.Emit(c.event, c.args...)
		}
		c.t.emitMu.Unlock()
	}
}

// countLocked adds to an aggregated event of the current second.
func (a *Admin) countLocked(now time.Time, typ, subType string, n int) {
	a.events[eventKey{now.Unix(), typ, subType}] += n
}

// emitStats sends the server_stats event.
func (a *Admin) emitStats(now time.Time) {
	names := a.io.Namespaces()
	slices.Sort(names)
	namespaces := make([]map[string]any, 0, len(names))
	polling := map[string]bool{}
	for _, name := range names {
		socks := a.io.Of(name).Sockets()
		namespaces = append(namespaces, map[string]any{"name": name, "socketsCount": len(socks)})
		for _, s := range socks {
			if s.Transport() == "polling" {
				polling[s.EngineID()] = true
			}
		}
	}
	a.mu.Lock()
	if a.opts.Traffic != nil {
		in, out := a.opts.Traffic()
		if in > a.lastIn {
			a.countLocked(now, "bytesIn", "", int(in-a.lastIn))
		}
		if out > a.lastOut {
			a.countLocked(now, "bytesOut", "", int(out-a.lastOut))
		}
		a.lastIn, a.lastOut = in, out
	}
	events := make([]map[string]any, 0, len(a.events))
	for k, n := range a.events {
		e := map[string]any{"timestamp": k.second * 1000, "type": k.typ, "count": n}
		if k.subType != "" {
			e["subType"] = k.subType
		}
		events = append(events, e)
	}
	clear(a.events)
	a.mu.Unlock()
	stats := map[string]any{
		"uptime":              now.Sub(processStart).Seconds(),
		"clientsCount":        a.io.Engine().Count(),
		"pollingClientsCount": len(polling),
		"aggregatedEvents":    events,
		"namespaces":          namespaces,
	}
	for k, v := range a.base {
		stats[k] = v
	}
	_ = a.nsp.Emit("server_stats", stats)
}

// sortedRooms returns the rooms of a socket, sorted.
func sortedRooms(s *socketio.Socket) []string {
	rooms := s.Rooms()
	slices.Sort(rooms)
	return rooms
}

// jsTime formats t as JSON.stringify formats a JavaScript Date.
func jsTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// clientID names the client connection of a socket for the UI, which
// groups the sockets of a connection by it: a digest of the Engine.IO
// session id, which must not be shown (it would let a viewer take the
// session over).
func clientID(engineID string) string {
	sum := sha256.Sum256([]byte(engineID))
	return hex.EncodeToString(sum[:6])
}

// address returns the client address of a handshake as instrument() shows
// it: from cf-connecting-ip or x-forwarded-for when set, else the IP the
// connection came from (without the port).
func address(h *socketio.Handshake) string {
	for _, k := range []string{"Cf-Connecting-Ip", "X-Forwarded-For"} {
		if v := h.Headers.Get(k); v != "" {
			return v
		}
	}
	if host, _, err := net.SplitHostPort(h.Address); err == nil {
		return host
	}
	return h.Address
}

// handshakeJSON returns a handshake as instrument() sends it: Node's form
// (see socketio.Handshake.MarshalJSON) without the auth payload, which
// holds the client's token.
func handshakeJSON(h *socketio.Handshake) map[string]any {
	var m map[string]any
	if b, err := json.Marshal(h); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	if m == nil {
		m = map[string]any{}
	}
	delete(m, "auth")
	m["address"] = address(h)
	return m
}

// adminKey is the key of the socket data under which the admin keeps, in
// development mode, the client id and transport of every socket it
// follows, as instrument() keeps them in socket.data._admin: FetchSockets
// carries them to the other servers of a cluster (Tether's or Node's),
// whose UIs show them. The value is replaced, never modified, so that a
// snapshot of the data stays unchanged.
const adminKey = "_admin"

// setAdminData records the client id and transport of s under adminKey.
func setAdminData(s *socketio.Socket, engineID, transport string) {
	s.Data().Set(adminKey, map[string]any{"clientId": clientID(engineID), "transport": transport})
}

// remoteAdminData returns the client id and transport that the server of
// a remote socket recorded under adminKey, "" when it did not.
func remoteAdminData(data map[string]any) (clientID, transport string) {
	m, _ := data[adminKey].(map[string]any)
	clientID, _ = m["clientId"].(string)
	transport, _ = m["transport"].(string)
	return clientID, transport
}

// UserData returns a socket's data without the admin's own keys (those
// beginning with "_admin"), as the UI shows it and as an API that lists
// sockets should: data holds the keys unchanged, and is returned itself
// when it has none of them.
func UserData(data map[string]any) map[string]any {
	own := false
	for k := range data {
		if strings.HasPrefix(k, "_admin") {
			own = true
			break
		}
	}
	if !own {
		return data
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		if !strings.HasPrefix(k, "_admin") {
			out[k] = v
		}
	}
	return out
}

// serializeLocal describes a socket of this server for the UI.
func serializeLocal(s *socketio.Socket, nsp string) map[string]any {
	data := UserData(s.Data().Snapshot())
	return map[string]any{
		"id":        s.ID(),
		"clientId":  clientID(s.EngineID()),
		"transport": s.Transport(),
		"nsp":       nsp,
		"data":      data,
		"handshake": handshakeJSON(s.Handshake()),
		"rooms":     s.Rooms(),
	}
}

// serializeRemote describes a socket that FetchSockets found, possibly on
// another server: its client id and transport are those that server
// recorded in the socket's data under adminKey (Tether's admin and Node's
// instrument() both do, in development mode); without them, the socket id
// stands for the client id and the transport is unknown ("").
func serializeRemote(r *socketio.RemoteSocket, nsp string) map[string]any {
	if s := r.Local(); s != nil {
		return serializeLocal(s, nsp)
	}
	data := UserData(r.Data)
	h := map[string]any{}
	if r.Handshake != nil {
		h = handshakeJSON(r.Handshake)
	}
	cid, transport := remoteAdminData(r.Data)
	if cid == "" {
		cid = r.ID
	}
	return map[string]any{
		"id":        r.ID,
		"clientId":  cid,
		"transport": transport,
		"nsp":       nsp,
		"data":      data,
		"handshake": h,
		"rooms":     r.Rooms,
	}
}
