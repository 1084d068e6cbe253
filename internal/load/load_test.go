package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/server"
)

// tetherServe starts tether serve's server (package server) on loopback
// with edit applied to its default configuration.
func tetherServe(t *testing.T, edit func(*server.Config)) string {
	t.Helper()
	cfg := server.DefaultConfig()
	if edit != nil {
		edit(cfg)
	}
	srv, err := server.New(server.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.IO().Close()
	})
	return hs.URL
}

// config parses flags as tether load would.
func config(t *testing.T, args ...string) *Config {
	t.Helper()
	cfg := &Config{}
	if err := cfg.FlagSet(io.Discard).Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Args = args
	return cfg
}

func run(t *testing.T, cfg *Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestPublishTetherServe: 100 clients in two rooms of tether serve, each
// message delivered to the 49 other members of its room, on a mix of
// transports; every count adds up and the report is ok.
func TestPublishTetherServe(t *testing.T) {
	url := tetherServe(t, nil)
	cfg := config(t, "-url", url, "-clients", "100", "-rooms", "2", "-publish-rate", "20", "-duration", "2s", "-warmup", "500ms",
		"-transports", "websocket=50,polling=25,polling+websocket=25", "-pid", "0", "-drain", "5s")
	cfg.PID = os.Getpid() // the server runs in this process
	rep := run(t, cfg)
	if !rep.OK || len(rep.Failures) != 0 {
		t.Fatalf("failures: %v", rep.Failures)
	}
	if rep.Connected != 100 || rep.ConnectTime.Count != 100 {
		t.Fatalf("connected %d, connect times %d", rep.Connected, rep.ConnectTime.Count)
	}
	if rep.Published < 30 || rep.Expected != rep.Published*49 || rep.Delivered != rep.Expected {
		t.Fatalf("published %d, expected %d, delivered %d", rep.Published, rep.Expected, rep.Delivered)
	}
	if rep.Latency.Count != uint64(rep.Delivered) || rep.AckRTT.Count != uint64(rep.Published) {
		t.Fatalf("latencies %d, acks %d", rep.Latency.Count, rep.AckRTT.Count)
	}
	if !(rep.Latency.P50 <= rep.Latency.P99 && rep.Latency.P99 <= rep.Latency.Max && rep.Latency.Max > 0) {
		t.Fatalf("latency quantiles out of order: %+v", rep.Latency)
	}
	if rep.Server == nil || rep.Server.RSSBefore <= 0 || rep.Server.CPUSeconds <= 0 || rep.Server.CPUPerMessageUS <= 0 {
		t.Fatalf("server stats %+v", rep.Server)
	}
	// The three formats.
	var b bytes.Buffer
	if err := rep.Write(&b, "json"); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Delivered != rep.Delivered || !back.OK {
		t.Fatalf("json: %v %s", err, b.String())
	}
	b.Reset()
	rep.Write(&b, "markdown")
	if !strings.Contains(b.String(), "| "+url+" | 100 | websocket=50%,polling=25%,polling+websocket=25% | 2 |") || !strings.Contains(b.String(), "`tether load -url") {
		t.Fatalf("markdown:\n%s", b.String())
	}
	b.Reset()
	rep.Write(&b, "text")
	if !strings.Contains(b.String(), "result        ok") {
		t.Fatalf("text:\n%s", b.String())
	}
}

// TestRefused: a server that refuses the clients (authentication
// required, no token; nothing listening) gives failures, with the
// reasons.
func TestRefused(t *testing.T) {
	url := tetherServe(t, func(c *server.Config) {
		c.Auth.Required = true
		c.Auth.JWT.HS256Secret = strings.Repeat("s", 32)
	})
	rep := run(t, config(t, "-url", url, "-clients", "10", "-duration", "500ms", "-warmup", "0s", "-drain", "0s"))
	if rep.OK || rep.ConnectErrors["connect_error: token required (token required)"] != 10 {
		t.Fatalf("refused by auth: ok %v, errors %v", rep.OK, rep.ConnectErrors)
	}
	hs := httptest.NewServer(nil)
	dead := hs.URL
	hs.Close()
	rep = run(t, config(t, "-url", dead, "-clients", "5", "-duration", "500ms", "-warmup", "0s", "-drain", "0s", "-connect-timeout", "5s"))
	if rep.OK || rep.ConnectErrors["connection refused"] != 5 || !strings.Contains(rep.Failures[0], "5 of 5 clients failed to connect") {
		t.Fatalf("nothing listening: ok %v, errors %v, failures %v", rep.OK, rep.ConnectErrors, rep.Failures)
	}
}

// TestMainExit: Main returns ErrFailed for a failed run and prints the
// report.
func TestMainExit(t *testing.T) {
	hs := httptest.NewServer(nil)
	dead := hs.URL
	hs.Close()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Main(ctx, []string{"-url", dead, "-clients", "2", "-duration", "200ms", "-warmup", "0s", "-drain", "0s", "-out", "json"}, nil, &out, io.Discard)
	var rep Report
	if !errors.Is(err, ErrFailed) || json.Unmarshal(out.Bytes(), &rep) != nil || rep.OK || rep.ConnectErrors["connection refused"] != 2 {
		t.Fatalf("Main: %v\n%s", err, out.String())
	}
}
