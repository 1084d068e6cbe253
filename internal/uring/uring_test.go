//go:build linux && (amd64 || arm64)

package uring

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// newRing makes a ring or skips the test where io_uring is refused.
func newRing(t *testing.T, entries int) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
			t.Skipf("no io_uring here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// tcpPair returns the two ends of a loopback TCP connection, and the
// descriptor of the first.
func tcpPair(t *testing.T) (c *net.TCPConn, fd int, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c = a.(*net.TCPConn)
	t.Cleanup(func() { c.Close(); peer.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return c, fd, peer
}

func TestNewRefusesBadSizes(t *testing.T) {
	for _, n := range []int{0, -1, maxEntries + 1} {
		if r, err := New(n); err == nil {
			r.Close()
			t.Errorf("New(%d) made a ring", n)
		}
	}
}

// TestSendsReachEachSocket sends a different message to each of several
// sockets in one Submit, and reads each back from its peer.
func TestSendsReachEachSocket(t *testing.T) {
	r := newRing(t, 8)
	if r.Size() < 8 {
		t.Fatalf("Size() = %d, want at least 8", r.Size())
	}
	const n = 5
	peers := make([]net.Conn, n)
	msgs := make([][]byte, n)
	fds := make([]int, n)
	for i := range n {
		_, fds[i], peers[i] = tcpPair(t)
	}
	res := make([]int32, r.Size())
	for round := range 3 { // the ring's indexes move on between Submits
		for i := range n {
			msgs[i] = bytes.Repeat([]byte{byte('a' + i + round)}, 100+i)
			if !r.Send(fds[i], msgs[i]) {
				t.Fatalf("round %d: Send %d refused", round, i)
			}
		}
		if r.Queued() != n {
			t.Fatalf("Queued() = %d, want %d", r.Queued(), n)
		}
		if err := r.Submit(res); err != nil {
			t.Fatal(err)
		}
		if r.Queued() != 0 {
			t.Fatalf("Queued() = %d after Submit", r.Queued())
		}
		for i := range n {
			if int(res[i]) != len(msgs[i]) {
				t.Fatalf("round %d: send %d: result %d, want %d", round, i, res[i], len(msgs[i]))
			}
			got := make([]byte, len(msgs[i]))
			if _, err := io.ReadFull(peers[i], got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msgs[i]) {
				t.Fatalf("round %d: socket %d got %q, want %q", round, i, got, msgs[i])
			}
		}
	}
}

// TestSendDoesNotWait fills a socket whose peer does not read: sends
// report what the socket took, then 0, and never block.
func TestSendDoesNotWait(t *testing.T) {
	r := newRing(t, 4)
	c, fd, _ := tcpPair(t)
	if err := c.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	res := make([]int32, 1)
	total, sawZero := 0, false
	for range 64 {
		r.Send(fd, big)
		if err := r.Submit(res); err != nil {
			t.Fatal(err)
		}
		if res[0] < 0 {
			t.Fatalf("send failed: errno %d", -res[0])
		}
		if res[0] == 0 {
			sawZero = true
			break
		}
		total += int(res[0])
	}
	if !sawZero {
		t.Fatalf("the socket took %d bytes and never refused more", total)
	}
	if total == 0 || total >= 64*len(big) {
		t.Fatalf("the socket took %d bytes", total)
	}
}

// TestSendErrors reports a closed peer's and a bad descriptor's errors
// per send, without failing the others of the same Submit.
func TestSendErrors(t *testing.T) {
	r := newRing(t, 4)
	_, fdOK, peerOK := tcpPair(t)
	c, fdReset, peer := tcpPair(t)
	// A reset: the peer closes with unread data and lingers 0.
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close()
	buf := make([]byte, 1)
	c.SetReadDeadline(timeSoon())
	c.Read(buf) // waits for the reset
	bad, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(bad) // a descriptor number that is closed
	msg := []byte("hello")
	r.Send(fdReset, msg)
	r.Send(bad, msg)
	r.Send(fdOK, msg)
	res := make([]int32, 3)
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	if res[0] >= 0 {
		t.Errorf("send to a reset connection: result %d, want an error", res[0])
	}
	if res[1] != -int32(syscall.EBADF) && res[1] != -int32(syscall.ENOTSOCK) {
		t.Errorf("send to a closed descriptor: result %d, want -EBADF", res[1])
	}
	if int(res[2]) != len(msg) {
		t.Errorf("send to a good socket: result %d, want %d", res[2], len(msg))
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(peerOK, got); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("good socket read %q, %v", got, err)
	}
}

// TestSendFull refuses a send beyond Size and an empty one.
func TestSendFull(t *testing.T) {
	r := newRing(t, 2)
	_, fd, _ := tcpPair(t)
	if r.Send(fd, nil) {
		t.Error("an empty send was queued")
	}
	for i := range r.Size() {
		if !r.Send(fd, []byte("x")) {
			t.Fatalf("send %d refused", i)
		}
	}
	if r.Send(fd, []byte("x")) {
		t.Error("a send beyond Size was queued")
	}
	res := make([]int32, r.Size())
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	for i, v := range res {
		if v != 1 {
			t.Errorf("send %d: result %d", i, v)
		}
	}
}

// TestSubmitFailure reports a failed io_uring_enter, with every send's
// result an error, and leaves the ring usable.
func TestSubmitFailure(t *testing.T) {
	r := newRing(t, 4)
	_, fd, peer := tcpPair(t)
	enter := r.enterFn
	r.enterFn = func(_, _, _, _ uintptr) (uintptr, syscall.Errno) { return 0, syscall.ENOMEM }
	r.Send(fd, []byte("lost"))
	r.Send(fd, []byte("lost"))
	res := make([]int32, 2)
	if err := r.Submit(res); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("Submit: %v, want ENOMEM", err)
	}
	for i, v := range res {
		if v >= 0 {
			t.Errorf("send %d: result %d, want an error", i, v)
		}
	}
	// A kernel that takes nothing, without an error, is not waited on
	// for ever.
	r.enterFn = func(_, _, _, _ uintptr) (uintptr, syscall.Errno) { return 0, 0 }
	r.Send(fd, []byte("lost"))
	if err := r.Submit(res); err == nil || res[0] >= 0 {
		t.Fatalf("Submit with nothing taken: %v, result %d; want an error", err, res[0])
	}
	r.enterFn = enter
	r.Send(fd, []byte("kept"))
	if err := r.Submit(res); err != nil || res[0] != 4 {
		t.Fatalf("Submit after a failure: %v, result %d", err, res[0])
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "kept" {
		t.Fatalf("read %q, %v: the failed sends went out, or the good one did not", got, err)
	}
}

func timeSoon() time.Time { return time.Now().Add(2 * time.Second) }

func TestRecv(t *testing.T) {
	r := newRing(t, 8)
	_, fdA, peerA := tcpPair(t)
	_, fdB, _ := tcpPair(t)
	_, fdC, peerC := tcpPair(t)
	if _, err := peerA.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	peerC.Close()
	time.Sleep(50 * time.Millisecond) // the loopback delivers within the write; the FIN too
	a, b, c := make([]byte, 16), make([]byte, 16), make([]byte, 16)
	if !r.Recv(fdA, a) || !r.Recv(fdB, b) || !r.Recv(fdC, c) {
		t.Fatal("Recv refused to queue")
	}
	if r.Recv(fdA, nil) {
		t.Fatal("Recv queued an empty buffer")
	}
	res := make([]int32, r.Size())
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	if res[0] != 5 || string(a[:5]) != "hello" {
		t.Errorf("recv with data: %d %q, want 5 \"hello\"", res[0], a[:max(res[0], 0)])
	}
	if res[1] != -int32(syscall.EAGAIN) {
		t.Errorf("recv with nothing arrived: %d, want -EAGAIN (%d)", res[1], -int32(syscall.EAGAIN))
	}
	if res[2] != 0 {
		t.Errorf("recv at the end of the stream: %d, want 0", res[2])
	}
}

func TestEpollCtl(t *testing.T) {
	r := newRing(t, 8)
	_, fd, peer := tcpPair(t)
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(epfd)
	// Registered one-shot and fired once: quiet until armed again.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: int32(fd), Pad: 7}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	events := make([]syscall.EpollEvent, 4)
	if n, err := syscall.EpollWait(epfd, events, 1000); n != 1 || err != nil {
		t.Fatalf("first event: %d, %v", n, err)
	}
	if n, _ := syscall.EpollWait(epfd, events, 0); n != 0 {
		t.Fatalf("a one-shot registration fired twice")
	}
	mod := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: int32(fd), Pad: 9}
	if !r.EpollCtl(epfd, syscall.EPOLL_CTL_MOD, fd, &mod) {
		t.Fatal("EpollCtl refused to queue")
	}
	res := make([]int32, r.Size())
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	if res[0] != 0 {
		t.Fatalf("EPOLL_CTL_MOD through the ring: %d", res[0])
	}
	// The byte is still unread: armed again, the level-triggered check fires.
	if n, err := syscall.EpollWait(epfd, events, 1000); n != 1 || err != nil || events[0].Pad != 9 {
		t.Fatalf("after the ring armed it again: %d events, %v, %+v", n, err, events[0])
	}
	// A descriptor that is not registered: an errno, not a failed ring.
	_, other, _ := tcpPair(t)
	if !r.EpollCtl(epfd, syscall.EPOLL_CTL_MOD, other, &mod) {
		t.Fatal("EpollCtl refused to queue")
	}
	if err := r.Submit(res); err != nil {
		t.Fatal(err)
	}
	if res[0] != -int32(syscall.ENOENT) {
		t.Fatalf("MOD of an unregistered descriptor: %d, want -ENOENT", res[0])
	}
}
