package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/server"
)

// TestLoadProcs runs tether load with two worker processes against tether
// serve's server: the workers' counts and histograms merge into one
// report, and the run exits 0.
func TestLoadProcs(t *testing.T) {
	srv, err := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.IO().Close()
	cmd := tether(nil, "load", "-url", hs.URL, "-clients", "40", "-procs", "2", "-rooms", "1", "-publish-rate", "20",
		"-duration", "1s", "-warmup", "300ms", "-out", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tether load: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var rep struct {
		OK        bool                  `json:"ok"`
		Procs     int                   `json:"procs"`
		Connected int64                 `json:"connected"`
		Published int64                 `json:"published"`
		Expected  int64                 `json:"expected"`
		Delivered int64                 `json:"delivered"`
		Latency   struct{ Count int64 } `json:"latency_ms"`
		Connect   struct{ Count int64 } `json:"connect_ms"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	if !rep.OK || rep.Procs != 2 || rep.Connected != 40 || rep.Connect.Count != 40 || rep.Published < 10 ||
		rep.Expected != rep.Published*39 || rep.Delivered != rep.Expected || rep.Latency.Count != rep.Delivered {
		t.Fatalf("report %+v\n%s", rep, stderr.String())
	}
	// Progress lines go to stderr (not a terminal here: one a second).
	if !strings.Contains(stderr.String(), "connected 40/40") {
		t.Fatalf("progress:\n%s", stderr.String())
	}
}

// TestLoadFails: a run against nothing exits 1 with the reason.
func TestLoadFails(t *testing.T) {
	hs := httptest.NewServer(nil)
	url := hs.URL
	hs.Close()
	cmd := tether(nil, "load", "-url", url, "-clients", "4", "-procs", "2", "-duration", "200ms", "-warmup", "0s", "-drain", "0s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stdout.String(), "4 connection refused") ||
		!strings.Contains(stderr.String(), "tether: the run had errors: 4 of 4 clients failed to connect") {
		t.Fatalf("exit %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
}

// loadReport is the part of tether load's JSON report the tests read.
type loadReport struct {
	OK           bool     `json:"ok"`
	Failures     []string `json:"failures"`
	Procs        int      `json:"procs"`
	Connected    int64    `json:"connected"`
	Published    int64    `json:"published"`
	SentAll      int64    `json:"sent_all"`
	Expected     int64    `json:"expected"`
	Delivered    int64    `json:"delivered"`
	DeliveredAll int64    `json:"delivered_all"`
	PublishMax   bool     `json:"publish_max"`
	Window       int      `json:"window"`
	MaxInFlight  int64    `json:"max_in_flight"`
	Latency      struct {
		Count int64   `json:"count"`
		P50   float64 `json:"p50"`
		P99   float64 `json:"p99"`
		Max   float64 `json:"max"`
	} `json:"latency_ms"`
	AckRTT struct{ Count int64 } `json:"ack_ms"`
	Server *struct {
		PIDs            []int   `json:"pids"`
		RSSBefore       int64   `json:"rss_before_bytes"`
		CPUSeconds      float64 `json:"cpu_seconds"`
		CPUPerMessageUS float64 `json:"cpu_per_delivered_message_us"`
	} `json:"server"`
	Generator *struct {
		Seconds float64 `json:"cpu_seconds"`
	} `json:"generator"`
}

// runLoadJSON runs tether load with args (plus -out json) and returns its report.
func runLoadJSON(t *testing.T, args ...string) loadReport {
	t.Helper()
	cmd := tether(nil, append(append([]string{"load"}, args...), "-out", "json")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tether load: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var rep loadReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	return rep
}

// serveProc is a `tether serve` process started by a test.
type serveProc struct {
	url string
	cmd *exec.Cmd
	out bytes.Buffer
}

// startServeProc starts `tether serve` with its default settings on a free
// loopback address, plus args, and waits until /readyz answers 200 (with
// -redis-url: connected to Redis). It is stopped when the test ends.
func startServeProc(t *testing.T, args ...string) *serveProc {
	t.Helper()
	addr := freeAddr(t)
	p := &serveProc{url: "http://" + addr}
	p.cmd = tether(nil, append([]string{"serve", "-addr", addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("tether serve %s printed:\n%s", addr, p.out.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether serve %s was not ready: %v\n%s", addr, err, p.out.String())
		}
	}
}

// TestLoadCluster runs tether load against a cluster of two `tether serve`
// processes (default settings, -redis-url) on a real redis-server: the
// clients alternate between the nodes, every message reaches every other
// member of the room whatever node it is on (delivered = expected, counted
// by tether load from the room's members, not from one node's
// acknowledgement), and the two servers' CPU is summed.
func TestLoadCluster(t *testing.T) {
	redis := peertest.StartRedis(t)
	a := startServeProc(t, "-redis-url", redis.URL())
	b := startServeProc(t, "-redis-url", redis.URL())
	pids := fmt.Sprintf("%d,%d", a.cmd.Process.Pid, b.cmd.Process.Pid)
	rep := runLoadJSON(t, "-url", a.url+","+b.url, "-pid", pids, "-clients", "40", "-rooms", "1", "-publish-rate", "20",
		"-duration", "2s", "-warmup", "500ms")
	if !rep.OK || len(rep.Failures) != 0 || rep.Connected != 40 {
		t.Fatalf("ok %v, connected %d, failures %v", rep.OK, rep.Connected, rep.Failures)
	}
	// 20/s for 2 s: about 40 measured messages, each to the 39 others,
	// 19 of them through Redis on the other node.
	if rep.Published < 20 || rep.Expected != rep.Published*39 || rep.Delivered != rep.Expected || rep.Latency.Count != rep.Delivered {
		t.Fatalf("published %d, expected %d, delivered %d, latencies %d", rep.Published, rep.Expected, rep.Delivered, rep.Latency.Count)
	}
	if rep.SentAll < rep.Published || rep.DeliveredAll != rep.SentAll*39 {
		t.Fatalf("sent %d in all, delivered %d in all, want 39 each", rep.SentAll, rep.DeliveredAll)
	}
	if rep.Server == nil || fmt.Sprint(rep.Server.PIDs) != fmt.Sprint([]int{a.cmd.Process.Pid, b.cmd.Process.Pid}) ||
		rep.Server.CPUSeconds <= 0 || rep.Server.CPUPerMessageUS <= 0 {
		t.Fatalf("server stats %+v", rep.Server)
	}
}

// TestLoadProcsMax runs tether load with two worker processes at
// -publish-rate max against one `tether serve` process (default
// settings): each worker keeps its own window, every message reaches the
// other members of the room in both workers, and the merged report adds
// up.
func TestLoadProcsMax(t *testing.T) {
	s := startServeProc(t)
	rep := runLoadJSON(t, "-url", s.url, "-pid", fmt.Sprint(s.cmd.Process.Pid), "-clients", "40", "-procs", "2", "-rooms", "1",
		"-publish-rate", "max", "-window", "4", "-duration", "1s", "-warmup", "300ms")
	if !rep.OK || rep.Procs != 2 || rep.Connected != 40 || !rep.PublishMax || rep.Window != 4 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Published < 10 || rep.Expected != rep.Published*39 || rep.Delivered != rep.Expected || rep.Latency.Count != rep.Delivered ||
		rep.AckRTT.Count != rep.Published {
		t.Fatalf("published %d, expected %d, delivered %d, latencies %d, acks %d", rep.Published, rep.Expected, rep.Delivered, rep.Latency.Count, rep.AckRTT.Count)
	}
	// One worker's window is 4: its messages in flight never pass it.
	if rep.MaxInFlight < 1 || rep.MaxInFlight > 4 {
		t.Fatalf("max in flight %d, window 4 per worker", rep.MaxInFlight)
	}
	if !(rep.Latency.P50 <= rep.Latency.P99 && rep.Latency.P99 <= rep.Latency.Max) {
		t.Fatalf("latency quantiles out of order: %+v", rep.Latency)
	}
	if rep.Server == nil || rep.Server.CPUPerMessageUS <= 0 || rep.Generator == nil || rep.Generator.Seconds <= 0 {
		t.Fatalf("server %+v, generator %+v", rep.Server, rep.Generator)
	}
}
