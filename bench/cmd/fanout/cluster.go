package main

// The cluster mode (-cluster N): N server processes on one redis-server,
// the clients spread evenly over them, every client subscribed to the room
// "bench" with tether serve's subscribe event, and the broadcasts published
// by the clients themselves with tether serve's publish event (client
// s mod clients publishes broadcast s, so the broadcasts come from every
// node in turn). The servers are what users run:
//
//   - tether: `tether serve -redis-url …` (the default cluster adapter,
//     pubsub: Node's @socket.io/redis-adapter protocol) with
//     bench/load/tether-serve.yaml (the default namespace without presence
//     and join/leave events) and the per-IP limits off;
//   - node: test/cluster/node_server.mjs classic: socket.io 4.8 with
//     @socket.io/redis-adapter 8.3 (createAdapter) and tether serve's events
//     (test/e2e/client/serve_events.mjs).
//
// Besides the single-server columns it reports the CPU of all server
// processes together, and what Redis did: PUBLISH calls per broadcast
// (INFO commandstats: every PUBLISH from before the first broadcast to
// when the last one has reached every client, over all the broadcasts,
// warm-up included) and its CPU time in the measured time (INFO cpu), as
// a share of a core and per broadcast above its idle CPU (measured for 2 s
// with every client connected, before the first broadcast).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tether-rt/tether/bench"
	"github.com/tether-rt/tether/websocket"
)

// clusterNode is one server process of a cluster.
type clusterNode struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // node: closing it ends the process
	port  int
	done  chan struct{} // closed when the process has exited
}

// watch starts waiting for the process's end.
func (n *clusterNode) watch() *clusterNode {
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	return n
}

func (n *clusterNode) pid() int { return n.cmd.Process.Pid }

// stop ends the process: tether serve on SIGTERM (a graceful shutdown),
// node_server.mjs when its stdin closes; killed after 10 s.
func (n *clusterNode) stop() {
	if n.stdin != nil {
		_ = n.stdin.Close()
	} else {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// findPath returns the first of paths that exists (the command runs from
// bench/ or from the repository's root).
func findPath(flagValue string, paths ...string) string {
	if flagValue != "" {
		return flagValue
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}

// startTetherNode starts `tether serve` on a free port and waits until its
// /readyz answers 200 (listening, Redis connected). With FANOUT_ADMIN_PORT
// set, node i serves pprof and metrics on 127.0.0.1:FANOUT_ADMIN_PORT+i.
func startTetherNode(cfg config, i int, redisURL string) (*clusterNode, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"serve",
		"-config", findPath(cfg.ServeConfig, "load/tether-serve.yaml", "bench/load/tether-serve.yaml"),
		"-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"-redis-url", redisURL,
		"-demos=false", "-log-level", "warn",
		"-connections-per-ip", "0", "-handshake-rate", "0",
	}
	if base := os.Getenv("FANOUT_ADMIN_PORT"); base != "" {
		b, err := strconv.Atoi(base)
		if err != nil {
			return nil, fmt.Errorf("bad FANOUT_ADMIN_PORT %q: %w", base, err)
		}
		args = append(args, "-admin-addr", fmt.Sprintf("127.0.0.1:%d", b+i))
	}
	cmd := exec.Command(cfg.Tether, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s serve: %w", cfg.Tether, err)
	}
	n := (&clusterNode{cmd: cmd, port: port}).watch()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, nil
			}
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("tether serve exited at start: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("tether serve on port %d was not ready within 15 s (last: %v)", port, err)
		}
	}
}

