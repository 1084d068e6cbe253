package engineio

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tether-rt/tether/engineio/parser"
	"github.com/tether-rt/tether/websocket"
)

// The requester's side: requests for sessions that another server of the
// cluster owns.

// serve serves a request with the ID of a session this server does not
// have.
func (c *cluster) serve(w http.ResponseWriter, r *http.Request, q url.Values, sid string, isWS bool) {
	proto, ok := c.srv.requestVersion(q)
	if !ok {
		writeError(w, CodeBadRequest, "")
		return
	}
	transport := q.Get("transport")
	switch {
	case isWS:
		if transport != TransportWebSocket {
			writeError(w, CodeBadRequest, "")
			return
		}
		c.serveUpgrade(w, r, sid, proto)
	case transport != TransportPolling:
		writeError(w, CodeBadRequest, "")
	case r.Method == http.MethodGet:
		c.servePoll(w, r, sid, proto, q.Get("b64") != "")
	case r.Method == http.MethodPost:
		c.servePost(w, r, sid, proto)
	default:
		writeError(w, CodeBadRequest, "")
	}
}

// remotePoll is a GET served here for a session of another server.
type remotePoll struct {
	owner ownerEntry           // once the lock is taken; under cluster.mu
	ch    chan []ClusterPacket // the owner's DRAIN
	end   chan error           // errOwnerGone, or errClusterEnd (answer a noop)
}

// endWith ends the poll with err, unless it has ended.
func (rp *remotePoll) endWith(err error) {
	select {
	case rp.end <- err:
	default:
	}
}

// servePoll serves a GET: the owner sends what it has for the client, once
// it has something.
func (c *cluster) servePoll(w http.ResponseWriter, r *http.Request, sid string, proto int, b64 bool) {
	ver := parser.Version(proto)
	rp := &remotePoll{ch: make(chan []ClusterPacket, 1), end: make(chan error, 1)}
	c.mu.Lock()
	if c.leaving {
		c.mu.Unlock()
		// Leaving the cluster: the client polls again, elsewhere.
		_ = writePayloadTo(w, r, &c.srv.cfg, ver, b64, []outgoing{noopPacket}, nil)
		return
	}
	if prev := c.polls[sid]; prev != nil {
		owner := prev.owner.node
		c.mu.Unlock()
		// Two polls at once: the session closes, as on its owner.
		if owner != "" {
			c.publishAsync(&ClusterMessage{Type: ClusterMsgClose, Recipient: owner, SID: sid, Reason: ReasonTransportError})
		}
		writeError(w, CodeBadRequest, "")
		return
	}
	c.polls[sid] = rp
	c.locking++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.polls[sid] == rp {
			delete(c.polls, sid)
		}
		c.mu.Unlock()
	}()

	start := time.Now()
	own, err := c.acquire(r.Context(), sid, TransportPolling, true)
	c.mu.Lock()
	if err == nil {
		rp.owner = own
		if c.leaving {
			// The server started leaving while the lock was on its way:
			// leave waits for this release too, so that the owner
			// forgets the poll before the server is gone.
			c.release(sid, rp)
		}
	}
	c.locking--
	if c.locking == 0 {
		c.released.Broadcast()
	}
	c.mu.Unlock()
	if err != nil {
		c.observe("poll", outcome(err), time.Since(start))
		writeError(w, CodeUnknownSID, "")
		return
	}
	c.observe("poll", "ok", time.Since(start))
	cancel := c.watch(own.node, func() { rp.endWith(errOwnerGone) })
	defer cancel()
	select {
	case pkts := <-rp.ch:
		out := make([]outgoing, len(pkts))
		for i, p := range pkts {
			out[i] = p.outgoing()
		}
		if err := writePayloadTo(w, r, &c.srv.cfg, ver, b64, out, nil); err != nil {
			c.publishAsync(&ClusterMessage{Type: ClusterMsgClose, Recipient: own.node, SID: sid, Reason: ReasonTransportError})
		} else if own.tether {
			c.publishAsync(&ClusterMessage{Type: ClusterMsgDrained, Recipient: own.node, SID: sid})
		}
	case err := <-rp.end:
		if errors.Is(err, errOwnerGone) {
			writeError(w, CodeUnknownSID, "")
			return
		}
		_ = writePayloadTo(w, r, &c.srv.cfg, ver, b64, []outgoing{noopPacket}, nil)
	case <-r.Context().Done():
		c.publishAsync(&ClusterMessage{Type: ClusterMsgClose, Recipient: own.node, SID: sid, Reason: ReasonTransportError})
	}
}

