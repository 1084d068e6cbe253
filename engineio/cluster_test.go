package engineio_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// bus is an in-memory engineio.ClusterTransport hub: each node handles
// its messages in order from a goroutine of its own, as over Redis.
type bus struct {
	mu        sync.Mutex
	nodes     map[string]*busNode
	published []*engineio.ClusterMessage // every message, in order
	drop      func(*engineio.ClusterMessage) bool
}

func newBus() *bus { return &bus{nodes: map[string]*busNode{}} }

// busNode is one server's transport on the bus.
type busNode struct {
	b      *bus
	id     string
	mu     sync.Mutex
	q      []*engineio.ClusterMessage
	wake   chan struct{}
	handle func(*engineio.ClusterMessage)
	dead   bool          // killed: publishes nothing, receives nothing
	delay  time.Duration // each message is handled this long after it came
	stop   chan struct{}
	done   chan struct{}
}

func (b *bus) node(id string) *busNode {
	n := &busNode{b: b, id: id, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.mu.Lock()
	b.nodes[id] = n
	b.mu.Unlock()
	return n
}

// kill makes n leave the cluster without a word.
func (n *busNode) kill() {
	n.mu.Lock()
	n.dead, n.q = true, nil
	n.mu.Unlock()
}

func (n *busNode) NodeID() string { return n.id }

func (n *busNode) Start(handle func(*engineio.ClusterMessage)) {
	n.handle = handle
	go func() {
		defer close(n.done)
		for {
			select {
			case <-n.wake:
			case <-n.stop:
				return
			}
			for {
				n.mu.Lock()
				if len(n.q) == 0 {
					n.mu.Unlock()
					break
				}
				m := n.q[0]
				n.q = n.q[1:]
				d := n.delay
				n.mu.Unlock()
				if d > 0 {
					time.Sleep(d)
				}
				n.handle(m)
			}
		}
	}()
}

// copyMessage copies m deeply, as a wire would.
func copyMessage(m *engineio.ClusterMessage) *engineio.ClusterMessage {
	c := *m
	c.Packets = nil
	for _, p := range m.Packets {
		p.Data = slices.Clone(p.Data)
		c.Packets = append(c.Packets, p)
	}
	return &c
}

func (n *busNode) Publish(_ context.Context, m *engineio.ClusterMessage) error {
	n.mu.Lock()
	dead := n.dead
	n.mu.Unlock()
	if dead {
		return fmt.Errorf("node %s is dead", n.id)
	}
	b := n.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.published = append(b.published, copyMessage(m))
	if b.drop != nil && b.drop(m) {
		return nil
	}
	for id, to := range b.nodes {
		if id == n.id || m.Recipient != "" && m.Recipient != id {
			continue
		}
		to.mu.Lock()
		if !to.dead {
			to.q = append(to.q, copyMessage(m))
			select {
			case to.wake <- struct{}{}:
			default:
			}
		}
		to.mu.Unlock()
	}
	return nil
}

func (n *busNode) Alive(_ context.Context, nodes []string) ([]bool, error) {
	b := n.b
	b.mu.Lock()
	defer b.mu.Unlock()
	alive := make([]bool, len(nodes))
	for i, id := range nodes {
		if to := b.nodes[id]; to != nil {
			to.mu.Lock()
			alive[i] = !to.dead
			to.mu.Unlock()
		}
	}
	return alive, nil
}

func (n *busNode) Close() error {
	select {
	case <-n.stop:
	default:
		close(n.stop)
		if n.handle != nil {
			<-n.done
		}
	}
	return nil
}

// publishedCount returns the messages published so far.
func (b *bus) publishedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.published)
}

// observer records forwarded requests.
type observer struct {
	mu        sync.Mutex
	forwarded []string // kind/outcome
	served    []string
}

func (o *observer) Forwarded(kind, outcome string, _ time.Duration) {
	o.mu.Lock()
	o.forwarded = append(o.forwarded, kind+"/"+outcome)
	o.mu.Unlock()
}

func (o *observer) Served(kind string) {
	o.mu.Lock()
	o.served = append(o.served, kind)
	o.mu.Unlock()
}

