package peertest

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"testing"
)

// TestRedisPortTaken checks that a redis-server whose port another
// listener took is reported as such at once (not as a server that never
// listened), and that startOnFreePorts then starts it on other ports.
func TestRedisPortTaken(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(t, "redis-server not found in PATH")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// The other listener accepts (a dial to the port succeeds) but never
	// answers.
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := taken.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	port := taken.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	newRedis := func(port int) *Redis {
		return &Redis{dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", port),
			args: []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}}
	}
	if err := newRedis(port).start(bin); !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a taken port: %v, want errPortTaken", err)
	}

	attempts := 0
	r := startOnFreePorts(t, bin, 1, func(ports []int) *Redis {
		attempts++
		if attempts == 1 {
			return newRedis(port)
		}
		return newRedis(ports[0])
	})
	if attempts != 2 || r.Addr == taken.Addr().String() {
		t.Fatalf("started on %s after %d attempts, want another port on the 2nd", r.Addr, attempts)
	}
	if err := probe(r.Addr, r.cmd.Process.Pid, nil); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := probe(r.Addr, r.cmd.Process.Pid+1, nil); err == nil {
		t.Fatal("probe took the server for another process")
	}
}
