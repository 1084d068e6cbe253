package engineio

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// wsTransport is a session's WebSocket: the request handler's goroutine
// reads it, a writer goroutine drains the session's queue into it.
type wsTransport struct {
	s    *Socket
	conn *websocket.Conn
	wake chan struct{} // capacity 1: "the queue has packets"
	// b64 is set when the client asked for binary data as base64 text
	// (b64=1 in the WebSocket's URL: clients forced to base64).
	b64 bool
	// writing is set, under the socket's lock, while the writer has
	// packets in hand, since writeStart.
	writing    bool
	writeStart time.Time
}

func newWSTransport(s *Socket, r *http.Request, conn *websocket.Conn) *wsTransport {
	return &wsTransport{s: s, conn: conn, wake: make(chan struct{}, 1), b64: r.URL.Query().Get("b64") != ""}
}

func (t *wsTransport) wakeUp() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// errStop ends a read loop whose session has closed.
var errStop = errors.New("engineio: session closed")

// openWebSocket serves a handshake made directly over WebSocket.
func (srv *Server) openWebSocket(w http.ResponseWriter, r *http.Request, proto int) {
	if !srv.track() {
		writeShuttingDown(w)
		return
	}
	defer srv.wg.Done()
	s := srv.newSocket(r, proto)
	srv.setCookie(w, s.id)
	conn, err := websocket.Accept(w, r, &srv.cfg.ws)
	if err != nil {
		return // Accept has answered
	}
	t := newWSTransport(s, r, conn)
	s.ws = t // before the socket is shared
	if !srv.register(s) {
		conn.Close(websocket.StatusGoingAway, ReasonServerShutdown)
		return
	}
	open := s.openPacket([]string{})
	msg, _ := parser.AppendPacket(s.ver, nil, open)
	if err := conn.WriteMessage(websocket.MessageText, msg); err != nil {
		s.closeWith(ReasonTransportError, fmt.Errorf("engineio: failed to write the open packet: %w", err), closeError)
		conn.CloseNow()
		return
	}
	s.connected()
	srv.wg.Add(1)
	go t.writeLoop()
	t.readLoop()
}

// readLoop reads the session's packets until the WebSocket ends.
func (t *wsTransport) readLoop() {
	s := t.s
	err := t.conn.ReadLoop(func(typ websocket.MessageType, data []byte) error {
		return t.handle(typ, data)
	})
	if errors.Is(err, errStop) {
		return
	}
	reason := ReasonTransportClose
	switch websocket.CloseStatus(err) {
	case websocket.StatusProtocolError, websocket.StatusInvalidFramePayloadData, websocket.StatusMessageTooBig:
		reason = ReasonTransportError // we failed the connection
	}
	s.closeWith(reason, err, closeByClient)
}

// handle handles one message of the session's WebSocket.
func (t *wsTransport) handle(typ websocket.MessageType, data []byte) error {
	s := t.s
	p, err := parser.DecodePacket(s.ver, data, typ == websocket.MessageBinary)
	if err != nil {
		s.closeWith(ReasonParseError, err, closeError)
		return errStop
	}
	if !s.onPacket(p, false) {
		return errStop
	}
	return nil
}

