package socketio

import (
	"context"
	"encoding/json"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio/parser"
)

// LocalSockets are a namespace's sockets on this server: each socket by id,
// from the moment it starts connecting until its disconnection has run, by
// private id once connected (connection state recovery), and the rooms it
// is in. It is the one place where a socket is registered in its
// namespace; its client keeps only which socket serves which namespace.
//
// Adapters act on the local sockets through it: a broadcast from this
// server or from another one is delivered with [LocalSockets.Deliver], and
// the other operations of [Adapter] have their local form here. The sockets
// a broadcast selects are listed under the lock (mu), and the broadcast is
// handed to them after it is released: handing a packet to a socket may
// write to the network (engineio's direct writes, a few µs each), and joins,
// leaves, connections and the other selections do not wait for that.
// Broadcasts are handed out one at a time (order), so every socket still
// sees them in the same order.
//
// Invariants: a socket's rooms are listed both under the socket (sids) and
// under each room (rooms), and a room with no socket left is removed; a
// socket is in pids only while it is in sids.
//
// Most rooms have one local socket (every socket's own room) and most
// sockets are in a few rooms, so neither set is a map until it grows
// (memberSet, roomList): an idle socket in its own room costs its member,
// a one-element slice and its entries in sids, rooms and pids, no map of
// its own.
type LocalSockets struct {
	nsp *Namespace

	// order is held while a broadcast is handed to its sockets, so that
	// they all see broadcasts in one order. It is taken before mu (and
	// before an adapter's own lock), never under it.
	order    sync.Mutex
	rcv      receivers         // a broadcast's sockets; guarded by order
	many     []engineio.Packet // a group's packets (deliverGroup); guarded by order
	mu       sync.Mutex
	sids     map[string]*member   // socket id -> the socket and its rooms
	rooms    map[string]memberSet // room -> its sockets
	pids     map[string]*Socket   // private id -> connected socket
	roomHook func(room string, exists bool)
	joinHook func(id string)
	bulkHook func(s *Socket, room string, joined bool) // see Namespace.OnSocketsJoinLeave
}

// bulkChange is a room a socket joined or left by Join or Leave, for
// bulkHook, which is called once the lock is released.
type bulkChange struct {
	sock *Socket
	room string
}

// member is a registered socket and its rooms.
type member struct {
	sock  *Socket
	rooms roomList
}

// memberSet is the local sockets of a room, by id: the only one (one), or
// a map once a second one joined (many; then one is nil). It is a value in
// LocalSockets.rooms, stored back after each change. It holds the sockets
// themselves, not their members: a broadcast walks the map once per
// receiver, and the socket is what it needs (a pointer to the member
// would cost each receiver one more cache miss on the way).
type memberSet struct {
	one  *Socket
	many map[string]*Socket
}

// add adds s, which is not in the set.
func (ms *memberSet) add(s *Socket) {
	switch {
	case ms.many != nil:
		ms.many[s.id] = s
	case ms.one == nil:
		ms.one = s
	default:
		ms.many = map[string]*Socket{ms.one.id: ms.one, s.id: s}
		ms.one = nil
	}
}

// remove removes the socket id.
func (ms *memberSet) remove(id string) {
	if ms.one != nil && ms.one.id == id {
		ms.one = nil
	}
	delete(ms.many, id)
}

// len returns the number of sockets.
func (ms memberSet) len() int {
	if ms.one != nil {
		return 1
	}
	return len(ms.many)
}

// has reports whether the socket id is in the set.
func (ms memberSet) has(id string) bool {
	if ms.one != nil {
		return ms.one.id == id
	}
	_, ok := ms.many[id]
	return ok
}

// roomListIndex is the length from which a roomList keeps an index.
const roomListIndex = 16

// roomList is the rooms of one socket, in no particular order, with an
// index of their positions once there are roomListIndex of them.
type roomList struct {
	list  []string
	index map[string]int
}

// has reports whether room is in the list.
func (rl *roomList) has(room string) bool {
	if rl.index != nil {
		_, ok := rl.index[room]
		return ok
	}
	return slices.Contains(rl.list, room)
}

