package engineio

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
)

// The reasons a session closes, as OnClose reports them (the strings are
// Node's).
const (
	// ReasonTransportClose: the client closed the connection or sent a
	// close packet.
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the transport failed (network error,
	// overlapping requests, an oversized payload, a message too big).
	ReasonTransportError = "transport error"
	// ReasonPingTimeout: the client missed a heartbeat.
	ReasonPingTimeout = "ping timeout"
	// ReasonForcedClose: [Socket.Close] was called.
	ReasonForcedClose = "forced close"
	// ReasonServerShutdown: [Server.Close] was called.
	ReasonServerShutdown = "server shutting down"
	// ReasonParseError: the client sent a packet that could not be decoded.
	ReasonParseError = "parse error"
	// ReasonSendQueueFull: the client did not read fast enough and more
	// than Options.SendQueue packets, or Options.SendQueueBytes bytes, were
	// waiting for it.
	ReasonSendQueueFull = "send queue full"
)

var (
	// ErrClosed is returned by [Socket.Send] once the socket is closing or
	// closed.
	ErrClosed = errors.New("engineio: socket closed")
	// ErrSendQueueFull is returned by the [Socket.Send] call that would
	// have queued more than Options.SendQueue packets or
	// Options.SendQueueBytes bytes; the socket is then closed. It wraps
	// ErrClosed.
	ErrSendQueueFull = errors.Join(ErrClosed, errors.New("engineio: send queue full"))

	// The errors behind a session closed because its client was too slow
	// (OnClose's err wraps them; test with [errors.Is]):

	// ErrSlowPoll: a poll response was not taken by the client within
	// TransferTimeout ("transport error").
	ErrSlowPoll = errors.New("engineio: the client did not take a poll response in time")
	// ErrSlowPost: a POST body did not arrive within TransferTimeout
	// ("transport error").
	ErrSlowPost = errors.New("engineio: the client did not send a POST body in time")
	// ErrStalledWriter: the WebSocket did not take a write for longer than
	// PingInterval + PingTimeout although the client kept its heartbeat
	// ("ping timeout"): it answers pings without reading.
	ErrStalledWriter = errors.New("engineio: the client takes no data")
)

// Packet is one Engine.IO message packet as the layer above sees it: text
// (UTF-8) or binary data.
type Packet struct {
	// Data must not be modified after Send: the same Packet may be sent
	// to many sockets. The Data that OnMessage gets is the callee's to
	// keep.
	Data   []byte
	Binary bool
	// NoCompress asks to send the packet uncompressed (Node's
	// compress: false): a WebSocket writes it without permessage-deflate,
	// and a polling response is compressed only when one of its packets
	// allows it. Packets from the client never have it set.
	NoCompress bool
}

// outgoing is a packet waiting in a socket's queue.
type outgoing struct {
	parser.Packet
	noCompress bool
}

type sockState int32

const (
	stateOpen    sockState = iota
	stateClosing           // Close was called: flushing the queue
	stateClosed
)

// closeMode tells how a closing session treats what is queued and a
// pending poll.
type closeMode int

const (
	// closeError: the session failed; queued packets are dropped and a
	// pending poll gets a close packet.
	closeError closeMode = iota
	// closeByClient: the client closed; a pending poll gets a noop.
	closeByClient
	// closeGraceful: Close or server shutdown; queued packets go out
	// first, followed by a close packet (polling) or close frame.
	closeGraceful
	// closeDrain: [Server.Shutdown]; as closeGraceful, but a polling
	// session with packets queued and no pending poll keeps them for the
	// client's next poll instead of dropping them.
	closeDrain
)

// Socket is one Engine.IO session. Its methods are safe for concurrent use.
//
// (Its bool fields are together at the end, so that an idle session does
// not pay for padding after each.)
type Socket struct {
	srv *Server
	id  string
	req handshakeRequest

	handler atomic.Pointer[Handler] // see SetHandler, OnMessage, OnClose
	// deliverMu serializes the callbacks: OnConnection, then OnMessage
	// calls in order, then OnClose.
	deliverMu sync.Mutex
	// delay is set while OnConnection waits (see delayConnection); guarded
	// by deliverMu.
	delay *connDelay

	state atomic.Int32 // sockState; written under mu

	mu         sync.Mutex
	queue      []outgoing   // packets not yet handed to a transport
	queueBytes int64        // the bytes of message data in queue
	ws         *wsTransport // the WebSocket, once the session runs on one
	// Polling (and posting).
	poll *pollWaiter // the GET waiting for packets
	// Upgrade (and probed).
	probe *wsTransport // the WebSocket being probed
	// cold is the state of polling, upgrading and closing, made on first
	// use: an idle WebSocket session holds none of it.
	cold *sockCold
	// Heartbeat: one place in the server's wheel, for what is due next
	// (v4: the next ping, or the pong to the last one; v3: the client's
	// next ping), and awaitingPong. hbAt is the wheel's tick it is due in,
	// 0 when none; guarded by the wheel's lock (see wheel).
	hbAt int64
	// pingDue is, for v4, when the next ping is due, and for v3 when the
	// client last pinged; 0 before the heartbeat starts. Both times are
	// monotonic (see mono).
	pingDue      int64
	pongDeadline int64 // v4: when the pong to the last ping is due

	proto        uint8 // Engine.IO protocol: 3 or 4
	b64          bool  // v3 polling client without binary support
	posting      bool  // a POST is being read
	probed       bool  // the probe was answered: end polls with noops
	lateNoop     bool  // closed by the client: a poll that comes late gets a noop
	awaitingPong bool
}

// connDelay is the state of a delayed session: in a cluster, a new
// polling session's OnConnection waits while an upgrade may still move it
// to another server (see ClusterOptions.ConnectionDelay), and the
// messages that come meanwhile are held.
type connDelay struct {
	held      []Packet
	heldBytes int64
	timer     *time.Timer
}

// sockCold is the part of a session's state that an idle WebSocket
// session does not need (see [Socket.coldLocked]). Guarded by the
// socket's lock.
type sockCold struct {
	// The transfers under way: a poll response being written and a POST
	// body being read, each bounded by TransferTimeout and cut short when the
	// session closes (the response only when the client missed its
	// heartbeat: other closes let it finish).
	pollWrite *http.ResponseController
	postRead  *http.ResponseController
	// noopTimer ends polls with a noop while an upgrade is under way.
	noopTimer *time.Timer
	// Closing (and lateNoop).
	closeReason string
	closeTimer  *time.Timer
	// Closed: why.
	reason string
	err    error
}

// coldLocked returns the session's cold state, made on first use. The
// caller holds s.mu.
func (s *Socket) coldLocked() *sockCold {
	if s.cold == nil {
		s.cold = new(sockCold)
	}
	return s.cold
}

// monoStart is the origin of the monotonic times that sessions keep (see
// mono).
var monoStart = time.Now()

// mono returns t in nanoseconds on the monotonic clock, since a time
// before the process's first session: 8 bytes where a time.Time takes 24.
// It is never 0 for a time after monoStart.
func mono(t time.Time) int64 { return int64(t.Sub(monoStart)) + 1 }

// ver returns the session's protocol as the parser takes it.
func (s *Socket) ver() parser.Version { return parser.Version(s.proto) }

// pollWaiter is a GET waiting for packets; whoever clears Socket.poll
// sends them on ch (buffered, so never blocking), or nil to refuse the GET
// (the session upgraded). A GET that another server of a cluster holds
// (remote is its node ID) gets them through fn instead, which is called
// with the socket's lock held and does not block.
type pollWaiter struct {
	ch     chan []outgoing
	remote string
	fn     func([]outgoing)
}

// send answers the GET with pkts.
func (pw *pollWaiter) send(pkts []outgoing) {
	if pw.fn != nil {
		pw.fn(pkts)
		return
	}
	pw.ch <- pkts
}

// ID returns the session ID.
func (s *Socket) ID() string { return s.id }

// Protocol returns the Engine.IO protocol revision the client speaks: 3 or 4.
func (s *Socket) Protocol() int { return int(s.proto) }

// Request returns the handshake request: its headers, URL (with the query)
// and RemoteAddr. Its body is empty and its context the background one. It
// is made anew by each call from what the session keeps (the header packed
// in one buffer, not net/http's map): call [Socket.Header] or
// [Socket.RemoteAddr] for one of them.
func (s *Socket) Request() *http.Request { return s.req.request() }

// Header returns the header of the handshake request, made anew by each
// call (see [Socket.Request]).
func (s *Socket) Header() http.Header { return s.req.header() }

// RemoteAddr returns the RemoteAddr of the handshake request: the client's
// address as net/http saw it.
func (s *Socket) RemoteAddr() string { return s.req.field(reqRemoteAddr) }

// Transport returns the current transport: "polling", or "websocket" for a
// session opened over WebSocket or upgraded to it.
func (s *Socket) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return TransportWebSocket
	}
	return TransportPolling
}

