// Package peertest finds the real peers that the interop and end-to-end
// tests drive — Node.js with a test folder's npm packages, Debian's
// Chromium — and decides what a test does when one is missing: it skips,
// unless TETHER_REQUIRE_PEERS is set (./scripts/test.sh sets it after
// installing every peer), in which case it fails.
package peertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	out    *syncBuffer   // what it logged (redis-server logs on stdout)
	dir    string
	args   []string
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
	dir := t.TempDir()
	return startOnFreePorts(t, bin, 1, func(ports []int) *Redis {
		return &Redis{dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
			args: []string{"--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}}
	})
}

// startAttempts is how many times startOnFreePorts picks new ports for a
// server that could not listen on the ones it was given.
const startAttempts = 5

// startOnFreePorts starts the server that newRedis describes for n
// distinct free loopback ports, and kills it when the test ends. A port
// is free when picked but may be taken before the server binds it (by
// another test's listener, or as the local port of an outgoing
// connection, which comes from the same range): the server then exits,
// and it is started again on new ports.
func startOnFreePorts(t testing.TB, bin string, n int, newRedis func(ports []int) *Redis) *Redis {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(n)
		if err != nil {
			t.Fatalf("peertest: %v", err)
		}
		r := newRedis(ports)
		err = r.start(bin)
		if err == nil {
			t.Cleanup(r.stop)
			return r
		}
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			t.Fatalf("peertest: %v", err)
		}
		t.Logf("peertest: %v; trying other ports", err)
	}
}

// errPortTaken is the error of a server that exited because one of its
// ports was taken.
var errPortTaken = errors.New("a port was taken")

// startTimeout bounds the wait for a started server to answer: only a
// hang takes that long.
const startTimeout = 30 * time.Second

// start starts the server and waits until it answers on r.Addr: until
// INFO there gives the started process's id (not another server's that
// took the port). A server that exits first returns an error with what
// it logged, which wraps errPortTaken when it could not bind its port.
func (r *Redis) start(bin string) error {
	r.cmd = exec.Command(bin, r.args...)
	r.out = &syncBuffer{}
	r.cmd.Stdout = r.out
	r.cmd.Stderr = r.out
	if err := r.cmd.Start(); err != nil {
		r.cmd = nil
		return fmt.Errorf("failed to start redis-server: %w", err)
	}
	exited := make(chan struct{})
	r.exited = exited
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		close(exited)
	}(r.cmd)
	pid := r.cmd.Process.Pid
	deadline := time.Now().Add(startTimeout)
	for {
		err := probe(r.Addr, pid, exited)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			r.cmd = nil
			out := r.out.String()
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("redis-server could not listen on %s: %w:\n%s", r.Addr, errPortTaken, out)
			}
			return fmt.Errorf("redis-server on %s exited before answering:\n%s", r.Addr, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return fmt.Errorf("redis-server did not answer on %s within %v: %w\n%s", r.Addr, startTimeout, err, r.out.String())
		}
	}
}

// probe asks the server at addr for INFO server and checks that it is the
// process pid. It gives up when exited is closed (another listener on
// the port may not answer).
func probe(addr string, pid int, exited <-chan struct{}) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-exited:
			c.Close()
		case <-stop:
		}
	}()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"); err != nil {
		return fmt.Errorf("failed to send INFO to %s: %w", addr, err)
	}
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("failed to read INFO from %s: %w", addr, err)
	}
	size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || size < 0 {
		return fmt.Errorf("INFO on %s answered %q", addr, strings.TrimSpace(head))
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(br, body); err != nil {
		return fmt.Errorf("failed to read INFO from %s: %w", addr, err)
	}
	if !strings.Contains(string(body), fmt.Sprintf("\nprocess_id:%d\r", pid)) {
		return fmt.Errorf("the server on %s is not the redis-server started (pid %d)", addr, pid)
	}
	return nil
}

// syncBuffer is a bytes.Buffer that a process may write while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Kill kills the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() { r.stop() }

