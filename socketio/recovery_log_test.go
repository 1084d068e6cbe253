package socketio

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/socketio/parser"
)

// logTest drives the recovery log of a namespace's in-memory adapter
// directly, on a clock of its own.
type logTest struct {
	t *testing.T
	a *InMemoryAdapter

	mu    sync.Mutex
	drops map[string][2]int64 // reason -> packets, bytes
}

func newLogTest(t *testing.T, ro RecoveryOptions) *logTest {
	t.Helper()
	lt := &logTest{t: t, drops: map[string][2]int64{}}
	ro.OnDrop = func(nsp string, packets int, bytes int64, reason string) {
		if nsp != "/" {
			t.Errorf("OnDrop namespace %q", nsp)
		}
		lt.mu.Lock()
		d := lt.drops[reason]
		lt.drops[reason] = [2]int64{d[0] + int64(packets), d[1] + bytes}
		lt.mu.Unlock()
	}
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &ro})
	lt.a = srv.Of("/").Adapter().(*InMemoryAdapter)
	clock := time.Unix(1_000_000, 0)
	lt.a.mu.Lock()
	lt.a.now = func() time.Time { return clock }
	lt.a.mu.Unlock()
	return lt
}

// advance moves the adapter's clock by d.
func (lt *logTest) advance(d time.Duration) {
	lt.a.mu.Lock()
	now := lt.a.now().Add(d)
	lt.a.now = func() time.Time { return now }
	lt.a.mu.Unlock()
}

// dropped returns the packets and bytes dropped for reason.
func (lt *logTest) dropped(reason string) (int64, int64) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	d := lt.drops[reason]
	return d[0], d[1]
}

// persist stores a disconnected session pid in rooms.
func (lt *logTest) persist(pid string, rooms ...string) {
	_ = lt.a.PersistSession(&SessionToPersist{SID: "sid-" + pid, PID: pid, Rooms: rooms})
}

// emit broadcasts event m with data to room and returns the packet's
// offset.
func (lt *logTest) emit(room string, n int, data string) string {
	lt.t.Helper()
	p := &parser.Packet{Type: parser.Event, Data: json.RawMessage(fmt.Sprintf(`["m",%d,%q]`, n, data))}
	if err := lt.a.Broadcast(p, &BroadcastOptions{Rooms: []string{room}}); err != nil {
		lt.t.Fatal(err)
	}
	var args []json.RawMessage
	if json.Unmarshal(p.Data, &args) != nil || len(args) != 4 {
		lt.t.Fatalf("broadcast without an offset: %s", p.Data)
	}
	var off string
	_ = json.Unmarshal(args[3], &off)
	return off
}

// restore restores pid from offset and returns the numbers of the packets
// it missed, or nil when it was refused.
func (lt *logTest) restore(pid, offset string) []int {
	lt.t.Helper()
	sess, err := lt.a.RestoreSession(pid, offset, nil)
	if err != nil {
		lt.t.Fatal(err)
	}
	if sess == nil {
		return nil
	}
	got := []int{}
	for _, ep := range sess.MissedPackets {
		text := string(ep.Text)
		var args []json.RawMessage
		var n int
		if json.Unmarshal([]byte(text[strings.IndexByte(text, '['):]), &args) != nil || json.Unmarshal(args[1], &n) != nil {
			lt.t.Fatalf("missed packet %q", text)
		}
		got = append(got, n)
	}
	return got
}

func (lt *logTest) size() (int, int64) { return lt.a.RecoveryLogSize() }

func TestRecoveryLogPacketBound(t *testing.T) {
	lt := newLogTest(t, RecoveryOptions{MaxLogPackets: 3})
	for _, pid := range []string{"p1", "p2", "p3", "p4"} {
		lt.persist(pid, "r")
	}
	var offs []string
	for i := range 6 {
		offs = append(offs, lt.emit("r", i, "x"))
	}
	if n, _ := lt.size(); n != 3 {
		t.Fatalf("log holds %d packets, want 3", n)
	}
	if n, b := lt.dropped(DropPackets); n != 3 || b <= 0 {
		t.Fatalf("dropped %d packets (%d bytes) for the count, want 3", n, b)
	}
	// Packets 0 to 2 are gone: from offset 1, packet 2 would be missing.
	if got := lt.restore("p1", offs[1]); got != nil {
		t.Fatalf("restored from a dropped offset, with a gap: %v", got)
	}
	// From offset 2 (the last dropped packet) nothing is missing.
	if got := fmt.Sprint(lt.restore("p2", offs[2])); got != "[3 4 5]" {
		t.Fatalf("restored %s, want [3 4 5]", got)
	}
	if got := fmt.Sprint(lt.restore("p3", offs[4])); got != "[5]" {
		t.Fatalf("restored %s, want [5]", got)
	}
	if got := fmt.Sprint(lt.restore("p4", offs[5])); got != "[]" {
		t.Fatalf("restored %s, want []", got)
	}
}