// OnMessage sets the function called with each message from the client.
// Calls are made one at a time, in the order the messages arrived, from the
// goroutine that read them; none is made after OnClose. Set it inside
// OnConnection. It replaces the HandleMessage of a [Handler] set before.
func (s *Socket) OnMessage(fn func(p Packet)) {
	s.setFuncs(func(f *funcHandler) { f.msg = fn })
}

// OnClose sets the function called once when the session has closed, with
// one of the Reason* strings and the error behind it, if any. It is called
// after the last OnMessage call has returned. Set it inside OnConnection.
// It replaces the HandleClose of a [Handler] set before.
func (s *Socket) OnClose(fn func(reason string, err error)) {
	s.setFuncs(func(f *funcHandler) { f.cls = fn })
}

// Handler takes a session's messages and its close, as the functions set
// by [Socket.OnMessage] and [Socket.OnClose] do, with the same guarantees:
// for a server whose state per session has these methods, it costs a
// session 16 bytes where two functions cost 48.
type Handler interface {
	HandleMessage(p Packet)
	HandleClose(reason string, err error)
}

// SetHandler sets h to take the session's messages and its close, in place
// of what OnMessage and OnClose set before. Set it inside OnConnection.
func (s *Socket) SetHandler(h Handler) { s.handler.Store(&h) }