// startNodeNode starts test/cluster/node_server.mjs with the classic
// adapter and waits until it listens.
func startNodeNode(cfg config, redisURL string) (*clusterNode, error) {
	dir := findPath(cfg.NodeDir, "../test/cluster", "test/cluster")
	cmd := exec.Command("node", filepath.Join(dir, "node_server.mjs"), "classic", redisURL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("failed to make the server's stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("failed to make the server's stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start the node server: %w", err)
	}
	r := bufio.NewReader(stdout)
	line, err := r.ReadBytes('\n')
	var ready struct {
		Op   string `json:"op"`
		Port int    `json:"port"`
	}
	if err == nil {
		err = json.Unmarshal(line, &ready)
	}
	n := (&clusterNode{cmd: cmd, stdin: stdin}).watch()
	if err != nil || ready.Op != "listening" {
		n.stop()
		return nil, fmt.Errorf("failed to start the node server (%q): %v", line, err)
	}
	n.port = ready.Port
	// It prints a line per connection: keep its pipe flowing.
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return n, nil
}

// redisServer is a redis-server the driver started.
type redisServer struct {
	cmd *exec.Cmd
	url string
}

func startRedis() (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start redis-server: %w", err)
	}
	r := &redisServer{cmd: cmd, url: fmt.Sprintf("redis://127.0.0.1:%d", port)}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := redisStats(r.url); err == nil {
			return r, nil
		} else if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server did not answer within 10 s: %w", err)
		}
	}
}

func (r *redisServer) stop() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// redisCounters are the Redis figures a run compares before and after.
type redisCounters struct {
	Publishes int64         // cmdstat_publish calls
	CPU       time.Duration // used_cpu_sys + used_cpu_user
}

// redisStats reads INFO cpu and commandstats from the Redis of rawURL (a
// plain redis://host:port: no password, db 0) with an inline command.
func redisStats(rawURL string) (redisCounters, error) {
	var rc redisCounters
	u, err := url.Parse(rawURL)
	if err != nil {
		return rc, fmt.Errorf("failed to parse the Redis URL: %w", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return rc, fmt.Errorf("failed to connect to Redis: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "INFO cpu commandstats\r\n"); err != nil {
		return rc, fmt.Errorf("failed to send INFO: %w", err)
	}
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil {
		return rc, fmt.Errorf("failed to read INFO: %w", err)
	}
	if !strings.HasPrefix(head, "$") {
		return rc, fmt.Errorf("failed to read INFO: unexpected answer %q", head)
	}
	size, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return rc, fmt.Errorf("failed to read INFO: bad length %q", head)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return rc, fmt.Errorf("failed to read INFO: %w", err)
	}
	var cpu float64
	for line := range strings.Lines(string(body)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		case "cmdstat_publish":
			calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
			rc.Publishes, _ = strconv.ParseInt(calls, 10, 64)
		}
	}
	rc.CPU = time.Duration(cpu * float64(time.Second))
	return rc, nil
}

// cpuOf sums the CPU time of pids.
func cpuOf(pids []int) (time.Duration, []time.Duration, error) {
	var sum time.Duration
	each := make([]time.Duration, len(pids))
	for i, pid := range pids {
		c, err := bench.ProcCPU(pid)
		if err != nil {
			return 0, nil, err
		}
		each[i] = c
		sum += c
	}
	return sum, each, nil
}

// rssOf sums the resident memory of pids.
func rssOf(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		r, err := bench.ProcRSS(pid)
		if err != nil {
			return 0, err
		}
		sum += r
	}
	return sum, nil
}

// publishMsg is a publish event for broadcast seq, with its send time.
func publishMsg(seq int64, pad string) []byte {
	return fmt.Appendf(nil, `42["publish",{"room":"bench","event":"tick","data":{"t":%d,"s":%d,"p":"%s"}}]`,
		time.Now().UnixNano(), seq, pad)
}