func TestRecoveryLogByteBound(t *testing.T) {
	data := strings.Repeat("d", 1000)
	// The size of one entry, measured on a log of its own.
	probe := newLogTest(t, RecoveryOptions{})
	probe.persist("p", "r")
	probe.emit("r", 0, data)
	_, one := probe.size()
	if one < 1000 || one > 1500 {
		t.Fatalf("an entry of a 1000-byte string counts %d bytes", one)
	}

	lt := newLogTest(t, RecoveryOptions{MaxLogBytes: 3*one + one/2})
	for _, pid := range []string{"p1", "p2", "p3"} {
		lt.persist(pid, "r")
	}
	var offs []string
	for i := range 10 {
		offs = append(offs, lt.emit("r", i, data))
	}
	n, b := lt.size()
	if n != 3 || b != 3*one {
		t.Fatalf("log holds %d packets, %d bytes; want 3, %d", n, b, 3*one)
	}
	if n, b := lt.dropped(DropBytes); n != 7 || b != 7*one {
		t.Fatalf("dropped %d packets, %d bytes for the bytes; want 7, %d", n, b, 7*one)
	}
	if got := lt.restore("p1", offs[0]); got != nil {
		t.Fatalf("restored from a dropped offset, with a gap: %v", got)
	}
	if got := fmt.Sprint(lt.restore("p2", offs[6])); got != "[7 8 9]" {
		t.Fatalf("restored %s, want [7 8 9]", got)
	}

	// A packet larger than the bound is delivered but not kept, nor is
	// anything before it: a session that missed it is not restored.
	big := lt.emit("r", 10, strings.Repeat("b", int(4*one)))
	if n, b := lt.size(); n != 0 || b != 0 {
		t.Fatalf("log holds %d packets, %d bytes after a packet over the bound", n, b)
	}
	if got := lt.restore("p3", offs[9]); got != nil {
		t.Fatalf("restored without the packet over the bound: %v", got)
	}
	lt.persist("p4", "r")
	lt.emit("r", 11, "x")
	if got := fmt.Sprint(lt.restore("p4", big)); got != "[11]" {
		t.Fatalf("restored %s after the packet over the bound, want [11]", got)
	}
}

