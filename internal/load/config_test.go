package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	eio "github.com/tether-rt/tether/engineio/client"
	"github.com/tether-rt/tether/socketio/client"
)

func TestParseTransports(t *testing.T) {
	for in, want := range map[string]string{
		"websocket":                           "websocket=100",
		"polling":                             "polling=100",
		"polling,websocket":                   "polling,websocket=100",
		"websocket=80,polling=20":             "websocket=80 polling=20",
		"websocket=50%,polling+websocket=50%": "websocket=50 polling,websocket=50",
	} {
		ts, err := parseTransports(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		got := ""
		for i, s := range ts {
			if i > 0 {
				got += " "
			}
			got += fmt.Sprintf("%s=%g", s.Name(), s.Percent)
		}
		if got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"tcp", "websocket=80,polling=30", "websocket=x", "websocket=80,polling"} {
		if _, err := parseTransports(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestTransportShares: a mix gives each setting its share of any 100
// consecutive clients.
func TestTransportShares(t *testing.T) {
	ts, _ := parseTransports("websocket=70,polling=20,polling+websocket=10")
	cfg := &Config{Transports: ts}
	n := map[string]int{}
	for i := 300; i < 400; i++ {
		n[fmt.Sprint(cfg.transportFor(i))]++
	}
	if n["[websocket]"] != 70 || n["[polling]"] != 20 || n["[polling websocket]"] != 10 {
		t.Fatalf("shares %v", n)
	}
}

func TestParseAuth(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	os.WriteFile(file, []byte("a\n# comment\n\nb\n"), 0o600)
	for in, want := range map[string]string{"tok": "[tok]", "@" + file: "[a b]", file: "[a b]"} {
		ts, err := parseAuth(in)
		if err != nil || fmt.Sprint(ts) != want {
			t.Errorf("%q: %v %v", in, ts, err)
		}
	}
	if _, err := parseAuth("@" + filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestValidate(t *testing.T) {
	cfg := &Config{}
	fs := cfg.FlagSet(nil)
	if err := fs.Parse([]string{"-clients", "10", "-procs", "20", "-mode", "x", "-out", "xml", "-rooms", "11"}); err != nil {
		t.Fatal(err)
	}
	err := cfg.Validate()
	for _, want := range []string{"-procs", "-mode", "-out", "-rooms 11"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want a word about %s", err, want)
		}
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		&client.ConnectError{Message: "not authorized", Data: []byte(`{"reason":"token expired"}`)}: "connect_error: not authorized (token expired)",
		&client.ConnectError{Message: "Invalid namespace"}:                                          "connect_error: Invalid namespace",
		fmt.Errorf("x: %w", &eio.HandshakeError{StatusCode: 403, Code: 4, Message: "Forbidden"}):    "HTTP 403: Forbidden",
		fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}):                 "connection refused",
		fmt.Errorf("x: %w", context.DeadlineExceeded):                                               "timeout",
		client.ErrDisconnected:                         "disconnected before the acknowledgement",
		errors.New("engineio: something odd: details"): "details",
	} {
		if got := reason(err); got != want {
			t.Errorf("reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestShellCommand(t *testing.T) {
	got := shellCommand([]string{"tether", "load", "-label", "Node socket.io 4.8", "-url", "http://127.0.0.1:80/", "-x", "it's", "-e", ""})
	if want := `tether load -label 'Node socket.io 4.8' -url http://127.0.0.1:80/ -x 'it'\''s' -e ''`; got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
}

// TestMaxAndURLFlags: -publish-rate takes a rate or max, -url several
// URLs (spread round-robin over the clients), -pid several process ids.
func TestMaxAndURLFlags(t *testing.T) {
	cfg := &Config{}
	if err := cfg.FlagSet(io.Discard).Parse([]string{"-url", "http://127.0.0.1:1, ws://127.0.0.1:2", "-publish-rate", "max", "-window", "4", "-pid", "10,20"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.PublishMax || cfg.Window != 4 || cfg.PID != 10 || fmt.Sprint(cfg.PIDs) != "[10 20]" {
		t.Fatalf("max %v, window %d, pid %d, pids %v", cfg.PublishMax, cfg.Window, cfg.PID, cfg.PIDs)
	}
	if got := []string{cfg.urlFor(0), cfg.urlFor(1), cfg.urlFor(2)}; fmt.Sprint(got) != "[http://127.0.0.1:1 ws://127.0.0.1:2 http://127.0.0.1:1]" {
		t.Fatalf("urls %v", got)
	}
	// The defaults and a single URL are as before.
	cfg = &Config{}
	if err := cfg.FlagSet(io.Discard).Parse([]string{"-pid", "0"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.PublishMax || cfg.PublishRate != 10 || cfg.Window != 16 || cfg.PID != 0 || cfg.PIDs != nil || cfg.urlFor(7) != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if err := cfg.FlagSet(io.Discard).Parse([]string{"-publish-rate", "2.5"}); err != nil || cfg.PublishRate != 2.5 || cfg.PublishMax {
		t.Fatalf("-publish-rate 2.5: %v %v %v", err, cfg.PublishRate, cfg.PublishMax)
	}
}

// TestMaxBadInput: the combinations -publish-rate max cannot run, and bad
// values of the new forms, are refused with a word about why.
func TestMaxBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-publish-rate", "max", "-mode", "receive"}, "-mode receive"},
		{[]string{"-publish-rate", "max", "-window", "0"}, "-window"},
		{[]string{"-publish-rate", "max", "-event", "tick", "-clients", "6", "-rooms", "2", "-procs", "2"}, "at least 2 clients"},
		{[]string{"-url", "http://127.0.0.1:1,ftp://x"}, "scheme"},
		{[]string{"-url", "http://127.0.0.1:1,"}, "not a URL"},
	} {
		cfg := &Config{}
		if err := cfg.FlagSet(io.Discard).Parse(c.args); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a word about %s", c.args, err, c.want)
		}
	}
	for _, args := range [][]string{{"-publish-rate", "fast"}, {"-pid", "12,x"}, {"-pid", "-3"}} {
		cfg := &Config{}
		if err := cfg.FlagSet(io.Discard).Parse(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	// -publish-rate max needs a room for the publish event, as a rate does.
	err := Main(context.Background(), []string{"-publish-rate", "max", "-rooms", "0"}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-rooms 0") {
		t.Fatalf("-rooms 0: %v", err)
	}
}