// setFuncs replaces the session's handler with one whose functions set
// sets, keeping the rest of the handler in place.
func (s *Socket) setFuncs(set func(*funcHandler)) {
	for {
		old := s.handler.Load()
		f := new(funcHandler)
		if old != nil {
			if of, ok := (*old).(*funcHandler); ok {
				*f = *of
			} else {
				f.base = *old
			}
		}
		set(f)
		h := Handler(f)
		if s.handler.CompareAndSwap(old, &h) {
			return
		}
	}
}

// funcHandler is the Handler of OnMessage and OnClose: each function, when
// set, stands in for the method of base (a Handler set before, or nil).
type funcHandler struct {
	base Handler
	msg  func(Packet)
	cls  func(string, error)
}

func (f *funcHandler) HandleMessage(p Packet) {
	switch {
	case f.msg != nil:
		f.msg(p)
	case f.base != nil:
		f.base.HandleMessage(p)
	}
}

func (f *funcHandler) HandleClose(reason string, err error) {
	switch {
	case f.cls != nil:
		f.cls(reason, err)
	case f.base != nil:
		f.base.HandleClose(reason, err)
	}
}

// Send queues message packets for the client and returns at once; a
// transport writes them in order, and the packets of one call go out
// together, with nothing between them. Send returns ErrClosed once the
// socket is closing, and ErrSendQueueFull (closing the socket with
// "send queue full") when the packets would make more than
// Options.SendQueue packets or Options.SendQueueBytes bytes wait.
func (s *Socket) Send(pkts ...Packet) error { return s.send(nil, pkts) }

// SendGroup sends as Send does, but a packet written directly to an idle
// WebSocket may be left to g, to be written with other sessions' (see
// [Group]); g must then be flushed soon.
func (s *Socket) SendGroup(g *Group, pkts ...Packet) error { return s.send(g, pkts) }

