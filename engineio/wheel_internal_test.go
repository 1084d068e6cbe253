package engineio

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestWheel schedules, reschedules and stops the heartbeats of many
// sessions in a server's wheel, and checks that each heartbeat still
// scheduled runs once, never before its time unless it is a ping (then at
// most two ticks early), and that a stopped one does not run; and that
// PingTimeout is a whole number of ticks.
func TestWheel(t *testing.T) {
	srv := NewServer(&Options{PingInterval: 40 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	defer srv.Close()
	w := &srv.hb
	type run struct {
		s  *Socket
		at int64
	}
	var mu sync.Mutex
	var runs []run
	done := make(chan struct{})
	const n = 2000
	var want int
	w.mu.Lock()
	w.fire = func(s *Socket) {
		now := mono(time.Now())
		mu.Lock()
		defer mu.Unlock()
		runs = append(runs, run{s, now})
		if len(runs) == want {
			close(done)
		}
	}
	w.mu.Unlock()

	type plan struct {
		at      int64
		early   bool
		stopped bool
	}
	plans := make(map[*Socket]*plan, n)
	span := int64(srv.cfg.PingInterval + srv.cfg.PingTimeout)
	mu.Lock()
	// The wheel runs nothing until every plan is made: a heartbeat due
	// early in the turn could otherwise run before the test stops or
	// reschedules it, when the setup is slow (a busy machine). Those due
	// meanwhile run late, which a deadline may and a ping too.
	w.mu.Lock()
	for i := range n {
		s := &Socket{srv: srv}
		p := &plan{at: mono(time.Now()) + rand.Int64N(span), early: i%2 == 0}
		w.scheduleLocked(s, p.at, p.early)
		switch i % 5 {
		case 1: // rescheduled later, then earlier: the last one counts
			w.scheduleLocked(s, p.at+span/2, p.early)
			p.at = mono(time.Now()) + rand.Int64N(span)
			w.scheduleLocked(s, p.at, p.early)
		case 2: // stopped
			s.hbAt = 0 // w.stop
			p.stopped = true
		case 3: // stopped, then scheduled again
			s.hbAt = 0 // w.stop
			p.at = mono(time.Now()) + rand.Int64N(span)
			w.scheduleLocked(s, p.at, p.early)
		}
		if !p.stopped {
			want++
		}
		plans[s] = p
	}
	w.mu.Unlock()
	mu.Unlock()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d heartbeats ran", len(runs), want)
	}
	// A turn later, nothing else has run.
	time.Sleep(time.Duration(span) + 3*time.Duration(w.tick))
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != want {
		t.Fatalf("%d heartbeats ran, want %d", len(runs), want)
	}
	seen := make(map[*Socket]bool, want)
	for _, r := range runs {
		p := plans[r.s]
		switch {
		case seen[r.s]:
			t.Fatal("a heartbeat ran twice")
		case p.stopped:
			t.Fatal("a stopped heartbeat ran")
		case !p.early && r.at < p.at:
			t.Fatalf("a deadline ran %v early", time.Duration(p.at-r.at))
		case p.early && r.at < p.at-2*w.tick:
			t.Fatalf("a ping ran %v early, more than two ticks (%v)", time.Duration(p.at-r.at), time.Duration(w.tick))
		}
		seen[r.s] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if timeout := int64(srv.cfg.PingTimeout); timeout%w.tick >= timeout/w.tick {
		t.Errorf("PingTimeout %v is %d ticks of %v and %v", srv.cfg.PingTimeout, timeout/w.tick, time.Duration(w.tick), time.Duration(timeout%w.tick))
	}
	if w.n != 0 || w.armed {
		t.Fatalf("the wheel holds %d entries (armed %v) with nothing scheduled", w.n, w.armed)
	}
}

// TestWheelScheduleAllocs checks that scheduling a heartbeat allocates
// nothing once its slot has room (a timer of its own took two
// allocations, 128 bytes): rescheduling a session for the tick it is due
// in, and for another tick.
func TestWheelScheduleAllocs(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	defer srv.Close()
	w := &srv.hb
	s := &Socket{srv: srv}
	at := mono(time.Now()) + int64(30*time.Minute)
	w.schedule(s, at, false)
	if allocs := testing.AllocsPerRun(100, func() { w.schedule(s, at, false) }); allocs != 0 {
		t.Errorf("rescheduling for the same tick: %v allocations, want 0", allocs)
	}
	other := &Socket{srv: srv}
	later := (at/w.tick + 2) * w.tick // the start of a later tick
	w.schedule(other, later, false)
	w.stop(other)
	// Give the slot room for the 101 entries to come (stale ones stay
	// until the slot runs).
	w.mu.Lock()
	i := later / w.tick % int64(len(w.slots))
	if len(w.slots[i]) != 1 {
		t.Fatalf("the slot of tick %d holds %d entries, want 1", later/w.tick, len(w.slots[i]))
	}
	w.slots[i] = append(make([]*Socket, 0, 256), w.slots[i]...)
	w.mu.Unlock()
	if allocs := testing.AllocsPerRun(100, func() {
		w.schedule(s, later, false)
		w.stop(s)
	}); allocs != 0 {
		t.Errorf("scheduling for another tick: %v allocations, want 0", allocs)
	}
}

// TestWheelHeartbeatBound checks the wheel's rounding against the
// heartbeat's bound: a ping run at the start of its tick (or up to a tenth
// of a tick later), whose pong's deadline is checked at the start of the
// tick after it, cuts a dead peer off by PingInterval+PingTimeout after its
// last pong, for heartbeats of every shape.
func TestWheelHeartbeatBound(t *testing.T) {
	for _, hb := range [][2]time.Duration{
		{25 * time.Second, 20 * time.Second}, // the defaults
		{time.Second, 7 * time.Second},
		{333 * time.Millisecond, 100 * time.Millisecond},
		{time.Hour, 3 * time.Second},
		{50 * time.Millisecond, 50 * time.Millisecond},
	} {
		srv := NewServer(&Options{PingInterval: hb[0], PingTimeout: hb[1]})
		w := &srv.hb
		w.initLocked(&srv.cfg, 0)
		for range 10000 {
			pong := rand.Int64N(int64(time.Hour))
			due := pong + int64(hb[0])
			sent := w.tickOf(due, true)*w.tick + rand.Int64N(w.tick/10+1)
			if sent > due {
				t.Fatalf("%v/%v: a ping due at %d was sent at %d, after", hb[0], hb[1], due, sent)
			}
			cut := w.tickOf(sent+int64(hb[1]), false) * w.tick
			if limit := pong + int64(hb[0]+hb[1]); cut > limit {
				t.Fatalf("%v/%v (tick %v): cut off %v after PingInterval+PingTimeout", hb[0], hb[1], time.Duration(w.tick), time.Duration(cut-limit))
			}
		}
		srv.Close()
	}
}
