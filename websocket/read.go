package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tether-rt/tether/websocket/frame"
)

// Read reads the next data message into a new slice. If ctx is cancelled
// before the message has arrived, the connection is closed.
//
// For reads without an allocation per message, use [Conn.ReadMessage].
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	stop := c.watchRead(ctx)
	typ, p, err := c.ReadMessage(nil)
	return typ, p, stop(err)
}

// ReadMessage reads the next data message, appending its payload to
// buf[:0], and returns the message's type and payload. Pass the previous
// payload back in (as buf) and, once the buffer has grown to the largest
// message, reading allocates nothing.
//
// Any part of the previous message not yet read through a [Conn.Reader] is
// discarded first.
func (c *Conn) ReadMessage(buf []byte) (MessageType, []byte, error) {
	if !c.readMu.TryLock() {
		return 0, nil, ErrConcurrentRead
	}
	defer c.readMu.Unlock()
	typ, err := c.startMessage()
	if err != nil {
		return 0, nil, err
	}
	p, err := c.readRest(buf[:0])
	if err != nil {
		return 0, nil, err
	}
	return typ, p, nil
}

// Reader waits for the next data message and returns a reader of its
// payload, which reports io.EOF at the message's end. The reader is valid
// until the next call that reads from c. If ctx is cancelled before the
// message has begun, the connection is closed.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	stop := c.watchRead(ctx)
	if !c.readMu.TryLock() {
		return 0, nil, stop(ErrConcurrentRead)
	}
	defer c.readMu.Unlock()
	typ, err := c.startMessage()
	if err = stop(err); err != nil {
		return 0, nil, err
	}
	return typ, &c.r.msgReader, nil
}

// ReadLoop reads messages until the connection fails or closes, calling fn
// with each one. data is valid only until fn returns. ReadLoop returns the
// error that ended the loop: fn's own error, or the read error (a
// [CloseError] when the peer closed).
//
// While ReadLoop waits for a message, the connection holds no read buffer
// beyond its small fixed one: message buffers come from a shared pool.
// This handler-driven form is the one a readiness-driven (epoll) mode can
// serve without a goroutine per connection.
func (c *Conn) ReadLoop(fn func(typ MessageType, data []byte) error) error {
	for {
		if err := c.readOne(fn, false); err != nil {
			return err
		}
	}
}

// readOne reads one message into a pooled buffer and calls fn with it.
// With wait, it waits for a reader in progress (Close reading to the
// peer's close frame) instead of failing with ErrConcurrentRead.
func (c *Conn) readOne(fn func(typ MessageType, data []byte) error, wait bool) error {
	if wait {
		c.readMu.Lock()
	} else if !c.readMu.TryLock() {
		return ErrConcurrentRead
	}
	typ, err := c.startMessage()
	if err != nil {
		c.readMu.Unlock()
		return err
	}
	bp := getBuffer()
	p, err := c.readRest((*bp)[:0])
	c.readMu.Unlock()
	if err != nil {
		putBuffer(bp)
		return err
	}
	err = fn(typ, p)
	*bp = p[:0]
	putBuffer(bp)
	return err
}

// watchRead arranges for ctx's cancellation to break a read in progress.
// The returned func ends the watch and turns a read broken by ctx into
// ctx's error.
func (c *Conn) watchRead(ctx context.Context) func(error) error {
	if ctx == nil || ctx.Done() == nil {
		return func(err error) error { return err }
	}
	stopped := context.AfterFunc(ctx, func() { c.closeNet() })
	return func(err error) error {
		if !stopped() && err != nil {
			return fmt.Errorf("websocket: read abandoned: %w", ctx.Err())
		}
		return err
	}
}

// messageReader is the io.Reader [Conn.Reader] returns.
type messageReader struct{ c *Conn }

func (m *messageReader) Read(p []byte) (int, error) {
	c := m.c
	if !c.readMu.TryLock() {
		return 0, ErrConcurrentRead
	}
	defer c.readMu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	return c.readPayload(p)
}

