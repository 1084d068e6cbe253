package websocket

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// groupConn is a TCP connection whose non-blocking writes a WriteGroup
// can make (GroupWriter), as the server package's sockets are: it writes
// through an FDWriter, closes through it, and counts what groups wrote.
type groupConn struct {
	*net.TCPConn
	fdw   FDWriter
	wrote atomic.Int64
}

func newGroupConn(t *testing.T, nc net.Conn) *groupConn {
	t.Helper()
	tc := nc.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	g := &groupConn{TCPConn: tc}
	if !g.fdw.Init(rc) {
		t.Skip("no descriptors for sockets here")
	}
	return g
}

func (c *groupConn) WriteNonblocking(p []byte) (int, error) { return c.fdw.WriteNonblocking(p) }
func (c *groupConn) GroupFD() *FDWriter                     { return &c.fdw }
func (c *groupConn) Wrote(n int)                            { c.wrote.Add(int64(n)) }
func (c *groupConn) Close() error                           { return c.fdw.Close(c.TCPConn.Close) }

// doneRecord is a WriteDone that records what it was told.
type doneRecord struct {
	calls int
	left  bool
	err   error
}

func (d *doneRecord) WriteDone(left bool, err error) { d.calls, d.left, d.err = d.calls+1, left, err }

// groupPair returns a server Conn over a groupConn and the client Conn at
// the other end.
func groupPair(t *testing.T) (c *Conn, gc *groupConn, peer *Conn) {
	t.Helper()
	nc, pc := tcpPair(t)
	gc = newGroupConn(t, nc)
	return newConn(connConfig{nc: gc}), gc, newConn(connConfig{nc: pc, client: true})
}

// groupWrites skips a test where io_uring is missing: groups then write
// at once, which TestFlushGroupWritesAtOnce covers.
func groupWrites(t *testing.T) {
	t.Helper()
	if getRing() == nil {
		t.Skip("no io_uring here: groups write at once")
	}
}

