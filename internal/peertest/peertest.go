// Package peertest finds the real peers that the interop and end-to-end
// tests drive — Node.js with a test folder's npm packages, Debian's
// Chromium — and decides what a test does when one is missing: it skips,
// unless TETHER_REQUIRE_PEERS is set (./scripts/test.sh sets it after
// installing every peer), in which case it fails.
package peertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DefaultChromium is where Debian's chromium package installs the browser.
const DefaultChromium = "/usr/bin/chromium"

// Missing skips t with the formatted reason, or fails it when
// TETHER_REQUIRE_PEERS is set.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("TETHER_REQUIRE_PEERS") != "" {
		t.Fatalf("%s (TETHER_REQUIRE_PEERS is set)", msg)
	}
	t.Skipf("%s; set TETHER_REQUIRE_PEERS to fail instead", msg)
}

// Node returns the path of node, after checking that each of pkgs is
// installed in the node_modules of the test's folder (the working
// directory of a Go test); dir names that folder in the message.
func Node(t testing.TB, dir string, pkgs ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Missing(t, "node not found in PATH")
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			Missing(t, "npm package %s is not installed (run npm ci in %s)", pkg, dir)
		}
	}
	return node
}

// Chromium returns the path of the browser: TETHER_CHROMIUM when set,
// else [DefaultChromium], after checking that it exists.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv("TETHER_CHROMIUM")
	if path == "" {
		path = DefaultChromium
	}
	if _, err := os.Stat(path); err != nil {
		Missing(t, "chromium not found at %s", path)
	}
	return path
}

// RunScript runs node with script and args to its end, or until timeout,
// and decodes each line the script printed on its standard output as a
// JSON object into an E. It returns the events, the lines they came from,
// what the script printed on its standard error, and the error of the run
// (a failed or timed-out script). A line that is not JSON fails t.
func RunScript[E any](t testing.TB, node string, timeout time.Duration, script string, args ...string) (events []E, lines []string, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err = cmd.Run()
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var e E
		if jerr := json.Unmarshal([]byte(line), &e); jerr != nil {
			t.Fatalf("node %s printed %q: %v\nstderr:\n%s", script, line, jerr, errOut.String())
		}
		events = append(events, e)
		lines = append(lines, line)
	}
	return events, lines, errOut.String(), err
}