// add adds room, which is not in the list.
func (rl *roomList) add(room string) {
	if rl.list == nil {
		rl.list = make([]string, 0, 1) // most sockets stay in their own room
	}
	rl.list = append(rl.list, room)
	switch {
	case rl.index != nil:
		rl.index[room] = len(rl.list) - 1
	case len(rl.list) >= roomListIndex:
		rl.index = make(map[string]int, len(rl.list))
		for i, r := range rl.list {
			rl.index[r] = i
		}
	}
}

// remove removes room, which is in the list: the last room takes its
// place.
func (rl *roomList) remove(room string) {
	var i int
	if rl.index != nil {
		i = rl.index[room]
		delete(rl.index, room)
	} else {
		i = slices.Index(rl.list, room)
	}
	last := len(rl.list) - 1
	if i != last {
		rl.list[i] = rl.list[last]
		if rl.index != nil {
			rl.index[rl.list[i]] = i
		}
	}
	rl.list[last] = ""
	rl.list = rl.list[:last]
}

func newLocalSockets(nsp *Namespace) *LocalSockets {
	return &LocalSockets{
		nsp:   nsp,
		sids:  map[string]*member{},
		rooms: map[string]memberSet{},
		pids:  map[string]*Socket{},
	}
}

// OnRoomChange sets a function called when a room gets its first local
// socket (exists true) or loses its last one (exists false), for adapters
// that subscribe to the other servers' traffic room by room. It is called
// with the lock held: it must return quickly and not call back.
func (l *LocalSockets) OnRoomChange(fn func(room string, exists bool)) {
	l.mu.Lock()
	l.roomHook = fn
	l.mu.Unlock()
}

// OnMembershipChange sets a function called with a socket's id each time
// it joins or leaves a room, for adapters that keep sessions ahead of
// disconnections. It is called with the lock held: it must return quickly
// and not call back.
func (l *LocalSockets) OnMembershipChange(fn func(id string)) {
	l.mu.Lock()
	l.joinHook = fn
	l.mu.Unlock()
}

// register adds s, with no room, replacing a socket of the same id.
func (l *LocalSockets) register(s *Socket) {
	l.mu.Lock()
	l.registerLocked(s, nil)
	l.mu.Unlock()
}

// registerIn adds s in rooms (a restored session's socket).
func (l *LocalSockets) registerIn(s *Socket, rooms []string) {
	l.mu.Lock()
	l.registerLocked(s, rooms)
	l.mu.Unlock()
}

// registerLocked adds s in rooms.
func (l *LocalSockets) registerLocked(s *Socket, rooms []string) {
	if old := l.sids[s.id]; old != nil && old.sock != s {
		l.leaveAllLocked(old)
		if old.sock.pid != "" && l.pids[old.sock.pid] == old.sock {
			delete(l.pids, old.sock.pid)
		}
	}
	m := &member{sock: s}
	l.sids[s.id] = m
	l.joinLocked(m, rooms)
}

// connected records that s is connected: it joins its own room and, with a
// private id, can be found by it.
func (l *LocalSockets) connected(s *Socket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.sids[s.id]
	if m == nil || m.sock != s {
		return
	}
	if s.pid != "" {
		l.pids[s.pid] = s
	}
	l.joinLocked(m, []string{s.id})
}

// unregister removes s and its rooms.
func (l *LocalSockets) unregister(s *Socket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unregisterLocked(s)
}

func (l *LocalSockets) unregisterLocked(s *Socket) {
	m := l.sids[s.id]
	if m == nil || m.sock != s {
		return
	}
	l.leaveAllLocked(m)
	delete(l.sids, s.id)
	if s.pid != "" && l.pids[s.pid] == s {
		delete(l.pids, s.pid)
	}
}

// byID returns the registered socket id, or nil.
func (l *LocalSockets) byID(id string) *Socket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.sids[id]; m != nil {
		return m.sock
	}
	return nil
}