// send is Send, and SendGroup with g set.
func (s *Socket) send(g *Group, pkts []Packet) error {
	s.mu.Lock()
	if sockState(s.state.Load()) != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	var size int64
	for _, p := range pkts {
		size += int64(len(p.Data))
	}
	if t := s.ws; t != nil && len(pkts) >= 1 && len(pkts) <= directPackets && t.directLocked(size) {
		// Several packets are batched already: not limited by the budget.
		if now := monoNow(); direct.allow(now) || len(pkts) > 1 {
			var buf [directPackets]outgoing
			ops := buf[:len(pkts)]
			for i, p := range pkts {
				ops[i] = sendPacket(p)
			}
			t.sendDirect(ops, now, g) // unlocks
			return nil
		}
	}
	cfg := &s.srv.cfg
	if len(s.queue)+len(pkts) > cfg.SendQueue || (len(s.queue) > 0 && s.queueBytes+size > cfg.SendQueueBytes) {
		fin := s.finalizeLocked(ReasonSendQueueFull, ErrSendQueueFull, nil)
		s.mu.Unlock()
		s.afterClose(fin)
		return ErrSendQueueFull
	}
	for _, p := range pkts {
		s.queue = append(s.queue, sendPacket(p))
	}
	s.queueBytes += size
	s.flushLocked()
	s.mu.Unlock()
	return nil
}

// Writable reports whether a packet sent now would go out at once: a poll
// is waiting (polling), or the WebSocket is idle. Socket.IO drops volatile
// packets when it is false.
func (s *Socket) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sockState(s.state.Load()) != stateOpen {
		return false
	}
	if s.ws != nil {
		// flush: a direct write left bytes that the writer has yet to
		// write (direct.go).
		return !s.ws.writing && !s.ws.flush && len(s.queue) == 0
	}
	return s.poll != nil
}

// Close closes the session with the reason "forced close" after the
// packets already queued have been sent. It returns at once; OnClose is
// called when the session has closed.
func (s *Socket) Close() error {
	s.closeWith(ReasonForcedClose, nil, closeGraceful)
	return nil
}

// enqueueLocked queues a control packet and flushes.
func (s *Socket) enqueueLocked(p parser.Packet) {
	s.queue = append(s.queue, outgoing{Packet: p})
	s.flushLocked()
}

// flushLocked hands the queue to the transport if it can take it.
func (s *Socket) flushLocked() {
	if len(s.queue) == 0 || sockState(s.state.Load()) == stateClosed {
		return
	}
	if s.ws != nil {
		s.ws.wakeLocked()
		return
	}
	if s.poll != nil {
		s.poll.send(s.takeQueueLocked())
		s.poll = nil
	}
}

// takeQueueLocked hands the queue over to a transport.
func (s *Socket) takeQueueLocked() []outgoing {
	q := s.queue
	s.queue, s.queueBytes = nil, 0
	return q
}

// endPollLocked answers the pending poll, if any, with pkts.
func (s *Socket) endPollLocked(pkts ...outgoing) {
	if s.poll != nil {
		s.poll.send(pkts)
		s.poll = nil
	}
}

var (
	closePacket = outgoing{Packet: parser.Packet{Type: parser.Close}}
	noopPacket  = outgoing{Packet: parser.Packet{Type: parser.Noop}}
)

// closeWith closes the session, at once or (closeGraceful) once the
// queue has gone out.
func (s *Socket) closeWith(reason string, err error, mode closeMode) {
	s.mu.Lock()
	fin := s.closeLocked(reason, err, mode)
	s.mu.Unlock()
	s.afterClose(fin)
}