// onDrain passes the owner's packets to the poll or the WebSocket that
// waits for them.
func (c *cluster) onDrain(m *ClusterMessage) {
	c.mu.Lock()
	if rp := c.polls[m.SID]; rp != nil {
		delete(c.polls, m.SID) // a poll is drained once
		c.mu.Unlock()
		select {
		case rp.ch <- m.Packets:
		default:
		}
		return
	}
	rl := c.relays[m.SID]
	c.mu.Unlock()
	if rl != nil && rl.owner == m.Sender {
		rl.push(m.Packets)
	}
}

// servePost serves a POST: its packets go to the owner, which delivers
// them before the client gets its "ok". The body is read and checked
// here, against this server's MaxPayload: the owner takes the packets as
// they are.
func (c *cluster) servePost(w http.ResponseWriter, r *http.Request, sid string, proto int) {
	ver := parser.Version(proto)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	binary := mt == "application/octet-stream"
	if binary && proto != 3 {
		c.closeRemote(sid, ReasonTransportError)
		writeError(w, CodeBadRequest, "")
		return
	}
	body, err := readPostBody(w, r, &c.srv.cfg, c.srv.cfg.MaxPayload, nil)
	if errors.Is(err, errTooLarge) {
		c.closeRemote(sid, ReasonTransportError)
		w.Header().Set("Connection", "close")
		writeJSONError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "Payload too large")
		return
	}
	if err != nil {
		c.closeRemote(sid, ReasonTransportError)
		writeError(w, CodeBadRequest, "")
		return
	}
	if !binary && !utf8.Valid(body) {
		body = toValidUTF8(body)
	}
	pkts, derr := parser.DecodePayload(ver, body, binary)
	closeReason := ""
	for i, p := range pkts {
		if p.Type == parser.Close {
			pkts, closeReason = pkts[:i], ReasonTransportClose
			break
		}
	}
	if closeReason == "" && derr != nil {
		closeReason = ReasonParseError
	}
	start := time.Now()
	own, err := c.forward(r.Context(), sid, pkts)
	if err != nil {
		c.observe("post", outcome(err), time.Since(start))
		writeError(w, CodeUnknownSID, "")
		return
	}
	if closeReason != "" {
		_ = c.publish(&ClusterMessage{Type: ClusterMsgClose, Recipient: own.node, SID: sid, Reason: closeReason})
	}
	c.observe("post", "ok", time.Since(start))
	if closeReason == ReasonParseError {
		writeError(w, CodeBadRequest, "")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}

// forward delivers a POST's packets to the owner of sid and returns it: a
// Tether owner remembered from an earlier lock gets them at once and
// acknowledges them; otherwise a write lock comes first, and a Node owner
// gets them as PACKETs, published in order.
func (c *cluster) forward(ctx context.Context, sid string, pkts []parser.Packet) (ownerEntry, error) {
	deliver := func(own ownerEntry) error {
		cp := make([]ClusterPacket, len(pkts))
		for i, p := range pkts {
			cp[i] = ClusterPacket{Type: p.Type, Data: p.Data, Binary: p.Binary}
		}
		r, err := c.request(ctx, &ClusterMessage{Type: ClusterMsgPackets, Recipient: own.node, SID: sid, Packets: cp})
		if err == nil && !r.Success {
			err = errNoOwner
		}
		if err != nil {
			c.forget(sid)
		}
		return err
	}
	if own, ok := c.owner(sid); ok && own.tether {
		return own, deliver(own)
	}
	own, err := c.acquire(ctx, sid, TransportPolling, false)
	if err != nil || len(pkts) == 0 {
		return own, err
	}
	if own.tether {
		return own, deliver(own)
	}
	for _, p := range pkts {
		m := &ClusterMessage{Type: ClusterMsgPacket, Recipient: own.node, SID: sid,
			Packets: []ClusterPacket{{Type: p.Type, Data: p.Data, Binary: p.Binary}}}
		if err := c.publish(m); err != nil {
			return own, err
		}
	}
	return own, nil
}

// closeRemote closes session sid wherever it is (its owner if known, else
// every server: only the owner has it).
func (c *cluster) closeRemote(sid, reason string) {
	m := &ClusterMessage{Type: ClusterMsgClose, SID: sid, Reason: reason}
	if own, ok := c.owner(sid); ok {
		m.Recipient = own.node
	}
	c.publishAsync(m)
}

// --- Upgrades ---

type relayState int

const (
	relayProbing  relayState = iota // the probe: "2probe", "3probe", then "5"
	relayWaiting                    // the owner is asked; the client's packets are held
	relayRelaying                   // the owner keeps the session: relay both ways
	relayAdopted                    // the session moved here
	relayEnded
)

