package bench

import (
	"net"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// TestTetherIdleStack checks that a connection served the idiomatic way
// (the handler's goroutine in ReadLoop) costs one 4 KiB stack once it has
// been upgraded and has echoed a message: Accept and the echo stay within
// what net/http's goroutine already has, so the runtime does not double it.
// This depends on the frames of net/http and of the compiler, hence a test
// here (run by run.sh) and not in the main module's suite, which runs under
// the race detector, whose frames are larger.
func TestTetherIdleStack(t *testing.T) {
	for _, lib := range []string{"tether", "tether-go"} {
		h, err := EchoHandler(lib, CompressOff)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		addr := srv.Listener.Addr().String()
		warm, err := DialIdle(addr, CompressOff)
		if err != nil {
			t.Fatal(err)
		}
		before := stackInuse()
		const n = 200
		conns := make([]net.Conn, 0, n)
		for range n {
			nc, err := DialIdle(addr, CompressOff)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, nc)
		}
		time.Sleep(100 * time.Millisecond)
		per := float64(stackInuse()-before) / n
		t.Logf("%s: %.0f bytes of stack per idle connection", lib, per)
		if per > 4096+512 {
			t.Errorf("%s: %.0f bytes of stack per idle connection, want 4 KiB", lib, per)
		}
		for _, nc := range conns {
			nc.Close()
		}
		warm.Close()
		srv.Close()
	}
}

func stackInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}
