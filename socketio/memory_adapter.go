package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// EncodedPacket is a packet encoded once for Engine.IO: its text message
// followed by its binary attachments. The same EncodedPacket is sent to every
// receiver of a broadcast and must not be modified.
type EncodedPacket struct {
	Packets []engineio.Packet
}

// Encode encodes p for Engine.IO.
func Encode(p *parser.Packet) *EncodedPacket {
	return encode(p, false)
}

// encode encodes p for Engine.IO, its packets to be sent uncompressed when
// noCompress is set.
func encode(p *parser.Packet, noCompress bool) *EncodedPacket {
	ep := &EncodedPacket{Packets: make([]engineio.Packet, 1, 1+len(p.Attachments))}
	ep.Packets[0] = engineio.Packet{Data: p.AppendText(make([]byte, 0, p.TextLen())), NoCompress: noCompress}
	for _, a := range p.Attachments {
		ep.Packets = append(ep.Packets, engineio.Packet{Data: a, Binary: true, NoCompress: noCompress})
	}
	return ep
}

// noCompress reports whether the flags ask for uncompressed packets.
func (f *BroadcastFlags) noCompress() bool {
	return f.Compress != nil && !*f.Compress
}

// InMemoryAdapter is the [Adapter] of a single server. With connection state
// recovery enabled it also keeps, for Options.ConnectionStateRecovery's
// MaxDisconnectionDuration, the sessions of disconnected sockets and every
// broadcast EVENT without acknowledgement that is not volatile, each with an
// offset appended as its last argument (as Node's SessionAwareAdapter does).
//
// Broadcasts are serialized: every socket receives them in the order they
// were made, which is also the order of the recovery log.
//
// The recovery log of a namespace is bounded: it holds at most
// RecoveryOptions.MaxLogPackets packets and MaxLogBytes bytes, the oldest
// packets going first, and nothing older than MaxDisconnectionDuration. A
// timer, armed only while the log or the stored sessions are not empty,
// removes what expired even when the namespace sees no more broadcasts. A
// session whose offset is older than what the log still holds after it is
// not restored: the client gets a new session rather than one with a gap.
type InMemoryAdapter struct {
	nsp *Namespace

	mu    sync.Mutex
	rooms map[string]map[string]*member // room -> socket id -> member
	sids  map[string]*member            // socket id -> its rooms

	// Connection state recovery.
	recovery   bool
	maxDisc    time.Duration
	maxBytes   int64
	maxPackets int
	onDrop     func(namespace string, packets int, bytes int64, reason string)
	prefix     string // random per adapter, so offsets of another run never match
	// The log holds the packets of seqs firstSeq to nextSeq-1, oldest first:
	// firstSeq+len(log) == nextSeq. Packets leave it from the front only.
	log      []logEntry
	logBytes int64 // sum of the entries' size
	firstSeq uint64
	nextSeq  uint64
	sessions map[string]*storedSession // by private id
	// sessionRooms counts the stored sessions in each room.
	sessionRooms map[string]int
	// oldestSession is no later than the disconnection of every stored
	// session.
	oldestSession time.Time
	timer         *time.Timer // runs expire; armed while timerArmed
	timerArmed    bool
	closed        bool
	now           func() time.Time
}

// member is a socket known to the adapter: its rooms, and the local Socket
// once resolved.
type member struct {
	sock  *Socket
	rooms map[string]struct{}
}

type logEntry struct {
	emittedAt time.Time
	rooms     []string
	except    []string
	pkt       *EncodedPacket
	size      int64 // what the entry holds: see entrySize
}

// The memory of a log entry besides its packets' data and room names: the
// entry itself, its EncodedPacket and room slices.
const (
	entryOverhead    = int64(unsafe.Sizeof(logEntry{}) + unsafe.Sizeof(EncodedPacket{}))
	entryPacketBytes = int64(unsafe.Sizeof(engineio.Packet{}))
	entryRoomBytes   = int64(unsafe.Sizeof(""))
)

