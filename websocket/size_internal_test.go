package websocket

import (
	"net"
	"runtime"
	"testing"
	"unsafe"
)

// TestConnSize keeps an idle connection's struct at 512 bytes, the largest
// size class whose objects carry no header (it was 896 with a control-frame
// buffer of its own and padding after each bool, 704 with the vector of a
// large frame's write and the state of decompression in it, 576 before
// this); a server holds one per client. An object over 512 bytes that holds pointers
// starts with an 8-byte header of its type (Go 1.22's allocation headers),
// so a Conn of 568 bytes took the 576-byte class. The compression
// parameters are bytes, the reader's opcode and mask position and the
// message writer's flags share padding, and a flag sits in the padding of
// the close Once.
func TestConnSize(t *testing.T) {
	if size := unsafe.Sizeof(Conn{}); size > 512 {
		t.Errorf("Conn is %d bytes, more than the 512-byte size class (and over it, 8 more of header)", size)
	}
}

// TestConnAllocSize checks what the allocator takes for a Conn, header
// and size class included: 512 bytes, where TestConnSize's arithmetic
// counts only the struct. TotalAlloc counts every goroutine's allocations
// (an earlier test's timers and pooled workers may still run), so the
// smallest of a few rounds is the one that measures the Conns alone; others
// only ever add to it.
func TestConnAllocSize(t *testing.T) {
	const n, rounds = 1000, 5
	conns := make([]*Conn, n)
	least := ^uint64(0)
	for range rounds {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range conns {
			conns[i] = new(Conn)
		}
		runtime.ReadMemStats(&after)
		least = min(least, (after.TotalAlloc-before.TotalAlloc)/n)
	}
	if least > 512 {
		t.Errorf("a Conn takes %d bytes of heap, more than the 512-byte size class", least)
	}
	runtime.KeepAlive(conns)
}

// TestIdleConnHoldsNoChannel checks that a connection makes its channels
// only for someone who waits on them, and that they still report the close
// whether made before or after it.
func TestIdleConnHoldsNoChannel(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newConn(connConfig{nc: a})
	if c.closedCh != nil || c.rcvdCh != nil {
		t.Fatal("a new connection made its channels")
	}
	early := c.Done()
	select {
	case <-early:
		t.Fatal("Done is closed before the connection is")
	default:
	}
	if c.rcvdCh != nil {
		t.Error("Done made the close-frame channel")
	}
	c.CloseNow()
	<-early
	<-c.Done()
	if c.rcvdCh != nil {
		t.Error("closing made the close-frame channel")
	}
	c.fire(&c.rcvdCh, &c.closeRcvd)
	<-c.rcvdChan()
}

// TestLargeWriteAllocs checks that a large frame, written as header and
// payload with one call through a pooled vector (no longer a field of
// every Conn), allocates nothing, and that the vector keeps nothing of the
// caller's memory once the write is over.
func TestLargeWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	c := newConn(connConfig{nc: &loopConn{data: []byte{0}}})
	p := make([]byte, 64<<10)
	allocs := testing.AllocsPerRun(100, func() {
		if err := c.WriteMessage(MessageBinary, p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteMessage of 64 KiB: %v allocations, want 0", allocs)
	}
	v := iovecs.Get().(*iovec)
	if v.arr[0] != nil || v.arr[1] != nil || v.bufs != nil {
		t.Error("the pooled vector keeps the last write's buffers")
	}
}