func (o *observer) count(what string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, f := range append(slices.Clone(o.forwarded), o.served...) {
		if f == what {
			n++
		}
	}
	return n
}

// member is one server of a test cluster.
type member struct {
	*env
	bn    *busNode
	obs   *observer
	mu    sync.Mutex
	moved []string // sessions closed with ReasonMoved (OnSession)
}

// newCluster starts n servers on one bus; edit, when set, changes each
// one's options.
func newCluster(t *testing.T, n int, edit func(*engineio.Options)) (*bus, []*member) {
	t.Helper()
	b := newBus()
	ms := make([]*member, n)
	for i := range ms {
		bn := b.node(fmt.Sprintf("node%d", i))
		obs := &observer{}
		opts := &engineio.Options{Cluster: &engineio.ClusterOptions{Transport: bn, ResponseTimeout: 2 * time.Second,
			PeerCheckInterval: 20 * time.Millisecond, Observer: obs}}
		if edit != nil {
			edit(opts)
		}
		m := &member{bn: bn, obs: obs}
		m.env = newEnv(t, opts, nil)
		m.srv.OnSession(nil, func(s *engineio.Socket, reason string, _ error) {
			if reason == engineio.ReasonMoved {
				m.mu.Lock()
				m.moved = append(m.moved, s.ID())
				m.mu.Unlock()
			}
		})
		ms[i] = m
	}
	return b, ms
}

func (m *member) movedSessions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.moved)
}

// noConn fails if a session connected.
func (e *env) noConn() {
	e.t.Helper()
	select {
	case s := <-e.conns:
		e.t.Fatalf("unexpected connection %s", s.ID())
	default:
	}
}

// messages reads n messages and returns their data.
func (e *env) messages(n int) []string {
	e.t.Helper()
	var got []string
	for range n {
		got = append(got, string(e.nextMessage().pkt.Data))
	}
	return got
}

func checkUnknownSID(t *testing.T, what string, status int, body string) {
	t.Helper()
	if status != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("%s: %d %q, want 400 Session ID unknown", what, status, body)
	}
}

// TestClusterPolling: a polling session opened on one server is served by
// all: POSTs and GETs alternate between the three servers, and the
// session's messages both ways arrive once, in order.
func TestClusterPolling(t *testing.T) {
	_, ms := newCluster(t, 3, func(o *engineio.Options) { o.Cluster.ConnectionDelay = 50 * time.Millisecond })
	a := ms[0]
	sid, _ := a.handshake()
	for _, m := range ms[1:] {
		m.noConn()
	}
	const rounds = 30
	var sock *engineio.Socket
	for i := range rounds {
		ms[i%3].post(sid, fmt.Sprintf("4c%d", i))
		if i == 0 {
			sock = a.nextConn()
		}
		if err := sock.Send(engineio.Packet{Data: fmt.Appendf(nil, "s%d", i)}); err != nil {
			t.Fatal(err)
		}
		if got := ms[(i+1)%3].poll(sid); got != fmt.Sprintf("4s%d", i) {
			t.Fatalf("poll %d on server %d: %q", i, (i+1)%3, got)
		}
	}
	got := a.messages(rounds)
	for i, g := range got {
		if g != fmt.Sprintf("c%d", i) {
			t.Fatalf("messages on the owner: %q", got)
		}
	}
	for _, m := range ms[1:] {
		m.noConn()
		if m.srv.Count() != 0 {
			t.Fatalf("a server that routes has %d sessions", m.srv.Count())
		}
	}
	if n := ms[1].obs.count("post/ok") + ms[2].obs.count("post/ok"); n != rounds*2/3 {
		t.Fatalf("forwarded POSTs: %d, want %d", n, rounds*2/3)
	}
	if n := a.obs.count("poll") + a.obs.count("post"); n == 0 {
		t.Fatal("the owner served no request of the others")
	}
}