func readText(t *testing.T, c *Conn) string {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := c.ReadMessage(nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(p)
}

// TestWriteGroup leaves the writes of several connections to a group: the
// frames go out when the group flushes, each connection's later write
// waits for it and follows it, and each WriteDone is told once.
func TestWriteGroup(t *testing.T) {
	groupWrites(t)
	const n = 5
	var g WriteGroup
	conns := make([]*Conn, n)
	gcs := make([]*groupConn, n)
	peers := make([]*Conn, n)
	dones := make([]doneRecord, n)
	for i := range n {
		conns[i], gcs[i], peers[i] = groupPair(t)
	}
	for round := range 3 {
		for i, c := range conns {
			b := c.TryBatch()
			if b == nil {
				t.Fatalf("round %d: TryBatch on conn %d refused", round, i)
			}
			if err := b.WriteMessage(MessageText, []byte{byte('a' + i), byte('0' + round)}); err != nil {
				t.Fatal(err)
			}
			b.FlushGroup(&g, &dones[i])
		}
		if g.Len() != n {
			t.Fatalf("round %d: the group holds %d writes, want %d", round, g.Len(), n)
		}
		// A write of conn 0 from another goroutine waits for the group.
		later := make(chan error, 1)
		go func() { later <- conns[0].WriteMessage(MessageText, []byte("later")) }()
		select {
		case err := <-later:
			t.Fatalf("round %d: a write went out while the group held the connection (%v)", round, err)
		case <-time.After(20 * time.Millisecond):
		}
		for i := range dones {
			if dones[i].calls != round {
				t.Fatalf("round %d: conn %d told %d times before the flush", round, i, dones[i].calls)
			}
		}
		g.Flush()
		if g.Len() != 0 {
			t.Fatalf("the group holds %d writes after Flush", g.Len())
		}
		for i := range n {
			if d := dones[i]; d.calls != round+1 || d.left || d.err != nil {
				t.Fatalf("round %d: conn %d: WriteDone %+v, want once with nothing left and no error", round, i, d)
			}
			if got, want := readText(t, peers[i]), string([]byte{byte('a' + i), byte('0' + round)}); got != want {
				t.Fatalf("round %d: conn %d's peer read %q, want %q", round, i, got, want)
			}
		}
		if err := <-later; err != nil {
			t.Fatal(err)
		}
		if got := readText(t, peers[0]); got != "later" {
			t.Fatalf("conn 0's peer read %q after the group's frame, want \"later\"", got)
		}
	}
	for i, gc := range gcs {
		// 3 frames of 2 bytes, a 2-byte header each (server frames are
		// not masked).
		if got := gc.wrote.Load(); got != 3*4 {
			t.Errorf("conn %d: Wrote counted %d bytes, want 12", i, got)
		}
	}
}

// TestWriteGroupLeavesTheRest fills a socket whose peer does not read: what
// the group's write did not send is kept, reported as left, and goes out,
// in order, with FlushPending.
func TestWriteGroupLeavesTheRest(t *testing.T) {
	groupWrites(t)
	c, gc, peer := groupPair(t)
	if err := gc.SetWriteBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	var g WriteGroup
	var d doneRecord
	msgs := [][]byte{}
	for i := 0; d.calls == 0 || !d.left; i++ {
		if i == 1000 {
			t.Fatal("the socket never filled")
		}
		msg := bytes.Repeat([]byte{byte(i)}, 4000)
		msgs = append(msgs, msg)
		d = doneRecord{}
		b := c.TryBatch()
		if b == nil {
			t.Fatal("TryBatch refused")
		}
		b.WriteMessage(MessageBinary, msg)
		b.FlushGroup(&g, &d)
		if d.calls == 0 {
			g.Flush()
		}
		if d.calls != 1 || d.err != nil {
			t.Fatalf("write %d: WriteDone %+v", i, d)
		}
	}
	flushed := make(chan error, 1)
	go func() { flushed <- c.FlushPending() }()
	for i, want := range msgs {
		peer.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := peer.ReadMessage(nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %d bytes starting %d, want %d bytes of %d", i, len(got), got[0], len(want), want[0])
		}
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
}

// TestWriteGroupFailedWrite reports a write to a reset connection as the
// write's error, closes that connection, and completes the others.
func TestWriteGroupFailedWrite(t *testing.T) {
	groupWrites(t)
	bad, _, badPeer := groupPair(t)
	good, _, goodPeer := groupPair(t)
	badPeer.nc.(*net.TCPConn).SetLinger(0)
	badPeer.nc.Close()
	time.Sleep(20 * time.Millisecond) // the reset arrives
	var g WriteGroup
	var dBad, dGood doneRecord
	for _, x := range []struct {
		c *Conn
		d *doneRecord
	}{{bad, &dBad}, {good, &dGood}} {
		b := x.c.TryBatch()
		b.WriteMessage(MessageText, []byte("hi"))
		b.FlushGroup(&g, x.d)
	}
	if g.Len() != 2 {
		t.Fatalf("the group holds %d writes, want 2", g.Len())
	}
	g.Flush()
	if dBad.calls != 1 || dBad.err == nil {
		t.Fatalf("reset connection: WriteDone %+v, want an error", dBad)
	}
	if dGood.calls != 1 || dGood.err != nil || dGood.left {
		t.Fatalf("good connection: WriteDone %+v", dGood)
	}
	if got := readText(t, goodPeer); got != "hi" {
		t.Fatalf("good peer read %q", got)
	}
	if err := bad.WriteMessage(MessageText, []byte("x")); err == nil {
		t.Fatal("a write after the failed one succeeded: the connection was not closed")
	}
}

// TestWriteGroupHoldsClose closes a connection's socket while a group holds
// its write: the close waits for the group, so the write never goes to a
// closed (and maybe reused) descriptor, and completes.
func TestWriteGroupHoldsClose(t *testing.T) {
	groupWrites(t)
	c, gc, peer := groupPair(t)
	var g WriteGroup
	var d doneRecord
	b := c.TryBatch()
	b.WriteMessage(MessageText, []byte("first"))
	b.FlushGroup(&g, &d)
	var closed atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- gc.fdw.Close(func() error {
			closed.Store(true)
			return gc.TCPConn.Close()
		})
	}()
	time.Sleep(20 * time.Millisecond)
	if closed.Load() {
		t.Fatal("the socket closed while a group held a write to it")
	}
	g.Flush()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d.calls != 1 || d.err != nil {
		t.Fatalf("WriteDone %+v", d)
	}
	if got := readText(t, peer); got != "first" {
		t.Fatalf("peer read %q", got)
	}
}

// TestFlushGroupWritesAtOnce checks the cases where FlushGroup writes as
// FlushNow and tells done before it returns: no group, a connection that
// is no GroupWriter, a full group, and a write error already in the batch.
func TestFlushGroupWritesAtOnce(t *testing.T) {
	nc, pc := tcpPair(t)
	plain := newConn(connConfig{nc: nc})
	plainPeer := newConn(connConfig{nc: pc, client: true})
	var g WriteGroup
	var d doneRecord
	b := plain.TryBatch()
	b.WriteMessage(MessageText, []byte("plain"))
	b.FlushGroup(&g, &d)
	if d.calls != 1 || d.err != nil || g.Len() != 0 {
		t.Fatalf("a plain TCP Conn: WriteDone %+v, group holds %d", d, g.Len())
	}
	if got := readText(t, plainPeer); got != "plain" {
		t.Fatalf("peer read %q", got)
	}
	c, _, peer := groupPair(t)
	d = doneRecord{}
	b = c.TryBatch()
	b.WriteMessage(MessageText, []byte("nil group"))
	b.FlushGroup(nil, &d)
	if d.calls != 1 || d.err != nil {
		t.Fatalf("no group: WriteDone %+v", d)
	}
	if got := readText(t, peer); got != "nil group" {
		t.Fatalf("peer read %q", got)
	}
	if getRing() == nil {
		return
	}
	// A full group: fill it with other connections' writes.
	ds := make([]doneRecord, GroupSize)
	for i := range GroupSize {
		oc, _, _ := groupPair(t)
		b := oc.TryBatch()
		b.WriteMessage(MessageText, []byte("x"))
		b.FlushGroup(&g, &ds[i])
	}
	if !g.Full() {
		t.Fatalf("the group holds %d writes, not full", g.Len())
	}
	d = doneRecord{}
	b = c.TryBatch()
	b.WriteMessage(MessageText, []byte("full group"))
	b.FlushGroup(&g, &d)
	if d.calls != 1 || d.err != nil || g.Len() != GroupSize {
		t.Fatalf("full group: WriteDone %+v, group holds %d", d, g.Len())
	}
	if got := readText(t, peer); got != "full group" {
		t.Fatalf("peer read %q", got)
	}
	g.Flush()
	for i := range ds {
		if ds[i].calls != 1 || ds[i].err != nil {
			t.Fatalf("write %d of the full group: WriteDone %+v", i, ds[i])
		}
	}
}

// TestWriteGroupAllocs checks that a group's writes allocate nothing once
// its ring is made.
func TestWriteGroupAllocs(t *testing.T) {
	groupWrites(t)
	const n = 4
	var g WriteGroup
	conns := make([]*Conn, n)
	peers := make([]*Conn, n)
	for i := range n {
		conns[i], _, peers[i] = groupPair(t)
	}
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				if _, err := p.nc.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		for _, p := range peers {
			p.nc.Close()
		}
		wg.Wait()
	}()
	var d doneRecord
	msg := []byte("tick")
	round := func() {
		for _, c := range conns {
			b := c.TryBatch()
			b.WriteMessage(MessageText, msg)
			b.FlushGroup(&g, &d)
		}
		g.Flush()
	}
	round()
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Fatalf("%v allocations per round of %d writes, want 0", allocs, n)
	}
	if d.err != nil {
		t.Fatal(d.err)
	}
}

