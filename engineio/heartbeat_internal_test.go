package engineio

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestLateHeartbeatTimer checks that a request arriving after the pong
// deadline finds the session closed by a ping timeout even when the timer
// that enforces the deadline has not fired yet, as happens on a busy
// machine.
func TestLateHeartbeatTimer(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	closed := make(chan string, 1)
	srv.OnConnection(func(s *Socket) {
		s.OnClose(func(reason string, _ error) { closed <- reason })
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	get := func(query string) (int, string) {
		t.Helper()
		resp, err := http.Get(hs.URL + "/?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, body := get("EIO=4&transport=polling")
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	s := srv.session(open.SID)

	// A ping is out, its pong still has time: the poll takes the ping.
	s.ping()
	if status, body := get("EIO=4&transport=polling&sid=" + open.SID); status != 200 || body != "2" {
		t.Fatalf("poll: %d %q, want the ping", status, body)
	}
	// The deadline passed, the (hour-long) timer did not fire.
	s.mu.Lock()
	s.pongDeadline = mono(time.Now().Add(-time.Millisecond))
	s.mu.Unlock()
	if status, body := get("EIO=4&transport=polling&sid=" + open.SID); status != 400 {
		t.Fatalf("poll after the deadline: %d %q, want 400", status, body)
	}
	wantPingTimeout(t, closed)

	// A ping was due more than PingTimeout ago, its (hour-long) timer did
	// not fire, and the client did not poll meanwhile: it missed the ping.
	_, body = get("EIO=4&transport=polling")
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	s = srv.session(open.SID)
	s.mu.Lock()
	s.pingDue = mono(time.Now().Add(-time.Hour - time.Millisecond))
	s.mu.Unlock()
	if status, body := get("EIO=4&transport=polling&sid=" + open.SID); status != 400 {
		t.Fatalf("poll after a missed ping: %d %q, want 400", status, body)
	}
	wantPingTimeout(t, closed)
}

// TestPongDeadline checks from when the pong to a ping is due: PingTimeout
// after the ping went out when the client could get it at once, after the
// ping was due when it waits for the client's next poll.
func TestPongDeadline(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Minute})
	conns := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { conns <- s })
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	resp, err := http.Get(hs.URL + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-conns
	due := time.Now().Add(-10 * time.Second) // the timer fired 10 s late
	s.mu.Lock()
	s.pingDue = mono(due)
	s.mu.Unlock()
	s.ping() // no poll pending: the ping waits
	s.mu.Lock()
	got := s.pongDeadline
	s.mu.Unlock()
	if got != mono(due.Add(time.Minute)) {
		t.Fatalf("queued ping: pong due %v after the ping was due, want 1m0s", time.Duration(got-mono(due)))
	}
	s.mu.Lock()
	s.awaitingPong = false
	s.poll = &pollWaiter{ch: make(chan []outgoing, 1)} // a poll is pending
	s.pingDue = mono(due)
	s.mu.Unlock()
	before := time.Now()
	s.ping()
	s.mu.Lock()
	got = s.pongDeadline
	s.mu.Unlock()
	if got < mono(before.Add(time.Minute)) {
		t.Fatalf("ping sent at once: pong due %v after it was due, want at least 1m10s", time.Duration(got-mono(due)))
	}
}

// TestLateHeartbeatTimerV3 is TestLateHeartbeatTimer for a v3 client, whose
// pings are due every pingInterval+pingTimeout.
func TestLateHeartbeatTimerV3(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour, AllowEIO3: true})
	closed := make(chan string, 1)
	srv.OnConnection(func(s *Socket) {
		s.OnClose(func(reason string, _ error) { closed <- reason })
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	resp, err := http.Get(hs.URL + "/?EIO=3&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sid string
	srv.mu.Lock()
	for id := range srv.sessions {
		sid = id
	}
	srv.mu.Unlock()
	s := srv.session(sid)
	s.mu.Lock()
	s.pingDue = mono(time.Now().Add(-2*time.Hour - time.Millisecond))
	s.mu.Unlock()
	resp, err = http.Post(hs.URL+"/?EIO=3&transport=polling&sid="+sid, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("POST after the deadline: %d, want 400", resp.StatusCode)
	}
	wantPingTimeout(t, closed)
}

// wantPingTimeout waits for the reason a session closed with, which must be
// "ping timeout".
func wantPingTimeout(t *testing.T, closed <-chan string) {
	t.Helper()
	select {
	case reason := <-closed:
		if reason != ReasonPingTimeout {
			t.Fatalf("closed with %q, want %q", reason, ReasonPingTimeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session not closed")
	}
}

// TestHeartbeatOneTimer checks the v4 heartbeat's one timer: a run of
// heartbeat acts on what is due by the session's state, not on the mere
// fact that the timer fired (a run that started before a Reset comes
// late): it pings only when a ping is due, closes the session only when
// the pong is late, and otherwise leaves the session as it is.
func TestHeartbeatOneTimer(t *testing.T) {
	srv := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	conns := make(chan *Socket, 1)
	closed := make(chan string, 1)
	srv.OnConnection(func(s *Socket) {
		s.OnClose(func(reason string, _ error) { closed <- reason })
		conns <- s
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	resp, err := http.Get(hs.URL + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-conns
	queued := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queue)
	}
	// Not due yet (a stale run): nothing happens.
	s.heartbeat(nil)
	if n := queued(); n != 0 || sockState(s.state.Load()) != stateOpen {
		t.Fatalf("heartbeat before the ping is due: %d packets queued, state %d", n, s.state.Load())
	}
	// Due: a ping.
	s.mu.Lock()
	s.pingDue = mono(time.Now().Add(-time.Millisecond))
	s.mu.Unlock()
	s.heartbeat(nil)
	if n := queued(); n != 1 {
		t.Fatalf("heartbeat when the ping is due: %d packets queued, want the ping", n)
	}
	// A stale run while the pong still has time: no second ping, no close.
	s.heartbeat(nil)
	if n := queued(); n != 1 || sockState(s.state.Load()) != stateOpen {
		t.Fatalf("heartbeat before the pong is late: %d packets queued, state %d", n, s.state.Load())
	}
	// The pong came: the next ping is due a PingInterval later.
	s.onPong()
	s.heartbeat(nil)
	if n := queued(); n != 1 {
		t.Fatalf("heartbeat after the pong: %d packets queued", n)
	}
	// The next ping goes out, and its pong is late: ping timeout.
	s.mu.Lock()
	s.pingDue = mono(time.Now().Add(-time.Millisecond))
	s.mu.Unlock()
	s.heartbeat(nil)
	s.mu.Lock()
	s.pongDeadline = mono(time.Now().Add(-time.Millisecond))
	s.mu.Unlock()
	s.heartbeat(nil)
	wantPingTimeout(t, closed)
}