// TestClusterLocalPathFree: requests that reach the owner publish nothing.
func TestClusterLocalPathFree(t *testing.T) {
	b, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a := ms[0]
	sid, _ := a.handshake()
	sock := a.nextConn()
	for i := range 10 {
		a.post(sid, fmt.Sprintf("4c%d", i))
		_ = sock.Send(engineio.Packet{Data: []byte("x")})
		a.poll(sid)
	}
	ws := a.dial("EIO=4&transport=websocket&sid=" + sid)
	write(t, ws, "2probe")
	if _, got := read(t, ws); got != "3probe" {
		t.Fatalf("probe: %q", got)
	}
	write(t, ws, "5")
	write(t, ws, "4after")
	a.messages(10)
	if got := string(a.nextMessage().pkt.Data); got != "after" {
		t.Fatalf("after the upgrade: %q", got)
	}
	if n := b.publishedCount(); n != 0 {
		t.Fatalf("%d messages published for a session served where it lives", n)
	}
}

// TestClusterPostOrder: a POST served elsewhere is answered once the owner
// has delivered its packets, so the client's next POST, even to the owner
// itself, comes after them, however slowly the owner reads the cluster.
func TestClusterPostOrder(t *testing.T) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a, b := ms[0], ms[1]
	sid, _ := a.handshake()
	a.nextConn()
	a.bn.mu.Lock()
	a.bn.delay = 300 * time.Millisecond
	a.bn.mu.Unlock()
	for i := range 4 {
		b.post(sid, fmt.Sprintf("4b%d", i))
		a.post(sid, fmt.Sprintf("4a%d", i))
	}
	want := []string{"b0", "a0", "b1", "a1", "b2", "a2", "b3", "a3"}
	if got := a.messages(len(want)); !slices.Equal(got, want) {
		t.Fatalf("the owner got %q, want %q", got, want)
	}
}

// upgradeAt probes an upgrade of sid on m, sends the upgrade packet and,
// right behind it, the messages after.
func upgradeAt(t *testing.T, m *member, sid string, after ...string) *websocket.Conn {
	t.Helper()
	ws := m.dial("EIO=4&transport=websocket&sid=" + sid)
	write(t, ws, "2probe")
	if _, got := read(t, ws); got != "3probe" {
		t.Fatalf("probe: %q", got)
	}
	write(t, ws, "5")
	for _, a := range after {
		write(t, ws, "4"+a)
	}
	return ws
}

// TestClusterUpgradeTakeover: an upgrade that reaches another server
// before the session connected moves the session there: OnConnection
// runs there only, with the messages the owner held and those the client
// sent right behind its upgrade packet, in order.
func TestClusterUpgradeTakeover(t *testing.T) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ConnectionDelay = time.Minute })
	a, b := ms[0], ms[1]
	sid, _ := a.handshake()
	a.post(sid, "4before1")
	b.post(sid, "4before2")
	ws := upgradeAt(t, b, sid, "after1", "after2")
	sock := b.nextConn()
	if sock.ID() != sid || sock.Transport() != engineio.TransportWebSocket {
		t.Fatalf("adopted %s over %s", sock.ID(), sock.Transport())
	}
	want := []string{"before1", "before2", "after1", "after2"}
	if got := b.messages(4); !slices.Equal(got, want) {
		t.Fatalf("messages on the new owner: %q, want %q", got, want)
	}
	a.noConn()
	if got := a.movedSessions(); !slices.Equal(got, []string{sid}) {
		t.Fatalf("moved sessions on the old owner: %q", got)
	}
	if a.srv.Count() != 0 || b.srv.Count() != 1 {
		t.Fatalf("sessions: %d and %d", a.srv.Count(), b.srv.Count())
	}
	// The session now lives on the WebSocket's server.
	if err := sock.Send(engineio.Packet{Data: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	if _, got := read(t, ws); got != "4hi" {
		t.Fatalf("over the WebSocket: %q", got)
	}
	if b.obs.count("upgrade/takeover") != 1 {
		t.Fatalf("observed: %q", b.obs.forwarded)
	}
}

// TestClusterUpgradeRelay: an upgrade that reaches another server after
// the session connected is relayed by that server: both ways, in order,
// the messages right behind the upgrade packet included.
func TestClusterUpgradeRelay(t *testing.T) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a, b := ms[0], ms[1]
	sid, _ := a.handshake()
	sock := a.nextConn()
	b.post(sid, "4before")
	ws := upgradeAt(t, b, sid, "after1", "after2")
	want := []string{"before", "after1", "after2"}
	if got := a.messages(3); !slices.Equal(got, want) {
		t.Fatalf("messages on the owner: %q, want %q", got, want)
	}
	if sock.Transport() != engineio.TransportWebSocket {
		t.Fatalf("transport %s", sock.Transport())
	}
	for i := range 5 {
		if err := sock.Send(engineio.Packet{Data: fmt.Appendf(nil, "s%d", i)}, engineio.Packet{Data: []byte{1, 2}, Binary: true}); err != nil {
			t.Fatal(err)
		}
		if _, got := read(t, ws); got != fmt.Sprintf("4s%d", i) {
			t.Fatalf("relayed: %q", got)
		}
		if typ, got := read(t, ws); typ != websocket.MessageBinary || got != "\x01\x02" {
			t.Fatalf("relayed binary: %v %q", typ, got)
		}
	}
	write(t, ws, "4later")
	if got := string(a.nextMessage().pkt.Data); got != "later" {
		t.Fatalf("later: %q", got)
	}
	if b.srv.Count() != 0 || b.obs.count("upgrade/relay") != 1 {
		t.Fatalf("the relaying server has %d sessions; observed %q", b.srv.Count(), b.obs.forwarded)
	}
	// The client closes: the owner's session closes.
	ws.Close(websocket.StatusNormalClosure, "")
	if c := a.nextClose(); c.reason != engineio.ReasonTransportClose {
		t.Fatalf("closed with %q", c.reason)
	}
}