// startMessage skips what is left of the previous message and reads frames
// up to the first frame of the next data message, answering control frames
// on the way. The caller holds readMu.
func (c *Conn) startMessage() (MessageType, error) {
	r := &c.r
	if r.err != nil {
		return 0, r.err
	}
	if !r.msgDone {
		if err := c.discardMessage(); err != nil {
			return 0, err
		}
	}
	if err := c.nextFrame(); err != nil {
		return 0, err
	}
	r.msgType = r.fh.OpCode
	r.msgDone = false
	r.msgSize = r.fh.Length
	r.decompressed = 0
	r.utf8.Reset()
	if r.fh.Rsv1 {
		c.startInflate()
	}
	return MessageType(r.msgType), nil
}

// readRest appends the rest of the current message to buf.
//
// Invariant: the memory it takes grows with the bytes that arrive, never
// with the length a frame header declares. Beyond the buffer it was given,
// it holds at most twice what has arrived, or what has arrived and
// readAhead more: a peer that declares 1 GiB and sends 20 KiB costs
// 64 KiB, not 1 GiB (see readStaged). A full buffer grows only if the
// message may go on, so a message that fills it exactly ends without
// another allocation.
func (c *Conn) readRest(buf []byte) ([]byte, error) {
	r := &c.r
	for {
		if len(buf) == cap(buf) && (r.inflate != nil || r.fremain > 0 || !r.fh.Fin) {
			if r.inflate == nil && r.fremain > int64(max(len(buf), readAhead)) {
				var err error
				if buf, err = c.readStaged(buf); err != nil {
					return nil, err
				}
				continue
			}
			buf = grow(buf, r.growth(len(buf)))
		}
		n, err := c.readPayload(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readAhead is how far beyond the bytes already read readRest grows a
// message buffer on the word of a frame header alone.
const readAhead = 64 << 10

// growth returns by how much readRest grows a full message buffer of n
// bytes: to the end of the current uncompressed frame, which readRest has
// made sure is at most max(n, readAhead) away; otherwise (between the
// frames of a fragmented message, and for compressed messages, whose size
// is known only once inflated) by n, at least 512: it doubles.
func (r *reader) growth(n int) int {
	if r.inflate == nil && r.fremain > 0 {
		return int(r.fremain)
	}
	return max(n, 512)
}

// grow returns buf with room for exactly n more bytes. (slices.Grow
// rounds the capacity up, by a quarter when it would double a buffer:
// ReadLoop's buffer for a 1 MiB message would then not go back to the
// pool.)
func grow(buf []byte, n int) []byte {
	if len(buf) == 0 {
		return make([]byte, 0, n)
	}
	nb := make([]byte, len(buf), len(buf)+n)
	copy(nb, buf)
	return nb
}

// stageSize is the size of the pooled chunks readStaged holds a frame's
// payload in.
const stageSize = 64 << 10

// stageChunks pools readStaged's chunks.
var stageChunks = sync.Pool{New: func() any { return new([stageSize]byte) }}

// readStaged reads the current frame's payload, which is longer than
// buf (full) and than readAhead, into pooled chunks until what has
// arrived (buf and the chunks) is at least what the frame still declares,
// and returns a buffer that holds it with room for the rest of the frame.
// The memory held thus stays below twice the bytes received, plus a
// chunk, whatever the header said, and an honest frame costs one
// allocation of its size, as if its length had been trusted, and a copy
// of at most half of it.
func (c *Conn) readStaged(buf []byte) ([]byte, error) {
	r := &c.r
	var arr [8]*[stageSize]byte
	chunks := arr[:0]
	staged, last := 0, stageSize // last: bytes in the last chunk
	var err error
	for r.fremain > int64(len(buf)+staged) {
		if last == stageSize {
			chunks = append(chunks, stageChunks.Get().(*[stageSize]byte))
			last = 0
		}
		var n int
		n, err = c.readPayload(chunks[len(chunks)-1][last:])
		last += n
		staged += n
		if err != nil {
			break
		}
	}
	if err == nil {
		nb := make([]byte, 0, len(buf)+staged+int(r.fremain))
		buf = append(nb, buf...)
	}
	for i, ch := range chunks {
		if err == nil {
			n := stageSize
			if i == len(chunks)-1 {
				n = last
			}
			buf = append(buf, ch[:n]...)
		}
		stageChunks.Put(ch)
	}
	if err != nil {
		return nil, err
	}
	return buf, nil
}

// discardMessage reads the rest of the current message and drops it.
func (c *Conn) discardMessage() error {
	bp := getBuffer()
	defer putBuffer(bp)
	b := (*bp)[:cap(*bp)]
	for {
		_, err := c.readPayload(b)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readPayload reads payload bytes of the current message into p,
// decompressing them if the message is compressed, and returns io.EOF once
// the message has been read to its end.
func (c *Conn) readPayload(p []byte) (int, error) {
	r := &c.r
	if r.err != nil {
		return 0, r.err
	}
	if r.msgDone {
		return 0, io.EOF
	}
	if r.inflate != nil {
		return c.readInflated(p)
	}
	n, err := c.readRaw(p)
	if n > 0 && r.msgType == frame.OpText && !r.utf8.Write(p[:n]) {
		return 0, c.failRead(StatusInvalidFramePayloadData, "invalid UTF-8 in text message")
	}
	if err == io.EOF {
		if r.msgType == frame.OpText && !r.utf8.Done() {
			return 0, c.failRead(StatusInvalidFramePayloadData, "text message ends inside a UTF-8 sequence")
		}
		r.msgDone = true
	}
	return n, err
}

// directReadMin is the smallest read that bypasses the connection's read
// buffer and goes straight into the caller's memory.
const directReadMin = 512

// readRaw reads the raw (possibly compressed) payload of the current
// message into p, moving on to continuation frames as needed. It returns
// io.EOF after the final frame's payload.
func (c *Conn) readRaw(p []byte) (int, error) {
	r := &c.r
	for r.fremain == 0 {
		if r.fh.Fin {
			return 0, io.EOF
		}
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > r.fremain {
		p = p[:r.fremain]
	}
	var n int
	switch {
	case r.rw > r.rr:
		n = copy(p, r.buf[r.rr:r.rw])
		r.rr += n
	case len(p) >= directReadMin:
		var err error
		n, err = c.netRead(p)
		if n == 0 && err != nil {
			return 0, c.readError(err)
		}
		c.markAlive()
	default:
		if err := c.fill(1); err != nil {
			return 0, err
		}
		n = copy(p, r.buf[r.rr:r.rw])
		r.rr += n
	}
	if r.fh.Masked {
		r.maskPos = uint8(frame.Mask(r.fh.Mask, int(r.maskPos), p[:n]))
	}
	r.fremain -= int64(n)
	return n, nil
}

// compressedLimit is how many bytes the frames of a compressed message may
// carry with a read limit of limit: four times the limit and 1 MiB more,
// far beyond what deflate adds to data that does not compress, or what
// flushing every small fragment adds.
func compressedLimit(limit int64) int64 {
	if limit > (1<<62)/4 {
		return 1<<63 - 1
	}
	return 4*limit + 1<<20
}

// takeBuffer gives the reader a read buffer from the pool.
func (r *reader) takeBuffer() {
	r.bufp = readBuffers.Get().(*[]byte)
	r.buf = *r.bufp
}

// dropBuffer gives the read buffer back to the pool if it holds nothing.
func (r *reader) dropBuffer() {
	if r.buf == nil || r.rr != r.rw {
		return
	}
	putReadBuffer(r.bufp)
	r.buf, r.bufp = nil, nil
	r.rr, r.rw = 0, 0
}

// putReadBuffer gives a read buffer back to the pool of its size.
func putReadBuffer(bp *[]byte) {
	switch len(*bp) {
	case busyReadBufferSize:
		busyReadBuffers.Put(bp)
	case frameReadBufferSize:
		frameReadBuffers.Put(bp)
	default:
		readBuffers.Put(bp)
	}
}

// fill makes sure at least n bytes (at most readBufferSize) are buffered.
// The buffer is readBufferSize bytes, or busyReadBufferSize while a busy
// connection's reader stays with it (see waitData).
func (c *Conn) fill(n int) error {
	r := &c.r
	if r.rw-r.rr >= n {
		return nil
	}
	if r.buf == nil {
		r.takeBuffer()
	}
	if r.rr == r.rw {
		r.rr, r.rw = 0, 0
	} else if len(r.buf)-r.rr < n {
		r.rw = copy(r.buf, r.buf[r.rr:r.rw])
		r.rr = 0
	}
	for r.rw-r.rr < n {
		m, err := c.netRead(r.buf[r.rw:])
		r.rw += m
		if m > 0 {
			c.markAlive()
		}
		if err != nil && r.rw-r.rr < n {
			return c.readError(err)
		}
	}
	return nil
}

// markAlive tells the heartbeat that the peer sent something.
func (c *Conn) markAlive() {
	if c.heartbeat != nil {
		c.r.got.Store(true)
	}
}

// readError records a network error as the connection's read error.
func (c *Conn) readError(err error) error {
	r := &c.r
	if r.err != nil {
		return r.err
	}
	switch {
	case c.heartbeat != nil && c.heartbeat.expired.Load():
		err = ErrHeartbeatTimeout
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if ce := c.closeErr.Load(); ce != nil {
			err = ce
		} else {
			err = &CloseError{Code: StatusAbnormalClosure, Reason: "connection closed without a close frame"}
		}
	case c.isStream() && streamResetError(err) != nil:
		// An HTTP/2 stream reset (RST_STREAM) is the abortive close of a
		// WebSocket over HTTP/2 (RFC 8441, section 4).
		if ce := c.closeErr.Load(); ce != nil {
			err = ce
		} else {
			err = streamResetError(err)
		}
	default:
		err = wrapErr("read frame", err)
	}
	r.err = err
	c.closeNet()
	return err
}

// failRead fails the connection with code and makes the failure the
// sticky read error.
//
// While the inline poller reads (readInline), which must not wait, the
// close frame and the linger are left to whoever ends the read loop
// (failDeferred): the error is set at once.
func (c *Conn) failRead(code StatusCode, reason string) error {
	if c.r.err != nil {
		return c.r.err
	}
	if c.readInline {
		c.failLater = true
		c.r.err = &CloseError{Code: code, Reason: reason}
		return c.r.err
	}
	c.r.err = c.fail(code, reason)
	return c.r.err
}

// failDeferred fails the connection as a failRead during an inline read
// would have (see failRead). The caller holds readMu.
func (c *Conn) failDeferred() {
	if !c.failLater {
		return
	}
	c.failLater = false
	var ce *CloseError
	if errors.As(c.r.err, &ce) {
		c.fail(ce.Code, ce.Reason)
	}
}

// nextFrame reads frame headers until one that belongs to a data message,
// handling control frames in between, and makes it the current frame.
func (c *Conn) nextFrame() error {
	r := &c.r
	for {
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.OpCode.IsControl() {
			if err := c.handleControl(h); err != nil {
				return err
			}
			continue
		}
		if r.fragment && h.OpCode != frame.OpContinuation {
			return c.failRead(StatusProtocolError, "new data frame inside a fragmented message")
		}
		if !r.fragment && h.OpCode == frame.OpContinuation {
			return c.failRead(StatusProtocolError, "continuation frame outside a fragmented message")
		}
		// The limit is on the message's size after decompression:
		// readInflated checks what a compressed message inflates to. Its
		// frames (which deflate can make longer than their output, by a
		// few bytes per block or flush) are held to compressedLimit, so
		// that input inflating to nothing cannot go on forever.
		switch {
		case h.OpCode == frame.OpContinuation:
			if h.Rsv1 {
				return c.failRead(StatusProtocolError, "RSV1 set on a continuation frame")
			}
			r.msgSize += h.Length
			if r.inflate != nil {
				if r.msgSize > compressedLimit(c.readLimit.Load()) || r.msgSize < 0 {
					return c.failRead(StatusMessageTooBig, "compressed message is too long for the read limit")
				}
				break
			}
			if r.msgSize > c.readLimit.Load() || r.msgSize < 0 {
				return c.failRead(StatusMessageTooBig, "message is bigger than the read limit")
			}
		case h.Rsv1 && h.Length > compressedLimit(c.readLimit.Load()):
			return c.failRead(StatusMessageTooBig, "compressed message is too long for the read limit")
		case !h.Rsv1 && h.Length > c.readLimit.Load():
			return c.failRead(StatusMessageTooBig, "message is bigger than the read limit")
		}
		r.fh = h
		r.fremain = h.Length
		r.maskPos = 0
		r.fragment = !h.Fin
		return nil
	}
}

// readHeader reads and checks the next frame header.
func (c *Conn) readHeader() (frame.Header, error) {
	r := &c.r
	if err := c.fill(2); err != nil {
		return frame.Header{}, err
	}
	need := 2
	switch r.buf[r.rr+1] & 0x7f {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if r.buf[r.rr+1]&0x80 != 0 {
		need += 4
	}
	if err := c.fill(need); err != nil {
		return frame.Header{}, err
	}
	h, n, err := frame.ParseHeader(r.buf[r.rr:r.rw])
	if err != nil {
		return h, c.failRead(StatusProtocolError, err.Error())
	}
	r.rr += n
	switch {
	case h.Rsv2 || h.Rsv3:
		return h, c.failRead(StatusProtocolError, "reserved bits set")
	case h.Rsv1 && !c.compress.enabled:
		return h, c.failRead(StatusProtocolError, "RSV1 set without a negotiated extension")
	case h.OpCode.IsReserved():
		return h, c.failRead(StatusProtocolError, "reserved opcode")
	case h.Masked == c.client:
		if c.client {
			return h, c.failRead(StatusProtocolError, "masked frame from the server")
		}
		return h, c.failRead(StatusProtocolError, "unmasked frame from the client")
	case h.OpCode.IsControl() && !h.Fin:
		return h, c.failRead(StatusProtocolError, "fragmented control frame")
	case h.OpCode.IsControl() && h.Length > frame.MaxControlPayload:
		return h, c.failRead(StatusProtocolError, "control frame payload longer than 125 bytes")
	case h.OpCode.IsControl() && h.Rsv1:
		return h, c.failRead(StatusProtocolError, "RSV1 set on a control frame")
	}
	return h, nil
}

// handleControl reads a control frame's payload and acts on it.
func (c *Conn) handleControl(h frame.Header) error {
	r := &c.r
	n := int(h.Length)
	if err := c.fill(n); err != nil {
		return err
	}
	// The payload is unmasked where it was read: nothing below reads
	// into the buffer, and what outlives this call is copied (a pong
	// written, a close reason made a string).
	p := r.buf[r.rr : r.rr+n : r.rr+n]
	r.rr += n
	if h.Masked {
		frame.Mask(h.Mask, 0, p)
	}
	switch h.OpCode {
	case frame.OpPing:
		if !c.closeSent.Load() {
			if err := c.writeControl(frame.OpPong, p); err != nil && !errors.Is(err, ErrClosed) {
				return c.readError(err)
			}
		}
	case frame.OpPong:
		if n == 8 {
			c.pongReceived(binary.BigEndian.Uint64(p))
		}
	case frame.OpClose:
		code, reason, err := frame.ParseClose(p)
		switch {
		case errors.Is(err, frame.ErrCloseReasonNotUTF):
			return c.failRead(StatusInvalidFramePayloadData, "close reason is not UTF-8")
		case err != nil:
			return c.failRead(StatusProtocolError, err.Error())
		}
		if r.err == nil {
			r.err = c.onCloseFrame(code, reason)
		}
		return r.err
	}
	return nil
}

// bufferPool holds message buffers for ReadLoop, discards and writes.
var bufferPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// maxPooledBuffer is the largest buffer put back in the pool; bigger ones
// are left to the garbage collector, so one huge message does not pin its
// memory forever.
const maxPooledBuffer = 1 << 20

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(bp *[]byte) {
	if cap(*bp) <= maxPooledBuffer {
		*bp = (*bp)[:0]
		bufferPool.Put(bp)
	}
}
