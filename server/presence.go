package server

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tether-rt/tether/socketio"
)

// EventPresenceDiff is the event that tells a room's sockets which sockets
// joined and left it since the last one (see [NamespaceConfig.PresenceDiffInterval]).
const EventPresenceDiff = "presence:diff"

// maxDiffEntries bounds the changes a room's pending presence:diff holds:
// one more change sends it at once.
const maxDiffEntries = 256

// presenceDiffs coalesces the joins and leaves of a namespace's rooms made
// on this server into presence:diff events: the first change of a quiet room
// is sent at once, the next ones at most once per interval, each event
// listing the last change of every socket that changed since the previous
// one, to every socket in the room (but the changed one's, when it lists
// only one change). A room's pending changes are bounded by maxDiffEntries; a room with
// nothing to send for an interval holds no state and no timer. The events go
// through the adapter, so in a cluster each node sends the changes of its
// own sockets to the members on every node.
type presenceDiffs struct {
	nsp      *socketio.Namespace
	interval time.Duration
	max      int // maxDiffEntries, but for tests
	log      *slog.Logger

	mu     sync.Mutex
	rooms  map[string]*roomDiff
	closed bool
}

// roomDiff is the state of a room that changed within the last interval.
type roomDiff struct {
	// emitMu orders the room's events: a batch is taken and sent under it.
	emitMu sync.Mutex
	// changes and timer are guarded by presenceDiffs.mu.
	changes []presenceChange
	timer   *time.Timer
}

// presenceChange is the last change of a socket in a room.
type presenceChange struct {
	member
	join bool
}

func newPresenceDiffs(nsp *socketio.Namespace, interval time.Duration, log *slog.Logger) *presenceDiffs {
	return &presenceDiffs{nsp: nsp, interval: interval, max: maxDiffEntries, log: log, rooms: map[string]*roomDiff{}}
}

// record notes that the socket id (of user) joined or left room.
func (p *presenceDiffs) record(room, id, user string, join bool) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	rd := p.rooms[room]
	quiet := rd == nil
	if quiet {
		rd = &roomDiff{}
		p.rooms[room] = rd
	}
	rd.add(presenceChange{member{ID: id, User: user}, join})
	full := len(rd.changes) >= p.max
	p.mu.Unlock()
	if quiet || full {
		p.flush(room, rd)
	}
}

// add records c, replacing an earlier change of the same socket: the last
// one is its state.
func (rd *roomDiff) add(c presenceChange) {
	for i := range rd.changes {
		if rd.changes[i].ID == c.ID {
			rd.changes[i] = c
			return
		}
	}
	rd.changes = append(rd.changes, c)
}

// flush sends room's pending changes now and starts the room's interval
// if it is not running.
func (p *presenceDiffs) flush(room string, rd *roomDiff) {
	rd.emitMu.Lock()
	defer rd.emitMu.Unlock()
	p.mu.Lock()
	batch := rd.changes
	rd.changes = nil
	if rd.timer == nil && !p.closed {
		rd.timer = time.AfterFunc(p.interval, func() { p.tick(room, rd) })
	}
	p.mu.Unlock()
	p.send(room, batch)
}

// tick ends an interval of room: it sends what changed during it and
// starts the next interval, or forgets the room if nothing did.
func (p *presenceDiffs) tick(room string, rd *roomDiff) {
	rd.emitMu.Lock()
	defer rd.emitMu.Unlock()
	p.mu.Lock()
	if len(rd.changes) == 0 || p.closed {
		if p.rooms[room] == rd {
			delete(p.rooms, room)
		}
		rd.timer = nil
		p.mu.Unlock()
		return
	}
	batch := rd.changes
	rd.changes = nil
	rd.timer = time.AfterFunc(p.interval, func() { p.tick(room, rd) })
	p.mu.Unlock()
	p.send(room, batch)
}

// send emits a presence:diff of batch to every socket in room.
func (p *presenceDiffs) send(room string, batch []presenceChange) {
	if len(batch) == 0 {
		return
	}
	joins, leaves := make([]member, 0, len(batch)), []member{}
	for _, c := range batch {
		if c.join {
			joins = append(joins, c.member)
		} else {
			leaves = append(leaves, c.member)
		}
	}
	op := p.nsp.To(room)
	if len(batch) == 1 {
		// A socket knows its own change: a diff of only that one is not
		// sent to it, as presence:join and presence:leave are not.
		op = op.Except(batch[0].ID)
	}
	err := op.Emit(EventPresenceDiff, map[string]any{"room": room, "joins": joins, "leaves": leaves})
	if err != nil {
		p.log.Warn("failed to send a presence event", "event", EventPresenceDiff, "room", room, "err", err)
	}
}

// close drops the pending changes and stops the timers.
func (p *presenceDiffs) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for room, rd := range p.rooms {
		if rd.timer != nil {
			rd.timer.Stop()
			rd.timer = nil
		}
		rd.changes = nil
		delete(p.rooms, room)
	}
}

// pending returns the number of rooms with state (for tests).
func (p *presenceDiffs) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.rooms)
}
