package server

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// The events the server sends to clients.
const (
	EventError         = "error"
	EventPresenceJoin  = "presence:join"
	EventPresenceLeave = "presence:leave"
)

// The reasons of refused built-in events.
const (
	ReasonInvalidRoom      = "invalid room"
	ReasonInvalidEvent     = "invalid event"
	ReasonInvalidArgs      = "invalid arguments"
	ReasonNotAllowed       = "not allowed"
	ReasonTooManyRooms     = "too many rooms"
	ReasonNotSubscribed    = "not subscribed"
	ReasonPublishDisabled  = "publish not allowed"
	ReasonPresenceDisabled = "presence disabled"
	ReasonShuttingDown     = "server shutting down"
	ReasonRateLimited      = "rate limit exceeded"
	ReasonTooManyEvents    = "too many events"
	ReasonInternal         = "internal error"
)

// maxRoomLen and maxEventLen bound the names clients use.
const (
	maxRoomLen  = 256
	maxEventLen = 128
)

// opTimeout bounds adapter operations made for a client event.
const opTimeout = 5 * time.Second

// sockState is the server's state of one socket of a configured namespace.
type sockState struct {
	sock  *socketio.Socket
	rules *nsRules
	ip    string

	mu         sync.Mutex
	id         *identity // nil for an anonymous socket
	gen        uint32    // incremented with each new identity
	timer      *time.Timer
	subscribed map[string]bool // rooms the client subscribed to itself; nil until the first
	bucket     bucket
	violations int32 // dropped events, up to math.MaxInt32
	gone       bool  // disconnected (forget has run)
}

// authToken returns the token of a CONNECT auth payload.
func authToken(auth json.RawMessage) string {
	var a struct {
		Token any `json:"token"`
	}
	if len(auth) == 0 || json.Unmarshal(auth, &a) != nil {
		return ""
	}
	t, _ := a.Token.(string)
	return t
}

