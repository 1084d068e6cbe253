package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/websocket/frame"
)

// ErrHeartbeatTimeout is the read error of a connection closed because the
// peer sent nothing, not even a pong, within PingTimeout of a ping, and
// what the error of a write that this broke wraps.
var ErrHeartbeatTimeout = errors.New("websocket: peer did not answer ping in time")

// heartbeat pings a quiet peer and closes the connection when it stays
// quiet. It runs on a timer: no goroutine while it waits.
type heartbeat struct {
	mu       sync.Mutex
	t        *time.Timer
	interval time.Duration
	timeout  time.Duration
	waiting  bool // a ping is out and unanswered
	stopped  bool
	expired  atomic.Bool
}

// startHeartbeat starts pinging after interval without traffic from the
// peer; a peer silent for timeout after a ping is disconnected.
func (c *Conn) startHeartbeat(interval, timeout time.Duration) {
	if timeout <= 0 {
		timeout = interval
	}
	hb := &heartbeat{interval: interval, timeout: timeout}
	c.heartbeat = hb
	// The first tick may come before AfterFunc returns: it waits for hb.t
	// behind hb.mu.
	hb.mu.Lock()
	hb.t = time.AfterFunc(interval, func() { c.heartbeatTick() })
	hb.mu.Unlock()
}

func (c *Conn) heartbeatTick() {
	hb := c.heartbeat
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.stopped {
		return
	}
	if c.r.got.Swap(false) {
		hb.waiting = false
		hb.t.Reset(hb.interval)
		return
	}
	if hb.waiting {
		hb.expired.Store(true)
		hb.stopped = true
		go c.closeNet() // closeNet stops the heartbeat, which takes hb.mu
		return
	}
	hb.waiting = true
	hb.t.Reset(hb.timeout)
	go func() {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if !c.closeSent.Load() {
			c.nc.SetWriteDeadline(time.Now().Add(hb.timeout))
			c.writeFrameLocked(frame.OpPing, true, false, nil)
			c.nc.SetWriteDeadline(time.Time{})
		}
	}()
}

func (hb *heartbeat) stop() {
	hb.mu.Lock()
	hb.stopped = true
	hb.t.Stop()
	hb.mu.Unlock()
}

// Ping sends a ping and waits for its pong. Pongs are only seen while a
// goroutine is reading from the connection.
func (c *Conn) Ping(ctx context.Context) error {
	c.mu.Lock()
	if c.pings == nil {
		c.pings = &pings{wait: make(map[uint64]chan struct{})}
	}
	c.pings.seq++
	seq := c.pings.seq
	ch := make(chan struct{})
	c.pings.wait[seq] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pings.wait, seq)
		c.mu.Unlock()
	}()
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], seq)
	if err := c.writeControl(frame.OpPing, p[:]); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.closedChan():
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("websocket: no pong: %w", ctx.Err())
	}
}

// pongReceived wakes the Ping waiting for seq.
func (c *Conn) pongReceived(seq uint64) {
	c.mu.Lock()
	if c.pings != nil {
		if ch, ok := c.pings.wait[seq]; ok {
			close(ch)
			delete(c.pings.wait, seq)
		}
	}
	c.mu.Unlock()
}

// pings are the Pings of a connection waiting for their pongs, by the
// sequence number each sent. A connection that was never pinged with
// [Conn.Ping] (a server's, whose heartbeat is Engine.IO's) has none.
type pings struct {
	seq  uint64
	wait map[uint64]chan struct{}
}