// closeLocked starts closing the session; it returns the finalization work
// to run after unlocking when the session is now closed.
func (s *Socket) closeLocked(reason string, err error, mode closeMode) *finalized {
	switch sockState(s.state.Load()) {
	case stateClosed:
		return nil
	case stateClosing:
		if mode == closeDrain {
			return nil // the poll it waits for may still come
		}
		if mode == closeGraceful {
			if reason == ReasonServerShutdown && s.ws == nil {
				// Don't wait for the poll any longer.
				return s.finalizeLocked(s.coldLocked().closeReason, nil, nil)
			}
			return nil
		}
	case stateOpen:
		if mode != closeGraceful && mode != closeDrain {
			break
		}
		if probe := s.stopProbeLocked(); probe != nil && probe.conn != nil {
			go probe.conn.CloseNow()
		}
		switch {
		case s.ws != nil:
			// The writer sends what is queued, then finalizes; a client
			// that takes nothing for a heartbeat's time is cut off.
			s.state.Store(int32(stateClosing))
			c := s.coldLocked()
			c.closeReason = reason
			s.ws.wakeLocked()
			cfg := &s.srv.cfg
			c.closeTimer = time.AfterFunc(cfg.PingInterval+cfg.PingTimeout, s.closeTimedOut)
			return nil
		case s.poll != nil:
			s.endPollLocked(append(s.takeQueueLocked(), closePacket)...)
			return s.finalizeLocked(reason, err, nil)
		case reason == ReasonServerShutdown && mode == closeGraceful:
			// As Node does: no waiting for a poll that may never come.
			return s.finalizeLocked(reason, err, nil)
		default:
			// The close packet goes with the client's next poll. A
			// draining server waits for it (and what is queued) as long as
			// its deadline allows; with nothing queued, only for as long as
			// a live client takes to poll again (drainPollGrace), so that
			// it gets a clean close rather than an unknown session.
			s.state.Store(int32(stateClosing))
			c := s.coldLocked()
			c.closeReason = reason
			timeout := s.srv.cfg.closeTimeout
			if mode == closeDrain && len(s.queue) == 0 {
				timeout = min(timeout, drainPollGrace)
			}
			c.closeTimer = time.AfterFunc(timeout, s.closeTimedOut)
			return nil
		}
	}
	if mode == closeByClient {
		if s.poll == nil && s.ws == nil {
			// The client's poll may be on its way, sent before its close
			// packet: end it cleanly with a noop instead of an error.
			s.lateNoop = true
		}
		s.endPollLocked(noopPacket)
	} else {
		s.endPollLocked(closePacket)
	}
	return s.finalizeLocked(reason, err, nil)
}

// drainPollGrace is how long a draining server waits for the next poll of
// a polling client that has nothing queued, to give it the close packet: a
// live client polls again at once, after each response.
const drainPollGrace = 2 * time.Second

// closeTimedOut ends a graceful close that waited too long: for the poll
// that takes the close packet, or for the writer to send what is queued.
func (s *Socket) closeTimedOut() {
	s.mu.Lock()
	var fin *finalized
	if sockState(s.state.Load()) == stateClosing {
		fin = s.finalizeLocked(s.coldLocked().closeReason, nil, nil)
	}
	s.mu.Unlock()
	s.afterClose(fin)
}

// finalized is what is left to do, outside the lock, once a session has
// closed.
type finalized struct {
	probe *wsTransport
	// stuck is the WebSocket whose writer is still in a write: closing
	// the connection is what ends that write.
	stuck *wsTransport
	// The transfers to cut short: a POST body still arriving, and the
	// poll response of a client that missed its heartbeat.
	postRead, pollWrite *http.ResponseController
	// retire: the session stays a while for a late poll (lateNoop as the
	// session closed; a poll may take it before afterClose runs).
	retire bool
}