// relay is the WebSocket of an upgrade whose session another server owns:
// probed here, then relayed to the owner, or adopted when the owner hands
// the session over.
type relay struct {
	c     *cluster
	sid   string
	owner string
	proto int
	ver   parser.Version
	b64   bool
	req   handshakeRequest
	conn  *websocket.Conn
	timer *time.Timer // the probe's UpgradeTimeout
	start time.Time   // when the lock was asked for

	mu     sync.Mutex
	state  relayState
	held   []heldMessage // from the client while waiting for the owner
	t      *wsTransport  // adopted: the session's transport
	cancel func()        // relaying: stops watching the owner

	// The owner's packets on their way to the client.
	outMu        sync.Mutex
	out          []outgoing
	writing      bool
	stopped      bool
	uncompressed bool // owned by the writer
}

// heldMessage is a WebSocket message held while waiting for the owner.
type heldMessage struct {
	typ  websocket.MessageType
	data []byte
}

// serveUpgrade serves an upgrade: the owner reserves the upgrade, the
// WebSocket is probed here, and on the client's upgrade packet the owner
// says whether the session moves here.
func (c *cluster) serveUpgrade(w http.ResponseWriter, r *http.Request, sid string, proto int) {
	srv := c.srv
	if !srv.track() {
		writeShuttingDown(w)
		return
	}
	defer srv.wg.Done()
	start := time.Now()
	own, err := c.acquire(r.Context(), sid, TransportWebSocket, true)
	if err != nil {
		c.observe("upgrade", outcome(err), time.Since(start))
		writeError(w, CodeUnknownSID, "")
		return
	}
	conn, err := websocket.Accept(w, r, &srv.cfg.ws)
	if err != nil {
		c.publishAsync(&ClusterMessage{Type: ClusterMsgUpgrade, Recipient: own.node, SID: sid})
		return // Accept has answered
	}
	srv.acceptedWebSocket(r)
	if r.ProtoMajor == 2 {
		defer waitStream(conn)
	}
	rl := &relay{c: c, sid: sid, owner: own.node, proto: proto, ver: parser.Version(proto),
		b64: r.URL.Query().Get("b64") != "", req: keepRequest(r), conn: conn, start: start}
	rl.timer = time.AfterFunc(srv.cfg.UpgradeTimeout, func() {
		rl.mu.Lock()
		probing := rl.state == relayProbing
		rl.mu.Unlock()
		if probing {
			conn.CloseNow()
		}
	})
	srv.wg.Add(1)
	conn.ReadLoopAsync(rl.handle, func(err error) {
		defer srv.wg.Done()
		rl.timer.Stop()
		rl.ended(err)
	})
}

// handle handles one message of the WebSocket.
func (rl *relay) handle(typ websocket.MessageType, data []byte) error {
	rl.mu.Lock()
	switch rl.state {
	case relayProbing:
		rl.mu.Unlock()
		p, err := parser.DecodePacket(rl.ver, data, typ == websocket.MessageBinary)
		switch {
		case err == nil && p.Type == parser.Ping && !p.Binary && string(p.Data) == "probe":
			return rl.conn.WriteMessage(websocket.MessageText, []byte("3probe"))
		case err == nil && p.Type == parser.Upgrade:
			// The owner is asked before anything else the client sends
			// is read: what comes meanwhile is held.
			rl.timer.Stop()
			rl.mu.Lock()
			rl.state = relayWaiting
			rl.mu.Unlock()
			c := rl.c
			c.mu.Lock()
			c.relays[rl.sid] = rl
			c.mu.Unlock()
			m := &ClusterMessage{Type: ClusterMsgUpgrade, Recipient: rl.owner, SID: rl.sid, Success: true}
			ch, err := c.ask(m)
			c.wg.Add(1)
			go rl.finish(m, ch, err)
			return nil
		}
		return errUpgradeFailed
	case relayWaiting:
		rl.held = append(rl.held, heldMessage{typ, append([]byte(nil), data...)})
		rl.mu.Unlock()
		return nil
	case relayRelaying:
		rl.mu.Unlock()
		return rl.forward(typ, data)
	case relayAdopted:
		t := rl.t
		rl.mu.Unlock()
		return t.handle(typ, data)
	}
	rl.mu.Unlock()
	return errStop
}

