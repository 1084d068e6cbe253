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
type InMemoryAdapter struct {
	nsp *Namespace

	mu    sync.Mutex
	rooms map[string]map[string]*member // room -> socket id -> member
	sids  map[string]*member            // socket id -> its rooms

	// Connection state recovery.
	recovery  bool
	maxDisc   time.Duration
	prefix    string // random per adapter, so offsets of another run never match
	log       []logEntry
	firstSeq  uint64 // seq of log[0]
	nextSeq   uint64
	sessions  map[string]*storedSession
	lastSweep time.Time
	now       func() time.Time
}

// member is a socket known to the adapter: its rooms, and the local Socket
// once resolved.
type member struct {
	sock  *Socket
	rooms map[string]struct{}
}

type logEntry struct {
	seq       uint64
	emittedAt time.Time
	rooms     []string
	except    []string
	pkt       *EncodedPacket
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
		a.sessions = map[string]*storedSession{}
		var b [6]byte
		_, _ = rand.Read(b[:])
		a.prefix = base64.RawURLEncoding.EncodeToString(b[:]) + "-"
	}
	return a
}

// Init implements [Adapter].
func (a *InMemoryAdapter) Init() error { return nil }

// Close implements [Adapter].
func (a *InMemoryAdapter) Close() error { return nil }

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
	a.mu.Lock()
	defer a.mu.Unlock()
	var ep *EncodedPacket
	if a.recovery && p.Type == parser.Event && !p.HasID && !opts.Flags.Volatile {
		seq := a.nextSeq
		a.nextSeq++
		offset := a.offset(seq)
		p.Data = appendArg(p.Data, parser.AppendString(nil, offset))
		ep = encode(p, opts.Flags.noCompress())
		now := a.now()
		if len(a.log) == 0 {
			a.firstSeq = seq
		}
		a.log = append(a.log, logEntry{seq: seq, emittedAt: now, rooms: slices.Clone(opts.Rooms), except: slices.Clone(opts.Except), pkt: ep})
		a.trimLocked(now)
	} else {
		ep = encode(p, opts.Flags.noCompress())
	}
	a.applyLocked(opts, func(s *Socket) { s.deliver(ep, opts.Flags.Volatile) })
	return nil
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

// trimLocked drops the log entries older than the recovery window.
func (a *InMemoryAdapter) trimLocked(now time.Time) {
	threshold := now.Add(-a.maxDisc)
	n := 0
	for n < len(a.log) && a.log[n].emittedAt.Before(threshold) {
		n++
	}
	if n > 0 {
		clear(a.log[:n])
		a.log = a.log[n:]
		if len(a.log) > 0 {
			a.firstSeq = a.log[0].seq
		} else {
			a.firstSeq = a.nextSeq
		}
	}
	if now.Sub(a.lastSweep) > time.Minute {
		a.lastSweep = now
		for pid, s := range a.sessions {
			if s.disconnectedAt.Before(threshold) {
				delete(a.sessions, pid)
			}
		}
	}
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
	defer a.mu.Unlock()
	now := a.now()
	a.sessions[s.PID] = &storedSession{SessionToPersist: *s, disconnectedAt: now}
	a.trimLocked(now)
	return nil
}

// RestoreSession implements [Adapter].
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
	delete(a.sessions, pid)
	if now.Sub(st.disconnectedAt) > a.maxDisc {
		return nil, nil
	}
	seqStr, ok := strings.CutPrefix(offset, a.prefix)
	if !ok {
		return nil, nil
	}
	seq, err := strconv.ParseUint(seqStr, 36, 64)
	if err != nil || seq < a.firstSeq || seq >= a.firstSeq+uint64(len(a.log)) {
		return nil, nil
	}
	sess := &Session{SessionToPersist: st.SessionToPersist}
	for _, e := range a.log[seq-a.firstSeq+1:] {
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
