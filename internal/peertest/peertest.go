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
	"net"
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

// Redis is a redis-server started for a test.
type Redis struct {
	// Addr is its address on loopback, host:port.
	Addr string
	cmd  *exec.Cmd
	dir  string
	args []string
}

// URL returns the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// StartRedis starts Debian's redis-server on a free loopback port, with no
// persistence, for the test; it is killed when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(t, "redis-server not found in PATH")
	}
	r := &Redis{dir: t.TempDir()}
	r.args = []string{"--port", "0", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}
	port, err := freePort()
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	r.args[1] = fmt.Sprint(port)
	r.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	r.start(t, bin)
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *Redis) start(t testing.TB, bin string) {
	t.Helper()
	r.cmd = exec.Command(bin, r.args...)
	var errOut bytes.Buffer
	r.cmd.Stderr = &errOut
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("peertest: failed to start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.stop()
			t.Fatalf("peertest: redis-server did not listen on %s: %v (%s)", r.Addr, err, errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() { r.stop() }

// Restart starts the server again on the same port, with nothing of
// before (no persistence).
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.stop()
	bin, _ := exec.LookPath("redis-server")
	r.start(t, bin)
}

func (r *Redis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// freePort returns a TCP port free on loopback right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RedisCluster is a Redis Cluster started for a test: masters only, no
// replicas, every slot assigned.
type RedisCluster struct {
	// Nodes are its servers, in the order of their slot ranges.
	Nodes []*Redis
}

// URL returns the URL a client of the cluster is given:
// redis://first?addr=second&addr=third (the form of rueidis.ParseURL;
// the client finds the slots of every node itself).
func (c *RedisCluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr
	}
	return u
}

// StartRedisCluster starts a Redis Cluster of masters (3 at least, as
// redis-cli requires) on free loopback ports, with no persistence and no
// replicas, and waits until every node reports cluster_state:ok and knows
// the others. The servers are killed when the test ends. It needs
// redis-cli (Debian's redis-tools, which redis-server depends on).
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(t, "redis-server not found in PATH")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		Missing(t, "redis-cli not found in PATH (Debian's redis-tools)")
	}
	c := &RedisCluster{}
	create := []string{"--cluster", "create"}
	for range masters {
		// The cluster bus gets a free port of its own rather than the
		// default port+10000, which may be taken.
		port, err := freePort()
		if err != nil {
			t.Fatalf("peertest: %v", err)
		}
		bus, err := freePort()
		if err != nil {
			t.Fatalf("peertest: %v", err)
		}
		r := &Redis{dir: t.TempDir(), Addr: fmt.Sprintf("127.0.0.1:%d", port)}
		r.args = []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", r.dir, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(r.dir, "nodes.conf"),
			"--cluster-port", fmt.Sprint(bus), "--cluster-node-timeout", "2000"}
		r.start(t, bin)
		t.Cleanup(r.stop)
		c.Nodes = append(c.Nodes, r)
		create = append(create, r.Addr)
	}
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, create...).CombinedOutput(); err != nil {
		t.Fatalf("peertest: redis-cli --cluster create failed: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, r := range c.Nodes {
		host, port, _ := net.SplitHostPort(r.Addr)
		for {
			out, err := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "cluster", "info").Output()
			info := string(out)
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", masters)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("peertest: the cluster did not become ready on %s: %v\n%s", r.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}