// finish waits for the owner's answer to the upgrade m (or err), and
// adopts the session or starts relaying.
func (rl *relay) finish(m *ClusterMessage, ch chan *ClusterMessage, err error) {
	c := rl.c
	defer c.wg.Done()
	var r *ClusterMessage
	if err == nil {
		r, err = c.answer(context.Background(), m, ch)
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.state != relayWaiting {
		return // the WebSocket closed meanwhile: the client reconnects
	}
	if err != nil {
		rl.state = relayEnded
		c.dropRelay(rl)
		c.observe("upgrade", "error", time.Since(rl.start))
		go rl.conn.CloseNow()
		return
	}
	if r.TakeOver {
		c.dropRelay(rl)
		c.forget(rl.sid)
		t, ok := c.srv.adopt(rl, r.Packets)
		if !ok {
			rl.state = relayEnded
			go rl.conn.CloseNow()
			return
		}
		for _, h := range rl.held {
			if t.handle(h.typ, h.data) != nil {
				break
			}
		}
		rl.held = nil
		rl.t, rl.state = t, relayAdopted
		c.observe("upgrade", "takeover", time.Since(rl.start))
		return
	}
	for _, h := range rl.held {
		if err := rl.forward(h.typ, h.data); err != nil {
			rl.state = relayEnded
			go rl.conn.CloseNow()
			return
		}
	}
	rl.held = nil
	rl.state = relayRelaying
	rl.cancel = c.watch(rl.owner, func() {
		rl.stop()
		rl.c.srv.closeHandshake(rl.conn, websocket.StatusGoingAway, "session lost")
	})
	c.observe("upgrade", "relay", time.Since(rl.start))
}

// forward passes a message of the client to the owner.
func (rl *relay) forward(typ websocket.MessageType, data []byte) error {
	c := rl.c
	p, err := parser.DecodePacket(rl.ver, data, typ == websocket.MessageBinary)
	if err != nil {
		_ = c.publish(&ClusterMessage{Type: ClusterMsgClose, Recipient: rl.owner, SID: rl.sid, Reason: ReasonParseError})
		return errStop
	}
	if p.Type == parser.Close {
		_ = c.publish(&ClusterMessage{Type: ClusterMsgClose, Recipient: rl.owner, SID: rl.sid, Reason: ReasonTransportClose})
		return errStop
	}
	p.Data = append([]byte(nil), p.Data...)
	err = c.publish(&ClusterMessage{Type: ClusterMsgPacket, Recipient: rl.owner, SID: rl.sid,
		Packets: []ClusterPacket{{Type: p.Type, Data: p.Data, Binary: p.Binary}}})
	if err != nil {
		_ = c.publish(&ClusterMessage{Type: ClusterMsgClose, Recipient: rl.owner, SID: rl.sid, Reason: ReasonTransportError})
		return errStop
	}
	return nil
}

// ended runs when the WebSocket's read loop has ended.
func (rl *relay) ended(err error) {
	c := rl.c
	rl.mu.Lock()
	st, t, cancel := rl.state, rl.t, rl.cancel
	rl.state = relayEnded
	rl.mu.Unlock()
	switch st {
	case relayProbing:
		// The owner gives up the upgrade.
		c.publishAsync(&ClusterMessage{Type: ClusterMsgUpgrade, Recipient: rl.owner, SID: rl.sid})
		rl.conn.CloseNow()
	case relayRelaying:
		c.dropRelay(rl)
		if cancel != nil {
			cancel()
		}
		rl.stop()
		if !errors.Is(err, errStop) {
			reason := ReasonTransportClose
			switch websocket.CloseStatus(err) {
			case websocket.StatusProtocolError, websocket.StatusInvalidFramePayloadData, websocket.StatusMessageTooBig:
				reason = ReasonTransportError
			}
			c.publishAsync(&ClusterMessage{Type: ClusterMsgClose, Recipient: rl.owner, SID: rl.sid, Reason: reason})
		}
		rl.conn.CloseNow()
	case relayAdopted:
		t.readEnded(err)
	default:
		rl.conn.CloseNow()
	}
}

// dropRelay forgets rl.
func (c *cluster) dropRelay(rl *relay) {
	c.mu.Lock()
	if c.relays[rl.sid] == rl {
		delete(c.relays, rl.sid)
	}
	c.mu.Unlock()
}

// push queues the owner's packets for the client.
func (rl *relay) push(pkts []ClusterPacket) {
	rl.outMu.Lock()
	if rl.stopped {
		rl.outMu.Unlock()
		return
	}
	for _, p := range pkts {
		rl.out = append(rl.out, p.outgoing())
	}
	if len(rl.out) > rl.c.srv.cfg.SendQueue {
		// The client does not read: as a session's queue would, give up.
		rl.stopped, rl.out = true, nil
		rl.outMu.Unlock()
		rl.c.publishAsync(&ClusterMessage{Type: ClusterMsgClose, Recipient: rl.owner, SID: rl.sid, Reason: ReasonSendQueueFull})
		rl.conn.CloseNow()
		return
	}
	if !rl.writing {
		rl.writing = true
		rl.c.wg.Add(1)
		go rl.write()
	}
	rl.outMu.Unlock()
}

// stop drops what waits for the client and refuses more.
func (rl *relay) stop() {
	rl.outMu.Lock()
	rl.stopped, rl.out = true, nil
	rl.outMu.Unlock()
}

// write writes the owner's packets to the WebSocket until none is left; a
// close packet ends the WebSocket after it.
func (rl *relay) write() {
	defer rl.c.wg.Done()
	for {
		rl.outMu.Lock()
		pkts := rl.out
		rl.out = nil
		if len(pkts) == 0 || rl.stopped && pkts == nil {
			rl.writing = false
			rl.outMu.Unlock()
			return
		}
		rl.outMu.Unlock()
		closing := false
		for _, p := range pkts {
			closing = closing || p.Type == parser.Close
		}
		if err := writeWSBatch(rl.conn, rl.ver, rl.b64, &rl.uncompressed, pkts); err != nil {
			rl.stop()
			rl.conn.CloseNow()
		} else if closing {
			rl.stop()
			rl.c.srv.closeHandshake(rl.conn, websocket.StatusNormalClosure, ReasonForcedClose)
		}
	}
}

// adopt makes the session of rl, which its owner handed over, a session of
// this server on rl's WebSocket, and delivers the messages the owner held.
func (srv *Server) adopt(rl *relay, pkts []ClusterPacket) (*wsTransport, bool) {
	s := &Socket{srv: srv, id: rl.sid, proto: uint8(rl.proto), req: rl.req, b64: rl.b64}
	t := newWSTransport(s, rl.b64, rl.conn)
	s.ws = t
	if !srv.register(s) {
		return nil, false
	}
	s.mu.Lock()
	t.startLocked()
	s.mu.Unlock()
	s.connected()
	for _, p := range pkts {
		if !s.onPacket(p.packet(), true) {
			break
		}
	}
	return t, true
}

// --- Leaving ---

// leave ends what this server serves for other servers' sessions, as it
// shuts down: the polls it holds for Tether owners are released (the
// clients' next polls find their sessions intact elsewhere), and the
// WebSockets it relays are closed (their clients reconnect). It returns
// once the owners have answered, or ResponseTimeout has passed; a poll
// whose lock is on its way is released once it comes, and waited for.
func (c *cluster) leave() {
	c.mu.Lock()
	c.leaving = true
	for sid, rp := range c.polls {
		if rp.owner.node != "" {
			c.release(sid, rp)
		} // else its lock is on its way: servePoll releases it
	}
	relays := make([]*relay, 0, len(c.relays))
	for _, rl := range c.relays {
		relays = append(relays, rl)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, rl := range relays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rl.stop()
			c.srv.closeHandshake(rl.conn, websocket.StatusGoingAway, ReasonServerShutdown)
		}()
	}
	wg.Wait()
	c.waitReleases()
}