// entrySize returns the bytes a log entry holds: its encoded packet text
// and attachments (their capacity: what the log keeps from being freed), and
// the entry's own structures. The room names are not counted: they are
// shared with the rooms and the callers that named them.
func entrySize(e *logEntry) int64 {
	n := entryOverhead + int64(len(e.rooms)+len(e.except))*entryRoomBytes
	for _, p := range e.pkt.Packets {
		n += entryPacketBytes + int64(cap(p.Data))
	}
	return n
}

type storedSession struct {
	SessionToPersist
	disconnectedAt time.Time
}

// NewInMemoryAdapter returns the in-memory adapter of nsp; it is the default
// Options.Adapter.
func NewInMemoryAdapter(nsp *Namespace) *InMemoryAdapter {
	a := &InMemoryAdapter{
		nsp:   nsp,
		rooms: map[string]map[string]*member{},
		sids:  map[string]*member{},
		now:   time.Now,
	}
	if r := nsp.server.opts.ConnectionStateRecovery; r != nil {
		a.recovery = true
		a.maxDisc = r.MaxDisconnectionDuration
		a.maxBytes = r.MaxLogBytes
		a.maxPackets = r.MaxLogPackets
		a.onDrop = r.OnDrop
		a.sessions = map[string]*storedSession{}
		a.sessionRooms = map[string]int{}
		var b [6]byte
		_, _ = rand.Read(b[:])
		a.prefix = base64.RawURLEncoding.EncodeToString(b[:]) + "-"
	}
	return a
}

// Init implements [Adapter].
func (a *InMemoryAdapter) Init() error { return nil }

// Close implements [Adapter]: it stops the recovery timer and forgets the
// recovery log and the stored sessions. Nothing is logged or stored after.
func (a *InMemoryAdapter) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.timer != nil {
		a.timer.Stop()
	}
	a.timerArmed = false
	a.dropLocked(len(a.log))
	clear(a.sessions)
	clear(a.sessionRooms)
	return nil
}

// RecoveryLogSize returns the number of packets in the namespace's
// recovery log and the bytes they hold, as counted against
// RecoveryOptions.MaxLogPackets and MaxLogBytes.
func (a *InMemoryAdapter) RecoveryLogSize() (packets int, bytes int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.log), a.logBytes
}

// ServerCount implements [Adapter]: always 1.
func (a *InMemoryAdapter) ServerCount(context.Context) (int, error) { return 1, nil }

// AddAll implements [Adapter].
func (a *InMemoryAdapter) AddAll(id string, rooms []string) {
	a.mu.Lock()
	a.addAllLocked(id, rooms)
	a.mu.Unlock()
}

func (a *InMemoryAdapter) addAllLocked(id string, rooms []string) {
	m := a.sids[id]
	if m == nil {
		m = &member{rooms: map[string]struct{}{}}
		a.sids[id] = m
	}
	for _, r := range rooms {
		m.rooms[r] = struct{}{}
		ids := a.rooms[r]
		if ids == nil {
			ids = map[string]*member{}
			a.rooms[r] = ids
		}
		ids[id] = m
	}
}

// Del implements [Adapter].
func (a *InMemoryAdapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.sids[id]; m != nil {
		delete(m.rooms, room)
	}
	a.delRoomLocked(room, id)
}

func (a *InMemoryAdapter) delRoomLocked(room, id string) {
	if m := a.rooms[room]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(a.rooms, room)
		}
	}
}

// DelAll implements [Adapter].
func (a *InMemoryAdapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delAllLocked(id)
}

func (a *InMemoryAdapter) delAllLocked(id string) {
	if m := a.sids[id]; m != nil {
		for r := range m.rooms {
			a.delRoomLocked(r, id)
		}
	}
	delete(a.sids, id)
}

