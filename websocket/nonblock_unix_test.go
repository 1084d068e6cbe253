//go:build unix

package websocket

import (
	"errors"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestRawCallsOnSocket checks rawWrite and rawRead (send and recv on
// Linux) on a TCP socket: the bytes arrive, an empty socket says EAGAIN,
// the end of the stream reads 0, and a write to a reset connection fails
// with an error instead of raising anything.
func TestRawCallsOnSocket(t *testing.T) {
	a, b := tcpPair(t)
	fdOf := func(c net.Conn) uintptr {
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fd uintptr
		if err := rc.Control(func(f uintptr) { fd = f }); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	fa, fb := fdOf(a), fdOf(b)
	if n, err := rawWrite(fa, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("rawWrite = %d, %v; want 5, nil", n, err)
	}
	// wait guards the loops below that poll a socket until the kernel
	// delivered: a broken call fails the test instead of hanging it.
	giveUp := time.Now().Add(10 * time.Second)
	wait := func(what string) {
		if time.Now().After(giveUp) {
			t.Fatalf("%s: still EAGAIN after 10 s", what)
		}
		runtime.Gosched()
	}
	buf := make([]byte, 16)
	got := 0
	for got < 5 {
		n, err := rawRead(fb, buf[got:])
		if errors.Is(err, syscall.EAGAIN) {
			wait("reading hello") // not there yet
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("rawRead = %d, %v", n, err)
		}
		got += n
	}
	if string(buf[:got]) != "hello" {
		t.Fatalf("read %q, want hello", buf[:got])
	}
	if n, err := rawRead(fb, buf); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("rawRead of an empty socket = %d, %v; want EAGAIN", n, err)
	}
	// b resets the connection: a's writes fail (ECONNRESET, then EPIPE).
	if err := b.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	b.Close()
	var err error
	for range 1000 {
		if _, err = rawWrite(fa, []byte("x")); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("rawWrite to a reset connection: %v, want EPIPE or ECONNRESET", err)
	}
	a.Close()

	// The end of the stream reads 0.
	c, d := tcpPair(t)
	defer d.Close()
	c.Close()
	fd := fdOf(d)
	for {
		n, err := rawRead(fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			wait("reading the end of the stream")
			continue
		}
		if n != 0 || err != nil {
			t.Fatalf("rawRead at the end of the stream = %d, %v; want 0, nil", n, err)
		}
		break
	}
}

// TestRawCallsOnPipe checks that rawWrite and rawRead work on a
// descriptor that is no socket (send and recv fail there with ENOTSOCK).
func TestRawCallsOnPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if n, err := rawWrite(w.Fd(), []byte("pipe")); n != 4 || err != nil {
		t.Fatalf("rawWrite = %d, %v; want 4, nil", n, err)
	}
	buf := make([]byte, 8)
	n, err := rawRead(r.Fd(), buf)
	if err != nil || string(buf[:n]) != "pipe" {
		t.Fatalf("rawRead = %q, %v; want pipe", buf[:n], err)
	}
}
