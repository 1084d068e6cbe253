package interop

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback port nobody listens on, for a subprocess
// that needs -addr.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestTetherEcho builds the tether command, runs `tether echo` and checks
// it with Node's ws client: echo, permessage-deflate with context takeover
// both ways, and a clean exit on SIGTERM.
func TestTetherEcho(t *testing.T) {
	needNode(t)
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "tether")
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/tether-rt/tether/cmd/tether").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tether: %v\n%s", err, out)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "echo", "-addr", addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	var log []string
	waitLine := func(what string) {
		t.Helper()
		timeout := time.After(waitTimeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tether echo ended before logging %q; output:\n%s\nstderr:\n%s", what, strings.Join(log, "\n"), stderr.String())
				}
				log = append(log, l)
				if strings.Contains(l, what) {
					return
				}
			case <-timeout:
				t.Fatalf("tether echo did not log %q in %v; output:\n%s", what, waitTimeout, strings.Join(log, "\n"))
			}
		}
	}
	waitLine("echo server listening")

	es := plan(t, "ws://"+addr+"/any/path", map[string]any{"perMessageDeflate": map[string]any{}},
		step{"op": "echo", "type": "text", "size": 0},
		step{"op": "echo", "type": "text", "size": 125},
		step{"op": "echo", "type": "binary", "size": 65536, "pattern": "random"},
		step{"op": "echo", "type": "binary", "size": 4096, "pattern": "random", "seed": 5},
		step{"op": "echo", "type": "binary", "size": 4096, "pattern": "random", "seed": 5},
		step{"op": "echo", "type": "text", "size": 1 << 20, "pattern": "repeat"},
		step{"op": "echo", "type": "text", "size": 70_000, "pattern": "mixed", "fragments": 5},
		step{"op": "ping", "data": "still there?"},
		step{"op": "close", "code": 1000, "reason": "done"},
	)
	checkEchoes(t, es)
	if h := es.one(t, "open").ExtensionsHeader; h != "permessage-deflate" {
		t.Errorf("negotiated %q, want permessage-deflate with context takeover", h)
	}
	if again := es.step(t, 4); again.WireOut > 1024 || again.WireIn > 1024 {
		t.Errorf("a repeated 4 KiB message took %d bytes out and %d back: no context takeover", again.WireOut, again.WireIn)
	}
	if big := es.step(t, 5); big.WireOut > 64<<10 || big.WireIn > 64<<10 {
		t.Errorf("1 MiB of repeated text took %d bytes out and %d back: not compressed", big.WireOut, big.WireIn)
	}
	if p := es.step(t, 7); p.Data != "still there?" {
		t.Errorf("pong %q", p.Data)
	}
	if c := es.step(t, 8); c.Code != 1000 {
		t.Errorf("ws saw close %d, want 1000", c.Code)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine("echo server stopped")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("tether echo exited with %v after SIGTERM; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tether echo still running 10 s after SIGTERM")
	}
}