// SocketRooms implements [Adapter].
func (a *InMemoryAdapter) SocketRooms(id string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, ok := a.sids[id]
	if !ok {
		return nil
	}
	rooms := make([]string, 0, len(m.rooms))
	for r := range m.rooms {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	return rooms
}

// AllRooms implements [Adapter].
func (a *InMemoryAdapter) AllRooms(context.Context) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rooms := make([]string, 0, len(a.rooms))
	for r := range a.rooms {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	return rooms, nil
}

// apply calls fn for each selected local socket, each at most once. a.mu
// must be held.
func (a *InMemoryAdapter) applyLocked(opts *BroadcastOptions, fn func(s *Socket)) {
	var except map[string]struct{}
	if len(opts.Except) > 0 {
		except = map[string]struct{}{}
		for _, r := range opts.Except {
			for id := range a.rooms[r] {
				except[id] = struct{}{}
			}
		}
	}
	// Rooms map ids to members, so that a broadcast to a room looks up
	// nothing per socket.
	visit := func(id string, m *member) {
		if _, ok := except[id]; ok {
			return
		}
		if m.sock == nil {
			m.sock = a.nsp.socket(id)
		}
		if m.sock != nil {
			fn(m.sock)
		}
	}
	switch len(opts.Rooms) {
	case 0:
		for id, m := range a.sids {
			visit(id, m)
		}
	case 1:
		for id, m := range a.rooms[opts.Rooms[0]] {
			visit(id, m)
		}
	default:
		seen := map[string]struct{}{}
		for _, r := range opts.Rooms {
			for id, m := range a.rooms[r] {
				if _, ok := seen[id]; ok {
					continue
				}
				seen[id] = struct{}{}
				visit(id, m)
			}
		}
	}
}

// selectLocked returns the selected local sockets.
func (a *InMemoryAdapter) selectLocked(opts *BroadcastOptions) []*Socket {
	var out []*Socket
	a.applyLocked(opts, func(s *Socket) { out = append(out, s) })
	return out
}

// Broadcast implements [Adapter].
func (a *InMemoryAdapter) Broadcast(p *parser.Packet, opts *BroadcastOptions) error {
	p.Namespace = a.nsp.name
	var d drops
	a.mu.Lock()
	var ep *EncodedPacket
	if a.recovery && !a.closed && p.Type == parser.Event && !p.HasID && !opts.Flags.Volatile && a.recoverableLocked(opts) {
		seq := a.nextSeq
		a.nextSeq++
		offset := a.offset(seq)
		p.Data = appendArg(p.Data, parser.AppendString(nil, offset))
		ep = encode(p, opts.Flags.noCompress())
		now := a.now()
		a.trimLocked(now, &d)
		e := logEntry{emittedAt: now, rooms: slices.Clone(opts.Rooms), except: slices.Clone(opts.Except), pkt: ep}
		e.size = entrySize(&e)
		a.log = append(a.log, e)
		a.logBytes += e.size
		a.boundLocked(&d)
		a.armLocked()
	} else {
		ep = encode(p, opts.Flags.noCompress())
	}
	a.applyLocked(opts, func(s *Socket) { s.deliver(ep, opts.Flags.Volatile) })
	a.mu.Unlock()
	a.report(d)
	return nil
}

// recoverableLocked reports whether a session may ever need a broadcast
// with opts to be restored, that is whether it must be logged.
//
// A restored session must get the packets it missed: those broadcast to it
// while its socket was stored (disconnected), and those broadcast to its
// socket while it was connected that its client did not get (its
// connection failed with them queued). A broadcast B that selects no
// member (no socket id in its rooms and in none of its excepted rooms,
// whether the socket is resolved or not) and whose rooms hold no stored
// session is missed by no session:
//   - a socket that is a member when B is made was not selected: B was
//     never for it, whatever rooms it joins later;
//   - a stored session is in none of B's rooms (with no rooms, B selects
//     every socket, and is logged as soon as any session is stored): B is
//     not among the packets it is given (see included), now or later;
//   - a socket that becomes a member later joined after B, so B was never
//     for it either.
//
// This needs every socket to be, at each instant, a member or a stored
// session or neither, never in between: B, made under a.mu, must not fall
// between a socket's DelAll and its PersistSession. Socket.onclose does
// both in one step, under a.mu, through leave; RestoreSession adds the
// restored socket to its rooms in the step that removes the session. That
// holds only while this adapter is the namespace's own: an adapter wrapping
// it may call DelAll and PersistSession apart, so then everything is
// logged.
//
// Without it a client alone in a room (every publish excepts the sender)
// could fill the log with packets nobody can recover.
func (a *InMemoryAdapter) recoverableLocked(opts *BroadcastOptions) bool {
	if a.nsp.adapter != Adapter(a) {
		return true
	}
	if len(a.sessions) > 0 {
		if len(opts.Rooms) == 0 {
			return true
		}
		for _, r := range opts.Rooms {
			if a.sessionRooms[r] > 0 {
				return true
			}
		}
	}
	excepted := func(id string) bool {
		for _, r := range opts.Except {
			if _, ok := a.rooms[r][id]; ok {
				return true
			}
		}
		return false
	}
	if len(opts.Rooms) == 0 {
		for id := range a.sids {
			if !excepted(id) {
				return true
			}
		}
		return false
	}
	for _, r := range opts.Rooms {
		for id := range a.rooms[r] {
			if !excepted(id) {
				return true
			}
		}
	}
	return false
}

// appendArg returns the JSON array data (an EVENT payload: never empty)
// with arg appended as its last element.
func appendArg(data json.RawMessage, arg []byte) json.RawMessage {
	end := len(data) - 1
	for end > 0 && data[end] != ']' {
		end--
	}
	out := make([]byte, 0, len(data)+len(arg)+1)
	out = append(out, data[:end]...)
	out = append(out, ',')
	out = append(out, arg...)
	return append(out, data[end:]...)
}

func (a *InMemoryAdapter) offset(seq uint64) string {
	return a.prefix + strconv.FormatUint(seq, 36)
}

// Reasons for which packets leave the recovery log, given to
// RecoveryOptions.OnDrop.
const (
	// DropAge: the packet is older than MaxDisconnectionDuration.
	DropAge = "age"
	// DropBytes: the log held more than MaxLogBytes.
	DropBytes = "bytes"
	// DropPackets: the log held more than MaxLogPackets packets.
	DropPackets = "packets"
)

// drops counts the packets that left the recovery log, by reason, to be
// reported once the adapter's lock is released.
type drops struct {
	age, bytes, packets struct {
		n int
		b int64
	}
}

// report gives d to the OnDrop hook.
func (a *InMemoryAdapter) report(d drops) {
	if a.onDrop == nil {
		return
	}
	if d.age.n > 0 {
		a.onDrop(a.nsp.name, d.age.n, d.age.b, DropAge)
	}
	if d.packets.n > 0 {
		a.onDrop(a.nsp.name, d.packets.n, d.packets.b, DropPackets)
	}
	if d.bytes.n > 0 {
		a.onDrop(a.nsp.name, d.bytes.n, d.bytes.b, DropBytes)
	}
}

// dropLocked removes the n oldest log entries and returns their bytes.
func (a *InMemoryAdapter) dropLocked(n int) int64 {
	var b int64
	for i := range a.log[:n] {
		b += a.log[i].size
	}
	clear(a.log[:n])
	a.log = a.log[n:]
	if len(a.log) == 0 {
		a.log = nil // free the array
	}
	a.logBytes -= b
	a.firstSeq += uint64(n)
	return b
}

// trimLocked drops the log entries older than the recovery window.
func (a *InMemoryAdapter) trimLocked(now time.Time, d *drops) {
	threshold := now.Add(-a.maxDisc)
	n := 0
	for n < len(a.log) && a.log[n].emittedAt.Before(threshold) {
		n++
	}
	if n > 0 {
		d.age.n += n
		d.age.b += a.dropLocked(n)
	}
}

// boundLocked drops the oldest log entries until the log is within
// MaxLogPackets and MaxLogBytes (which may empty it, when the newest entry
// alone is larger than MaxLogBytes).
func (a *InMemoryAdapter) boundLocked(d *drops) {
	if n := len(a.log) - a.maxPackets; n > 0 {
		d.packets.n += n
		d.packets.b += a.dropLocked(n)
	}
	if a.logBytes > a.maxBytes {
		n, b := 0, a.logBytes
		for b > a.maxBytes {
			b -= a.log[n].size
			n++
		}
		d.bytes.n += n
		d.bytes.b += a.dropLocked(n)
	}
}

// expire drops the log entries and stored sessions older than the recovery
// window, and arms the timer for the next ones. It is the timer's function.
func (a *InMemoryAdapter) expire() {
	var d drops
	a.mu.Lock()
	a.timerArmed = false
	if !a.closed {
		now := a.now()
		a.trimLocked(now, &d)
		threshold := now.Add(-a.maxDisc)
		oldest := now
		for pid, s := range a.sessions {
			if s.disconnectedAt.Before(threshold) {
				a.dropSessionLocked(pid)
			} else if s.disconnectedAt.Before(oldest) {
				oldest = s.disconnectedAt
			}
		}
		a.oldestSession = oldest
		a.armLocked()
	}
	a.mu.Unlock()
	a.report(d)
}

// armLocked arms the timer, unless it is armed already, for when the
// oldest log entry or stored session expires, plus a slack of a sixteenth
// of the window: so that it runs at most once per slack, whatever the rate
// of broadcasts and disconnections. Nothing is armed while the log and the
// sessions are empty, so an idle namespace costs nothing.
func (a *InMemoryAdapter) armLocked() {
	if a.timerArmed || a.closed || (len(a.log) == 0 && len(a.sessions) == 0) {
		return
	}
	var oldest time.Time
	switch {
	case len(a.log) == 0:
		oldest = a.oldestSession
	case len(a.sessions) == 0:
		oldest = a.log[0].emittedAt
	default:
		oldest = a.log[0].emittedAt
		if a.oldestSession.Before(oldest) {
			oldest = a.oldestSession
		}
	}
	slack := a.maxDisc / 16
	wait := max(oldest.Add(a.maxDisc).Sub(a.now())+slack, slack)
	if a.timer == nil {
		a.timer = time.AfterFunc(wait, a.expire)
	} else {
		a.timer.Reset(wait)
	}
	a.timerArmed = true
}

// BroadcastWithAck implements [Adapter].
func (a *InMemoryAdapter) BroadcastWithAck(p *parser.Packet, opts *BroadcastOptions, clientCount func(int), ack func(json.RawMessage)) error {
	p.Namespace = a.nsp.name
	p.ID, p.HasID = a.nsp.nextAckID(), true
	ep := encode(p, opts.Flags.noCompress())
	a.mu.Lock()
	n := 0
	a.applyLocked(opts, func(s *Socket) {
		n++
		s.registerAck(p.ID, func(args []json.RawMessage, err error) {
			if err != nil {
				return
			}
			if len(args) == 0 {
				ack(json.RawMessage("null"))
				return
			}
			ack(args[0])
		})
		s.deliver(ep, opts.Flags.Volatile)
	})
	a.mu.Unlock()
	clientCount(n)
	return nil
}

// Sockets implements [Adapter].
func (a *InMemoryAdapter) Sockets(_ context.Context, rooms []string) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []string
	a.applyLocked(&BroadcastOptions{Rooms: rooms}, func(s *Socket) { ids = append(ids, s.id) })
	slices.Sort(ids)
	return ids, nil
}

