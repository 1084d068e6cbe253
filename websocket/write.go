package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/tether-rt/tether/websocket/frame"
)

// writer is the write half's state, guarded by msgMu.
type writer struct {
	// With context takeover: the end of what was sent compressed, the
	// stamp of the last compressed message, and the compressor kept while
	// the connection is busy (see Conn.getDeflater).
	hist      []byte
	stamp     uint64
	held      *deflater
	heldUsed  bool // a message used held since heldTimer last fired
	heldTimer *time.Timer
	mw        messageWriter
}

// writeChunk is how much of a payload is framed per write when the frame
// must be copied (client masking) or is streamed by a Writer.
const writeChunk = 16 << 10

// WriteMessage writes p as one message of type typ. Writes from many
// goroutines are safe; each message goes out whole. Without compression
// (or below the compression threshold) it allocates nothing.
func (c *Conn) WriteMessage(typ MessageType, p []byte) error {
	if typ != MessageText && typ != MessageBinary {
		return errMessageType(typ)
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	return c.writeMessageLocked(typ, p)
}

func errMessageType(typ MessageType) error {
	return fmt.Errorf("websocket: cannot write message of type %d", typ)
}

// newMaskKey returns a fresh masking key for a client's frame.
func newMaskKey() [4]byte {
	k := rand.Uint32()
	return [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
}

// writeMessageLocked writes p as one message. The caller holds msgMu.
func (c *Conn) writeMessageLocked(typ MessageType, p []byte) error {
	if c.closeSent.Load() {
		return ErrClosed
	}
	if c.compressOn.Load() && len(p) >= int(c.compressMin) {
		return c.writeCompressed(typ, p)
	}
	return c.writeFrame(frame.OpCode(typ), true, false, p)
}

// Write writes p as one message of type typ. If ctx ends before the message
// has been written, the connection is closed and Write returns ctx's error.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	stop := c.watchWrite(ctx)
	return stop(c.WriteMessage(typ, p))
}

// watchWrite arranges for ctx's cancellation to break a write in progress.
func (c *Conn) watchWrite(ctx context.Context) func(error) error {
	if ctx == nil || ctx.Done() == nil {
		return func(err error) error { return err }
	}
	if err := ctx.Err(); err != nil {
		return func(error) error { return err }
	}
	stopped := context.AfterFunc(ctx, func() { c.closeNet() })
	return func(err error) error {
		if !stopped() {
			return fmt.Errorf("websocket: write abandoned: %w", ctx.Err())
		}
		return err
	}
}

// writeCompressed compresses p, with the fixed codes when it is short
// enough (see useFixedCodes), and writes it as one frame.
func (c *Conn) writeCompressed(typ MessageType, p []byte) error {
	bp := getBuffer()
	var payload []byte
	var err error
	if c.compress.useFixedCodes(len(p)) {
		payload = compressFixed((*bp)[:0], p, int(c.compress.writeWindowBits))
	} else {
		d := c.getDeflater()
		payload, err = compressMessage(d, (*bp)[:0], p)
		c.putDeflater(d)
		c.addHistory(p)
	}
	if err == nil {
		err = c.writeFrame(frame.OpCode(typ), true, true, payload)
		*bp = payload[:0]
	}
	putBuffer(bp)
	return err
}

// writeFrame writes one data frame under wmu, or adds it to the batch
// under way. The caller holds msgMu. Checked under wmu, a close frame that
// went out since the caller looked stops the data frame.
func (c *Conn) writeFrame(op frame.OpCode, fin, rsv1 bool, p []byte) error {
	if c.batch.on {
		return c.batch.addFrame(op, fin, rsv1, p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return ErrClosed
	}
	return c.writeFrameLocked(op, fin, rsv1, p)
}

// writeControl writes a control frame, unless the close handshake has
// begun.
func (c *Conn) writeControl(op frame.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return ErrClosed
	}
	return c.writeFrameLocked(op, true, false, p)
}

// writeFrameLocked frames p and writes it. The caller holds wmu.
//
// Small frames are copied with their header into a pooled buffer and
// written with one call. A server writes a large payload straight from the
// caller's memory after its header; a client masks a copy in a pooled
// buffer grown to the whole frame (chunk by chunk beyond 1 MiB), never
// touching the caller's bytes.
func (c *Conn) writeFrameLocked(op frame.OpCode, fin, rsv1 bool, p []byte) error {
	h := frame.Header{Fin: fin, Rsv1: rsv1, OpCode: op, Length: int64(len(p)), Masked: c.client}
	if c.client {
		h.Mask = newMaskKey()
	}
	bp := getBuffer()
	defer putBuffer(bp)
	if need := frame.HeaderSize(h) + len(p); c.client && need > cap(*bp) && need <= maxPooledBuffer {
		// A client masks a copy: make it the whole frame, written with one
		// call, rather than chunks that each cost a write and wake the
		// peer. The bigger buffer goes back to the pool.
		*bp = slices.Grow((*bp)[:0], need)
	}
	b := (*bp)[:cap(*bp)]
	n := frame.PutHeader(b, h)
	if !c.client {
		// Copying a small payload after its header costs less than a
		// writev; a large one is written from where it is, even when the
		// pooled buffer (grown by a large read) could take it.
		if len(p) <= len(b)-n && len(p) <= maxCopiedPayload {
			n += copy(b[n:], p)
			return c.netWrite(b[:n])
		}
		return c.netWrite2(b[:n], p)
	}
	pos := 0
	for {
		m := min(len(b)-n, len(p))
		pos = frame.MaskCopy(h.Mask, pos, b[n:], p[:m])
		if err := c.netWrite(b[:n+m]); err != nil {
			return err
		}
		p = p[m:]
		if len(p) == 0 {
			return nil
		}
		n = 0
	}
}

// maxCopiedPayload is the largest payload a server copies into its write
// buffer behind the header; larger ones go out with writev.
const maxCopiedPayload = 16 << 10

// netWrite writes b to the network, after what is pending (see
// Batch.FlushNow). The caller holds wmu. A failed write breaks the
// connection.
func (c *Conn) netWrite(b []byte) error {
	if err := c.flushPendingLocked(); err != nil {
		return err
	}
	if _, err := c.writeSocket(b); err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// writeFailed closes the connection after a failed write and returns the
// write's error, wrapped: [ErrHeartbeatTimeout] when the heartbeat closed
// the connection under the write (a peer that stopped reading).
func (c *Conn) writeFailed(err error) error {
	c.closeNet()
	if c.heartbeat != nil && c.heartbeat.expired.Load() {
		err = ErrHeartbeatTimeout
	}
	return wrapErr("write frame", err)
}

// iovec holds the header and payload of a large frame while netWrite2
// writes them with one call: from a pool rather than in every Conn, since
// few connections write large frames at any one time.
type iovec struct {
	arr  [2][]byte
	bufs net.Buffers
}

var iovecs = sync.Pool{New: func() any { return new(iovec) }}

// netWrite2 writes a then b to the network, with one system call where
// the connection can (writev on TCP). The caller holds wmu.
func (c *Conn) netWrite2(a, b []byte) error {
	if err := c.flushPendingLocked(); err != nil {
		return err
	}
	if s, ok := c.nc.(interface{ write2(a, b []byte) error }); ok {
		// An HTTP/2 stream: both parts, then one flush.
		if err := s.write2(a, b); err != nil {
			return c.writeFailed(err)
		}
		return nil
	}
	v := iovecs.Get().(*iovec)
	v.arr = [2][]byte{a, b}
	v.bufs = v.arr[:]
	_, err := v.bufs.WriteTo(c.nc) // pooled, so that nothing escapes
	*v = iovec{}                   // don't keep the caller's memory
	iovecs.Put(v)
	if err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// Writer returns a writer for a message of type typ, sent as fragments of
// up to 16 KiB as it is written; Close sends the final fragment. Other
// writes wait until Close. If ctx ends before Close, the connection is
// closed.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, errMessageType(typ)
	}
	stop := c.watchWrite(ctx)
	c.msgMu.Lock()
	if c.closeSent.Load() {
		c.msgMu.Unlock()
		return nil, stop(ErrClosed)
	}
	mw := &c.w.mw
	*mw = messageWriter{c: c, op: frame.OpCode(typ), stop: stop, buf: getBuffer()}
	if c.compressOn.Load() {
		mw.d = c.getDeflater()
		mw.d.out = (*mw.buf)[:0]
	}
	return mw, nil
}

// messageWriter is the io.WriteCloser [Conn.Writer] returns.
type messageWriter struct {
	c      *Conn
	d      *deflater // nil when not compressing
	buf    *[]byte
	stop   func(error) error
	err    error
	op     frame.OpCode // opcode of the next fragment
	closed bool
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("websocket: write to closed message writer")
	}
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	if w.d != nil {
		if _, err := w.d.fw.Write(p); err != nil {
			w.err = err
			return 0, err
		}
		w.c.addHistory(p)
		for len(w.d.out) >= writeChunk {
			if w.err = w.flushFragment(w.d.out[:writeChunk], false); w.err != nil {
				return 0, w.err
			}
			w.d.out = w.d.out[:copy(w.d.out, w.d.out[writeChunk:])]
		}
		return n, nil
	}
	b := *w.buf
	for len(p) > 0 {
		m := min(len(p), writeChunk-len(b))
		b = append(b, p[:m]...)
		p = p[m:]
		if len(b) == writeChunk && len(p) > 0 {
			if w.err = w.flushFragment(b, false); w.err != nil {
				return 0, w.err
			}
			b = b[:0]
		}
	}
	*w.buf = b
	return n, nil
}