// finalizeLocked marks the session closed. A pending poll gets pollPkts
// (a close packet when nil).
func (s *Socket) finalizeLocked(reason string, err error, pollPkts []outgoing) *finalized {
	if sockState(s.state.Load()) == stateClosed {
		return nil
	}
	s.state.Store(int32(stateClosed))
	c := s.coldLocked()
	c.reason, c.err = reason, err
	s.srv.hb.stop(s)
	for _, t := range []*time.Timer{c.noopTimer, c.closeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	if pollPkts == nil {
		pollPkts = []outgoing{closePacket}
	}
	s.endPollLocked(pollPkts...)
	s.takeQueueLocked()
	fin := &finalized{probe: s.stopProbeLocked(), postRead: c.postRead, retire: s.lateNoop}
	if reason == ReasonPingTimeout {
		fin.pollWrite = c.pollWrite
	}
	if s.ws != nil && s.ws.writing {
		fin.stuck = s.ws
	}
	if s.ws != nil {
		s.ws.wakeLocked() // the writer closes the WebSocket
	}
	return fin
}

// afterClose unregisters a session that finalizeLocked closed and runs
// OnClose.
func (s *Socket) afterClose(fin *finalized) {
	if fin == nil {
		return
	}
	if fin.retire {
		s.srv.retire(s)
	} else {
		s.srv.remove(s)
	}
	if fin.probe != nil && fin.probe.conn != nil {
		fin.probe.conn.CloseNow()
	}
	if fin.stuck != nil && fin.stuck.conn != nil {
		fin.stuck.conn.CloseNow()
	}
	now := time.Now()
	if fin.postRead != nil {
		_ = fin.postRead.SetReadDeadline(now)
	}
	if fin.pollWrite != nil {
		_ = fin.pollWrite.SetWriteDeadline(now)
	}
	if h := s.srv.sessionHooks.Load(); h != nil && h.closed != nil {
		h.closed(s, s.cold.reason, s.cold.err)
	}
	go func() {
		defer s.srv.wg.Done()
		s.deliverMu.Lock()
		defer s.deliverMu.Unlock()
		if h := s.handler.Load(); h != nil {
			(*h).HandleClose(s.cold.reason, s.cold.err)
		}
	}()
}

// deliver passes a message to OnMessage, unless the session is closing.
// While OnConnection waits (delayed), the message is held, unless the
// session holds more than MaxPayload bytes: then it connects at once.
func (s *Socket) deliver(p Packet) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	if sockState(s.state.Load()) != stateOpen {
		return
	}
	if d := s.delay; d != nil {
		d.held = append(d.held, p)
		d.heldBytes += int64(len(p.Data))
		if d.heldBytes > s.srv.cfg.MaxPayload {
			s.connectHeldLocked()
		}
		return
	}
	if h := s.handler.Load(); h != nil {
		(*h).HandleMessage(p)
	}
}

// delayConnection starts a polling session whose OnConnection waits for
// d, or until its upgrade completes here, or another server takes it over
// (moveAway).
func (s *Socket) delayConnection(d time.Duration) {
	s.deliverMu.Lock()
	s.delay = &connDelay{timer: time.AfterFunc(d, s.connectDelayed)}
	s.deliverMu.Unlock()
	s.startHeartbeat()
}

// connectDelayed ends the wait of a delayed session: OnConnection, then
// the messages held. A session that closed meanwhile gets neither (nor
// OnClose).
func (s *Socket) connectDelayed() {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	if s.delay == nil {
		return
	}
	if sockState(s.state.Load()) == stateClosed {
		s.delay.timer.Stop()
		s.delay = nil
		return
	}
	s.connectHeldLocked()
}

// connectHeldLocked runs OnConnection and delivers the messages held. The
// caller holds deliverMu.
func (s *Socket) connectHeldLocked() {
	d := s.delay
	s.delay = nil
	d.timer.Stop()
	if fn := s.srv.onConnection.Load(); fn != nil {
		(*fn)(s)
	}
	held := d.held
	for _, p := range held {
		if sockState(s.state.Load()) != stateOpen {
			break
		}
		if h := s.handler.Load(); h != nil {
			(*h).HandleMessage(p)
		}
	}
}

// moveAway closes a delayed session whose upgrade t, probed on another
// server, completes there: the session moves to that server. It returns
// the messages held, and false if the session cannot move (it connected
// here meanwhile, or closed, or t is not its upgrade any more).
func (s *Socket) moveAway(t *wsTransport) ([]Packet, bool) {
	s.deliverMu.Lock()
	d := s.delay
	if d == nil {
		s.deliverMu.Unlock()
		return nil, false
	}
	s.mu.Lock()
	if s.probe != t || sockState(s.state.Load()) != stateOpen {
		s.mu.Unlock()
		s.deliverMu.Unlock()
		return nil, false
	}
	// A poll still pending gets a noop: the client polls no more.
	fin := s.finalizeLocked(ReasonMoved, nil, []outgoing{noopPacket})
	s.mu.Unlock()
	s.delay = nil
	d.timer.Stop()
	s.deliverMu.Unlock()
	held := d.held
	s.afterClose(fin)
	return held, true
}