// Pause stops the server without closing its connections (SIGSTOP): it
// accepts nothing and answers nothing until [Redis.Resume], as a hung
// host would. A paused server is resumed when the test ends.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	if pauseSignal == nil {
		t.Skip("peertest: pausing a process needs SIGSTOP, which this platform lacks")
	}
	if err := r.cmd.Process.Signal(pauseSignal); err != nil {
		t.Fatalf("peertest: failed to pause redis-server: %v", err)
	}
	t.Cleanup(func() { r.resume() })
}

// Resume resumes a paused server (SIGCONT).
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	if err := r.resume(); err != nil {
		t.Fatalf("peertest: failed to resume redis-server: %v", err)
	}
}

func (r *Redis) resume() error {
	if r.cmd == nil || r.cmd.Process == nil || resumeSignal == nil {
		return nil
	}
	return r.cmd.Process.Signal(resumeSignal)
}

// Restart starts the server again on the same port, with nothing of
// before (no persistence).
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.stop()
	bin, _ := exec.LookPath("redis-server")
	if err := r.start(bin); err != nil {
		t.Fatalf("peertest: restart: %v", err)
	}
}

func (r *Redis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		<-r.exited
		r.cmd = nil
	}
}

// freePorts returns n distinct TCP ports free on loopback right now.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		// Each stays bound until all are picked, so that they differ.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("failed to find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// RedisCluster is a Redis Cluster started for a test, every slot
// assigned.
type RedisCluster struct {
	// Nodes are its servers: the masters first, in the order of their slot
	// ranges, then the replicas (as started: a failover swaps roles).
	Nodes []*Redis
	cli   string
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
	return StartRedisClusterReplicas(t, masters, 0)
}

