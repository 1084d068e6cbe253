package cliente2e

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/load"
)

func loadRun(t *testing.T, args ...string) *load.Report {
	t.Helper()
	cfg := &load.Config{}
	if err := cfg.FlagSet(io.Discard).Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Args = args
	rep, err := load.Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestLoadNode: tether load against Node's socket.io 4.8 with tether
// serve's events: every message published reaches the other members of
// its room; the ack mode measures round trips of the echo event; the
// -event mode relies on the server relaying the event.
func TestLoadNode(t *testing.T) {
	srv := startNode(t)
	url := "http://" + srv.addr
	rep := loadRun(t, "-url", url, "-clients", "100", "-rooms", "2", "-publish-rate", "20", "-duration", "2s", "-warmup", "500ms",
		"-transports", "websocket=70,polling+websocket=30")
	if !rep.OK || rep.Connected != 100 || rep.Published < 30 || rep.Expected != rep.Published*49 || rep.Delivered != rep.Expected {
		t.Fatalf("publish: ok %v %v, connected %d, published %d, expected %d, delivered %d", rep.OK, rep.Failures, rep.Connected, rep.Published, rep.Expected, rep.Delivered)
	}
	rep = loadRun(t, "-url", url, "-clients", "20", "-mode", "ack", "-publish-rate", "50", "-duration", "1s", "-warmup", "200ms")
	if !rep.OK || rep.Published < 40 || rep.AckRTT.Count != uint64(rep.Published) {
		t.Fatalf("ack: ok %v %v, published %d, acks %d", rep.OK, rep.Failures, rep.Published, rep.AckRTT.Count)
	}
	// -publish-rate max: as fast as Node keeps up, 8 messages in flight;
	// the ack mode's window holds the messages waiting for their
	// acknowledgement.
	rep = loadRun(t, "-url", url, "-clients", "100", "-rooms", "1", "-publish-rate", "max", "-window", "8", "-duration", "1s", "-warmup", "300ms")
	if !rep.OK || rep.Published < 10 || rep.Expected != rep.Published*99 || rep.Delivered != rep.Expected || rep.MaxInFlight < 1 || rep.MaxInFlight > 8 || rep.WindowLost != 0 {
		t.Fatalf("max: ok %v %v, published %d, expected %d, delivered %d, in flight %d, lost %d", rep.OK, rep.Failures, rep.Published, rep.Expected, rep.Delivered, rep.MaxInFlight, rep.WindowLost)
	}
	rep = loadRun(t, "-url", url, "-clients", "10", "-mode", "ack", "-publish-rate", "max", "-window", "3", "-duration", "500ms", "-warmup", "100ms")
	if !rep.OK || rep.Published < 10 || rep.AckRTT.Count != uint64(rep.Published) || rep.MaxInFlight < 1 || rep.MaxInFlight > 3 {
		t.Fatalf("ack max: ok %v %v, published %d, acks %d, in flight %d", rep.OK, rep.Failures, rep.Published, rep.AckRTT.Count, rep.MaxInFlight)
	}
	// record relays nothing: with -event the expected deliveries do not
	// come, and the run says so.
	rep = loadRun(t, "-url", url, "-clients", "5", "-rooms", "1", "-event", "record", "-publish-rate", "10", "-duration", "500ms", "-warmup", "0s", "-drain", "200ms")
	if rep.OK || rep.Delivered != 0 || rep.Expected != rep.Published*4 || !strings.Contains(strings.Join(rep.Failures, ";"), "delivered, ") {
		t.Fatalf("-event record: ok %v %v, published %d, expected %d", rep.OK, rep.Failures, rep.Published, rep.Expected)
	}
}

// TestLoadNodeDies: a server that dies in the middle of a run: the run
// ends by itself and reports the disconnections and failed messages.
func TestLoadNodeDies(t *testing.T) {
	srv := startNode(t)
	go func() {
		time.Sleep(2 * time.Second)
		srv.cmd.Process.Kill()
	}()
	rep := loadRun(t, "-url", "http://"+srv.addr, "-clients", "30", "-rooms", "1", "-publish-rate", "20", "-duration", "3s", "-warmup", "500ms",
		"-drain", "1s", "-connect-timeout", "2s")
	if rep.OK || rep.Disconnects != 30 || rep.Delivered == 0 {
		t.Fatalf("ok %v, disconnects %d, delivered %d, failures %v", rep.OK, rep.Disconnects, rep.Delivered, rep.Failures)
	}
}
