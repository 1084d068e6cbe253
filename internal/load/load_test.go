package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	if rep.SentAll < rep.Published || rep.DeliveredAll != rep.SentAll*49 || rep.Generator == nil || rep.Generator.Seconds <= 0 {
		t.Fatalf("sent %d in all, delivered %d in all, generator %+v", rep.SentAll, rep.DeliveredAll, rep.Generator)
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

// TestPublishMax: -publish-rate max against tether serve, one worker and
// a window of 1 and of 4: every message is delivered to the other members
// of its room (delivered = expected, no loss), the report's count of
// messages in flight at once never passes the window, and nothing is
// given up.
func TestPublishMax(t *testing.T) {
	url := tetherServe(t, nil)
	for _, window := range []string{"1", "4"} {
		t.Run("window"+window, func(t *testing.T) {
			cfg := config(t, "-url", url, "-clients", "60", "-rooms", "2", "-publish-rate", "max", "-window", window,
				"-duration", "1s", "-warmup", "300ms", "-pid", "0")
			cfg.PID = os.Getpid()
			rep := run(t, cfg)
			if !rep.OK {
				t.Fatalf("failures: %v", rep.Failures)
			}
			if rep.Published < 10 || rep.Expected != rep.Published*29 || rep.Delivered != rep.Expected || rep.Latency.Count != uint64(rep.Delivered) {
				t.Fatalf("published %d, expected %d, delivered %d, latencies %d", rep.Published, rep.Expected, rep.Delivered, rep.Latency.Count)
			}
			if !rep.PublishMax || fmt.Sprint(rep.Window) != window || rep.MaxInFlight < 1 || fmt.Sprint(min(rep.MaxInFlight, int64(rep.Window))) != fmt.Sprint(rep.MaxInFlight) || rep.WindowLost != 0 {
				t.Fatalf("window %d, max in flight %d, lost %d", rep.Window, rep.MaxInFlight, rep.WindowLost)
			}
			if rep.Server == nil || rep.Server.CPUPerMessageUS <= 0 {
				t.Fatalf("server stats %+v", rep.Server)
			}
			var b bytes.Buffer
			rep.Write(&b, "text")
			if !strings.Contains(b.String(), "max msg/s (window "+window+" per proc)") || !strings.Contains(b.String(), "at most") {
				t.Fatalf("text:\n%s", b.String())
			}
		})
	}
}

// TestWindow: the window's bookkeeping, message by message: a place is
// given back once, by the last of what its message waits for (or when it
// fails), and deliveries of a message no longer in its place change
// nothing.
func TestWindow(t *testing.T) {
	cfg := config(t, "-clients", "4", "-publish-rate", "max", "-window", "2")
	w := newWorker(cfg, 0)
	take := func(seq uint64, wait int64) int {
		k := <-w.free
		w.slots[k].state.Store(uint64(uint32(seq+1))<<32 | uint64(wait))
		w.c.inWindow.Add(1)
		return k
	}
	k0 := take(0, 3) // the ack and two receivers
	k1 := take(1, 1)
	if len(w.free) != 0 || w.c.inWindow.Load() != 2 {
		t.Fatalf("free %d, in window %d", len(w.free), w.c.inWindow.Load())
	}
	w.done(k0, 0)
	w.done(k0, 0)
	w.done(k0, 5) // another message's: ignored
	if len(w.free) != 0 {
		t.Fatal("a place came back before its message was complete")
	}
	w.done(k0, 0)
	if len(w.free) != 1 || w.c.inWindow.Load() != 1 {
		t.Fatalf("after the last: free %d, in window %d", len(w.free), w.c.inWindow.Load())
	}
	w.done(k0, 0) // a late duplicate
	w.abandon(k1, 1)
	w.abandon(k1, 1)
	w.done(k1, 1)
	if len(w.free) != 2 || w.c.inWindow.Load() != 0 {
		t.Fatalf("after abandon: free %d, in window %d", len(w.free), w.c.inWindow.Load())
	}
	// A place held too long is given back by reap, once.
	k := take(2, 2)
	w.slots[k].sent.Store(time.Now().Add(-2 * windowTimeout).UnixNano())
	w.reap()
	w.reap()
	w.done(k, 2)
	if len(w.free) != 2 || w.c.windowLost.Load() != 1 || w.c.inWindow.Load() != 0 {
		t.Fatalf("after reap: free %d, lost %d, in window %d", len(w.free), w.c.windowLost.Load(), w.c.inWindow.Load())
	}
}

// TestDrainedAll: with several workers the drain ends on the sums of
// their counts, not on any one worker's (a worker's acknowledgements count
// the other workers' receivers), and only once every worker's traffic time
// is over.
func TestDrainedAll(t *testing.T) {
	// Worker 0's acks announced 30 deliveries, 10 of them to worker 1's
	// clients; worker 1 sent nothing, its clients got those 10.
	a := progressMsg{SendingDone: true, Expected: 30, Delivered: 20}
	b := progressMsg{SendingDone: true, Expected: 0, Delivered: 9}
	if drainedAll(ModePublish, []progressMsg{a, b}) {
		t.Fatal("drained with one delivery missing")
	}
	b.Delivered = 10
	if !drainedAll(ModePublish, []progressMsg{a, b}) {
		t.Fatal("not drained with every delivery in")
	}
	b.SendingDone = false
	if drainedAll(ModePublish, []progressMsg{a, b}) {
		t.Fatal("drained while a worker still sends")
	}
	b.SendingDone, a.InFlight = true, 1
	if drainedAll(ModeAck, []progressMsg{a, b}) {
		t.Fatal("drained with an acknowledgement waited for")
	}
}

// TestConnectedCountsEveryClient: with no room to join (idle clients), the
// report's connected count is taken as soon as every client connected, and
// still counts every one. (Connect returns before the client's connect
// handlers run, which count; a loaded growth run once reported 999 of
// 1,000. The window is too small for this test to hit it reliably: it
// guards the count of idle clients, the fix is worker.connect's wait.)
func TestConnectedCountsEveryClient(t *testing.T) {
	url := tetherServe(t, nil)
	for range 3 {
		rep := run(t, config(t, "-url", url, "-clients", "300", "-ramp", "0", "-duration", "100ms", "-warmup", "0s"))
		if rep.Connected != 300 || rep.ConnectTime.Count != 300 {
			t.Fatalf("connected %d, connect times %d, want 300 (failures %v)", rep.Connected, rep.ConnectTime.Count, rep.Failures)
		}
	}
}