// writeLoop writes the session's queue to the WebSocket until the session
// closes, then closes the WebSocket. What is queued when it wakes goes out
// as one batch: one write to the network for many packets.
//
// There is no write deadline per batch (setting and clearing one cost
// about a tenth of a broadcast's CPU): a client that takes no data gets
// no ping either, so its heartbeat fails, and closing the session closes
// the WebSocket under a writer blocked in a write (see stuckLocked).
func (t *wsTransport) writeLoop() {
	s := t.s
	defer s.srv.wg.Done()
	var spare []outgoing
	var buf []byte
	uncompressed := false // compression turned off for the packet at hand
	for {
		<-t.wake // also when the session closes
		// Let the goroutine that woke us (a broadcast, typically) go on
		// first: under load, more packets join the queue and go out in
		// the same write. An idle server loses nothing; a busy one makes
		// several times fewer system calls per packet.
		runtime.Gosched()
		s.mu.Lock()
		if sockState(s.state.Load()) == stateClosed {
			reason := s.reason
			s.mu.Unlock()
			t.closeConn(reason)
			return
		}
		pkts := s.queue
		s.queue = spare[:0]
		t.writing = len(pkts) > 0
		if t.writing {
			t.writeStart = time.Now()
		}
		s.mu.Unlock()

		var werr error
		if len(pkts) > 0 {
			buf, uncompressed, werr = t.writeBatch(pkts, buf, uncompressed)
		}
		clear(pkts)
		spare = pkts
		if cap(buf) > 64<<10 {
			buf = nil // don't keep a big message's buffer for the idle time
		}

		s.mu.Lock()
		t.writing = false
		var fin *finalized
		switch {
		case werr != nil:
			fin = s.closeLocked(ReasonTransportError, fmt.Errorf("engineio: failed to write: %w", werr), closeError)
		case sockState(s.state.Load()) == stateClosing && len(s.queue) == 0:
			fin = s.finalizeLocked(s.closeReason, nil, nil)
		case len(s.queue) > 0:
			t.wakeUp()
		}
		s.mu.Unlock()
		s.afterClose(fin)
	}
}

// writeBatch writes pkts to the WebSocket as one batch. buf is scratch
// space for encoding; uncompressed is whether compression is turned off
// on the connection now. It returns both for the next batch.
func (t *wsTransport) writeBatch(pkts []outgoing, buf []byte, uncompressed bool) ([]byte, bool, error) {
	s := t.s
	b := t.conn.Batch()
	var werr error
	for _, op := range pkts {
		if op.noCompress != uncompressed {
			uncompressed = op.noCompress
			t.conn.EnableWriteCompression(!uncompressed)
		}
		p := op.Packet
		switch {
		case p.Binary && t.b64:
			buf = parser.AppendText(s.ver, buf[:0], p)
			werr = b.WriteMessage(websocket.MessageText, buf)
		case p.Binary && s.ver == parser.V4:
			werr = b.WriteMessage(websocket.MessageBinary, p.Data)
		default:
			var bin bool
			buf, bin = parser.AppendPacket(s.ver, buf[:0], p)
			typ := websocket.MessageText
			if bin {
				typ = websocket.MessageBinary
			}
			werr = b.WriteMessage(typ, buf)
		}
		if werr != nil {
			break
		}
	}
	if err := b.Flush(); werr == nil {
		werr = err
	}
	return buf, uncompressed, werr
}

// stuckLocked reports whether the writer has been blocked in one batch
// for longer than a heartbeat: the client takes no data.
func (t *wsTransport) stuckLocked(now time.Time) bool {
	cfg := &t.s.srv.cfg
	return t.writing && now.Sub(t.writeStart) > cfg.PingInterval+cfg.PingTimeout
}

// closeConn ends the WebSocket of a closed session: with a close handshake
// when the peer can still answer, at once when it is dead or failed.
func (t *wsTransport) closeConn(reason string) {
	switch reason {
	case ReasonPingTimeout, ReasonTransportError, ReasonSendQueueFull:
		t.conn.CloseNow()
	case ReasonServerShutdown:
		t.conn.Close(websocket.StatusGoingAway, reason)
	case ReasonParseError:
		t.conn.Close(websocket.StatusPolicyViolation, reason)
	default:
		t.conn.Close(websocket.StatusNormalClosure, reason)
	}
}

