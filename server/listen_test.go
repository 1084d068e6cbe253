package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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

// TestListenLocalhostTakenOnIPv4 checks that a port another program holds
// on 127.0.0.1 is an error that says what to do, rather than a server on
// ::1 alone that a browser may miss for the other program.
func TestListenLocalhostTakenOnIPv4(t *testing.T) {
	other, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := strconv.Itoa(other.Addr().(*net.TCPAddr).Port)
	ln, err := listen("localhost:" + port)
	if ln != nil {
		t.Logf("listening on %q", listenAddrs(ln))
		ln.Close()
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("listen on localhost:%s with 127.0.0.1 taken: %v, want EADDRINUSE", port, err)
	}
	if want := "whatever holds 127.0.0.1:" + port + " instead of this server: stop it, or choose another port (-addr)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// The same through Run, which tether serve calls.
	cfg := testConfig()
	cfg.Addr = "localhost:" + port
	srv, err := New(Options{Config: cfg, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(context.Background()); !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "failed to listen: ") {
		t.Fatalf("Run: %v, want a failure to listen", err)
	}
	if !haveIPv6() {
		return
	}
	// ::1 was not kept.
	v6, err := net.Listen("tcp6", "[::1]:"+port)
	if err != nil {
		t.Fatalf("[::1]:%s is held: %v", port, err)
	}
	v6.Close()
}

func TestListenURL(t *testing.T) {
	ln4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln4.Close()
	port := strconv.Itoa(ln4.Addr().(*net.TCPAddr).Port)
	all, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	allPort := strconv.Itoa(all.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		scheme, addr string
		ln           net.Listener
		want         string
	}{
		{"http", "localhost:0", ln4, "http://localhost:" + port + "/"},
		{"http", "LocalHost:8080", ln4, "http://LocalHost:" + port + "/"},
		{"https", "127.0.0.1:0", ln4, "https://127.0.0.1:" + port + "/"},
		{"http", ":8080", all, "http://localhost:" + allPort + "/"},
		{"http", "0.0.0.0:8080", all, "http://localhost:" + allPort + "/"},
		{"https", "rt.example.com:443", ln4, "https://rt.example.com:" + port + "/"},
	} {
		if got := listenURL(tc.scheme, tc.addr, tc.ln); got != tc.want {
			t.Errorf("listenURL(%q, %q, %s) = %q, want %q", tc.scheme, tc.addr, tc.ln.Addr(), got, tc.want)
		}
	}
	if !haveIPv6() {
		return
	}
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln6.Close()
	if got, want := listenURL("http", "[::1]:0", ln6), "http://[::1]:"+strconv.Itoa(ln6.Addr().(*net.TCPAddr).Port)+"/"; got != want {
		t.Errorf("listenURL on ::1 = %q, want %q", got, want)
	}
}
