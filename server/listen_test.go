package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// haveIPv6 reports whether the system has an IPv6 loopback.
func haveIPv6() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestListenLocalhost checks that "localhost" is served on both loopback
// addresses, so that a browser reaches the server whichever it tries.
func TestListenLocalhost(t *testing.T) {
	ln, err := listen("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	addrs := listenAddrs(ln)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	want := []string{"127.0.0.1:" + port}
	if haveIPv6() {
		want = append(want, "[::1]:"+port)
	} else {
		t.Log("no IPv6 loopback: 127.0.0.1 only")
	}
	if len(addrs) != len(want) || addrs[0] != want[0] || addrs[len(addrs)-1] != want[len(want)-1] {
		t.Fatalf("listening on %q, want %q", addrs, want)
	}
	srv, err := New(Options{Config: testConfig(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, nil) }()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, a := range want {
		resp, err := client.Get("http://" + a + "/healthz")
		if err != nil {
			t.Fatalf("GET http://%s/healthz: %v", a, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Fatalf("GET http://%s/healthz: %d %q", a, resp.StatusCode, body)
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, a := range want {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the shutdown", a)
		}
	}
}

// TestListenLocalhostTakenOnIPv6 checks that a port another program holds
// on ::1 is an error, and that other hosts listen as given.
func TestListenLocalhostTakenOnIPv6(t *testing.T) {
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if got := listenAddrs(ln); len(got) != 1 || got[0] != ln.Addr().String() {
		t.Fatalf("127.0.0.1:0 listens on %q", got)
	}
	ln.Close()
	if !haveIPv6() {
		t.Skip("no IPv6 loopback")
	}
	other, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := strconv.Itoa(other.Addr().(*net.TCPAddr).Port)
	if ln, err := listen("localhost:" + port); !errors.Is(err, syscall.EADDRINUSE) {
		if ln != nil {
			ln.Close()
		}
		t.Fatalf("listen on localhost:%s with ::1 taken: %v, want EADDRINUSE", port, err)
	}
	// 127.0.0.1 was let go: the port is free there.
	v4, err := net.Listen("tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("127.0.0.1:%s was not released: %v", port, err)
	}
	v4.Close()
}
