package engineio

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/internal/workerpool"
	"github.com/tether-rt/tether/websocket"
)

// wsTransport is a session's WebSocket: the websocket package's poller
// reads it (ReadLoopAsync: a pooled goroutine only while data arrives),
// and a pooled writer goroutine, started when packets are queued and gone
// when the queue is empty, drains the session's queue into it. An idle
// session costs no goroutine.
type wsTransport struct {
	s    *Socket
	conn *websocket.Conn

	// remote, when set, stands for a WebSocket that another server of the
	// cluster holds (conn is nil): batches go to it (see cluster.go).
	remote *remoteSink

	// writeStart is when the writer took the packets in hand (writing),
	// monotonic (see mono); guarded by the socket's lock.
	writeStart int64

	// Owned by the writer goroutine of the moment (as uncompressed):
	// spare is the last batch's slice, for the next queue while the
	// writer runs; an idle writer keeps neither (see run).
	spare []outgoing

	// b64 is set when the client asked for binary data as base64 text
	// (b64=1 in the WebSocket's URL: clients forced to base64).
	b64 bool
	// Guarded by the socket's lock:
	ready   bool // the open packet or upgrade is done: the writer may run
	running bool // a writer goroutine runs, or a direct write (direct.go)
	writing bool // the writer has packets in hand, since writeStart
	flush   bool // a direct write left bytes on conn: the writer writes them
	// Owned by the writer goroutine of the moment:
	uncompressed bool // compression is turned off on conn
}

func newWSTransport(s *Socket, b64 bool, conn *websocket.Conn) *wsTransport {
	return &wsTransport{s: s, conn: conn, b64: b64}
}

// wakeLocked starts the writer, unless it runs or the transport is not
// ready yet. The caller holds the socket's lock. The writer writes what
// is queued, and closes the WebSocket once the session is closed.
func (t *wsTransport) wakeLocked() {
	if t.running || !t.ready {
		return
	}
	t.running = true
	t.s.srv.wg.Add(1) // the session is registered, so the count is not zero
	writers.Go(t)
}

// writers run the writers of sessions with packets, shared by all sessions
// (of all servers): a session has a writer goroutine only while it has
// packets to write, and reusing them saves starting a goroutine, and growing
// its stack to the depth of a write, for each burst of packets.
// Set in init: write refers to it.
var writers *workerpool.Pool[*wsTransport]

func init() { writers = workerpool.New(10*time.Second, (*wsTransport).write) }