// runCluster measures a cluster of cfg.Nodes servers of kind cfg.Server.
func runCluster(cfg config) (*result, error) {
	if cfg.Clients < 2 {
		return nil, errors.New("a cluster run needs at least 2 clients")
	}
	redisURL := cfg.RedisURL
	if redisURL == "" {
		rs, err := startRedis()
		if err != nil {
			return nil, err
		}
		defer rs.stop()
		redisURL = rs.url
	}
	var nodes []*clusterNode
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(n.stop)
		}
		wg.Wait()
	}()
	for i := range cfg.Nodes {
		var n *clusterNode
		var err error
		switch cfg.Server {
		case "tether":
			n, err = startTetherNode(cfg, i, redisURL)
		case "node":
			n, err = startNodeNode(cfg, redisURL)
		default:
			err = fmt.Errorf("unknown server %q in a cluster: tether or node", cfg.Server)
		}
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	pids := make([]int, len(nodes))
	for i, n := range nodes {
		pids[i] = n.pid()
	}
	time.Sleep(500 * time.Millisecond) // let the runtimes settle
	rssBefore, err := rssOf(pids)
	if err != nil {
		return nil, err
	}

	// Every client but the publisher receives a broadcast.
	st := &stats{target: int32(cfg.Clients - 1)}
	if cfg.Max {
		st.credits = make(chan int, len(st.pending))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := make([]*websocket.Conn, cfg.Clients)
	rampStart := time.Now()
	wg, err := connectClients(ctx, cfg.Clients, cfg.Dialers, func(i int) string {
		return fmt.Sprintf("ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket", nodes[i%len(nodes)].port)
	}, st, conns)
	if err != nil {
		return nil, err
	}
	log.Printf("%s ×%d: %d clients connected and subscribed in %v", cfg.Server, cfg.Nodes, cfg.Clients, time.Since(rampStart).Round(time.Millisecond))
	// Redis's own CPU with every client connected and nothing published
	// (its timers, hz 10): taken out of its CPU per broadcast.
	idle0, err := redisStats(redisURL)
	if err != nil {
		return nil, err
	}
	idleStart := time.Now()
	time.Sleep(2 * time.Second)
	idle1, err := redisStats(redisURL)
	if err != nil {
		return nil, err
	}
	idleRate := (idle1.CPU - idle0.CPU).Seconds() / time.Since(idleStart).Seconds()
	rssAfter, err := rssOf(pids)
	if err != nil {
		return nil, err
	}

	// Publish: broadcast s from client s mod clients.
	pad := strings.Repeat("x", cfg.Size)
	var sent atomic.Int64
	var publishErr atomic.Pointer[error]
	publish := func() {
		s := sent.Add(1) - 1
		if err := conns[s%int64(len(conns))].WriteMessage(websocket.MessageText, publishMsg(s, pad)); err != nil {
			publishErr.CompareAndSwap(nil, &err)
		}
	}
	// Redis's PUBLISH calls are counted from here to when every broadcast
	// has arrived: no broadcast is on its way at either end.
	redisAll0, err := redisStats(redisURL)
	if err != nil {
		return nil, err
	}
	stallErr := make(chan error, 1)
	stop := make(chan struct{})
	var pubDone sync.WaitGroup
	if cfg.Max {
		for range cfg.Window {
			publish()
		}
		pubDone.Go(func() {
			for {
				select {
				case <-stop:
					return
				case k := <-st.credits:
					for ; k > 0; k-- {
						publish()
					}
				case <-time.After(10 * time.Second):
					stallErr <- errors.New("no broadcast completed for 10 s (a client fell behind or dropped)")
					return
				}
			}
		})
	} else {
		period := time.Duration(float64(time.Second) / cfg.Rate)
		pubDone.Go(func() {
			start := time.Now()
			for n := int64(0); ; {
				// Catch up when the timer fires late, as server.mjs does.
				due := int64(time.Since(start)/period) + 1
				for ; n < due; n++ {
					publish()
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Until(start.Add(time.Duration(n) * period))):
				}
			}
		})
	}
	time.Sleep(cfg.Warmup)
	cpu0, each0, err := cpuOf(append(pids, os.Getpid()))
	if err != nil {
		return nil, err
	}
	driver0 := each0[len(pids)]
	cpu0 -= driver0
	redis0, err := redisStats(redisURL)
	if err != nil {
		return nil, err
	}
	sent0 := sent.Load()
	st.measuring.Store(true)
	t0 := time.Now()
	select {
	case <-time.After(cfg.Duration):
	case err := <-stallErr:
		return nil, err
	}
	st.measuring.Store(false)
	elapsed := time.Since(t0)
	sent1 := sent.Load()
	cpu1, each1, err := cpuOf(append(pids, os.Getpid()))
	if err != nil {
		return nil, err
	}
	driver1 := each1[len(pids)]
	cpu1 -= driver1
	redis1, err := redisStats(redisURL)
	if err != nil {
		return nil, err
	}
	close(stop)
	pubDone.Wait()
	want := sent.Load() * int64(cfg.Clients-1)
	for deadline := time.Now().Add(10 * time.Second); st.received.Load() < want && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the last PUBLISHes' INFO counts
	redisAll1, err := redisStats(redisURL)
	if err != nil {
		return nil, err
	}
	allSent := sent.Load()
	allReceived := st.received.Load()
	cancel()
	wg.Wait()
	if p := publishErr.Load(); p != nil {
		return nil, fmt.Errorf("failed to publish: %w", *p)
	}

	broadcasts := sent1 - sent0
	delivered := st.delivered.Load()
	q := st.quantiles(0.5, 0.99, 1)
	res := &result{
		Server:        cfg.Server,
		Nodes:         cfg.Nodes,
		Clients:       cfg.Clients,
		Connected:     cfg.Clients,
		Size:          cfg.Size,
		DurationSec:   elapsed.Seconds(),
		Broadcasts:    broadcasts,
		Delivered:     delivered,
		Expected:      broadcasts * int64(cfg.Clients-1),
		MsgsPerSec:    float64(delivered) / elapsed.Seconds(),
		P50ms:         q[0],
		P99ms:         q[1],
		MaxMs:         q[2],
		RSSBeforeMiB:  float64(rssBefore) / (1 << 20),
		RSSAfterMiB:   float64(rssAfter) / (1 << 20),
		RSSPerConnKiB: float64(rssAfter-rssBefore) / 1024 / float64(cfg.Clients),
		Disconnects:   st.disconnects.Load(),
		CPUPercent:    100 * (cpu1 - cpu0).Seconds() / elapsed.Seconds(),
		Time:          time.Now().UTC().Format(time.RFC3339),

		RedisPublishes:   redisAll1.Publishes - redisAll0.Publishes,
		AllBroadcasts:    allSent,
		AllReceived:      allReceived,
		RedisCPUPercent:  100 * (redis1.CPU - redis0.CPU).Seconds() / elapsed.Seconds(),
		RedisIdlePercent: 100 * idleRate,

		DriverCPUPercent: 100 * (driver1 - driver0).Seconds() / elapsed.Seconds(),
	}
	for i := range pids {
		res.NodeCPUPercent = append(res.NodeCPUPercent, 100*(each1[i]-each0[i]).Seconds()/elapsed.Seconds())
	}
	if delivered > 0 {
		res.CPUusPerMsg = float64((cpu1 - cpu0).Microseconds()) / float64(delivered)
	}
	if broadcasts > 0 {
		res.PublishesPerBroadcast = float64(res.RedisPublishes) / float64(allSent)
		busy := (redis1.CPU - redis0.CPU).Seconds() - idleRate*elapsed.Seconds()
		res.RedisCPUusPerBroadcast = max(busy, 0) * 1e6 / float64(broadcasts)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if cfg.Max {
		res.RateName = "max"
		res.Window = cfg.Window
	} else {
		res.RateName = strconv.FormatFloat(cfg.Rate, 'g', -1, 64) + "/s"
	}
	return res, nil
}

// clusterName is a cluster row's server column.
func clusterName(res *result) string {
	switch res.Server {
	case "tether":
		return fmt.Sprintf("tether serve ×%d", res.Nodes)
	case "node":
		return fmt.Sprintf("Node socket.io 4.8 + redis-adapter ×%d", res.Nodes)
	}
	return fmt.Sprintf("%s ×%d", res.Server, res.Nodes)
}

// printClusterTable prints the JSON result lines of cluster runs as a
// Markdown table, one row per run, then the range (min–max) of each
// column per server, nodes and rate.
func printClusterTable(r io.Reader, w io.Writer) error {
	var rows []*result
	dec := json.NewDecoder(r)
	for {
		res := new(result)
		if err := dec.Decode(res); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("failed to read results: %w", err)
		}
		rows = append(rows, res)
	}
	rateName := func(res *result) string {
		if res.Window > 0 {
			return fmt.Sprintf("max (window %d)", res.Window)
		}
		return res.RateName
	}
	fmt.Fprintln(w, "| time (UTC) | servers | rate | clients | broadcasts/s | delivered msg/s | delivered / expected | p50 latency | p99 latency | servers' CPU per delivered msg | servers' CPU (each node) | Redis PUBLISH per broadcast | Redis CPU per broadcast (above idle) | Redis CPU (idle) | clients' CPU | RSS per connection | drops | load average |")
	fmt.Fprintln(w, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, res := range rows {
		each := make([]string, len(res.NodeCPUPercent))
		for i, c := range res.NodeCPUPercent {
			each[i] = fmt.Sprintf("%.0f", c)
		}
		t, _ := time.Parse(time.RFC3339, res.Time)
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.1f | %.0f | %.1f %% | %.1f ms | %.1f ms | %.2f µs | %.0f %% (%s) | %.2f | %.1f µs | %.1f %% (%.1f %%) | %.0f %% | %.1f KiB | %d | %s |\n",
			t.Format("15:04:05"), clusterName(res), rateName(res), res.Clients, float64(res.Broadcasts)/res.DurationSec,
			res.MsgsPerSec, 100*float64(res.Delivered)/float64(max(res.Expected, 1)), res.P50ms, res.P99ms,
			res.CPUusPerMsg, res.CPUPercent, strings.Join(each, "/"), res.PublishesPerBroadcast,
			res.RedisCPUusPerBroadcast, res.RedisCPUPercent, res.RedisIdlePercent, res.DriverCPUPercent,
			res.RSSPerConnKiB, res.Disconnects, res.Load)
	}

	// Ranges.
	type key struct {
		server string
		nodes  int
		rate   string
	}
	groups := map[key][]*result{}
	var keys []key
	for _, res := range rows {
		k := key{res.Server, res.Nodes, rateName(res)}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], res)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].rate != keys[j].rate {
			return keys[i].rate > keys[j].rate // "max (…)" before "N/s"
		}
		if keys[i].nodes != keys[j].nodes {
			return keys[i].nodes > keys[j].nodes
		}
		return keys[i].server > keys[j].server // tether before node
	})
	span := func(g []*result, f func(*result) float64, format string) string {
		lo, hi := f(g[0]), f(g[0])
		for _, res := range g[1:] {
			lo, hi = min(lo, f(res)), max(hi, f(res))
		}
		if fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
			return fmt.Sprintf(format, lo)
		}
		return fmt.Sprintf(format+"–"+format, lo, hi)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| servers | rate | runs | delivered msg/s | servers' CPU per delivered msg | servers' CPU | p99 latency | Redis PUBLISH per broadcast | Redis CPU per broadcast | drops |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, k := range keys {
		g := groups[k]
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s µs | %s %% | %s ms | %s | %s µs | %s |\n",
			clusterName(g[0]), k.rate, len(g),
			span(g, func(r *result) float64 { return r.MsgsPerSec }, "%.0f"),
			span(g, func(r *result) float64 { return r.CPUusPerMsg }, "%.2f"),
			span(g, func(r *result) float64 { return r.CPUPercent }, "%.0f"),
			span(g, func(r *result) float64 { return r.P99ms }, "%.0f"),
			span(g, func(r *result) float64 { return r.PublishesPerBroadcast }, "%.2f"),
			span(g, func(r *result) float64 { return r.RedisCPUusPerBroadcast }, "%.1f"),
			span(g, func(r *result) float64 { return float64(r.Disconnects) }, "%.0f"))
	}
	return nil
}