// byPID returns the connected socket with the private id pid, or nil.
func (l *LocalSockets) byPID(pid string) *Socket {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pids[pid]
}

// all returns the registered sockets.
func (l *LocalSockets) all() []*Socket {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Socket, 0, len(l.sids))
	for _, m := range l.sids {
		out = append(out, m.sock)
	}
	return out
}

// join adds s to rooms.
func (l *LocalSockets) join(s *Socket, rooms []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.sids[s.id]; m != nil && m.sock == s {
		l.joinLocked(m, rooms)
	}
}

func (l *LocalSockets) joinLocked(m *member, rooms []string) {
	for _, r := range rooms {
		if m.rooms.has(r) {
			continue
		}
		m.rooms.add(r)
		set, exists := l.rooms[r]
		set.add(m.sock)
		l.rooms[r] = set
		if !exists && l.roomHook != nil {
			l.roomHook(r, true)
		}
		if l.joinHook != nil {
			l.joinHook(m.sock.id)
		}
	}
}

// leave removes s from rooms.
func (l *LocalSockets) leave(s *Socket, rooms []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.sids[s.id]; m != nil && m.sock == s {
		l.leaveLocked(m, rooms)
	}
}

func (l *LocalSockets) leaveLocked(m *member, rooms []string) {
	for _, r := range rooms {
		if m.rooms.has(r) {
			l.leaveOneLocked(m, r)
		}
	}
}

// leaveOneLocked removes the member from room r, which it is in.
func (l *LocalSockets) leaveOneLocked(m *member, r string) {
	m.rooms.remove(r)
	if l.joinHook != nil {
		l.joinHook(m.sock.id)
	}
	set := l.rooms[r]
	set.remove(m.sock.id)
	if set.len() > 0 {
		l.rooms[r] = set
		return
	}
	delete(l.rooms, r)
	if l.roomHook != nil {
		l.roomHook(r, false)
	}
}

// leaveAllLocked removes the member from every room (it stays registered).
func (l *LocalSockets) leaveAllLocked(m *member) {
	for n := len(m.rooms.list); n > 0; n = len(m.rooms.list) {
		l.leaveOneLocked(m, m.rooms.list[n-1])
	}
}

// leaveAllByID removes the socket id from every room; the caller holds the
// lock.
func (l *LocalSockets) leaveAllByIDLocked(id string) {
	if m := l.sids[id]; m != nil {
		l.leaveAllLocked(m)
	}
}

// socketRooms returns the rooms of the socket id, sorted, or nil.
func (l *LocalSockets) socketRooms(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.sids[id]
	if !ok {
		return nil
	}
	rooms := slices.Clone(m.rooms.list)
	slices.Sort(rooms)
	return rooms
}

// Rooms returns the rooms that have local sockets, sorted.
func (l *LocalSockets) Rooms() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	rooms := make([]string, 0, len(l.rooms))
	for r := range l.rooms {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	return rooms
}

// HasRoom reports whether a local socket is in room.
func (l *LocalSockets) HasRoom(room string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.rooms[room]
	return ok
}

// exceptLocked returns the sockets of the rooms, each once (a socket in
// two of them is added twice, and the set stays right). Most often they
// are one, a sender's own room: then the set holds it without a map.
func (l *LocalSockets) exceptLocked(rooms []string) memberSet {
	var except memberSet
	for _, r := range rooms {
		set := l.rooms[r]
		if set.one != nil {
			except.add(set.one)
		}
		for _, s := range set.many {
			except.add(s)
		}
	}
	return except
}