// connectMiddleware authenticates sockets connecting to r's namespace.
func (s *Server) connectMiddleware(r *nsRules) socketio.Middleware {
	return func(sock *socketio.Socket) error {
		if s.shuttingDown.Load() {
			s.metrics.rejectedHandshake.WithLabelValues(rejectShutdown).Inc()
			return errShuttingDown
		}
		token := authToken(sock.Handshake().Auth)
		if token == "" || s.verifier == nil {
			if r.requireAuth {
				return s.refuse(sock, ReasonTokenRequired, nil)
			}
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		id, err := s.verifier.verify(ctx, token)
		if err != nil {
			var ae *authError
			reason := ReasonInvalidToken
			if errors.As(err, &ae) {
				reason = ae.reason
			}
			return s.refuse(sock, reason, err)
		}
		sock.Data().Set("claims", map[string]any(id.claims))
		if id.sub != "" {
			sock.Data().Set("user", id.sub)
		}
		return nil
	}
}

// refuse refuses a socket's connection with reason.
func (s *Server) refuse(sock *socketio.Socket, reason string, err error) error {
	s.metrics.rejectedHandshake.WithLabelValues(reasonLabel(reason)).Inc()
	s.log.Debug("refused a socket", "namespace", sock.Namespace().Name(), "reason", reason, "err", err,
		"remote", sock.Handshake().Address)
	return socketio.NewConnectError(reason, map[string]string{"reason": reason})
}

// identityOf returns the identity in a socket's data, or nil.
func (s *Server) identityOf(sock *socketio.Socket) *identity {
	v, ok := sock.Data().Get("claims")
	if !ok || s.verifier == nil {
		return nil
	}
	claims, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return s.verifier.identity(jwt.MapClaims(claims))
}

// onConnection sets a new socket of a configured namespace up.
func (s *Server) onConnection(r *nsRules, sock *socketio.Socket) {
	hs := sock.Handshake()
	st := &sockState{
		sock:  sock,
		rules: r,
		ip:    s.limiter.intern(s.ips.clientIP(hs.Address, hs.Headers)), // the session's string
		id:    s.identityOf(sock),
	}
	st.mu.Lock()
	st.armExpiryLocked()
	st.mu.Unlock()

	sock.SetHandlers(builtinHandlers, st)
	s.log.Debug("socket connected", "namespace", r.cfg.Name, "id", sock.ID(), "user", st.user(),
		"transport", sock.Transport(), "remote", st.ip)
}

// builtinHandlers are the handlers of the built-in events, which every
// socket of a configured namespace shares: each finds its sockState as the
// socket's Value, so that an idle socket holds no closures of its own.
var builtinHandlers = new(socketio.Handlers).
	Use(func(sock *socketio.Socket, event string, args []json.RawMessage) error {
		return stateOf(sock).eventMiddleware(sock, event, args)
	}).
	On("subscribe", handle((*sockState).onSubscribe)).
	On("unsubscribe", handle((*sockState).onUnsubscribe)).
	OnRaw("publish", handleRaw((*sockState).onPublish)).
	On("presence", handle((*sockState).onPresence)).
	On("refresh", handle((*sockState).onRefresh)).
	OnDisconnecting(func(sock *socketio.Socket, reason string) {
		st := stateOf(sock)
		if st.rules.announces() && reason != socketio.ReasonServerShuttingDown {
			for _, room := range sock.Rooms() {
				if room != sock.ID() {
					st.presenceEvent(EventPresenceLeave, room)
				}
			}
		}
	}).
	OnDisconnect(func(sock *socketio.Socket, reason string) {
		st := stateOf(sock)
		st.rules.srv.forget(st, reason)
	})

// stateOf returns the sockState of a socket of a configured namespace.
func stateOf(sock *socketio.Socket) *sockState {
	return sock.Value().(*sockState)
}

// liveState returns the sockState of a connected socket of a configured
// namespace, or nil.
func liveState(sock *socketio.Socket) *sockState {
	st, _ := sock.Value().(*sockState)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone {
		return nil
	}
	return st
}

// forget cleans up after a disconnected socket.
func (s *Server) forget(st *sockState, reason string) {
	st.mu.Lock()
	if st.timer != nil {
		st.timer.Stop()
	}
	st.gen++
	st.gone = true
	st.mu.Unlock()
	s.metrics.disconnects.WithLabelValues(reasonLabel(reason)).Inc()
	s.log.Debug("socket disconnected", "namespace", st.rules.cfg.Name, "id", st.sock.ID(), "reason", reason)
}

// markSubscribedLocked records that the client subscribed to room.
func (st *sockState) markSubscribedLocked(room string) {
	if st.subscribed == nil {
		st.subscribed = map[string]bool{}
	}
	st.subscribed[room] = true
}

// user returns the socket's user (the sub claim), or "".
func (st *sockState) user() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.id == nil {
		return ""
	}
	return st.id.sub
}

// armExpiryLocked starts the timer that disconnects the socket when its
// token expires.
func (st *sockState) armExpiryLocked() {
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	st.gen++
	if st.id == nil || st.id.exp.IsZero() {
		return
	}
	gen := st.gen
	d := time.Until(st.id.exp) + st.rules.srv.cfg.Auth.JWT.Leeway
	st.timer = time.AfterFunc(max(d, 0), func() { st.expire(gen) })
}

// expire disconnects the socket whose token (of generation gen) expired.
func (st *sockState) expire(gen uint32) {
	st.mu.Lock()
	current := st.gen == gen
	st.mu.Unlock()
	if !current {
		return
	}
	st.rules.srv.log.Debug("token expired", "namespace", st.rules.cfg.Name, "id", st.sock.ID())
	_ = st.sock.Emit(EventError, map[string]string{"reason": ReasonTokenExpired})
	st.sock.Disconnect(false)
}

