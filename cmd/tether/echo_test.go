package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
	"github.com/tether-rt/tether/websocket/frame"
)

// TestEchoIdleTimeout runs `tether echo -idle-timeout 1s`: a client that
// stops in the middle of a frame is disconnected and the log says so; a
// negative timeout is refused.
func TestEchoIdleTimeout(t *testing.T) {
	addr := freeAddr(t)
	cmd := tether(nil, "echo", "-addr", addr, "-idle-timeout", "1s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 16)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait() // once stdout has been read to its end
	}()
	waitLine := func(what string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tether echo ended before logging %q; stderr:\n%s", what, stderr.String())
				}
				if strings.Contains(l, what) {
					return l
				}
			case <-timeout:
				t.Fatalf("tether echo did not log %q in 20 s", what)
			}
		}
	}
	if l := waitLine("echo: "); !strings.Contains(l, "the poller answers small messages itself") && !strings.Contains(l, "io_uring is unavailable") {
		t.Errorf("start log %q says neither that the poller answers nor why it cannot", l)
	}
	waitLine("echo server listening")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionDisabled}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	h := frame.Header{Fin: true, OpCode: frame.OpBinary, Length: 1 << 20, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	if _, err := c.NetConn().Write(append(frame.AppendHeader(nil, h), make([]byte, 1024)...)); err != nil {
		t.Fatal(err)
	}
	l := waitLine("closed a connection that went quiet")
	if !strings.Contains(l, "remote="+c.LocalAddr().String()) || !strings.Contains(l, "idle_timeout=1s") {
		t.Errorf("log line %q does not name the client %s and the timeout", l, c.LocalAddr())
	}
	c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	for {
		if _, err := c.NetConn().Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the stalled connection is still open")
			}
			break
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine("echo server stopped")
	for range lines {
	}
	if err := <-exited; err != nil {
		t.Fatalf("tether echo after SIGTERM: %v\n%s", err, stderr.String())
	}

	cmd = tether(nil, "echo", "-idle-timeout", "-1s")
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "-idle-timeout") {
		t.Fatalf("tether echo -idle-timeout -1s: %v, stderr %q; want exit status 1 naming the flag", err, stderr.String())
	}
}

// TestEchoCPUProfile runs `tether echo -cpuprofile file`: it echoes as
// without the flag, and after SIGTERM the file holds a CPU profile in
// pprof's format (gzip-compressed protobuf). An unwritable path is refused.
func TestEchoCPUProfile(t *testing.T) {
	addr := freeAddr(t)
	file := t.TempDir() + "/cpu.pprof"
	cmd := tether(nil, "echo", "-addr", addr, "-cpuprofile", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := startEcho(ctx, t, cmd, addr, &stderr)
	defer c.CloseNow()
	for i := range 100 {
		msg := []byte(strings.Repeat("x", i))
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: %v %q %v; want text %q", i, typ, got, err, msg)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tether echo -cpuprofile after SIGTERM: %v\n%s", err, stderr.String())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the CPU profile is not gzip-compressed: %v", err)
	}
	p, err := io.ReadAll(zr)
	if err != nil || len(p) == 0 {
		t.Fatalf("the CPU profile does not decompress: %d bytes, %v", len(p), err)
	}
	// A CPU profile's string table names its sample types: samples/count
	// and cpu/nanoseconds.
	for _, s := range []string{"samples", "count", "cpu", "nanoseconds"} {
		if !bytes.Contains(p, []byte(s)) {
			t.Errorf("the CPU profile (%d bytes) has no string %q: not a CPU profile", len(p), s)
		}
	}

	cmd = tether(nil, "echo", "-addr", freeAddr(t), "-cpuprofile", t.TempDir()+"/no/such/dir/cpu.pprof")
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "CPU profile") {
		t.Fatalf("tether echo -cpuprofile in a missing directory: %v, stderr %q; want exit status 1 naming the profile", err, stderr.String())
	}
}

// TestEchoIOUringOff runs `tether echo -io-uring=false`: the log says
// readers answer every message, and they do.
func TestEchoIOUringOff(t *testing.T) {
	addr := freeAddr(t)
	cmd := tether(nil, "echo", "-addr", addr, "-io-uring=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := startEcho(ctx, t, cmd, addr, &stderr)
	defer c.CloseNow()
	for i := range 20 {
		msg := bytes.Repeat([]byte{byte(i)}, 100*i)
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: %d bytes, %v", i, len(got), err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tether echo after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "readers answer every message: -io-uring is off") {
		t.Fatalf("the log does not say that -io-uring is off:\n%s", stdout.String())
	}
}

// startEcho starts cmd, a tether echo on addr, and dials it once it
// listens (until ctx ends); stderr is cmd's, shown when it does not.
func startEcho(ctx context.Context, t *testing.T, cmd *exec.Cmd, addr string, stderr *bytes.Buffer) *websocket.Conn {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	for {
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
		if err == nil {
			return c
		}
		if ctx.Err() != nil {
			t.Fatalf("%v did not accept a connection: %v\n%s", cmd.Args, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