func TestRecoveryLogAttachmentsCount(t *testing.T) {
	lt := newLogTest(t, RecoveryOptions{})
	lt.persist("p", "r")
	p := &parser.Packet{Type: parser.Event, Data: json.RawMessage(`["m",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{make([]byte, 50_000)}}
	_ = lt.a.Broadcast(p, &BroadcastOptions{Rooms: []string{"r"}})
	if _, b := lt.size(); b < 50_000+int64(len(p.Data)) || b > 50_000+int64(len(p.Data))+500 {
		t.Fatalf("an entry with a 50,000-byte attachment counts %d bytes", b)
	}
}

func TestRecoveryLogExpires(t *testing.T) {
	lt := newLogTest(t, RecoveryOptions{MaxDisconnectionDuration: time.Minute})
	lt.persist("old", "r")
	lt.persist("p1", "r")
	o0 := lt.emit("r", 0, "x")
	o1 := lt.emit("r", 1, "x")
	lt.advance(40 * time.Second)
	lt.persist("new", "r")
	o2 := lt.emit("r", 2, "x")
	lt.emit("r", 3, "x")
	lt.advance(30 * time.Second)
	// What the timer runs: packets 0 and 1 and the first two sessions are
	// over a minute old.
	lt.a.expire()
	if n, _ := lt.size(); n != 2 {
		t.Fatalf("log holds %d packets, want 2", n)
	}
	if n, b := lt.dropped(DropAge); n != 2 || b <= 0 {
		t.Fatalf("dropped %d packets (%d bytes) for age, want 2", n, b)
	}
	lt.a.mu.Lock()
	_, oldKept := lt.a.sessions["old"]
	armed := lt.a.timerArmed
	rooms := lt.a.sessionRooms["r"]
	lt.a.mu.Unlock()
	if oldKept || rooms != 1 {
		t.Fatalf("expired session kept: %v, sessions in r: %d", oldKept, rooms)
	}
	if !armed {
		t.Fatal("timer not armed while the log is not empty")
	}
	// From offset 0, packet 1 is missing.
	if got := lt.restore("new", o0); got != nil {
		t.Fatalf("restored from an expired offset, with a gap: %v", got)
	}
	// From offset 1 nothing is: an old offset is fine when no packet after
	// it was dropped (a quiet namespace).
	lt.persist("new", "r")
	if got := fmt.Sprint(lt.restore("new", o1)); got != "[2 3]" {
		t.Fatalf("restored %s, want [2 3]", got)
	}
	lt.persist("new", "r")
	if got := fmt.Sprint(lt.restore("new", o2)); got != "[3]" {
		t.Fatalf("restored %s, want [3]", got)
	}
	lt.advance(time.Hour)
	lt.a.expire()
	lt.a.mu.Lock()
	armed, sessions := lt.a.timerArmed, len(lt.a.sessions)
	lt.a.mu.Unlock()
	if n, _ := lt.size(); n != 0 || sessions != 0 || armed {
		t.Fatalf("after the window: %d packets, %d sessions, timer armed %v", n, sessions, armed)
	}
}

// TestRecoveryLogTimer checks that the timer empties the log and the
// sessions of a namespace that sees no more broadcasts, on the real clock.
func TestRecoveryLogTimer(t *testing.T) {
	var mu sync.Mutex
	var aged int
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{
		MaxDisconnectionDuration: 20 * time.Millisecond,
		OnDrop: func(_ string, packets int, _ int64, reason string) {
			mu.Lock()
			if reason == DropAge {
				aged += packets
			}
			mu.Unlock()
		},
	}})
	a := srv.Of("/").Adapter().(*InMemoryAdapter)
	// The adapter's clock stands still until the packets are logged and
	// counted: a busy machine could otherwise let the 20 ms window pass
	// before then. The timer is the real one.
	start := time.Now()
	var frozen atomic.Bool
	frozen.Store(true)
	a.mu.Lock()
	a.now = func() time.Time {
		if frozen.Load() {
			return start
		}
		return time.Now()
	}
	a.mu.Unlock()
	_ = a.PersistSession(&SessionToPersist{SID: "s", PID: "p", Rooms: []string{"r"}})
	for i := range 3 {
		_ = srv.To("r").Emit("m", i)
	}
	if n, _ := a.RecoveryLogSize(); n != 3 {
		t.Fatalf("log holds %d packets, want 3", n)
	}
	frozen.Store(false)
	empty := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.log) == 0 && len(a.sessions) == 0 && !a.timerArmed
	}
	deadline := time.Now().Add(10 * time.Second)
	for !empty() {
		if time.Now().After(deadline) {
			t.Fatal("the log and the session were not expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if aged != 3 {
		t.Fatalf("OnDrop reported %d packets dropped for age, want 3", aged)
	}
}

func TestRecoveryLogClose(t *testing.T) {
	lt := newLogTest(t, RecoveryOptions{})
	lt.persist("p", "r")
	lt.emit("r", 0, "x")
	lt.a.mu.Lock()
	armed := lt.a.timerArmed
	lt.a.mu.Unlock()
	if !armed {
		t.Fatal("timer not armed")
	}
	_ = lt.a.Close()
	lt.a.mu.Lock()
	armed, sessions := lt.a.timerArmed, len(lt.a.sessions)
	stopped := !lt.a.timer.Stop() // false: it was stopped already
	lt.a.mu.Unlock()
	if n, _ := lt.size(); n != 0 || sessions != 0 || armed || !stopped {
		t.Fatalf("after Close: %d packets, %d sessions, armed %v, timer stopped %v", n, sessions, armed, stopped)
	}
	lt.persist("p", "r")
	_ = lt.a.Broadcast(&parser.Packet{Type: parser.Event, Data: json.RawMessage(`["m"]`)}, &BroadcastOptions{Rooms: []string{"r"}})
	lt.a.mu.Lock()
	armed, sessions = lt.a.timerArmed, len(lt.a.sessions)
	lt.a.mu.Unlock()
	if n, _ := lt.size(); n != 0 || sessions != 0 || armed {
		t.Fatalf("after Close, kept %d packets, %d sessions, armed %v", n, sessions, armed)
	}
}

// TestRecoveryLogSkipsUnrecoverable checks that a broadcast that selects
// no socket and no stored session is not logged, and that one a stored
// session may recover is.
func TestRecoveryLogSkipsUnrecoverable(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{}})
	a := srv.Of("/").Adapter().(*InMemoryAdapter)
	sockets := make(chan *Socket, 4)
	srv.OnConnection(func(s *Socket) {
		if !s.Recovered() {
			s.Join("r")
		}
		sockets <- s
	})
	logged := func() int { n, _ := a.RecoveryLogSize(); return n }

	alone := dial(t, srv)
	alone.connect("/", "")
	sa := recvValue(t, sockets)
	// Alone in r, except itself: nobody could ever need these.
	for i := range 3 {
		_ = sa.To("r").Emit("m", i)
	}
	_ = srv.To("nobody").Emit("m")
	if n := logged(); n != 0 {
		t.Fatalf("logged %d packets nobody can recover", n)
	}

	// Another socket in r: it may lose what is queued for it.
	tc := dial(t, srv)
	tc.send(`0`)
	var hello struct{ SID, PID string }
	_ = json.Unmarshal([]byte(tc.recvText()[1:]), &hello)
	sb := recvValue(t, sockets)
	_ = sa.To("r").Emit("m", 1)
	if n := logged(); n != 1 {
		t.Fatalf("logged %d packets, want 1 (for a member)", n)
	}
	offset := lastArg(t, tc.recvText())

	// Its transport drops: its stored session is in r.
	gone := make(chan string, 1)
	sb.OnDisconnect(func(_ *Socket, reason string) { gone <- reason })
	tc.c.onEngineClose(ReasonTransportClose, nil)
	recvValue(t, gone)
	_ = sa.To("r").Emit("m", 2)
	_ = sa.To("r").Emit("m", 3)
	_ = srv.To("nobody").Emit("m")
	if n := logged(); n != 3 {
		t.Fatalf("logged %d packets, want 3 (two for a stored session)", n)
	}
	tc2 := dial(t, srv)
	tc2.send(fmt.Sprintf(`0{"pid":%q,"offset":%q}`, hello.PID, offset))
	if got := tc2.recvText(); !strings.Contains(got, hello.SID) {
		t.Fatalf("CONNECT = %q, want the session %s restored", got, hello.SID)
	}
	for _, want := range []string{`2["m",2,`, `2["m",3,`} {
		if got := tc2.recvText(); !strings.HasPrefix(got, want) {
			t.Fatalf("got %q, want %s...", got, want)
		}
	}
}

// wrapper is an adapter that wraps the in-memory one, as multi-server
// adapters do.
type wrapper struct{ *InMemoryAdapter }

// TestRecoveryLogWrapped checks that the in-memory adapter still skips
// the broadcasts no session could recover when a multi-server adapter
// wraps it: PersistSession takes a socket out of its rooms and stores its
// session in one step, whoever calls it.
func TestRecoveryLogWrapped(t *testing.T) {
	srv := newTestServer(t, &Options{
		ConnectionStateRecovery: &RecoveryOptions{},
		Adapter: func(h AdapterHost) (Adapter, error) {
			return wrapper{NewInMemoryAdapter(h, &RecoveryOptions{})}, nil
		},
	})
	a := srv.Of("/").Adapter().(wrapper)
	_ = srv.To("nobody").Emit("m")
	if n, _ := a.RecoveryLogSize(); n != 0 {
		t.Fatalf("logged %d packets, want none", n)
	}
	// A stored session in the room makes the next broadcast recoverable.
	_ = a.PersistSession(&SessionToPersist{SID: "gone", PID: "p", Rooms: []string{"gone", "nobody"}})
	_ = srv.To("nobody").Emit("m")
	if n, _ := a.RecoveryLogSize(); n != 1 {
		t.Fatalf("logged %d packets, want 1", n)
	}
}

// TestRecoveryRefusedAfterGap checks, end to end, that a client whose
// missed packets were partly dropped gets a new session.
func TestRecoveryRefusedAfterGap(t *testing.T) {
	srv := newTestServer(t, &Options{ConnectionStateRecovery: &RecoveryOptions{MaxLogPackets: 2}})
	sockets := make(chan *Socket, 2)
	srv.OnConnection(func(s *Socket) { sockets <- s })
	tc := dial(t, srv)
	tc.send(`0`)
	var hello struct{ SID, PID string }
	_ = json.Unmarshal([]byte(tc.recvText()[1:]), &hello)
	s := recvValue(t, sockets)
	_ = srv.Emit("m", 0)
	offset := lastArg(t, tc.recvText())
	gone := make(chan string, 1)
	s.OnDisconnect(func(_ *Socket, reason string) { gone <- reason })
	tc.c.onEngineClose(ReasonTransportClose, nil)
	recvValue(t, gone)
	for i := 1; i <= 3; i++ { // packet 1 leaves the log
		_ = srv.Emit("m", i)
	}
	tc2 := dial(t, srv)
	sid := tc2.connect("/", fmt.Sprintf(`{"pid":%q,"offset":%q}`, hello.PID, offset))
	if sid == hello.SID || recvValue(t, sockets).Recovered() {
		t.Fatal("restored with a gap")
	}
	tc2.expectNothing()
}