// TestWriteGroupWithoutRing checks the fallbacks around the ring: where
// io_uring is refused a write goes out at once without asking rings' lock
// for one, and a ring taken for a write that then could not join (another
// write held the connection) goes back when the empty group flushes.
func TestWriteGroupWithoutRing(t *testing.T) {
	groupWrites(t)
	c, _, peer := groupPair(t)
	var g WriteGroup
	var d doneRecord

	ringsRefused.Store(true)
	b := c.TryBatch()
	b.WriteMessage(MessageText, []byte("refused"))
	b.FlushGroup(&g, &d)
	ringsRefused.Store(false)
	if d.calls != 1 || d.err != nil || g.Len() != 0 || g.ring != nil {
		t.Fatalf("io_uring refused: WriteDone %+v, group holds %d writes, ring %v", d, g.Len(), g.ring != nil)
	}
	if got := readText(t, peer); got != "refused" {
		t.Fatalf("peer read %q", got)
	}

	c.wmu.Lock() // a control frame being written
	d = doneRecord{}
	b = c.TryBatch()
	b.WriteMessage(MessageText, []byte("kept"))
	b.FlushGroup(&g, &d)
	if d.calls != 1 || d.err != nil || !d.left || g.Len() != 0 {
		t.Fatalf("write lock held: WriteDone %+v, group holds %d writes", d, g.Len())
	}
	if g.ring == nil {
		t.Fatal("the group took no ring before it looked at the connection")
	}
	g.Flush()
	if g.ring != nil {
		t.Fatal("an empty group kept its ring after Flush")
	}
	c.wmu.Unlock()
	if err := c.FlushPending(); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, peer); got != "kept" {
		t.Fatalf("peer read %q", got)
	}
}
