package engineio

import (
	"sync"
	"time"
)

// wheel runs the heartbeats of a server's sessions on one timer instead
// of a timer per session (a time.Timer and its function take 128 bytes; a
// session in the wheel takes the 8 of its place in a slot): a hashed
// timing wheel of slots of tick nanoseconds, which holds every session
// whose heartbeat is due within one turn.
//
// A session is scheduled for a tick (Socket.hbAt, guarded by mu) and
// listed in that tick's slot. Rescheduling lists it again in the new
// tick's slot and leaves the old entry, which the run of its slot drops
// (its tick is not the session's any more); a stopped session (hbAt 0) is
// dropped the same way. A session whose heartbeat is due runs it (see
// [Socket.heartbeatDue]) from the wheel's timer, outside mu, the pings of
// idle WebSockets in one Group.
//
// A deadline never runs before its time: it is rounded up to the end of
// its tick, so it runs at most one tick late (as a timer of its own
// would, when the machine is busy). A ping is the exception: it runs in
// the tick before the one it is due in, up to two ticks early, so that the
// pong's deadline (PingTimeout later, a whole number of ticks), one tick
// late at most, still keeps a dead peer's detection within
// PingInterval+PingTimeout of its last pong (see Socket.heartbeat).
type wheel struct {
	mu    sync.Mutex
	tick  int64       // nanoseconds per slot; 0 until the first schedule
	slots [][]*Socket // slot of tick k: slots[k%len(slots)]
	next  int64       // the first tick not run yet
	n     int         // entries in the slots, stale ones included
	timer *time.Timer
	armed bool // timer is set to run the wheel
	// fire, when set (by tests), runs a due heartbeat instead of
	// Socket.heartbeatDue.
	fire func(*Socket)

	// group makes the pings of a run's idle WebSockets together (see
	// Group); runMu keeps runs that overlap (a late one and the next)
	// from sharing it.
	runMu sync.Mutex
	group Group
}

// wheelTicks is how many ticks the shorter of PingInterval and
// PingTimeout lasts (the tick is coarser when both are far apart, see
// initLocked).
const wheelTicks = 64

// maxWheelSlots bounds the slots of a wheel.
const maxWheelSlots = 4096

// initLocked sizes the wheel for cfg's heartbeat: every delay it is
// given is at most PingInterval+PingTimeout, so one turn covers that and
// two ticks. PingTimeout is a whole number of ticks (to the nanosecond).
func (w *wheel) initLocked(cfg *config, now int64) {
	span := int64(cfg.PingInterval + cfg.PingTimeout)
	tick := max(int64(min(cfg.PingInterval, cfg.PingTimeout))/wheelTicks, span/(maxWheelSlots-2), int64(time.Millisecond))
	timeout := int64(cfg.PingTimeout)
	w.tick = max(1, timeout/((timeout+tick-1)/tick))
	w.slots = make([][]*Socket, span/w.tick+3)
	w.next = now / w.tick
}

// schedule sets s's heartbeat to run at the monotonic time at (see mono):
// not before, unless early (a ping: in the tick before at's, up to two
// ticks early). It replaces what was scheduled for s. The caller holds
// s.mu.
func (w *wheel) schedule(s *Socket, at int64, early bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scheduleLocked(s, at, early)
}

// scheduleLocked is schedule with w.mu held.
func (w *wheel) scheduleLocked(s *Socket, at int64, early bool) {
	if w.tick == 0 {
		w.initLocked(&s.srv.cfg, mono(time.Now()))
	}
	k := max(w.tickOf(at, early), w.next)
	if s.hbAt == k {
		return
	}
	s.hbAt = k
	i := k % int64(len(w.slots))
	w.slots[i] = append(w.slots[i], s)
	w.n++
	w.armLocked()
}

// tickOf returns the tick whose start runs what is due at: at or after
// at, or, early, in the tick before at's.
func (w *wheel) tickOf(at int64, early bool) int64 {
	k := at / w.tick
	switch {
	case early:
		k-- // the start of the tick before at's
	case at%w.tick != 0:
		k++ // the end of at's tick
	}
	return k
}

// stop unschedules s's heartbeat.
func (w *wheel) stop(s *Socket) {
	w.mu.Lock()
	s.hbAt = 0
	w.mu.Unlock()
}

// armLocked sets the timer to run the wheel at the start of its next
// tick, unless it is set already or nothing is scheduled.
func (w *wheel) armLocked() {
	if w.armed || w.n == 0 {
		return
	}
	w.armed = true
	d := time.Duration(w.next*w.tick - mono(time.Now()))
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.run)
	} else {
		w.timer.Reset(d)
	}
}

// run runs the slots of the ticks that have begun and the heartbeats due
// in them, and sets the timer for the next tick.
func (w *wheel) run() {
	w.mu.Lock()
	w.armed = false
	now := mono(time.Now()) / w.tick
	var due []*Socket
	for k := w.next; k <= now && k < w.next+int64(len(w.slots)); k++ {
		i := k % int64(len(w.slots))
		slot := w.slots[i]
		kept := slot[:0]
		for _, s := range slot {
			switch {
			case s.hbAt != 0 && s.hbAt <= now:
				s.hbAt = 0
				due = append(due, s)
				w.n--
			case s.hbAt > now && s.hbAt%int64(len(w.slots)) == i:
				kept = append(kept, s) // a later turn
			default:
				w.n-- // rescheduled or stopped
			}
		}
		clear(slot[len(kept):])
		if len(kept) == 0 && cap(slot) > 64 {
			kept = nil // a burst's slice
		}
		w.slots[i] = kept
	}
	w.next = max(w.next, now+1)
	w.armLocked()
	fire := w.fire
	w.mu.Unlock()
	w.runMu.Lock()
	defer w.runMu.Unlock()
	g := &w.group
	for _, s := range due {
		if fire != nil {
			fire(s)
			continue
		}
		if g.Full() {
			g.Flush()
		}
		s.heartbeatDue(g)
	}
	g.Flush()
}