// TestClusterRelayServerClose: the owner closes a relayed session: the
// client gets a close packet and the WebSocket closes.
func TestClusterRelayServerClose(t *testing.T) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a, b := ms[0], ms[1]
	sid, _ := a.handshake()
	sock := a.nextConn()
	ws := upgradeAt(t, b, sid, "x")
	a.nextMessage()
	sock.Close()
	if _, got := read(t, ws); got != "1" {
		t.Fatalf("got %q, want the close packet", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("read after the close packet: %v", err)
	}
}

// TestClusterUnknownSID: requests for a session no server has get Node's
// 400 "Session ID unknown".
func TestClusterUnknownSID(t *testing.T) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ResponseTimeout = 200 * time.Millisecond })
	b := ms[1]
	sid := strings.Repeat("x", 20)
	status, body, _ := b.do("GET", "EIO=4&transport=polling&sid="+sid, "")
	checkUnknownSID(t, "GET", status, body)
	status, body, _ = b.do("POST", "EIO=4&transport=polling&sid="+sid, "4x")
	checkUnknownSID(t, "POST", status, body)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.url, "http")+"?EIO=4&transport=websocket&sid="+sid, nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("upgrade: %v %v", err, resp)
	}
	if b.obs.count("poll/unknown_sid") != 1 || b.obs.count("post/unknown_sid") != 1 || b.obs.count("upgrade/unknown_sid") != 1 {
		t.Fatalf("observed %q", b.obs.forwarded)
	}
}

