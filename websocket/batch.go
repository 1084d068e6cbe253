package websocket

import (
	"errors"
	"slices"

	"github.com/tether-rt/tether/websocket/frame"
)

var errBatchEnded = errors.New("websocket: batch already flushed")

// batchLimit is how many bytes of frames a [Batch] gathers before it
// writes them out; a frame larger than that is written on its own.
const batchLimit = 64 << 10

// Batch gathers data messages and writes them to the network together:
// one write call for many small messages, where [Conn.WriteMessage] makes
// one per message. A server that drains a queue of messages for a client
// (a broadcast, a burst of events) saves a system call, and a wake-up of
// the peer, per message.
//
// Get a connection's batch with [Conn.Batch], add messages with
// [Batch.WriteMessage] and [Batch.WritePrepared], and end it with
// [Batch.Flush], which writes what is left. Until Flush, other writers of
// the connection wait (control frames such as pongs do not). Messages are
// written in order; each goes out whole; a batch with more than 64 KiB of
// frames is written in several calls. A Batch must not be used after
// Flush, nor from two goroutines at once.
type Batch struct {
	c     *Conn
	on    bool
	limit int32   // batchLimit when 0; the inline poller's batches take more (inlineBatchLimit)
	buf   *[]byte // frames not written yet, from the buffer pool
	err   error   // sticky: the connection broke or closed
}

// Batch starts a batch of messages on c. It waits for writes in progress
// to end, and holds back other writes until [Batch.Flush].
func (c *Conn) Batch() *Batch {
	c.msgMu.Lock()
	b := &c.batch
	*b = Batch{c: c, on: true}
	return b
}

// Conn returns the connection the batch writes to.
func (b *Batch) Conn() *Conn { return b.c }

// WriteMessage adds p to the batch as one message of type typ. It
// returns the error that ended the batch, if any: the connection broke
// or its close handshake began. The batch does not keep p.
func (b *Batch) WriteMessage(typ MessageType, p []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	if typ != MessageText && typ != MessageBinary {
		return errMessageType(typ)
	}
	if err := b.c.writeMessageLocked(typ, p); err != nil && b.err == nil {
		b.err = err
	}
	return b.err
}

// WritePrepared adds a prepared message to the batch.
func (b *Batch) WritePrepared(pm *PreparedMessage) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := b.c.writePreparedLocked(pm); err != nil && b.err == nil {
		b.err = err
	}
	return b.err
}

// Flush writes the messages gathered and ends the batch. It returns the
// first error of the batch: messages after a failed one were not written.
func (b *Batch) Flush() error {
	if !b.on {
		return errBatchEnded
	}
	c := b.c
	err := b.err
	if err == nil {
		err = b.writeOut()
	}
	if b.buf != nil {
		putBuffer(b.buf)
	}
	*b = Batch{}
	c.msgMu.Unlock()
	return err
}

// max returns how many bytes of frames the batch gathers before it
// writes them out.
func (b *Batch) max() int {
	if b.limit > 0 {
		return int(b.limit)
	}
	return batchLimit
}

func (b *Batch) check() error {
	if !b.on {
		return errBatchEnded
	}
	return b.err
}

// addFrame frames p at the end of the batch, writing out what the batch
// holds first when it would grow past its limit (batchLimit). A frame
// that alone is larger than that goes out at once, after what the batch
// holds.
func (b *Batch) addFrame(op frame.OpCode, fin, rsv1 bool, p []byte) error {
	c := b.c
	h := frame.Header{Fin: fin, Rsv1: rsv1, OpCode: op, Length: int64(len(p)), Masked: c.client}
	need := frame.HeaderSize(h) + len(p)
	if need > b.max() {
		if err := b.writeOut(); err != nil {
			return err
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if c.closeSent.Load() {
			return ErrClosed
		}
		return c.writeFrameLocked(op, fin, rsv1, p)
	}
	buf, err := b.room(need)
	if err != nil {
		return err
	}
	if c.client {
		h.Mask = newMaskKey()
	}
	buf = frame.AppendHeader(buf, h)
	if c.client {
		n := len(buf)
		buf = slices.Grow(buf, len(p))[:n+len(p)]
		frame.MaskCopy(h.Mask, 0, buf[n:], p)
	} else {
		buf = append(buf, p...)
	}
	*b.buf = buf
	return nil
}

// addRaw adds a frame already framed (a server's prepared message).
func (b *Batch) addRaw(f []byte) error {
	if len(f) > b.max() {
		if err := b.writeOut(); err != nil {
			return err
		}
		c := b.c
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if c.closeSent.Load() {
			return ErrClosed
		}
		return c.netWrite(f)
	}
	buf, err := b.room(len(f))
	if err != nil {
		return err
	}
	*b.buf = append(buf, f...)
	return nil
}

// room returns the batch's buffer with room for n more bytes within
// its limit (batchLimit), writing out what it holds first if need be.
func (b *Batch) room(n int) ([]byte, error) {
	if b.buf == nil {
		b.buf = getBuffer()
	}
	if len(*b.buf)+n > b.max() {
		if err := b.writeOut(); err != nil {
			return nil, err
		}
	}
	return *b.buf, nil
}

// writeOut writes the frames the batch holds.
func (b *Batch) writeOut() error {
	if b.buf == nil || len(*b.buf) == 0 {
		return nil
	}
	c := b.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return ErrClosed
	}
	err := c.netWrite(*b.buf)
	*b.buf = (*b.buf)[:0]
	return err
}