// StartRedisClusterReplicas is [StartRedisCluster] with replicas replicas
// per master (a failover needs one: [RedisCluster.Failover]).
func StartRedisClusterReplicas(t testing.TB, masters, replicas int) *RedisCluster {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(t, "redis-server not found in PATH")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		Missing(t, "redis-cli not found in PATH (Debian's redis-tools)")
	}
	c := &RedisCluster{cli: cli}
	create := []string{"--cluster", "create"}
	total := masters * (1 + replicas)
	for range total {
		// The cluster bus gets a free port of its own rather than the
		// default port+10000, which may be taken.
		r := startOnFreePorts(t, bin, 2, func(ports []int) *Redis {
			// A new directory each time: a node that could not listen
			// may have written its nodes.conf.
			dir := t.TempDir()
			return &Redis{dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
				args: []string{"--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
					"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
					"--cluster-port", fmt.Sprint(ports[1]), "--cluster-node-timeout", "2000",
					// Replicas get a replication offset within a second: CLUSTER
					// SLOTS omits a replica until it has one.
					"--repl-ping-replica-period", "1"}}
		})
		c.Nodes = append(c.Nodes, r)
		create = append(create, r.Addr)
	}
	create = append(create, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")
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
				strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", total)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("peertest: the cluster did not become ready on %s: %v\n%s", r.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Every node knows every replica as one, and the replicas are in sync
	// (a failover needs both).
	for _, r := range c.Nodes {
		for {
			nodes, err := c.nodes(r)
			n := 0
			for _, cn := range nodes {
				if slices.Contains(cn.flags, "slave") && cn.master != "-" {
					n++
				}
			}
			if err == nil && n == masters*replicas {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("peertest: %s does not see the %d replicas: %v %v", r.Addr, masters*replicas, err, nodes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, r := range c.Nodes[masters:] {
		host, port, _ := net.SplitHostPort(r.Addr)
		for {
			out, err := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "info", "replication").Output()
			if err == nil && strings.Contains(string(out), "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("peertest: the replica %s is not in sync: %v\n%s", r.Addr, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Every node lists every other in CLUSTER SLOTS (what clients read the
	// cluster's shape from).
	for _, r := range c.Nodes {
		host, port, _ := net.SplitHostPort(r.Addr)
		for {
			out, err := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "cluster", "slots").Output()
			listed := 0
			for _, n := range c.Nodes {
				_, p, _ := net.SplitHostPort(n.Addr)
				if slices.Contains(strings.Fields(string(out)), p) {
					listed++
				}
			}
			if err == nil && listed == total {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("peertest: CLUSTER SLOTS on %s lists %d nodes of %d: %v\n%s", r.Addr, listed, total, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// clusterNode is a line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string
	flags            []string
	slots            [][2]int
}

// nodes returns the cluster's nodes as r sees them (CLUSTER NODES).
func (c *RedisCluster) nodes(r *Redis) ([]clusterNode, error) {
	host, port, _ := net.SplitHostPort(r.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.cli, "-h", host, "-p", port, "cluster", "nodes").Output()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", r.Addr, err)
	}
	var nodes []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n := clusterNode{id: f[0], addr: strings.SplitN(f[1], "@", 2)[0], flags: strings.Split(f[2], ","), master: f[3]}
		for _, r := range f[8:] {
			var from, to int
			if k, _ := fmt.Sscanf(r, "%d-%d", &from, &to); k == 2 {
				n.slots = append(n.slots, [2]int{from, to})
			} else if k == 1 {
				n.slots = append(n.slots, [2]int{from, from})
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// Failover promotes a replica of the master of slot (CLUSTER FAILOVER on
// the replica, which the master agrees to) and waits until every node
// sees it as the slot's master. It returns the old master's address and
// the new one's.
func (c *RedisCluster) Failover(t testing.TB, slot int) (from, to string) {
	t.Helper()
	nodes, err := c.nodes(c.Nodes[0])
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	var master, replica clusterNode
	for _, n := range nodes {
		for _, r := range n.slots {
			if slot >= r[0] && slot <= r[1] {
				master = n
			}
		}
	}
	for _, n := range nodes {
		if n.master == master.id {
			replica = n
		}
	}
	if master.id == "" || replica.id == "" {
		t.Fatalf("peertest: no master with a replica for slot %d in %v", slot, nodes)
	}
	host, port, _ := net.SplitHostPort(replica.addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A manual failover needs the replica in sync (it may be a master
	// that a failover just turned into one).
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, c.cli, "-h", host, "-p", port, "info", "replication").Output()
		if err == nil && strings.Contains(string(out), "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peertest: the replica %s is not in sync: %v\n%s", replica.addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	promotedOn := func(r *Redis) (bool, []clusterNode, error) {
		nodes, err := c.nodes(r)
		for _, n := range nodes {
			if n.id == replica.id && slices.Contains(n.flags, "master") && len(n.slots) > 0 {
				return true, nodes, err
			}
		}
		return false, nodes, err
	}
	// A manual failover gives up after 5 s when the master does not
	// answer in time (it may be a replica promoted a moment ago): ask
	// again until the replica says it is the master.
	for {
		if out, err := exec.CommandContext(ctx, c.cli, "-h", host, "-p", port, "cluster", "failover").CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
			t.Fatalf("peertest: CLUSTER FAILOVER on %s: %v %s", replica.addr, err, out)
		}
		asked := time.Now()
		promoted := false
		for !promoted && time.Since(asked) < 6*time.Second {
			promoted, _, _ = promotedOn(&Redis{Addr: replica.addr})
			time.Sleep(50 * time.Millisecond)
		}
		if promoted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peertest: CLUSTER FAILOVER on %s did not promote it", replica.addr)
		}
	}
	for _, r := range c.Nodes {
		for {
			promoted, nodes, err := promotedOn(r)
			if err == nil && promoted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("peertest: %s does not see %s as a master: %v %v", r.Addr, replica.addr, err, nodes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return master.addr, replica.addr
}

// RedisSentinel is a Redis master, a replica of it and a Sentinel that
// monitors them, started for a test.
type RedisSentinel struct {
	// Master and Replica are the data servers as started; after
	// [RedisSentinel.Failover] the replica is the master.
	Master, Replica *Redis
	// Sentinel is the sentinel.
	Sentinel *Redis
	// MasterSet is the name the sentinel monitors the master under.
	MasterSet string
	cli       string
}

// URL returns the URL a client of the master is given: the sentinel's
// address and the master's name, redis://sentinel?master_set=name (the
// form of rueidis.ParseURL).
func (s *RedisSentinel) URL() string {
	return "redis://" + s.Sentinel.Addr + "?master_set=" + s.MasterSet
}

// StartRedisSentinel starts a master, a replica and a sentinel on free
// loopback ports, with no persistence, and waits until the replica is in
// sync and the sentinel knows it (so that it can fail over). The servers
// are killed when the test ends. It needs redis-cli.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	return startRedisSentinel(t)
}

// StartRedisSentinelSplit is [StartRedisSentinel] with a master that
// refuses to become a replica (REPLICAOF renamed away), as one cut off from
// the sentinels but not from its clients would: after a failover both
// servers are masters, and a client that stays with the old one is cut off
// from the new one's traffic.
func StartRedisSentinelSplit(t testing.TB) *RedisSentinel {
	t.Helper()
	return startRedisSentinel(t, "--rename-command", "REPLICAOF", "", "--rename-command", "SLAVEOF", "")
}

func startRedisSentinel(t testing.TB, masterArgs ...string) *RedisSentinel {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(t, "redis-server not found in PATH")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		Missing(t, "redis-cli not found in PATH (Debian's redis-tools)")
	}
	s := &RedisSentinel{MasterSet: "tether", cli: cli}
	server := func(extra ...string) *Redis {
		dir := t.TempDir()
		return startOnFreePorts(t, bin, 1, func(ports []int) *Redis {
			return &Redis{dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
				args: append([]string{"--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}, extra...)}
		})
	}
	s.Master = server(masterArgs...)
	mhost, mport, _ := net.SplitHostPort(s.Master.Addr)
	s.Replica = server("--replicaof", mhost, mport)
	s.waitInfo(t, s.Replica, "replication", "master_link_status:up")

	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	s.Sentinel = startOnFreePorts(t, bin, 1, func(ports []int) *Redis {
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s %s %s 1\n"+
			"sentinel down-after-milliseconds %[3]s 1000\n"+
			"sentinel failover-timeout %[3]s 10000\n", ports[0], dir, s.MasterSet, mhost, mport)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("peertest: %v", err)
		}
		return &Redis{dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), args: []string{conf, "--sentinel"}}
	})
	// The sentinel learns of the replica from the master's INFO.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := s.run(s.Sentinel, "sentinel", "replicas", s.MasterSet)
		if err == nil && strings.Contains(out, s.Replica.Addr[strings.LastIndex(s.Replica.Addr, ":")+1:]) &&
			!strings.Contains(out, "s_down") && !strings.Contains(out, "disconnected") {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("peertest: the sentinel did not find the replica: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs redis-cli against r with args and returns what it printed.
func (s *RedisSentinel) run(r *Redis, args ...string) (string, error) {
	host, port, _ := net.SplitHostPort(r.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.cli, append([]string{"-h", host, "-p", port}, args...)...).Output()
	return string(out), err
}

// waitInfo waits until the INFO section of r contains want.
func (s *RedisSentinel) waitInfo(t testing.TB, r *Redis, section, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := s.run(r, "info", section)
		if err == nil && strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peertest: %s never reported %s: %v\n%s", r.Addr, want, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Failover makes the sentinel promote the replica (SENTINEL FAILOVER) and
// waits until the sentinel gives its address as the master's and the
// replica says it is the master. Master and Replica are swapped.
func (s *RedisSentinel) Failover(t testing.TB) {
	t.Helper()
	if out, err := s.run(s.Sentinel, "sentinel", "failover", s.MasterSet); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("peertest: SENTINEL FAILOVER: %v %s", err, out)
	}
	host, port, _ := net.SplitHostPort(s.Replica.Addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.run(s.Sentinel, "sentinel", "get-master-addr-by-name", s.MasterSet)
		if err == nil && slices.Equal(strings.Fields(out), []string{host, port}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peertest: the sentinel did not switch to %s: %v %s", s.Replica.Addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.waitInfo(t, s.Replica, "replication", "role:master")
	s.Master, s.Replica = s.Replica, s.Master
}
