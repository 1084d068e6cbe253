package conformance

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// The opcodes of RFC 6455, section 5.2.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Frame is a frame as the peer sends it. Nothing is checked: the peer sends
// whatever a case asks for, valid or not.
type Frame struct {
	Fin bool
	// Rsv holds the three reserved bits as Autobahn numbers them: 4 is
	// RSV1, 2 is RSV2, 1 is RSV3.
	Rsv     byte
	Op      byte
	Payload []byte
}

// DefaultTimeout is how long the peer waits for the next frame from the
// implementation under test before it fails the case.
const DefaultTimeout = 20 * time.Second

// Peer is the raw-frame end of a connection to the implementation under
// test (the "testee"). As a client ([DialPeer]) it tests a server: it masks
// what it sends and requires unmasked frames. As a server ([AcceptPeer]) it
// tests a client, the other way round.
//
// A goroutine reads and parses frames as they arrive, so the peer never
// deadlocks with a testee that writes while the peer writes.
type Peer struct {
	conn   net.Conn
	client bool
	pmd    *deflateState // negotiated permessage-deflate, or nil

	frames chan frameResult

	// Timeout bounds each wait for a frame; 0 means DefaultTimeout.
	Timeout time.Duration

	done chan struct{} // closed by Close, for a peer over HTTP/2 (AcceptPeerHTTP2)

	closeSent bool    // the peer has sent a close frame (Autobahn's closedByMe)
	events    []Event // events not consumed by the case's script

	// Assembly of the data message in progress.
	msgOpen       bool
	msgOp         byte
	msgCompressed bool
	msgData       []byte
}

// rawFrame is a frame as it arrived from the testee, unmasked.
type rawFrame struct {
	fin     bool
	rsv     byte
	op      byte
	masked  bool
	payload []byte
}

type frameResult struct {
	f   rawFrame
	err error
}

// maxFramePayload bounds what the peer accepts in one frame from the
// testee, so a broken length cannot make it allocate without end.
const maxFramePayload = 256 << 20

func newPeer(conn net.Conn, br *bufio.Reader, client bool, pmd *deflateState) *Peer {
	p := &Peer{conn: conn, client: client, pmd: pmd, frames: make(chan frameResult, 64)}
	go p.readFrames(br)
	return p
}

// readFrames parses frames until the connection ends; the last result
// carries the error (io.EOF when the testee closed TCP).
func (p *Peer) readFrames(br *bufio.Reader) {
	defer close(p.frames)
	for {
		f, err := readFrame(br)
		p.frames <- frameResult{f, err}
		if err != nil {
			return
		}
	}
}

func readFrame(br *bufio.Reader) (rawFrame, error) {
	var f rawFrame
	var h [14]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		return f, err
	}
	f.fin = h[0]&0x80 != 0
	f.rsv = h[0] >> 4 & 7
	f.op = h[0] & 0x0f
	f.masked = h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			return f, noEOF(err)
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
		if n < 126 {
			return f, fmt.Errorf("testee sent a 16-bit length of %d, which is not minimal", n)
		}
	case 127:
		if _, err := io.ReadFull(br, h[:8]); err != nil {
			return f, noEOF(err)
		}
		n = binary.BigEndian.Uint64(h[:8])
		if n <= 0xffff || n>>63 != 0 {
			return f, fmt.Errorf("testee sent a 64-bit length of %d, which is not minimal", n)
		}
	}
	if n > maxFramePayload {
		return f, fmt.Errorf("testee sent a frame of %d bytes", n)
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return f, noEOF(err)
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		return f, noEOF(err)
	}
	if f.masked {
		mask(key, f.payload)
	}
	return f, nil
}

// mask XORs b with the masking key, starting at key position 0 (RFC 6455,
// 5.3), eight bytes at a time.
func mask(key [4]byte, b []byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// noEOF turns an EOF inside a frame into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// errTimeout is what nextFrame returns when the testee sent nothing in time.
var errTimeout = errors.New("timed out waiting for the testee")

// nextFrame returns the next frame from the testee, waiting at most d.
func (p *Peer) nextFrame(d time.Duration) (rawFrame, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r, ok := <-p.frames:
		if !ok {
			return rawFrame{}, io.EOF
		}
		return r.f, r.err
	case <-t.C:
		return rawFrame{}, errTimeout
	}
}