// eventMiddleware counts events and enforces the event rate limit.
func (st *sockState) eventMiddleware(sock *socketio.Socket, event string, _ []json.RawMessage) error {
	s := st.rules.srv
	s.metrics.eventsIn.WithLabelValues(st.rules.cfg.Name).Inc()
	l := &s.cfg.Limits
	if l.EventRate <= 0 {
		return nil
	}
	st.mu.Lock()
	ok := st.bucket.take(time.Now(), l.EventRate, l.EventBurst)
	if !ok && st.violations < math.MaxInt32 {
		st.violations++
	}
	violations := int(st.violations)
	st.mu.Unlock()
	if ok {
		return nil
	}
	s.metrics.eventsDropped.WithLabelValues("rate_limited").Inc()
	if l.EventViolations > 0 && violations >= l.EventViolations {
		if violations == l.EventViolations {
			s.log.Info("disconnecting a socket over its event rate", "namespace", st.rules.cfg.Name, "id", sock.ID(), "remote", st.ip)
			_ = sock.Emit(EventError, map[string]string{"reason": ReasonTooManyEvents, "event": event})
			sock.Disconnect(false)
		}
		return errRateLimited
	}
	_ = sock.Emit(EventError, map[string]string{"reason": ReasonRateLimited, "event": event})
	return errRateLimited
}

var errRateLimited = errors.New(ReasonRateLimited)

// result is the acknowledgement of a built-in event.
type result map[string]any

func ok() result                   { return result{"ok": true} }
func refused(reason string) result { return result{"ok": false, "reason": reason} }

// handle wraps a built-in event handler: it tracks it for graceful
// shutdown and acknowledges with its result. It is made once for every
// socket (see builtinHandlers).
func handle(fn func(st *sockState, args []json.RawMessage) result) socketio.EventHandler {
	return func(sock *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		st := stateOf(sock)
		if !st.rules.srv.track(ack) {
			return
		}
		defer st.rules.srv.leave()
		res := fn(st, args)
		if ack != nil {
			_ = ack(res)
		}
	}
}

// handleRaw is handle for a built-in event whose arguments keep their
// binary parts (see socketio.Socket.OnRaw), and whose result may come
// later: fn calls reply exactly once, perhaps from another goroutine (a
// publish is acknowledged once the broker has it). A graceful shutdown
// waits for the reply.
func handleRaw(fn func(st *sockState, args []socketio.RawArg, reply func(result))) socketio.RawEventHandler {
	return func(sock *socketio.Socket, args []socketio.RawArg, ack socketio.AckFunc) {
		st := stateOf(sock)
		if !st.rules.srv.track(ack) {
			return
		}
		fn(st, args, func(res result) {
			if ack != nil {
				_ = ack(res)
			}
			st.rules.srv.leave()
		})
	}
}

// Tracked wraps an application's event handler so that a graceful shutdown
// waits for it, and the acknowledgement it sends, before it disconnects the
// clients. Events that arrive once the shutdown has begun are not handled:
// they are acknowledged with {ok: false, reason: "server shutting down"}.
func (s *Server) Tracked(h socketio.EventHandler) socketio.EventHandler {
	return func(sock *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		if s.track(ack) {
			defer s.leave()
			h(sock, args, ack)
		}
	}
}

// TrackedRaw is Tracked for a handler set with socketio.Socket.OnRaw.
func (s *Server) TrackedRaw(h socketio.RawEventHandler) socketio.RawEventHandler {
	return func(sock *socketio.Socket, args []socketio.RawArg, ack socketio.AckFunc) {
		if s.track(ack) {
			defer s.leave()
			h(sock, args, ack)
		}
	}
}

// track enters a tracked handler, or refuses the event with ack once the
// shutdown has begun.
func (s *Server) track(ack socketio.AckFunc) bool {
	if s.enter() {
		return true
	}
	if ack != nil {
		_ = ack(refused(ReasonShuttingDown))
	}
	return false
}

