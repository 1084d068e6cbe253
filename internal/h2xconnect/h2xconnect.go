// Package h2xconnect switches net/http's HTTP/2 extended CONNECT (RFC 8441),
// which lets clients open WebSockets as streams of an HTTP/2 connection, on
// or off for the process.
//
// Go 1.26 has no setting for it on an http.Server: its HTTP/2 server
// advertises extended CONNECT only when the environment the program started
// with has GODEBUG=http2xconnect=1, read once when net/http is initialized
// (a //go:debug line does not reach it, nor does os.Setenv once main runs).
// [Exec] therefore starts the program again, in the same process (execve),
// with GODEBUG changed, when the process does not have the setting it
// wants. Tether's own command (tether serve) and test binaries use it.
package h2xconnect

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// enabled is what net/http decided when it was initialized, before this
// package: the test is the one it makes (and websocket.ExtendedConnectEnabled
// too, which this package cannot import, since that package's own tests
// use this one).
var enabled = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// Enabled reports whether the process's HTTP/2 servers advertise extended
// CONNECT.
func Enabled() bool { return enabled }

// guard is set in the environment of a program that Exec started, so that
// a program whose setting still differs does not start itself again and
// again.
const guard = "TETHER_H2XCONNECT_EXEC"

// Exec makes the process's HTTP/2 servers advertise extended CONNECT (on)
// or not. When [Enabled] already says so it returns
// nil; otherwise it replaces the process with the same program, arguments
// and environment but for GODEBUG's http2xconnect, which it sets to 1 or 0
// (other GODEBUG settings are kept), and does not return. It returns an
// error when it cannot do that (a system without execve, a program file
// that is gone), and the process goes on with the setting it has.
func Exec(on bool) error {
	if enabled == on {
		return nil
	}
	if os.Getenv(guard) != "" {
		return errors.New("h2xconnect: the program was started again with GODEBUG=" + os.Getenv("GODEBUG") + " and its setting still differs")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("h2xconnect: failed to find the program to start again: %w", err)
	}
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, guard+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, "GODEBUG="+Godebug(os.Getenv("GODEBUG"), on), guard+"=1")
	if err := execve(exe, os.Args, env); err != nil {
		return fmt.Errorf("h2xconnect: failed to start %s again with GODEBUG http2xconnect: %w", exe, err)
	}
	return nil // not reached
}

// Godebug returns the GODEBUG value godebug with http2xconnect set to 1
// (on) or 0, and its other settings as they were.
func Godebug(godebug string, on bool) string {
	var out []string
	for _, kv := range strings.Split(godebug, ",") {
		if kv != "" && !strings.HasPrefix(strings.TrimSpace(kv), "http2xconnect=") {
			out = append(out, kv)
		}
	}
	if on {
		out = append(out, "http2xconnect=1")
	} else {
		out = append(out, "http2xconnect=0")
	}
	return strings.Join(out, ",")
}

// Main runs a test binary's tests with extended CONNECT on, for tests of
// WebSockets over HTTP/2 against net/http's server; call it from TestMain.
// Where the binary cannot be started again, the tests run as they are, and
// [Require] fails those that need it.
func Main(m *testing.M) {
	if err := Exec(true); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(m.Run())
}

// Require fails t when the process's HTTP/2 servers do not advertise
// extended CONNECT.
func Require(t testing.TB) {
	t.Helper()
	if !enabled {
		t.Fatal("net/http's HTTP/2 server does not advertise extended CONNECT in this process: run the tests with GODEBUG=http2xconnect=1 (h2xconnect.Main in TestMain does it)")
	}
}