func (p *Peer) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// EncodeFrame returns f as it goes on the wire from this peer (masked when
// the peer is a client) and the length of its header.
func (p *Peer) EncodeFrame(f Frame) (b []byte, headerLen int) {
	b0 := f.Rsv<<4 | f.Op&0x0f
	if f.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if p.client {
		b1 = 0x80
	}
	n := len(f.Payload)
	b = make([]byte, 0, 14+n)
	switch {
	case n > 0xffff:
		b = append(b, b0, b1|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case n > 125:
		b = append(b, b0, b1|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, b0, b1|byte(n))
	}
	var key [4]byte
	if p.client {
		rand.Read(key[:])
		b = append(b, key[:]...)
	}
	headerLen = len(b)
	b = append(b, f.Payload...)
	if p.client {
		mask(key, b[headerLen:])
	}
	return b, headerLen
}

// WriteRaw writes bytes as they are.
func (p *Peer) WriteRaw(b []byte) error {
	p.conn.SetWriteDeadline(time.Now().Add(p.timeout()))
	if _, err := p.conn.Write(b); err != nil {
		return fmt.Errorf("failed to write to the testee: %w", err)
	}
	return nil
}

// Send writes frames with a single write, as Autobahn does when it queues
// frames back to back.
func (p *Peer) Send(frames ...Frame) error {
	var b []byte
	for _, f := range frames {
		e, _ := p.EncodeFrame(f)
		b = append(b, e...)
	}
	return p.WriteRaw(b)
}

// SendSync writes each frame with a write of its own (Autobahn's sync).
func (p *Peer) SendSync(frames ...Frame) error {
	for _, f := range frames {
		if err := p.Send(f); err != nil {
			return err
		}
	}
	return nil
}

// SendChopped writes each frame in writes of at most chop bytes (Autobahn's
// chopsize), so the testee sees frames arrive in pieces.
func (p *Peer) SendChopped(chop int, frames ...Frame) error {
	for _, f := range frames {
		b, _ := p.EncodeFrame(f)
		for len(b) > 0 {
			n := min(chop, len(b))
			if err := p.WriteRaw(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	return nil
}

// SendClose sends a close frame with code and reason, which starts the
// closing handshake from the peer's side.
func (p *Peer) SendClose(code uint16, reason string) error {
	return p.SendCloseFrame(binary.BigEndian.AppendUint16(nil, code), []byte(reason))
}

// SendCloseFrame sends a close frame with a payload made of parts as they
// are (they may be invalid on purpose), and records that the peer started
// the closing handshake.
func (p *Peer) SendCloseFrame(parts ...[]byte) error {
	var payload []byte
	for _, b := range parts {
		payload = append(payload, b...)
	}
	p.closeSent = true
	return p.Send(Frame{Fin: true, Op: OpClose, Payload: payload})
}

// Close closes the TCP connection.
func (p *Peer) Close() error { return p.conn.Close() }

// Compressing reports whether permessage-deflate was negotiated.
func (p *Peer) Compressing() bool { return p.pmd != nil }

// acceptKey computes Sec-WebSocket-Accept for a key (RFC 6455, 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// DialPeer connects to the server under test at addr (host:port) as a raw
// client, offering the permessage-deflate offers given (none for no
// compression), and checks the server's answer.
func DialPeer(addr string, offers []Offer) (*Peer, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("failed to dial the testee: %w", err)
	}
	p, err := clientHandshake(conn, addr, offers)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return p, nil
}

func clientHandshake(conn net.Conn, addr string, offers []Offer) (*Peer, error) {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	var req strings.Builder
	fmt.Fprintf(&req, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", addr, key)
	if len(offers) > 0 {
		var s []string
		for _, o := range offers {
			s = append(s, o.header())
		}
		fmt.Fprintf(&req, "Sec-WebSocket-Extensions: %s\r\n", strings.Join(s, ", "))
	}
	req.WriteString("\r\n")
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return nil, fmt.Errorf("failed to send the handshake: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to read the handshake response: %w", err)
	}
	conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("testee answered the handshake with %s", resp.Status)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		return nil, fmt.Errorf("bad Upgrade/Connection headers %q/%q", resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return nil, fmt.Errorf("Sec-WebSocket-Accept is %q, want %q", got, acceptKey(key))
	}
	var pmd *deflateState
	if exts := resp.Header.Values("Sec-WebSocket-Extensions"); len(exts) > 0 {
		r, err := checkResponse(exts, offers)
		if err != nil {
			return nil, err
		}
		pmd = newDeflateState(r, true)
	}
	return newPeer(conn, br, true, pmd), nil
}

// AcceptPeer reads a client's opening handshake from conn and answers it
// as a raw server. accept chooses the permessage-deflate response to the
// client's offers; nil declines compression.
func AcceptPeer(conn net.Conn, accept *Accept) (*Peer, error) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, fmt.Errorf("failed to read the handshake request: %w", err)
	}
	switch {
	case req.Method != http.MethodGet || req.ProtoMajor != 1 || req.ProtoMinor < 1:
		return nil, fmt.Errorf("bad request line %s %s %s", req.Method, req.URL, req.Proto)
	case !headerHas(req.Header, "Upgrade", "websocket") || !headerHas(req.Header, "Connection", "upgrade"):
		return nil, fmt.Errorf("bad Upgrade/Connection headers %q/%q", req.Header.Get("Upgrade"), req.Header.Get("Connection"))
	case req.Header.Get("Sec-WebSocket-Version") != "13":
		return nil, fmt.Errorf("Sec-WebSocket-Version is %q", req.Header.Get("Sec-WebSocket-Version"))
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return nil, fmt.Errorf("Sec-WebSocket-Key %q is not 16 bytes in base64", key)
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	var pmd *deflateState
	if offers := req.Header.Values("Sec-WebSocket-Extensions"); len(offers) > 0 && accept != nil {
		r, err := accept.respond(offers)
		if err != nil {
			return nil, err
		}
		resp += "Sec-WebSocket-Extensions: " + r.header() + "\r\n"
		pmd = newDeflateState(r, false)
	}
	if _, err := io.WriteString(conn, resp+"\r\n"); err != nil {
		return nil, fmt.Errorf("failed to send the handshake response: %w", err)
	}
	conn.SetDeadline(time.Time{})
	return newPeer(conn, br, false, pmd), nil
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Event is something the testee did, in the order it happened: echoed a
// message, answered a ping, pinged, or (a marker cases add themselves)
// stayed quiet for a while.
type Event struct {
	Kind    string // "message", "pong", "ping" or "quiet"
	Binary  bool   // for messages
	Payload []byte
	// Compressed reports whether a message arrived compressed. It is not
	// part of an event's identity (see [Event.Equal]).
	Compressed bool
}

// Message returns the event of the testee echoing a message.
func Message(binary bool, payload []byte) Event {
	return Event{Kind: "message", Binary: binary, Payload: payload}
}

// Pong returns the event of the testee answering a ping.
func Pong(payload []byte) Event { return Event{Kind: "pong", Payload: payload} }

// Equal reports whether e and o are the same event.
func (e Event) Equal(o Event) bool {
	return e.Kind == o.Kind && e.Binary == o.Binary && string(e.Payload) == string(o.Payload)
}

func (e Event) String() string {
	p := e.Payload
	s := fmt.Sprintf("%q", p)
	if len(p) > 40 {
		s = fmt.Sprintf("%q… (%d bytes)", p[:40], len(p))
	}
	switch e.Kind {
	case "message":
		if e.Binary {
			return "binary message " + s
		}
		return "text message " + s
	case "quiet":
		return "quiet"
	}
	return e.Kind + " " + s
}

// closeFrame is the close frame the testee sent.
type closeFrame struct {
	code   uint16 // 1005 for an empty payload
	reason string
}

// errClosed wraps the testee's close frame, returned by nextEvent.
type errClosed struct{ closeFrame }

func (e *errClosed) Error() string {
	return fmt.Sprintf("testee sent close %d %q", e.code, e.reason)
}

// nextEvent reads frames up to the next event, checking each frame the
// testee sends against RFC 6455 and RFC 7692. A close frame ends with an
// *errClosed.
func (p *Peer) nextEvent(d time.Duration) (Event, error) {
	for {
		f, err := p.nextFrame(d)
		if err != nil {
			return Event{}, err
		}
		if err := p.checkFrame(f); err != nil {
			return Event{}, err
		}
		switch f.op {
		case OpPing:
			if !p.closeSent {
				if err := p.Send(Frame{Fin: true, Op: OpPong, Payload: f.payload}); err != nil {
					return Event{}, err
				}
			}
			return Event{Kind: "ping", Payload: f.payload}, nil
		case OpPong:
			return Event{Kind: "pong", Payload: f.payload}, nil
		case OpClose:
			cf, err := parseClose(f.payload)
			if err != nil {
				return Event{}, err
			}
			return Event{}, &errClosed{cf}
		}
		if !p.msgOpen {
			p.msgOpen, p.msgOp, p.msgCompressed, p.msgData = true, f.op, f.rsv&4 != 0, nil
		}
		p.msgData = append(p.msgData, f.payload...)
		if !f.fin {
			continue
		}
		p.msgOpen = false
		data := p.msgData
		if p.msgCompressed {
			if data, err = p.pmd.decompress(data); err != nil {
				return Event{}, fmt.Errorf("testee sent a message that does not decompress: %w", err)
			}
		}
		if p.msgOp == OpText && !utf8.Valid(data) {
			return Event{}, errors.New("testee sent a text message that is not UTF-8")
		}
		return Event{Kind: "message", Binary: p.msgOp == OpBinary, Payload: data, Compressed: p.msgCompressed}, nil
	}
}

// checkFrame checks a frame from the testee in the context of the
// connection.
func (p *Peer) checkFrame(f rawFrame) error {
	switch {
	case f.masked == p.client && p.client:
		return errors.New("testee server sent a masked frame")
	case f.masked == p.client:
		return errors.New("testee client sent an unmasked frame")
	case f.rsv&3 != 0:
		return fmt.Errorf("testee set RSV2/RSV3 (rsv=%d) on a %#x frame", f.rsv, f.op)
	}
	switch f.op {
	case OpClose, OpPing, OpPong:
		switch {
		case !f.fin:
			return fmt.Errorf("testee fragmented a control frame (%#x)", f.op)
		case len(f.payload) > 125:
			return fmt.Errorf("testee sent a control frame of %d bytes", len(f.payload))
		case f.rsv != 0:
			return fmt.Errorf("testee set RSV1 on a control frame (%#x)", f.op)
		}
		return nil
	case OpText, OpBinary:
		if p.msgOpen {
			return errors.New("testee started a new message inside a fragmented one")
		}
		if f.rsv&4 != 0 && p.pmd == nil {
			return errors.New("testee set RSV1 without a negotiated extension")
		}
	case OpContinuation:
		if !p.msgOpen {
			return errors.New("testee sent a continuation frame outside a fragmented message")
		}
		if f.rsv&4 != 0 {
			return errors.New("testee set RSV1 on a continuation frame")
		}
	default:
		return fmt.Errorf("testee sent reserved opcode %#x", f.op)
	}
	return nil
}

// parseClose checks a close payload from the testee (RFC 6455, 5.5.1 and
// 7.4).
func parseClose(b []byte) (closeFrame, error) {
	switch len(b) {
	case 0:
		return closeFrame{code: 1005}, nil
	case 1:
		return closeFrame{}, errors.New("testee sent a close payload of 1 byte")
	}
	cf := closeFrame{code: binary.BigEndian.Uint16(b), reason: string(b[2:])}
	if !sendableCode(cf.code) {
		return cf, fmt.Errorf("testee sent close code %d, which must not be sent", cf.code)
	}
	if !utf8.ValidString(cf.reason) {
		return cf, errors.New("testee sent a close reason that is not UTF-8")
	}
	return cf, nil
}

// sendableCode reports whether an endpoint may put code in a close frame.
func sendableCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}