// FetchSockets implements [Adapter].
func (a *InMemoryAdapter) FetchSockets(_ context.Context, opts *BroadcastOptions) ([]*SocketDetails, error) {
	a.mu.Lock()
	sockets := a.selectLocked(opts)
	a.mu.Unlock()
	out := make([]*SocketDetails, 0, len(sockets))
	for _, s := range sockets {
		out = append(out, &SocketDetails{ID: s.id, Handshake: s.handshake, Rooms: s.Rooms(), Data: s.data.Snapshot(), local: s})
	}
	slices.SortFunc(out, func(x, y *SocketDetails) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// AddSockets implements [Adapter].
func (a *InMemoryAdapter) AddSockets(opts *BroadcastOptions, rooms []string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applyLocked(opts, func(s *Socket) { a.addAllLocked(s.id, rooms) })
	return nil
}

// DelSockets implements [Adapter].
func (a *InMemoryAdapter) DelSockets(opts *BroadcastOptions, rooms []string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applyLocked(opts, func(s *Socket) {
		for _, r := range rooms {
			if m := a.sids[s.id]; m != nil {
				delete(m.rooms, r)
			}
			a.delRoomLocked(r, s.id)
		}
	})
	return nil
}

// DisconnectSockets implements [Adapter].
func (a *InMemoryAdapter) DisconnectSockets(opts *BroadcastOptions, close bool) error {
	a.mu.Lock()
	sockets := a.selectLocked(opts)
	a.mu.Unlock()
	for _, s := range sockets {
		s.Disconnect(close)
	}
	return nil
}

// ServerSideEmit implements [Adapter]. There is no other server: it does
// nothing, and ack gets an empty list.
func (a *InMemoryAdapter) ServerSideEmit(_ context.Context, _ []json.RawMessage, ack func([]json.RawMessage, error)) error {
	if ack != nil {
		ack([]json.RawMessage{}, nil)
	}
	return nil
}

// PersistSession implements [Adapter].
func (a *InMemoryAdapter) PersistSession(s *SessionToPersist) error {
	if !a.recovery {
		return nil
	}
	a.mu.Lock()
	a.persistLocked(s)
	a.mu.Unlock()
	return nil
}

// leave removes the socket id from every room and, if s is not nil, keeps
// s, in one step: no broadcast falls between the two (see
// recoverableLocked). Socket.onclose uses it instead of DelAll and
// PersistSession.
func (a *InMemoryAdapter) leave(id string, s *SessionToPersist) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delAllLocked(id)
	if s != nil && a.recovery {
		a.persistLocked(s)
	}
}

func (a *InMemoryAdapter) persistLocked(s *SessionToPersist) {
	if a.closed {
		return
	}
	now := a.now()
	a.dropSessionLocked(s.PID)
	if len(a.sessions) == 0 || now.Before(a.oldestSession) {
		a.oldestSession = now
	}
	a.sessions[s.PID] = &storedSession{SessionToPersist: *s, disconnectedAt: now}
	for _, r := range s.Rooms {
		a.sessionRooms[r]++
	}
	a.armLocked()
}

// dropSessionLocked forgets the stored session pid, if any.
func (a *InMemoryAdapter) dropSessionLocked(pid string) {
	st, ok := a.sessions[pid]
	if !ok {
		return
	}
	delete(a.sessions, pid)
	for _, r := range st.Rooms {
		if a.sessionRooms[r]--; a.sessionRooms[r] <= 0 {
			delete(a.sessionRooms, r)
		}
	}
}

// RestoreSession implements [Adapter]. The session is restored only if the
// log still holds every packet broadcast after offset: when some were
// dropped (too old, or over the log's bounds) it returns nil, and the client
// gets a new session rather than one with a gap.
func (a *InMemoryAdapter) RestoreSession(pid, offset string, attach func(*Session)) (*Session, error) {
	if !a.recovery {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.sessions[pid]
	if !ok {
		return nil, nil
	}
	now := a.now()
	a.dropSessionLocked(pid)
	if now.Sub(st.disconnectedAt) > a.maxDisc {
		return nil, nil
	}
	seqStr, ok := strings.CutPrefix(offset, a.prefix)
	if !ok {
		return nil, nil
	}
	// The client got the packet seq; the log must hold every one after it:
	// seq+1 >= firstSeq. seq < nextSeq: it was broadcast.
	seq, err := strconv.ParseUint(seqStr, 36, 64)
	if err != nil || seq >= a.nextSeq || seq+1 < a.firstSeq {
		return nil, nil
	}
	sess := &Session{SessionToPersist: st.SessionToPersist}
	for _, e := range a.log[seq+1-a.firstSeq:] {
		if included(st.Rooms, e.rooms, e.except) {
			sess.MissedPackets = append(sess.MissedPackets, e.pkt)
		}
	}
	a.addAllLocked(sess.SID, sess.Rooms)
	if attach != nil {
		attach(sess)
	}
	return sess, nil
}

// included reports whether a socket in sessionRooms was selected by a
// broadcast to rooms except except.
func included(sessionRooms, rooms, except []string) bool {
	in := len(rooms) == 0
	for _, r := range sessionRooms {
		if slices.Contains(except, r) {
			return false
		}
		if !in && slices.Contains(rooms, r) {
			in = true
		}
	}
	return in
}