// flushFragment writes p as the next fragment.
func (w *messageWriter) flushFragment(p []byte, fin bool) error {
	rsv1 := w.d != nil && w.op != frame.OpContinuation
	err := w.c.writeFrame(w.op, fin, rsv1, p)
	w.op = frame.OpContinuation
	return err
}

// Close sends the final fragment and lets other writes proceed.
func (w *messageWriter) Close() error {
	if w.closed {
		return errors.New("websocket: message writer closed twice")
	}
	w.closed = true
	c := w.c
	defer c.msgMu.Unlock()
	err := w.err
	if err == nil && w.d != nil {
		if err = w.d.fw.Flush(); err == nil {
			out := w.d.out
			err = w.flushFragment(out[:len(out)-len(deflateTail)], true)
			*w.buf = out[:0]
		}
	} else if err == nil {
		err = w.flushFragment(*w.buf, true)
	}
	if w.d != nil {
		c.putDeflater(w.d)
	}
	putBuffer(w.buf)
	return w.stop(err)
}

// PreparedMessage is a message framed, and compressed, once and written to
// many connections with [Conn.WritePrepared]: the way to broadcast.
//
// A server connection writes the prepared frame as it is. A connection that
// compresses without context takeover writes a compressed frame made once.
// Connections with context takeover must compress each message with their
// own compressor (the peer's window depends on what that connection sent
// before), and clients must mask each frame with a fresh key; both still
// reuse what they can.
type PreparedMessage struct {
	typ   MessageType
	data  []byte
	plain []byte // a server's unmasked frame

	deflateOnce sync.Once
	deflated    []byte // payload compressed on its own, window 15, level 1
	defFrame    []byte // a server's frame of deflated
}

