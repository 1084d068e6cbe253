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

// InMemoryAdapter is the [Adapter] of a single server. With connection state
// recovery enabled it also keeps, for Options.ConnectionStateRecovery's
// MaxDisconnectionDuration, the sessions of disconnected sockets and every
// broadcast EVENT without acknowledgement that is not volatile, each with an
// offset appended as its last argument (as Node's SessionAwareAdapter does).
//
// Broadcasts are serialized: every socket receives them in the order they
// were made, which is also the order of the recovery log. Broadcasts made
// while another one is being delivered wait in a queue and go out
// together (see Broadcast).
//
// The recovery log of a namespace is bounded: it holds at most
// RecoveryOptions.MaxLogPackets packets and MaxLogBytes bytes, the oldest
// packets going first, and nothing older than MaxDisconnectionDuration. A
// timer, armed only while the log or the stored sessions are not empty,
// removes what expired even when the namespace sees no more broadcasts. A
// session whose offset is older than what the log still holds after it is
// not restored: the client gets a new session rather than one with a gap.
type InMemoryAdapter struct {
	name  string
	local *LocalSockets
	comb  combiner // Broadcast's queue

	// Connection state recovery, under mu, which is taken before the local
	// sockets' lock.
	mu         sync.Mutex
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

type logEntry struct {
	emittedAt time.Time
	rooms     []string
	except    []string
	pkt       *outPacket
	size      int64 // what the entry holds: see entrySize
}

// The memory of a log entry besides its packet's text, attachments and
// room names: the entry itself, its outPacket and, for a packet with
// attachments, its slice of Engine.IO packets, and its room slices.
const (
	entryOverhead    = int64(unsafe.Sizeof(logEntry{}) + unsafe.Sizeof(outPacket{}))
	entryPacketBytes = int64(unsafe.Sizeof(engineio.Packet{}))
	entryRoomBytes   = int64(unsafe.Sizeof(""))
)

// entrySize returns the bytes a log entry holds: its encoded packet text
// and attachments (their capacity: what the log keeps from being freed), and
// the entry's own structures. The room names are not counted: they are
// shared with the rooms and the callers that named them.
func entrySize(e *logEntry) int64 {
	n := entryOverhead + int64(len(e.rooms)+len(e.except))*entryRoomBytes + e.pkt.enc.Size()
	if len(e.pkt.enc.Attachments) > 0 {
		n += int64(cap(e.pkt.pkts)) * entryPacketBytes
	}
	return n
}

type storedSession struct {
	SessionToPersist
	disconnectedAt time.Time
}

// NewInMemoryAdapter returns the in-memory adapter of host's namespace,
// with connection state recovery as r says (nil: none). It is the default
// adapter, made with the server's Options.ConnectionStateRecovery; an
// adapter spanning several servers may wrap one for its local part and its
// recovery log.
func NewInMemoryAdapter(host AdapterHost, r *RecoveryOptions) *InMemoryAdapter {
	a := &InMemoryAdapter{
		name:  host.Name(),
		local: host.LocalSockets(),
		now:   time.Now,
	}
	if r != nil {
		r = r.withDefaults()
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

// AllRooms implements [Adapter]: the rooms of the local sockets.
func (a *InMemoryAdapter) AllRooms(context.Context) ([]string, error) {
	return a.local.Rooms(), nil
}

// Broadcast implements [Adapter]: it delivers p to the local sockets and,
// with recovery, logs it with an offset when a session may need it. It
// returns once p has been handed to every receiver.
//
// Broadcasts made on several goroutines while one is being delivered
// queue, in the order they came, and the first of them delivers those of
// the queue that select from the same rooms with the same flags (whatever
// they except; up to 16 and 12 KiB) in one step, as [InMemoryAdapter.BroadcastEach]
// does: each receiver gets its packets of them in one send, one write on
// a WebSocket instead of one per broadcast. The others return once it is
// done. Volatile broadcasts, packets with an acknowledgement id or with
// attachments are never combined; with a single caller nothing waits.
func (a *InMemoryAdapter) Broadcast(p *parser.Packet, opts *BroadcastOptions) error {
	if groupable(p, opts) {
		a.combine(p, opts)
		return nil
	}
	a.broadcastOne(p, opts)
	return nil
}

// broadcastOne delivers and logs p on its own.
func (a *InMemoryAdapter) broadcastOne(p *parser.Packet, opts *BroadcastOptions) {
	if !a.recovery || p.Type != parser.Event || p.HasID || opts.Flags.Volatile {
		a.local.Deliver(p, opts, "")
		return
	}
	p.Namespace = a.name
	var d drops
	l := a.local
	// The log's order is the order of delivery: order is held from the
	// offset's choice to the end of the delivery (see LocalSockets).
	l.order.Lock()
	a.mu.Lock()
	l.mu.Lock()
	var o *outPacket
	if !a.closed && a.recoverableLocked(opts) {
		o = a.logLocked(p, opts, &d)
	} else {
		o = newOutPacket(p, opts.Flags.noCompress())
	}
	rs := l.receiversLocked(opts)
	l.mu.Unlock()
	a.mu.Unlock()
	rs.deliver(o, opts.Flags.Volatile)
	l.order.Unlock()
	a.report(d)
}

// logLocked gives p the next offset, keeps it in the recovery log and
// returns it encoded; the caller holds order, a.mu and the local lock.
func (a *InMemoryAdapter) logLocked(p *parser.Packet, opts *BroadcastOptions, d *drops) *outPacket {
	seq := a.nextSeq
	a.nextSeq++
	p.Data = parser.AppendOffset(p.Data, a.offset(seq))
	o := newOutPacket(p, opts.Flags.noCompress())
	now := a.now()
	a.trimLocked(now, d)
	e := logEntry{emittedAt: now, rooms: slices.Clone(opts.Rooms), except: slices.Clone(opts.Except), pkt: o}
	e.size = entrySize(&e)
	a.log = append(a.log, e)
	a.logBytes += e.size
	a.boundLocked(d)
	a.armLocked()
	return o
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
// between a socket leaving its rooms and its session being stored.
// PersistSession does both in one step, under a.mu (the namespace calls it
// before it forgets the socket); RestoreSession registers the restored
// socket in its rooms (attach) in the step that removes the session.
//
// Without it a client alone in a room (every publish excepts the sender)
// could fill the log with packets nobody can recover. The caller holds a.mu
// and the local sockets' lock.
func (a *InMemoryAdapter) recoverableLocked(opts *BroadcastOptions) bool {
	l := a.local
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
			if l.rooms[r].has(id) {
				return true
			}
		}
		return false
	}
	if len(opts.Rooms) == 0 {
		for id := range l.sids {
			if !excepted(id) {
				return true
			}
		}
		return false
	}
	for _, r := range opts.Rooms {
		set := l.rooms[r]
		if set.one != nil && !excepted(set.one.id) {
			return true
		}
		for id := range set.many {
			if !excepted(id) {
				return true
			}
		}
	}
	return false
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
		a.onDrop(a.name, d.age.n, d.age.b, DropAge)
	}
	if d.packets.n > 0 {
		a.onDrop(a.name, d.packets.n, d.packets.b, DropPackets)
	}
	if d.bytes.n > 0 {
		a.onDrop(a.name, d.bytes.n, d.bytes.b, DropBytes)
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
func (a *InMemoryAdapter) BroadcastWithAck(ctx context.Context, p *parser.Packet, opts *BroadcastOptions, clientCount func(int), ack func(json.RawMessage)) error {
	clientCount(a.local.DeliverWithAck(ctx, p, opts, ack))
	return nil
}

// Sockets implements [Adapter].
func (a *InMemoryAdapter) Sockets(_ context.Context, rooms []string) ([]string, error) {
	return a.local.IDs(&BroadcastOptions{Rooms: rooms}), nil
}

// FetchSockets implements [Adapter].
func (a *InMemoryAdapter) FetchSockets(_ context.Context, opts *BroadcastOptions) ([]*SocketDetails, error) {
	return a.local.Fetch(opts), nil
}

// AddSockets implements [Adapter].
func (a *InMemoryAdapter) AddSockets(opts *BroadcastOptions, rooms []string) error {
	a.local.Join(opts, rooms)
	return nil
}

// DelSockets implements [Adapter].
func (a *InMemoryAdapter) DelSockets(opts *BroadcastOptions, rooms []string) error {
	a.local.Leave(opts, rooms)
	return nil
}

// DisconnectSockets implements [Adapter].
func (a *InMemoryAdapter) DisconnectSockets(opts *BroadcastOptions, close bool) error {
	a.local.Disconnect(opts, close)
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

// PersistSession implements [Adapter]: the socket s.SID leaves its rooms
// and its session is kept, in one step, so that no broadcast falls between
// the two (see recoverableLocked).
func (a *InMemoryAdapter) PersistSession(s *SessionToPersist) error {
	if !a.recovery {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.local
	l.mu.Lock()
	l.leaveAllByIDLocked(s.SID)
	l.mu.Unlock()
	a.persistLocked(s)
	return nil
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
			sess.MissedPackets = append(sess.MissedPackets, &e.pkt.enc)
		}
	}
	if attach != nil {
		attach(sess) // registers the socket in its rooms, under a.mu
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
