package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

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