// applyLocked calls fn for each registered socket that opts selects (in any
// of opts.Rooms, every socket when there is none, and in none of
// opts.Except), each at most once.
func (l *LocalSockets) applyLocked(opts *BroadcastOptions, fn func(s *Socket)) {
	// The excepted sockets. Most often one (a sender's own room): then a
	// receiver is compared by pointer, not looked up by id.
	except := l.exceptLocked(opts.Except)
	visit := func(id string, s *Socket) {
		if s == except.one {
			return
		}
		if _, ok := except.many[id]; !ok {
			fn(s)
		}
	}
	switch len(opts.Rooms) {
	case 0:
		for id, m := range l.sids {
			visit(id, m.sock)
		}
	case 1:
		set := l.rooms[opts.Rooms[0]]
		if set.one != nil {
			visit(set.one.id, set.one)
		}
		for id, s := range set.many {
			visit(id, s)
		}
	default:
		seen := map[string]struct{}{}
		visitOnce := func(id string, s *Socket) {
			if _, ok := seen[id]; !ok {
				seen[id] = struct{}{}
				visit(id, s)
			}
		}
		for _, r := range opts.Rooms {
			set := l.rooms[r]
			if set.one != nil {
				visitOnce(set.one.id, set.one)
			}
			for id, s := range set.many {
				visitOnce(id, s)
			}
		}
	}
}

// selectLocked returns the sockets opts selects.
func (l *LocalSockets) selectLocked(opts *BroadcastOptions) []*Socket {
	var out []*Socket
	l.applyLocked(opts, func(s *Socket) { out = append(out, s) })
	return out
}

// selected returns the sockets opts selects.
func (l *LocalSockets) selected(opts *BroadcastOptions) []*Socket {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.selectLocked(opts)
}

// Deliver sends p, an EVENT, to the local sockets opts selects (honouring
// its Volatile and Compress flags), with offset appended as its last
// argument unless offset is "", and returns how many sockets it was handed
// to. It encodes p once. It is how an adapter delivers a broadcast, its own
// or another server's: the offset is the one the broadcast got where it was
// made, so that connection state recovery can resume from it on any
// server. Deliver does not keep p for recovery.
func (l *LocalSockets) Deliver(p *parser.Packet, opts *BroadcastOptions, offset string) int {
	p.Namespace = l.nsp.name
	if offset != "" {
		p.Data = parser.AppendOffset(p.Data, offset)
	}
	o := newOutPacket(p, opts.Flags.noCompress())
	l.order.Lock()
	defer l.order.Unlock()
	l.mu.Lock()
	rs := l.receiversLocked(opts)
	l.mu.Unlock()
	return rs.deliver(o, opts.Flags.Volatile)
}

// receiversLocked returns the sockets opts selects, in l.rcv. The caller
// holds mu and order (which guards l.rcv until deliver).
func (l *LocalSockets) receiversLocked(opts *BroadcastOptions) *receivers {
	rs := &l.rcv
	l.applyLocked(opts, func(s *Socket) { rs.socks = append(rs.socks, s) })
	return rs
}

// receivers is a list of the sockets a broadcast goes to, taken under the
// lock and used after it, reused by the next broadcast. For a group of
// broadcasts (deliverGroup), excl has the sockets that some of them except
// (bit i: the group's broadcast i), all the bits of the group's
// broadcasts, and sub is the packets of a socket excepted from some.
type receivers struct {
	socks []*Socket
	spare []*Socket // sort's second buffer, empty between sorts
	excl  map[*Socket]uint32
	all   uint32
	sub   []engineio.Packet
	// group makes the direct writes of a broadcast to its receivers
	// together (engineio.Group): flushed when full and before the
	// broadcast returns, so it holds no write between broadcasts.
	group engineio.Group
}

// reset empties the list.
func (rs *receivers) reset() {
	clear(rs.socks) // holds no socket while unused
	rs.socks = rs.socks[:0]
	if cap(rs.socks) > 1<<16 {
		rs.socks = nil
	}
}

// sortMin is the number of receivers from which a broadcast hands its
// packets out in the order of the sockets' addresses (see sort).
const sortMin = 256