// onPacket handles a packet from the client on the session's transport;
// owned tells whether p.Data may be kept. It returns false once the
// session is closed.
func (s *Socket) onPacket(p parser.Packet, owned bool) bool {
	switch p.Type {
	case parser.Message:
		data := p.Data
		if !owned {
			data = append([]byte(nil), data...)
		}
		s.deliver(Packet{Data: data, Binary: p.Binary})
	case parser.Ping:
		if s.proto != 3 {
			s.closeWith(ReasonTransportError, errors.New("engineio: ping from a v4 client (invalid heartbeat direction)"), closeError)
			return false
		}
		s.onPing()
	case parser.Pong:
		if s.proto == 3 {
			s.closeWith(ReasonTransportError, errors.New("engineio: pong from a v3 client (invalid heartbeat direction)"), closeError)
			return false
		}
		s.onPong()
	case parser.Close:
		s.closeWith(ReasonTransportClose, nil, closeByClient)
		return false
	}
	// Open, upgrade and noop packets mean nothing here and are ignored,
	// as Node does.
	return sockState(s.state.Load()) != stateClosed
}

// startHeartbeat schedules the heartbeat in the server's wheel: v4
// servers ping, v3 clients do.
func (s *Socket) startHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sockState(s.state.Load()) != stateOpen {
		return
	}
	cfg := &s.srv.cfg
	if s.proto == 3 {
		s.pingDue = mono(time.Now())
		s.srv.hb.schedule(s, s.pingDue+int64(cfg.PingInterval+cfg.PingTimeout), false)
		return
	}
	s.pingDue = mono(time.Now().Add(cfg.PingInterval))
	s.srv.hb.schedule(s, s.pingDue, true)
}

// heartbeatDue runs when the server's wheel finds s's heartbeat due; a
// ping written directly may be left to g, which the wheel flushes.
func (s *Socket) heartbeatDue(g *Group) {
	if s.proto == 3 {
		s.checkPingV3()
	} else {
		s.heartbeat(g)
	}
}