// release asks a Tether owner to forget the poll rp, then ends it with a
// noop; the poll of a Node owner waits for its DRAIN (the owner pings
// within a heartbeat) until the cluster closes. The caller holds c.mu.
func (c *cluster) release(sid string, rp *remotePoll) {
	if !rp.owner.tether {
		return
	}
	c.releases++
	go func() {
		r, err := c.request(context.Background(), &ClusterMessage{Type: ClusterMsgRelease, Recipient: rp.owner.node, SID: sid})
		if err == nil && r.Success {
			rp.endWith(errClusterEnd)
		}
		c.mu.Lock()
		c.releases--
		if c.releases == 0 {
			c.released.Broadcast()
		}
		c.mu.Unlock()
	}()
}

// waitReleases waits for the releases under way, and for the polls whose
// lock is on its way, which servePoll then releases (each ends within
// ResponseTimeout).
func (c *cluster) waitReleases() {
	c.mu.Lock()
	for c.releases > 0 || c.locking > 0 {
		c.released.Wait()
	}
	c.mu.Unlock()
}

// close stops the cluster's goroutines and its transport; polls still
// waiting get a noop.
func (c *cluster) close() {
	c.waitReleases()
	c.mu.Lock()
	c.closed, c.leaving = true, true
	select {
	case <-c.stop:
		c.mu.Unlock()
		return
	default:
	}
	close(c.stop)
	for _, rp := range c.polls {
		rp.endWith(errClusterEnd)
	}
	c.mu.Unlock()
	_ = c.t.Close()
	c.wg.Wait()
}