// startLocked marks the transport ready and starts the writer if there is
// work for it.
func (t *wsTransport) startLocked() {
	t.ready = true
	if len(t.s.queue) > 0 || sockState(t.s.state.Load()) != stateOpen {
		t.wakeLocked()
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
	srv.acceptedWebSocket(r)
	if r.ProtoMajor == 2 {
		defer waitStream(conn)
	}
	t := newWSTransport(s, r.URL.Query().Get("b64") != "", conn)
	s.ws = t // before the socket is shared
	if !srv.register(s) {
		conn.Close(websocket.StatusGoingAway, ReasonServerShutdown)
		return
	}
	open := s.openPacket([]string{})
	msg, _ := parser.AppendPacket(s.ver(), nil, open)
	if err := conn.WriteMessage(websocket.MessageText, msg); err != nil {
		s.closeWith(ReasonTransportError, fmt.Errorf("engineio: failed to write the open packet: %w", err), closeError)
		conn.CloseNow()
		return
	}
	s.mu.Lock()
	t.startLocked()
	s.mu.Unlock()
	s.connected()
	// Over HTTP/1.1 the handler returns, so that net/http drops what it
	// keeps per request (its buffers), and the WebSocket is read with no
	// goroutine while it is idle: an idle session costs no goroutine at
	// all. Over HTTP/2 it waits for the end of the stream (waitStream).
	srv.wg.Add(1)
	t.conn.ReadLoopAsyncHandler(t) // HandleMessage, ReadEnded: no closures kept per session
}

// HandleMessage handles one message of a session opened over WebSocket
// (websocket.AsyncHandler; openWebSocket's read loop).
func (t *wsTransport) HandleMessage(typ websocket.MessageType, data []byte) error {
	return t.handle(typ, data)
}

// ReadEnded ends the read loop of a session opened over WebSocket
// (websocket.AsyncHandler): the server's count of it, taken by
// openWebSocket, is released.
func (t *wsTransport) ReadEnded(err error) {
	defer t.s.srv.wg.Done()
	t.readEnded(err)
}

// waitStream returns once conn is closed. A WebSocket over HTTP/2 (RFC
// 8441) is its request's stream, which net/http ends when the handler
// returns: the handler waits, and holds a goroutine per session that
// ReadLoopAsync's poller could not spare anyway (it reads a stream with a
// goroutine of its own).
func waitStream(conn *websocket.Conn) { <-conn.Done() }

// readEnded closes the session when its WebSocket's read loop ended with
// err.
func (t *wsTransport) readEnded(err error) {
	if errors.Is(err, errStop) {
		return
	}
	reason := ReasonTransportClose
	switch websocket.CloseStatus(err) {
	case websocket.StatusProtocolError, websocket.StatusInvalidFramePayloadData, websocket.StatusMessageTooBig:
		reason = ReasonTransportError // we failed the connection
	}
	t.s.closeWith(reason, err, closeByClient)
}

// handle handles one message of the session's WebSocket.
func (t *wsTransport) handle(typ websocket.MessageType, data []byte) error {
	s := t.s
	p, err := parser.DecodePacket(s.ver(), data, typ == websocket.MessageBinary)
	if err != nil {
		s.closeWith(ReasonParseError, err, closeError)
		return errStop
	}
	if !s.onPacket(p, false) {
		return errStop
	}
	return nil
}

// write writes the session's queue to the WebSocket until the queue is
// empty, or closes the WebSocket once the session is closed. What is queued
// when it looks goes out as one batch: one write to the network for many
// packets.
//
// There is no write deadline per batch (setting and clearing one cost
// about a tenth of a broadcast's CPU): a client that takes no data gets
// no ping either, so its heartbeat fails, and closing the session closes
// the WebSocket under a writer blocked in a write (see stuckLocked).
func (t *wsTransport) write() {
	s := t.s
	defer s.srv.wg.Done()
	activeWriters.Add(1)
	defer activeWriters.Add(-1)
	// Let the goroutine that woke us (a broadcast, typically) go on first:
	// under load, more packets join the queue and go out in the same
	// write. An idle server loses nothing; a busy one makes several times
	// fewer system calls per packet.
	runtime.Gosched()
	for {
		s.mu.Lock()
		state := sockState(s.state.Load())
		if state == stateClosed {
			reason := s.cold.reason // finalizeLocked made it
			t.running = false
			s.mu.Unlock()
			t.closeConn(reason)
			return
		}
		if len(s.queue) == 0 && !t.flush {
			var fin *finalized
			if state == stateClosing {
				fin = s.finalizeLocked(s.coldLocked().closeReason, nil, nil)
				// finalizeLocked woke this running writer: go round
				// again to close the WebSocket.
			} else {
				// Idle: the session keeps no queue slice, a busy
				// writer goes on with the same two.
				t.running = false
				s.queue, t.spare = nil, nil
			}
			s.mu.Unlock()
			s.afterClose(fin)
			if fin == nil {
				return
			}
			continue
		}
		pkts := s.queue
		s.queue, s.queueBytes = t.spare[:0], 0
		flush := t.flush
		t.flush = false
		t.writing = true
		t.writeStart = mono(time.Now())
		s.mu.Unlock()

		var werr error
		if flush {
			// What a direct write left goes first (writeBatch would
			// write it too, but only with frames of its own).
			werr = t.conn.FlushPending()
		}
		if werr == nil && len(pkts) > 0 {
			werr = t.writeBatch(pkts)
		}
		clear(pkts)
		t.spare = pkts

		s.mu.Lock()
		t.writing = false
		var fin *finalized
		// ErrClosed: the close handshake began, from the client (its
		// close frame, which the read side reports as a transport close
		// when its loop ends) or from this side (the session is closing).
		// Either way the write is not what failed.
		if werr != nil && !errors.Is(werr, websocket.ErrClosed) {
			fin = s.closeLocked(ReasonTransportError, fmt.Errorf("engineio: failed to write: %w", werr), closeError)
		}
		s.mu.Unlock()
		s.afterClose(fin)
	}
}

// encodeBuffers holds scratch space for encoding packets, shared by the
// writers of all sessions.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// writeBatch writes pkts to the WebSocket as one batch, or hands them to
// the server that holds the session's WebSocket (a remote transport).
func (t *wsTransport) writeBatch(pkts []outgoing) error {
	if t.remote != nil {
		return t.remote.drain(pkts)
	}
	return writeWSBatch(t.conn, t.s.ver(), t.b64, &t.uncompressed, pkts)
}

// writeWSBatch writes pkts to conn as one batch in protocol ver (b64: as
// base64 text); uncompressed tracks whether compression is turned off on
// conn.
func writeWSBatch(conn *websocket.Conn, ver parser.Version, b64 bool, uncompressed *bool, pkts []outgoing) error {
	b := conn.Batch()
	werr := addWSPackets(b, ver, b64, uncompressed, pkts)
	if err := b.Flush(); werr == nil {
		werr = err
	}
	return werr
}

// addWSPackets adds pkts to the batch b of conn, encoded in protocol ver
// (b64: binary as base64 text); uncompressed tracks whether compression is
// turned off on conn.
func addWSPackets(b *websocket.Batch, ver parser.Version, b64 bool, uncompressed *bool, pkts []outgoing) error {
	bp := encodeBuffers.Get().(*[]byte)
	buf := *bp
	var werr error
	for _, op := range pkts {
		if op.noCompress != *uncompressed {
			*uncompressed = op.noCompress
			b.Conn().EnableWriteCompression(!*uncompressed)
		}
		p := op.Packet
		switch {
		case p.Binary && b64:
			buf = parser.AppendText(ver, buf[:0], p)
			werr = b.WriteMessage(websocket.MessageText, buf)
		case p.Binary && ver == parser.V4:
			werr = b.WriteMessage(websocket.MessageBinary, p.Data)
		default:
			var bin bool
			buf, bin = parser.AppendPacket(ver, buf[:0], p)
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
	if cap(buf) <= 64<<10 { // don't keep a big message's buffer
		*bp = buf[:0]
		encodeBuffers.Put(bp)
	}
	return werr
}

// stuckLocked reports whether the writer has been blocked in one batch
// for longer than a heartbeat: the client takes no data (though it may
// keep its heartbeat: a v3 client pings on its own, and a v4 client can
// send pongs without reading the pings).
func (t *wsTransport) stuckLocked(now time.Time) bool {
	cfg := &t.s.srv.cfg
	return t.writing && mono(now)-t.writeStart > int64(cfg.PingInterval+cfg.PingTimeout)
}

// closeConn ends the WebSocket of a closed session: with a close handshake
// when the peer can still answer, at once when it is dead or failed.
func (t *wsTransport) closeConn(reason string) {
	if t.remote != nil {
		t.remote.close(reason)
		return
	}
	switch reason {
	case ReasonPingTimeout, ReasonTransportError, ReasonSendQueueFull:
		t.conn.CloseNow()
	case ReasonServerShutdown:
		t.s.srv.closeHandshake(t.conn, websocket.StatusGoingAway, reason)
	case ReasonParseError:
		t.s.srv.closeHandshake(t.conn, websocket.StatusPolicyViolation, reason)
	default:
		t.s.srv.closeHandshake(t.conn, websocket.StatusNormalClosure, reason)
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
	t := newWSTransport(s, r.URL.Query().Get("b64") != "", nil)
	s.mu.Lock()
	refuse := srv.cfg.DisableUpgrades || sockState(s.state.Load()) != stateOpen || s.ws != nil || s.probe != nil
	if !refuse {
		s.probe = t
	}
	s.mu.Unlock()

	conn, err := websocket.Accept(w, r, &srv.cfg.ws)
	if err == nil {
		srv.acceptedWebSocket(r)
		if r.ProtoMajor == 2 {
			defer waitStream(conn)
		}
	}
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
	// As in openWebSocket, the handler returns and the probe is read on.
	srv.readProbe(s, t)
}

// readProbe reads the WebSocket of an upgrade: the probe, the upgrade
// packet, then the session's packets once upgraded.
func (srv *Server) readProbe(s *Socket, t *wsTransport) {
	conn := t.conn
	timer := time.AfterFunc(srv.cfg.UpgradeTimeout, func() { s.abortProbe(t) })
	upgraded := false
	srv.wg.Add(1)
	conn.ReadLoopAsync(func(typ websocket.MessageType, data []byte) error {
		if upgraded {
			return t.handle(typ, data)
		}
		p, err := parser.DecodePacket(s.ver(), data, typ == websocket.MessageBinary)
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
				s.coldLocked().noopTimer = time.AfterFunc(s.srv.cfg.noopInterval, s.noopTick)
			}
			s.mu.Unlock()
			return nil
		case err == nil && p.Type == parser.Upgrade:
			if !s.completeUpgrade(t) {
				return errStop
			}
			upgraded = true
			timer.Stop()
			// In a cluster, the session can no longer move.
			s.connectDelayed()
			return nil
		}
		return errUpgradeFailed
	}, func(err error) {
		defer srv.wg.Done()
		timer.Stop()
		if !upgraded {
			// The session goes on over polling, as Node's does.
			s.abortProbe(t)
			return
		}
		t.readEnded(err)
	})
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
	s.cold.noopTimer.Reset(s.srv.cfg.noopInterval)
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
		s.poll.send(nil)
		s.poll = nil
	}
	s.ws = t
	t.startLocked()
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
	if s.cold != nil && s.cold.noopTimer != nil {
		s.cold.noopTimer.Stop()
	}
	return t
}