// heartbeat runs when the server's wheel finds the v4 heartbeat due: it
// closes the session when the pong to the last ping is late, and pings
// when a ping is due (or within two of the wheel's ticks). The heartbeat is
// rescheduled for each ping and pong, and a run may already have started
// when it is: so it acts on what the state says is due by now, and
// reschedules what is due later. A ping written directly may be left to
// g.
func (s *Socket) heartbeat(g *Group) {
	s.mu.Lock()
	now := mono(time.Now())
	if s.awaitingPong {
		if s.pongDeadline > now {
			s.srv.hb.schedule(s, s.pongDeadline, false)
			s.mu.Unlock()
			return
		}
		fin := s.closeLocked(ReasonPingTimeout, nil, closeError)
		s.mu.Unlock()
		s.afterClose(fin)
		return
	}
	// The wheel runs a ping up to two of its ticks early.
	if s.pingDue-now > 2*s.srv.hb.tick {
		if sockState(s.state.Load()) == stateOpen {
			s.srv.hb.schedule(s, s.pingDue, true)
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.pingIn(g)
}

// ping sends a v4 ping and sets the heartbeat's timer to the pong's
// deadline. A client whose
// WebSocket has taken no data for a heartbeat's time is cut off instead:
// its pongs prove nothing, since it can send them without reading.
func (s *Socket) ping() { s.pingIn(nil) }

// pingIn is ping, which leaves a direct write of the ping to g when g is
// set.
func (s *Socket) pingIn(g *Group) {
	s.mu.Lock()
	now := time.Now()
	if s.ws != nil && s.ws.stuckLocked(now) && sockState(s.state.Load()) == stateOpen {
		fin := s.closeLocked(ReasonPingTimeout, ErrStalledWriter, closeError)
		s.mu.Unlock()
		s.afterClose(fin)
		return
	}
	if sockState(s.state.Load()) != stateOpen || s.awaitingPong {
		s.mu.Unlock()
		return
	}
	s.awaitingPong = true
	// The pong is due PingTimeout after the client can see the ping: now
	// when it goes out at once (over WebSocket, or to a pending poll);
	// otherwise at the client's next poll, which must come within
	// PingTimeout of when the ping was due, however late this timer fired.
	nowM := mono(now)
	base := nowM
	if s.ws == nil && s.poll == nil && s.pingDue < nowM {
		base = s.pingDue
	}
	s.pongDeadline = base + int64(s.srv.cfg.PingTimeout)
	s.srv.hb.schedule(s, s.pongDeadline, false)
	ping := outgoing{Packet: parser.Packet{Type: parser.Ping}}
	// An idle WebSocket gets its ping written from here, as a broadcast
	// is (direct.go): the wheel pings a tick's sessions one after the
	// other, and a writer goroutine each would leave as many idle pooled
	// goroutines behind.
	if t := s.ws; t != nil && t.directLocked(0) {
		if start := monoNow(); direct.allow(start) {
			ops := [1]outgoing{ping}
			t.sendDirect(ops[:], start, g) // unlocks
			return
		}
	}
	s.queue = append(s.queue, ping)
	s.flushLocked()
	s.mu.Unlock()
}

// heartbeatExpiredLocked reports whether the client missed its heartbeat
// deadline by now: the pong to a v4 ping, or a v3 client's next ping.
func (s *Socket) heartbeatExpiredLocked(t time.Time) bool {
	now := mono(t)
	if s.proto == 3 {
		cfg := &s.srv.cfg
		return s.pingDue != 0 && now > s.pingDue+int64(cfg.PingInterval+cfg.PingTimeout)
	}
	if s.awaitingPong {
		return now > s.pongDeadline
	}
	return s.ws == nil && s.poll == nil && s.pingDue != 0 && now > s.pingDue+int64(s.srv.cfg.PingTimeout)
}

// checkHeartbeat closes the session with "ping timeout" when its client
// missed the heartbeat deadline, whether or not the timers that enforce it
// have fired: on a busy machine timers fire late, and a request that comes
// after the deadline must find the session closed, as it would have been.
// A polling client that did not poll when a ping was due has missed it
// once PingTimeout has passed since, even if the ping timer has not fired
// yet.
func (s *Socket) checkHeartbeat() {
	s.mu.Lock()
	var fin *finalized
	if sockState(s.state.Load()) != stateClosed && s.heartbeatExpiredLocked(time.Now()) {
		fin = s.closeLocked(ReasonPingTimeout, nil, closeError)
	}
	s.mu.Unlock()
	s.afterClose(fin)
}

// onPong handles a v4 pong: the next ping is PingInterval away.
func (s *Socket) onPong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.awaitingPong {
		return
	}
	s.awaitingPong = false
	if sockState(s.state.Load()) == stateOpen {
		s.pingDue = mono(time.Now().Add(s.srv.cfg.PingInterval))
		s.srv.hb.schedule(s, s.pingDue, true)
	}
}

// onPing answers a v3 client's ping.
func (s *Socket) onPing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sockState(s.state.Load()) != stateOpen {
		return
	}
	s.pingDue = mono(time.Now())
	s.enqueueLocked(parser.Packet{Type: parser.Pong})
}

// checkPingV3 closes a v3 session whose client stopped pinging.
func (s *Socket) checkPingV3() {
	s.mu.Lock()
	var fin *finalized
	cfg := &s.srv.cfg
	if sockState(s.state.Load()) != stateClosed {
		now := time.Now()
		due := s.pingDue + int64(cfg.PingInterval+cfg.PingTimeout)
		left := due - mono(now)
		var err error
		if s.ws != nil && s.ws.stuckLocked(now) {
			// The client pings but takes no data.
			left, err = 0, ErrStalledWriter
		}
		if left > 0 {
			s.srv.hb.schedule(s, due, false)
		} else {
			fin = s.closeLocked(ReasonPingTimeout, err, closeError)
		}
	}
	s.mu.Unlock()
	s.afterClose(fin)
}