// roomArg decodes the first argument as {room}.
func roomArg(args []json.RawMessage) (string, string) {
	var a struct {
		Room string `json:"room"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &a) != nil {
		return "", ReasonInvalidArgs
	}
	if !validRoom(a.Room) {
		return "", ReasonInvalidRoom
	}
	return a.Room, ""
}

func validRoom(room string) bool {
	return room != "" && len(room) <= maxRoomLen && utf8.ValidString(room)
}

// permitted reports whether the socket may subscribe to room by the
// namespace's public patterns or its token's rooms claim.
func (st *sockState) permitted(room string) bool {
	for _, p := range st.rules.cfg.Rooms.Public {
		if ok, _ := path.Match(p, room); ok {
			return true
		}
	}
	st.mu.Lock()
	id := st.id
	st.mu.Unlock()
	if id != nil {
		for _, p := range id.rooms {
			if ok, _ := path.Match(p, room); ok {
				return true
			}
		}
	}
	return false
}

// isSocketRoom reports whether room is the private room of a socket (its
// id), which no client may subscribe to.
func (st *sockState) isSocketRoom(room string) bool {
	nsp := st.rules.nsp
	if nsp.Socket(room) != nil {
		return true
	}
	if len(room) != 20 || strings.IndexFunc(room, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return false
	}
	// Shaped like a socket id: ask every server.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	socks, err := nsp.In(room).FetchSockets(ctx)
	if err != nil {
		return true
	}
	return slices.ContainsFunc(socks, func(r *socketio.RemoteSocket) bool { return r.ID == room })
}

// inRoom reports whether the socket is in room.
func (st *sockState) inRoom(room string) bool {
	return slices.Contains(st.sock.Rooms(), room)
}

// mayAccess reports whether the socket may see room: it is in it, or may
// subscribe to it.
func (st *sockState) mayAccess(room string) bool {
	return st.inRoom(room) || (st.permitted(room) && !st.isSocketRoom(room))
}

func (st *sockState) onSubscribe(args []json.RawMessage) result {
	room, reason := roomArg(args)
	if reason != "" {
		return refused(reason)
	}
	rooms := st.sock.Rooms()
	if slices.Contains(rooms, room) {
		if room != st.sock.ID() {
			st.mu.Lock()
			st.markSubscribedLocked(room)
			st.mu.Unlock()
		}
		return ok()
	}
	if !st.permitted(room) || st.isSocketRoom(room) {
		return refused(ReasonNotAllowed)
	}
	if max := st.rules.cfg.Rooms.Max; max > 0 && len(rooms)-1 >= max {
		return refused(ReasonTooManyRooms)
	}
	st.join(room)
	st.mu.Lock()
	st.markSubscribedLocked(room)
	st.mu.Unlock()
	return ok()
}

// join adds the socket to room and announces it.
func (st *sockState) join(room string) {
	if st.inRoom(room) {
		return
	}
	st.sock.Join(room)
	st.presenceEvent(EventPresenceJoin, room)
}

// leaveRoom removes the socket from room and announces it.
func (st *sockState) leaveRoom(room string) {
	st.mu.Lock()
	delete(st.subscribed, room)
	st.mu.Unlock()
	if !st.inRoom(room) {
		return
	}
	st.sock.Leave(room)
	st.presenceEvent(EventPresenceLeave, room)
}

// bulkMembership is told of a room a socket of this server joined or left
// by SocketsJoin or SocketsLeave, here or asked by another node (the
// backend API's /api/sockets/join and leave for a socket on another node):
// the room hears of it as it would of a subscribe or an unsubscribe.
func bulkMembership(sock *socketio.Socket, room string, joined bool) {
	st := liveState(sock)
	if st == nil || room == sock.ID() {
		return
	}
	if joined {
		st.presenceEvent(EventPresenceJoin, room)
		return
	}
	st.mu.Lock()
	delete(st.subscribed, room)
	st.mu.Unlock()
	st.presenceEvent(EventPresenceLeave, room)
}

// announces reports whether the namespace tells rooms about joins and
// leaves, with presence:join and presence:leave or presence:diff.
func (r *nsRules) announces() bool {
	return r.cfg.JoinLeaveEvents || r.diffs != nil
}

// presenceEvent tells the room's sockets that this one joined or left: the
// others with event (presence:join or presence:leave) where the namespace
// has join/leave events, all of them with the next presence:diff where it
// has those.
func (st *sockState) presenceEvent(event, room string) {
	if !st.rules.announces() {
		return
	}
	user := st.user()
	if d := st.rules.diffs; d != nil {
		d.record(room, st.sock.ID(), user, event == EventPresenceJoin)
	}
	if !st.rules.cfg.JoinLeaveEvents {
		return
	}
	err := st.rules.nsp.To(room).Except(st.sock.ID()).Emit(event, map[string]string{
		"room": room, "id": st.sock.ID(), "user": user,
	})
	if err != nil {
		st.rules.srv.log.Warn("failed to send a presence event", "event", event, "room", room, "err", err)
	}
}

func (st *sockState) onUnsubscribe(args []json.RawMessage) result {
	room, reason := roomArg(args)
	if reason != "" {
		return refused(reason)
	}
	if room == st.sock.ID() {
		return refused(ReasonInvalidRoom)
	}
	st.leaveRoom(room)
	return ok()
}

// reservedEvents are the names clients may not publish.
var reservedEvents = map[string]bool{
	EventError: true, EventPresenceJoin: true, EventPresenceLeave: true, EventPresenceDiff: true,
}

// onPublish relays an event to a room. The data's binary parts (Buffers,
// ArrayBuffers...) reach the receivers as binary. In a cluster, the
// acknowledgement waits until the broker has the event (see
// confirmPublish).
func (st *sockState) onPublish(args []socketio.RawArg, reply func(result)) {
	marker, _ := st.rules.nsp.Adapter().(socketio.PublishMarker)
	var confirm func(func(error))
	if marker != nil {
		confirm = marker.MarkPublish()
	}
	res := st.publish(args)
	if confirm == nil || res["ok"] != true {
		reply(res)
		return
	}
	st.rules.srv.confirmPublish(st.rules, confirm, res, reply)
}

// confirmPublish replies res once the broker has what was queued for the
// other servers since the mark (confirm, see socketio.PublishMarker), or
// refuses with ReasonInternal when it was not published (then the
// client's retry may make a duplicate, never a loss) or the broker takes
// longer than opTimeout. Acknowledging at once would tell the client its
// event was sent while it is still queued on this server, lost if the
// server dies.
func (s *Server) confirmPublish(r *nsRules, confirm func(func(error)), res result, reply func(result)) {
	var once sync.Once
	answer := func(err error) {
		once.Do(func() {
			if err != nil {
				s.log.Warn("failed to publish to the other servers", "namespace", r.cfg.Name, "err", err)
				reply(refused(ReasonInternal))
				return
			}
			reply(res)
		})
	}
	timer := time.AfterFunc(opTimeout, func() { answer(errors.New("the broker did not confirm in time")) })
	confirm(func(err error) {
		timer.Stop()
		answer(err)
	})
}

// publish is onPublish's checks and broadcast; its result is the
// acknowledgement before the broker's confirmation.
func (st *sockState) publish(args []socketio.RawArg) result {
	mode := st.rules.cfg.Publish
	if mode == PublishNone {
		return refused(ReasonPublishDisabled)
	}
	// The data keeps its placeholders: with the packet's attachments it
	// is sent on as received.
	var a struct {
		Room  string          `json:"room"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if len(args) == 0 || json.Unmarshal(args[0].JSON, &a) != nil {
		return refused(ReasonInvalidArgs)
	}
	if !validRoom(a.Room) || a.Room == st.sock.ID() {
		return refused(ReasonInvalidRoom)
	}
	if a.Event == "" || len(a.Event) > maxEventLen || reservedEvents[a.Event] || parser.IsReservedEvent(a.Event) {
		return refused(ReasonInvalidEvent)
	}
	if !st.inRoom(a.Room) {
		if mode == PublishJoined {
			return refused(ReasonNotSubscribed)
		}
		if !st.permitted(a.Room) || st.isSocketRoom(a.Room) {
			return refused(ReasonNotAllowed)
		}
	}
	data := socketio.RawArg{JSON: a.Data, Attachments: args[0].Attachments}
	if a.Data == nil {
		data.JSON = json.RawMessage("null")
	}
	meta := map[string]string{"room": a.Room, "from": st.sock.ID(), "user": st.user()}
	// The receivers on this server: counting the cluster's would cost a
	// request to every node per publish (and fail while Redis is away).
	count := func(ctx context.Context) (int, error) {
		return st.rules.nsp.LocalSockets().Count(&socketio.BroadcastOptions{Rooms: []string{a.Room}, Except: []string{st.sock.ID()}}), nil
	}
	n, err := st.rules.srv.emit(st.rules, st.sock.To(a.Room), count, a.Event, data, meta)
	if err != nil {
		st.rules.srv.log.Warn("failed to publish", "namespace", st.rules.cfg.Name, "room", a.Room, "err", err)
		return refused(ReasonInternal)
	}
	return result{"ok": true, "receivers": n}
}

// emit broadcasts an event with op, counting its receivers on this server
// with count and timing the fan-out.
func (s *Server) emit(r *nsRules, op socketio.BroadcastOperator, count func(context.Context) (int, error), event string, args ...any) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	n, err := count(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := op.Emit(event, args...); err != nil {
		return 0, err
	}
	s.metrics.fanout.Observe(time.Since(start).Seconds())
	s.metrics.eventsOut.WithLabelValues(r.cfg.Name).Add(float64(n))
	return n, nil
}

func (st *sockState) onPresence(_args []json.RawMessage) result {
	if !st.rules.cfg.Presence {
		return refused(ReasonPresenceDisabled)
	}
	room, reason := roomArg(_args)
	if reason != "" {
		return refused(reason)
	}
	if !st.mayAccess(room) {
		return refused(ReasonNotAllowed)
	}
	members, err := st.rules.srv.members(st.rules.nsp, room)
	if err != nil {
		st.rules.srv.log.Warn("failed to list a room's members", "namespace", st.rules.cfg.Name, "room", room, "err", err)
		return refused(ReasonInternal)
	}
	return result{"ok": true, "room": room, "members": members}
}

// member is an entry of a presence list.
type member struct {
	ID   string `json:"id"`
	User string `json:"user"`
}

// members lists the sockets in room, on every server.
func (s *Server) members(nsp *socketio.Namespace, room string) ([]member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	socks, err := nsp.In(room).FetchSockets(ctx)
	if err = s.tolerate(err, "listing members"); err != nil {
		return nil, err
	}
	out := make([]member, 0, len(socks))
	for _, r := range socks {
		user, _ := r.Data["user"].(string)
		out = append(out, member{ID: r.ID, User: user})
	}
	slices.SortFunc(out, func(a, b member) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (st *sockState) onRefresh(args []json.RawMessage) result {
	var a struct {
		Token string `json:"token"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &a) != nil || a.Token == "" {
		return refused(ReasonInvalidArgs)
	}
	s := st.rules.srv
	if s.verifier == nil {
		return refused(ReasonNoVerifier)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	id, err := s.verifier.verify(ctx, a.Token)
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			return refused(ae.reason)
		}
		return refused(ReasonInvalidToken)
	}
	st.mu.Lock()
	if st.id != nil && st.id.sub != id.sub {
		st.mu.Unlock()
		return refused(ReasonSubjectChange)
	}
	st.id = id
	st.armExpiryLocked()
	subscribed := make([]string, 0, len(st.subscribed))
	for room := range st.subscribed {
		subscribed = append(subscribed, room)
	}
	st.mu.Unlock()
	st.sock.Data().Set("claims", map[string]any(id.claims))
	if id.sub != "" {
		st.sock.Data().Set("user", id.sub)
	}
	var left []string
	for _, room := range subscribed {
		if !st.permitted(room) {
			st.leaveRoom(room)
			left = append(left, room)
		}
	}
	slices.Sort(left)
	res := ok()
	if len(left) > 0 {
		res["left"] = left
	}
	if !id.exp.IsZero() {
		res["expires"] = id.exp.Unix()
	}
	return res
}