// NewPreparedMessage prepares data to be sent as a message of type typ.
// The message keeps data; don't change it afterwards.
func NewPreparedMessage(typ MessageType, data []byte) *PreparedMessage {
	h := frame.Header{Fin: true, OpCode: frame.OpCode(typ), Length: int64(len(data))}
	pm := &PreparedMessage{typ: typ, data: data}
	pm.plain = append(frame.AppendHeader(make([]byte, 0, frame.HeaderSize(h)+len(data)), h), data...)
	return pm
}

// compressed returns the message compressed without context, and a
// server's frame of it, making them on first use.
func (pm *PreparedMessage) compressed() (payload, serverFrame []byte) {
	pm.deflateOnce.Do(func() {
		cp := compressParams{level: 1, writeWindowBits: 15, writeNoTakeover: true}
		var p []byte
		if cp.useFixedCodes(len(pm.data)) {
			p = compressFixed(nil, pm.data, int(cp.writeWindowBits))
		} else {
			var err error
			if p, err = compressMessage(newDeflater(cp), nil, pm.data); err != nil {
				return // cannot happen writing to memory; callers fall back
			}
		}
		h := frame.Header{Fin: true, Rsv1: true, OpCode: frame.OpCode(pm.typ), Length: int64(len(p))}
		pm.deflated = p
		pm.defFrame = append(frame.AppendHeader(make([]byte, 0, frame.HeaderSize(h)+len(p)), h), p...)
	})
	return pm.deflated, pm.defFrame
}

// WritePrepared writes a prepared message. It is safe to call from many
// goroutines, on many connections, with the same message.
func (c *Conn) WritePrepared(pm *PreparedMessage) error {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	return c.writePreparedLocked(pm)
}

// writePreparedLocked writes a prepared message. The caller holds msgMu.
func (c *Conn) writePreparedLocked(pm *PreparedMessage) error {
	if c.closeSent.Load() {
		return ErrClosed
	}
	op := frame.OpCode(pm.typ)
	if c.compressOn.Load() && len(pm.data) >= int(c.compressMin) {
		if !c.compress.writeNoTakeover || c.compress.writeWindowBits < 15 {
			return c.writeCompressed(pm.typ, pm.data)
		}
		if payload, serverFrame := pm.compressed(); serverFrame != nil {
			if c.client {
				return c.writeFrame(op, true, true, payload)
			}
			return c.writeRaw(serverFrame)
		}
	}
	if c.client {
		return c.writeFrame(op, true, false, pm.data)
	}
	return c.writeRaw(pm.plain)
}

// writeRaw writes a data frame that is already framed, or adds it to the
// batch under way. The caller holds msgMu.
func (c *Conn) writeRaw(b []byte) error {
	if c.batch.on {
		return c.batch.addRaw(b)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return ErrClosed
	}
	return c.netWrite(b)
}