// upgrade serves a WebSocket handshake with sid: the probe of an upgrade
// from polling. The client sends "2probe" (answered "3probe"), polls are
// ended with a noop every noopInterval so that the client can pause
// polling, and the client's "5" switches the session to the WebSocket,
// where the queued packets then go.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request, s *Socket) {
	if !srv.track() {
		writeShuttingDown(w)
		return
	}
	defer srv.wg.Done()
	t := newWSTransport(s, r, nil)
	s.mu.Lock()
	refuse := srv.cfg.DisableUpgrades || sockState(s.state.Load()) != stateOpen || s.ws != nil || s.probe != nil
	if !refuse {
		s.probe = t
	}
	s.mu.Unlock()

	conn, err := websocket.Accept(w, r, &srv.cfg.ws)
	if err == nil && refuse {
		// As Node does, a second WebSocket for a session (already
		// upgraded, upgrading or opened over WebSocket) is accepted and
		// closed at once; the session is not disturbed.
		conn.Close(websocket.StatusPolicyViolation, "session cannot upgrade")
		return
	}
	s.mu.Lock()
	if err != nil || s.probe != t {
		if s.probe == t {
			s.stopProbeLocked()
		}
		s.mu.Unlock()
		if conn != nil {
			conn.CloseNow()
		}
		return
	}
	t.conn = conn
	s.mu.Unlock()

	timer := time.AfterFunc(srv.cfg.UpgradeTimeout, func() { s.abortProbe(t) })
	defer timer.Stop()
	upgraded := false
	err = conn.ReadLoop(func(typ websocket.MessageType, data []byte) error {
		if upgraded {
			return t.handle(typ, data)
		}
		p, err := parser.DecodePacket(s.ver, data, typ == websocket.MessageBinary)
		switch {
		case err == nil && p.Type == parser.Ping && !p.Binary && string(p.Data) == "probe":
			if err := conn.WriteMessage(websocket.MessageText, []byte("3probe")); err != nil {
				return err
			}
			s.mu.Lock()
			if s.probe == t && !s.probed {
				// As Node, the pending poll is ended by the first tick,
				// not at once: a client that sent "5" right behind the
				// probe, with a poll under way, finds that poll refused
				// as after the upgrade instead of ended with a noop.
				s.probed = true
				s.noopTimer = time.AfterFunc(s.srv.cfg.noopInterval, s.noopTick)
			}
			s.mu.Unlock()
			return nil
		case err == nil && p.Type == parser.Upgrade:
			if !s.completeUpgrade(t) {
				return errStop
			}
			upgraded = true
			timer.Stop()
			return nil
		}
		return errUpgradeFailed
	})
	if !upgraded {
		// The session goes on over polling, as Node's does.
		s.abortProbe(t)
		return
	}
	if errors.Is(err, errStop) {
		return
	}
	reason := ReasonTransportClose
	switch websocket.CloseStatus(err) {
	case websocket.StatusProtocolError, websocket.StatusInvalidFramePayloadData, websocket.StatusMessageTooBig:
		reason = ReasonTransportError
	}
	s.closeWith(reason, err, closeByClient)
}

var errUpgradeFailed = errors.New("engineio: unexpected packet during upgrade")

// noopInterval is how often, during an upgrade, a new poll is ended with a
// noop so that the client can pause polling (Node uses 100 ms).
const noopInterval = 100 * time.Millisecond

// noopTick ends polls with a noop while an upgrade is under way.
func (s *Socket) noopTick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.probed || s.probe == nil {
		return
	}
	s.endPollLocked(noopPacket)
	s.noopTimer.Reset(s.srv.cfg.noopInterval)
}

// completeUpgrade switches the session to t and starts its writer.
func (s *Socket) completeUpgrade(t *wsTransport) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe != t || sockState(s.state.Load()) != stateOpen {
		return false
	}
	s.stopProbeLocked()
	// A poll still waiting came too late (a client pauses polling before
	// it sends "5"): it is refused like the polls that come after. What is
	// queued goes over the WebSocket, in order, after what polls carried.
	if s.poll != nil {
		s.poll.ch <- nil
		s.poll = nil
	}
	s.ws = t
	s.srv.wg.Add(1) // the session is registered, so the count is not zero
	go t.writeLoop()
	if len(s.queue) > 0 {
		t.wakeUp()
	}
	return true
}

// abortProbe gives up the upgrade through t, if it is still under way,
// and closes t.
func (s *Socket) abortProbe(t *wsTransport) {
	s.mu.Lock()
	if s.probe == t {
		s.stopProbeLocked()
	}
	upgraded := s.ws == t
	s.mu.Unlock()
	if !upgraded && t.conn != nil {
		t.conn.CloseNow()
	}
}

// stopProbeLocked forgets the upgrade under way and returns its transport.
func (s *Socket) stopProbeLocked() *wsTransport {
	t := s.probe
	s.probe = nil
	s.probed = false
	if s.noopTimer != nil {
		s.noopTimer.Stop()
	}
	return t
}