// TestClusterOwnerGone: the owner leaves the cluster without a word: a
// poll pending elsewhere gets 400 "Session ID unknown", the WebSockets
// relayed elsewhere close, and new requests get 400 too.
func TestClusterOwnerGone(t *testing.T) {
	_, ms := newCluster(t, 3, func(o *engineio.Options) {
		o.Cluster.ConnectionDelay = -1
		o.Cluster.ResponseTimeout = 500 * time.Millisecond
	})
	a, b, c := ms[0], ms[1], ms[2]
	sid, _ := a.handshake()
	a.nextConn()
	sid2, _ := a.handshake()
	a.nextConn()
	ws := upgradeAt(t, c, sid2, "x")
	a.nextMessage()
	type result struct {
		status int
		body   string
	}
	polled := make(chan result, 1)
	go func() {
		status, body, _ := b.do("GET", "EIO=4&transport=polling&sid="+sid, "")
		polled <- result{status, body}
	}()
	// Wait until the owner holds the poll, then kill it.
	waitFor(t, "the poll to reach the owner", func() bool { return a.obs.count("poll") == 1 })
	a.bn.kill()
	select {
	case r := <-polled:
		checkUnknownSID(t, "the pending poll", r.status, r.body)
	case <-time.After(waitTimeout):
		t.Fatal("the pending poll was not answered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("the relayed WebSocket: %v", err)
	}
	status, body, _ := c.do("POST", "EIO=4&transport=polling&sid="+sid, "4x")
	checkUnknownSID(t, "a POST after", status, body)
}

// TestClusterRequesterGone: the server that holds a poll (or relays a
// WebSocket) for a session leaves the cluster: the session closes on its
// owner at once.
func TestClusterRequesterGone(t *testing.T) {
	_, ms := newCluster(t, 3, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a, b, c := ms[0], ms[1], ms[2]
	sid, _ := a.handshake()
	a.nextConn()
	sid2, _ := a.handshake()
	a.nextConn()
	upgradeAt(t, c, sid2, "x")
	a.nextMessage()
	go func() {
		req, _ := http.NewRequest("GET", b.url+"?EIO=4&transport=polling&sid="+sid, nil)
		if resp, err := b.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, "the poll to reach the owner", func() bool { return a.obs.count("poll") == 1 })
	b.bn.kill()
	c.bn.kill()
	got := map[string]string{}
	for range 2 {
		cl := a.nextClose()
		got[cl.sock.ID()] = cl.reason
	}
	if got[sid] != engineio.ReasonTransportError || got[sid2] != engineio.ReasonTransportError {
		t.Fatalf("closes: %v", got)
	}
}

// TestClusterPayloadLimit: a POST served elsewhere is bounded there, by
// MaxPayload: 413, and the session closes on its owner.
func TestClusterPayloadLimit(t *testing.T) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) {
		o.Cluster.ConnectionDelay = -1
		o.MaxPayload = 1000
	})
	a, b := ms[0], ms[1]
	sid, _ := a.handshake()
	a.nextConn()
	b.post(sid, "4small") // b learns the owner
	a.nextMessage()
	status, _, _ := b.do("POST", "EIO=4&transport=polling&sid="+sid, "4"+strings.Repeat("x", 1000))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", status)
	}
	if c := a.nextClose(); c.reason != engineio.ReasonTransportError {
		t.Fatalf("closed with %q", c.reason)
	}
}

// TestClusterClosePacket: a close packet POSTed elsewhere closes the
// session, after the packets before it.
func TestClusterClosePacket(t *testing.T) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a, b := ms[0], ms[1]
	sid, _ := a.handshake()
	a.nextConn()
	b.post(sid, "4last\x1e1")
	if got := string(a.nextMessage().pkt.Data); got != "last" {
		t.Fatalf("got %q", got)
	}
	if c := a.nextClose(); c.reason != engineio.ReasonTransportClose {
		t.Fatalf("closed with %q", c.reason)
	}
}

// TestClusterOverlappingPolls: two polls at once on two other servers: the
// second is refused and the session closes, the first getting the close
// packet, as on one server.
func TestClusterOverlappingPolls(t *testing.T) {
	_, ms := newCluster(t, 3, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a, b, c := ms[0], ms[1], ms[2]
	sid, _ := a.handshake()
	a.nextConn()
	first := make(chan string, 1)
	go func() {
		_, body, _ := b.do("GET", "EIO=4&transport=polling&sid="+sid, "")
		first <- body
	}()
	waitFor(t, "the poll to reach the owner", func() bool { return a.obs.count("poll") == 1 })
	status, body, _ := c.do("GET", "EIO=4&transport=polling&sid="+sid, "")
	if status != 400 {
		t.Fatalf("second poll: %d %q", status, body)
	}
	select {
	case got := <-first:
		if got != "1" {
			t.Fatalf("first poll: %q", got)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the first poll was not answered")
	}
	if cl := a.nextClose(); cl.reason != engineio.ReasonTransportError {
		t.Fatalf("closed with %q", cl.reason)
	}
}

// TestClusterShutdownReleasesPolls: a server that shuts down ends the polls
// it holds for others with a noop, and the sessions go on: the client's
// next poll, elsewhere, gets what was queued. That holds too for a poll
// whose lock the owner granted but whose answer had not reached the
// server yet when it began to shut down (a busy machine).
func TestClusterShutdownReleasesPolls(t *testing.T) {
	for _, lockOnItsWay := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockOnItsWay=%v", lockOnItsWay), func(t *testing.T) {
			testClusterShutdownReleasesPolls(t, lockOnItsWay)
		})
	}
}

