package websocket

import (
	"net"
	"testing"
	"unsafe"
)

// TestConnSize keeps an idle connection's struct in the 704-byte size
// class of the Go allocator (it was 896 with a control-frame buffer of its
// own and padding after each bool): a server holds one per client.
func TestConnSize(t *testing.T) {
	if size := unsafe.Sizeof(Conn{}); size > 704 {
		t.Errorf("Conn is %d bytes, more than the 704-byte size class", size)
	}
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