// sort puts the list in the order of the sockets' addresses, when it is
// long enough for it to matter. A room's map gives its sockets in the
// order of their ids' hashes: at random, with respect to where their
// objects are. Sockets that connected one after the other were allocated
// one after the other, in Go's heap and in the kernel's (socket, TCP
// state); in that order a broadcast walks both with fewer cache and TLB
// misses. With 5,000 sockets, one write each in random order cost the
// kernel 5–16 % more than in the order they were accepted
// (bench/cmd/writefloor's pattern, alternated; level at 1,000).
// (Go's heap does not move objects, so an address is stable.)
//
// It is a radix sort, a byte of the addresses' offset from the lowest at
// a time, as many bytes as the offsets have (3 for sockets within 16 MiB
// of each other): about 5 ns per receiver where a comparison sort took
// about 75 (BenchmarkReceiversSort).
func (rs *receivers) sort() {
	n := len(rs.socks)
	if n < sortMin {
		return
	}
	lo, hi := sockAddr(rs.socks[0]), sockAddr(rs.socks[0])
	for _, s := range rs.socks[1:] {
		a := sockAddr(s)
		lo, hi = min(lo, a), max(hi, a)
	}
	if cap(rs.spare) < n {
		rs.spare = make([]*Socket, n)
	}
	src, dst := rs.socks, rs.spare[:n]
	for shift, width := 0, bits.Len64(uint64(hi-lo)); shift < width; shift += 8 {
		var at [256]int
		for _, s := range src {
			at[byte((sockAddr(s)-lo)>>shift)]++
		}
		sum := 0
		for d, c := range at {
			at[d] = sum
			sum += c
		}
		for _, s := range src {
			d := byte((sockAddr(s) - lo) >> shift)
			dst[at[d]] = s
			at[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &rs.socks[0] {
		copy(rs.socks, src)
	}
	clear(rs.spare[:n]) // holds no socket while unused
	if cap(rs.spare) > 1<<16 {
		rs.spare = nil
	}
}

// sockAddr is the address of s's object.
func sockAddr(s *Socket) uintptr { return uintptr(unsafe.Pointer(s)) }

// deliver hands o to the sockets of the list, returns how many they were,
// and empties the list. The caller holds order, not mu.
func (rs *receivers) deliver(o *outPacket, volatile bool) int {
	rs.sort()
	n := len(rs.socks)
	g := &rs.group
	for i, s := range rs.socks {
		if g.Full() {
			g.Flush()
		}
		// Ask for the memory of the next receivers, stage k of the one
		// prefetchStages-k places ahead, while this one's write runs.
		for k := range prefetchStages {
			if j := i + prefetchStages - k; j < n {
				rs.socks[j].prefetch(k)
			}
		}
		s.deliverPackets(g, o.pkts, volatile)
	}
	g.Flush()
	rs.reset()
	return n
}

// DeliverWithAck sends p, an EVENT, to the local sockets opts selects with
// a new acknowledgement id, calls ack with the first argument of each
// socket's acknowledgement, and returns how many sockets it was sent to.
// The acknowledgements stop being waited for when ctx is done.
func (l *LocalSockets) DeliverWithAck(ctx context.Context, p *parser.Packet, opts *BroadcastOptions, ack func(arg json.RawMessage)) int {
	p.Namespace = l.nsp.name
	p.ID, p.HasID = l.nsp.nextAckID(), true
	id := p.ID
	o := newOutPacket(p, opts.Flags.noCompress())
	l.order.Lock()
	l.mu.Lock()
	sockets := l.selectLocked(opts)
	l.mu.Unlock()
	for _, s := range sockets {
		s.registerAck(id, func(args []json.RawMessage, err error) {
			if err != nil {
				return
			}
			if len(args) == 0 {
				ack(json.RawMessage("null"))
				return
			}
			ack(args[0])
		})
		s.deliver(o, opts.Flags.Volatile)
	}
	l.order.Unlock()
	if len(sockets) > 0 && ctx.Done() != nil {
		context.AfterFunc(ctx, func() {
			for _, s := range sockets {
				s.removeAck(id)
			}
		})
	}
	return len(sockets)
}

// IDs returns the ids of the local sockets opts selects, sorted.
func (l *LocalSockets) IDs(opts *BroadcastOptions) []string {
	l.mu.Lock()
	var ids []string
	l.applyLocked(opts, func(s *Socket) { ids = append(ids, s.id) })
	l.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Count returns how many local sockets opts selects: len(IDs(opts)),
// without listing them.
func (l *LocalSockets) Count(opts *BroadcastOptions) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.countOneRoomLocked(opts); ok {
		return n
	}
	n := 0
	l.applyLocked(opts, func(*Socket) { n++ })
	return n
}

// countOneRoomLocked counts the sockets of one room less the excepted ones
// in it, without walking the room (a publish counts its receivers before
// each broadcast: a walk would touch every member once more; the excepted
// sockets are most often one, the sender). It reports false when opts is
// not one room.
func (l *LocalSockets) countOneRoomLocked(opts *BroadcastOptions) (int, bool) {
	if len(opts.Rooms) != 1 {
		return 0, false
	}
	set := l.rooms[opts.Rooms[0]]
	n := set.len()
	if n == 0 || len(opts.Except) == 0 {
		return n, true
	}
	except := l.exceptLocked(opts.Except)
	if except.one != nil && set.has(except.one.id) {
		n--
	}
	for id := range except.many {
		if set.has(id) {
			n--
		}
	}
	return n, true
}

// Fetch returns the details of the local sockets opts selects, sorted by id.
func (l *LocalSockets) Fetch(opts *BroadcastOptions) []*SocketDetails {
	sockets := l.selected(opts)
	out := make([]*SocketDetails, 0, len(sockets))
	for _, s := range sockets {
		out = append(out, &SocketDetails{ID: s.id, Handshake: s.Handshake(), Rooms: s.Rooms(), Data: s.data.Snapshot(), local: s})
	}
	slices.SortFunc(out, func(x, y *SocketDetails) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Sessions returns the state of the connected local sockets that have a
// private id (connection state recovery), as [Adapter.PersistSession]
// keeps it: an adapter that stores sessions where other servers find them
// may keep them ahead of a disconnection, so that the clients of a server
// that dies without a word still recover elsewhere.
func (l *LocalSockets) Sessions() []*SessionToPersist {
	l.mu.Lock()
	sockets := make([]*Socket, 0, len(l.pids))
	for _, s := range l.pids {
		sockets = append(sockets, s)
	}
	l.mu.Unlock()
	out := make([]*SessionToPersist, 0, len(sockets))
	for _, s := range sockets {
		if s.Connected() {
			out = append(out, &SessionToPersist{SID: s.id, PID: s.pid, Rooms: s.Rooms(), Data: s.data.Snapshot()})
		}
	}
	return out
}

// Join makes the local sockets opts selects join rooms.
func (l *LocalSockets) Join(opts *BroadcastOptions, rooms []string) {
	l.bulk(opts, rooms, true)
}

// Leave makes the local sockets opts selects leave rooms.
func (l *LocalSockets) Leave(opts *BroadcastOptions, rooms []string) {
	l.bulk(opts, rooms, false)
}

// bulk makes the local sockets opts selects join (or leave) rooms, and
// tells bulkHook, after unlocking, of each room a socket joined (or left).
func (l *LocalSockets) bulk(opts *BroadcastOptions, rooms []string, join bool) {
	var changed []bulkChange
	l.mu.Lock()
	hook := l.bulkHook
	for _, s := range l.selectLocked(opts) {
		m := l.sids[s.id]
		if hook == nil {
			if join {
				l.joinLocked(m, rooms)
			} else {
				l.leaveLocked(m, rooms)
			}
			continue
		}
		for i, r := range rooms {
			if m.rooms.has(r) == join {
				continue // already in (or out of) it, or listed twice
			}
			if join {
				l.joinLocked(m, rooms[i:i+1])
			} else {
				l.leaveOneLocked(m, r)
			}
			changed = append(changed, bulkChange{s, r})
		}
	}
	l.mu.Unlock()
	for _, c := range changed {
		hook(c.sock, c.room, join)
	}
}

// Disconnect disconnects the local sockets opts selects, closing their
// connections when close is set.
func (l *LocalSockets) Disconnect(opts *BroadcastOptions, close bool) {
	for _, s := range l.selected(opts) {
		s.Disconnect(close)
	}
}