func testClusterShutdownReleasesPolls(t *testing.T, lockOnItsWay bool) {
	_, ms := newCluster(t, 2, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a, b := ms[0], ms[1]
	if lockOnItsWay {
		// b handles what it gets (the lock's answer) only after it
		// begins to shut down.
		b.bn.mu.Lock()
		b.bn.delay = 100 * time.Millisecond
		b.bn.mu.Unlock()
	}
	sid, _ := a.handshake()
	sock := a.nextConn()
	polled := make(chan string, 1)
	go func() {
		_, body, _ := b.do("GET", "EIO=4&transport=polling&sid="+sid, "")
		polled <- body
	}()
	waitFor(t, "the poll to reach the owner", func() bool { return a.obs.count("poll") == 1 })
	closed := make(chan struct{})
	go func() {
		b.srv.Close()
		close(closed)
	}()
	select {
	case got := <-polled:
		if got != "6" {
			t.Fatalf("the released poll: %q", got)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the poll was not released")
	}
	<-closed
	if err := sock.Send(engineio.Packet{Data: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	if got := a.poll(sid); got != "4kept" {
		t.Fatalf("next poll: %q", got)
	}
}

// TestClusterDelayedConnection: a new polling session connects once its
// upgrade completes on its own server, without waiting for the delay; the
// messages it got meanwhile are delivered after OnConnection, in order.
func TestClusterDelayedConnection(t *testing.T) {
	_, ms := newCluster(t, 1, func(o *engineio.Options) { o.Cluster.ConnectionDelay = time.Hour })
	a := ms[0]
	sid, _ := a.handshake()
	a.post(sid, "4m1")
	a.noConn()
	upgradeAt(t, a, sid, "m2")
	a.nextConn()
	if got := a.messages(2); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("messages %q", got)
	}
}

// TestClusterNodeRequesterNoTakeover: an upgrade completed by a server
// that does not say it is Tether (a Node server, which forwards what the
// client sends right after its upgrade packet before the owner answers)
// is relayed, never taken over, even before OnConnection.
func TestClusterNodeRequesterNoTakeover(t *testing.T) {
	bs, ms := newCluster(t, 1, func(o *engineio.Options) { o.Cluster.ConnectionDelay = time.Hour })
	a := ms[0]
	node := bs.node("nodejs")
	got := make(chan *engineio.ClusterMessage, 10)
	node.Start(func(m *engineio.ClusterMessage) { got <- m })
	defer node.Close()
	sid, _ := a.handshake()
	next := func() *engineio.ClusterMessage {
		select {
		case m := <-got:
			return m
		case <-time.After(waitTimeout):
			t.Fatal("no message")
			return nil
		}
	}
	ctx := context.Background()
	_ = node.Publish(ctx, &engineio.ClusterMessage{Type: engineio.ClusterMsgAcquireLock, RequestID: 1, Sender: "nodejs", SID: sid, Transport: "websocket", Read: true})
	if r := next(); r.Type != engineio.ClusterMsgLockResponse || !r.Success || r.RequestID != 1 || r.Recipient != "nodejs" || !r.Tether {
		t.Fatalf("lock response %+v", r)
	}
	_ = node.Publish(ctx, &engineio.ClusterMessage{Type: engineio.ClusterMsgUpgrade, RequestID: 2, Sender: "nodejs", Recipient: "node0", SID: sid, Success: true})
	r := next()
	for r.Type == engineio.ClusterMsgDrain { // the noops that end polls
		r = next()
	}
	if r.Type != engineio.ClusterMsgUpgradeResponse || r.TakeOver || r.RequestID != 2 {
		t.Fatalf("upgrade response %+v", r)
	}
	sock := a.nextConn()
	if err := sock.Send(engineio.Packet{Data: []byte("relayed")}); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.Type != engineio.ClusterMsgDrain || len(r.Packets) != 1 || string(r.Packets[0].Data) != "relayed" || r.Packets[0].Type != parser.Message {
		t.Fatalf("drain %+v", r)
	}
}

// TestClusterUnconfirmedDrain: a server that dies after the owner sent it a
// poll's packets, before it confirmed that the client took them: the
// session closes (the client reconnects and recovers them) rather than go
// on without them. Confirmed packets leave the session alone.
func TestClusterUnconfirmedDrain(t *testing.T) {
	for _, confirm := range []bool{false, true} {
		t.Run(fmt.Sprint("confirmed=", confirm), func(t *testing.T) {
			bs, ms := newCluster(t, 3, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
			a, b, c := ms[0], ms[1], ms[2]
			if !confirm {
				bs.mu.Lock()
				bs.drop = func(m *engineio.ClusterMessage) bool { return m.Type == engineio.ClusterMsgDrained }
				bs.mu.Unlock()
			}
			sid, _ := a.handshake()
			sock := a.nextConn()
			if err := sock.Send(engineio.Packet{Data: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			if got := b.poll(sid); got != "4x" {
				t.Fatalf("poll: %q", got)
			}
			if !confirm {
				b.bn.kill()
				if cl := a.nextClose(); cl.reason != engineio.ReasonTransportError || cl.sock.ID() != sid {
					t.Fatalf("closed %s with %q", cl.sock.ID(), cl.reason)
				}
				return
			}
			waitFor(t, "the confirmation", func() bool {
				bs.mu.Lock()
				defer bs.mu.Unlock()
				return bs.published[len(bs.published)-1].Type == engineio.ClusterMsgDrained
			})
			// A POST through c reaches a after the confirmation.
			c.post(sid, "4z")
			a.nextMessage()
			// Another session with a poll pending on b: its close shows
			// that a saw b leave.
			sid2, _ := a.handshake()
			a.nextConn()
			go func() {
				req, _ := http.NewRequest("GET", b.url+"?EIO=4&transport=polling&sid="+sid2, nil)
				if resp, err := b.client.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			waitFor(t, "the poll to reach the owner", func() bool { return a.obs.count("poll") == 2 })
			b.bn.kill()
			if cl := a.nextClose(); cl.sock.ID() != sid2 {
				t.Fatalf("closed %s, want %s", cl.sock.ID(), sid2)
			}
			_ = sock.Send(engineio.Packet{Data: []byte("y")})
			if got := c.poll(sid); got != "4y" {
				t.Fatalf("poll after b died: %q", got)
			}
			select {
			case cl := <-a.closes:
				t.Fatalf("the session closed: %q", cl.reason)
			default:
			}
		})
	}
}

// TestClusterNodeRequesterOrder: a Node requester gets the answer to its
// lock before the DRAIN of the poll (it drops a DRAIN it does not wait for
// yet), however fast the packets are there.
func TestClusterNodeRequesterOrder(t *testing.T) {
	bs, ms := newCluster(t, 1, func(o *engineio.Options) { o.Cluster.ConnectionDelay = -1 })
	a := ms[0]
	node := bs.node("nodejs")
	got := make(chan *engineio.ClusterMessage, 10)
	node.Start(func(m *engineio.ClusterMessage) { got <- m })
	defer node.Close()
	sid, _ := a.handshake()
	sock := a.nextConn()
	next := func() *engineio.ClusterMessage {
		select {
		case m := <-got:
			return m
		case <-time.After(waitTimeout):
			t.Fatal("no message")
			return nil
		}
	}
	for i := range 50 {
		_ = sock.Send(engineio.Packet{Data: fmt.Appendf(nil, "m%d", i)})
		_ = node.Publish(context.Background(), &engineio.ClusterMessage{Type: engineio.ClusterMsgAcquireLock, RequestID: int64(i + 1), Sender: "nodejs", SID: sid, Transport: "polling", Read: true})
		if r := next(); r.Type != engineio.ClusterMsgLockResponse || !r.Success || r.RequestID != int64(i+1) {
			t.Fatalf("round %d: first %+v", i, r)
		}
		if r := next(); r.Type != engineio.ClusterMsgDrain || len(r.Packets) != 1 || string(r.Packets[0].Data) != fmt.Sprintf("m%d", i) {
			t.Fatalf("round %d: then %+v", i, r)
		}
	}
}
