package load

import (
	"context"
	"errors"
	"fmt"
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
