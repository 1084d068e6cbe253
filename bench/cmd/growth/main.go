// Command growth measures how the CPU time and memory of `tether serve`
// grow with the number of connected Socket.IO clients, one point at a
// time, and draws the curves.
//
// -mode point starts a server as users run it (-server tether: `tether
// serve` with its default settings, on a free loopback port, -log-level
// warn; -server node: Node's socket.io 4.8, test/e2e/client/node_server.mjs),
// connects -clients clients to it with `tether load -pid` (WebSocket, from
// 250 loopback source addresses, -ramp per second, -procs worker processes
// of at most 5,000 clients each), and prints one JSON line:
//
//   - -scenario idle: the clients connect to "/" and stay quiet for 30 s
//     (every session goes through a heartbeat: the ping interval is 25 s);
//     RSS 1 s after the last client connected and at the end, and the
//     server's CPU over the 30 s;
//   - -scenario active: a chat-like load that grows with the clients: rooms
//     of 100 clients (-clients/100 rooms) and each client publishing one
//     100-byte message every 100 s on average (-clients/100 publishes per
//     second in all), so that every client receives about one message per
//     second; the server's CPU, CPU per delivered message, RSS and the
//     delivery latency over 20 s after 5 s of warm-up.
//
// Both also sample the kernel's side once the clients are connected: the
// socket memory of the server's established connections (`ss -tmn`,
// skmem r+t+f+w) and /proc/net/sockstat's TCP page count (both ends).
//
// -mode table reads the JSON lines on stdin and prints a Markdown table
// and the least-squares slope of RSS over clients; -mode plot draws them
// into PNG files (-docs, default ../docs: growth-rss.png and
// growth-cpu.png).
//
//	growth -mode point -server tether -tether ./tether -clients 19000 -scenario active
//	growth -mode table < growth.jsonl
//	growth -mode plot -docs ../docs < growth.jsonl
//
// bench/run.sh growth runs the sweep (1,000, 5,000, 10,000 and 19,000
// clients, each point under flock /tmp/bench.lock).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tether-rt/tether/bench"
)

type config struct {
	Mode     string
	Server   string
	Tether   string
	NodeDir  string
	Clients  int
	Scenario string
	Ramp     int
	Docs     string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("growth: ")
	var cfg config
	flag.StringVar(&cfg.Mode, "mode", "point", "point (measure one point), table or plot (read the JSON lines on stdin)")
	flag.StringVar(&cfg.Server, "server", "tether", "tether (tether serve, defaults) or node (Node socket.io 4.8)")
	flag.StringVar(&cfg.Tether, "tether", "tether", "the tether binary (serve and load)")
	flag.StringVar(&cfg.NodeDir, "node-dir", "", "folder of node_server.mjs (default: test/e2e/client, from bench/ or the repository)")
	flag.IntVar(&cfg.Clients, "clients", 1000, "Socket.IO clients")
	flag.StringVar(&cfg.Scenario, "scenario", "idle", "idle or active")
	flag.IntVar(&cfg.Ramp, "ramp", 1000, "new connections per second")
	flag.StringVar(&cfg.Docs, "docs", "../docs", "folder of the PNG files (-mode plot)")
	flag.Parse()
	var err error
	switch cfg.Mode {
	case "point":
		err = point(cfg)
	case "table":
		err = table(os.Stdin, os.Stdout)
	case "plot":
		err = drawPlots(os.Stdin, cfg.Docs)
	default:
		err = fmt.Errorf("unknown -mode %q", cfg.Mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// Point is one measured point, a JSON line of the results.
type Point struct {
	Server        string  `json:"server"`
	Scenario      string  `json:"scenario"`
	Clients       int     `json:"clients"`
	Connected     int64   `json:"connected"`
	Procs         int     `json:"procs"`
	Rooms         int     `json:"rooms"`
	PublishRate   float64 `json:"publish_rate"`
	DurationS     float64 `json:"duration_s"`
	RSSBefore     int64   `json:"rss_before_bytes"`
	RSSConnected  int64   `json:"rss_connected_bytes"`
	RSSEnd        int64   `json:"rss_end_bytes"`
	RSSPerConn    float64 `json:"rss_per_connection_bytes"`
	RSSEndPerConn float64 `json:"rss_end_per_connection_bytes"`
	CPUPercent    float64 `json:"cpu_percent"`
	CPUPerMsgUS   float64 `json:"cpu_per_delivered_message_us"`
	Expected      int64   `json:"expected"`
	Delivered     int64   `json:"delivered"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	LatencyP50    float64 `json:"latency_p50_ms"`
	LatencyP99    float64 `json:"latency_p99_ms"`
	ConnectP99    float64 `json:"connect_p99_ms"`
	Threads       int     `json:"server_threads"`
	// The kernel's side, sampled once the clients are connected.
	SkmemSockets int   `json:"skmem_sockets"`
	SkmemBytes   int64 `json:"skmem_bytes"`   // server's sockets: r+t+f+w
	TCPMemPages  int64 `json:"tcp_mem_pages"` // /proc/net/sockstat, both ends
	TCPInuse     int64 `json:"tcp_inuse"`     // /proc/net/sockstat
	// The kernel's slab memory (/proc/meminfo Slab) before the server
	// started and with the clients connected: both ends of every
	// connection, and whatever else the machine did meanwhile.
	SlabBeforeKB    int64    `json:"slab_before_kb"`
	SlabConnectedKB int64    `json:"slab_connected_kb"`
	LoadAvg         string   `json:"loadavg_end"` // 1, 5, 15 min
	Time            string   `json:"time"`
	ServeCommand    string   `json:"serve_command"`
	LoadCommand     string   `json:"load_command"`
	OK              bool     `json:"ok"`
	Failures        []string `json:"failures"`
}

// loadReport is the part of `tether load -out json` read here.
type loadReport struct {
	Connected     int64   `json:"connected"`
	Expected      int64   `json:"expected"`
	Delivered     int64   `json:"delivered"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	ConnectTime   struct {
		P99 float64 `json:"p99"`
	} `json:"connect_ms"`
	Latency struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_ms"`
	Server *struct {
		RSSBefore        int64   `json:"rss_before_bytes"`
		RSSConnected     int64   `json:"rss_connected_bytes"`
		RSSPerConnection float64 `json:"rss_per_connection_bytes"`
		CPUPercent       float64 `json:"cpu_percent"`
		CPUPerMessageUS  float64 `json:"cpu_per_delivered_message_us"`
	} `json:"server"`
	Failures []string `json:"failures"`
	OK       bool     `json:"ok"`
}

// server is a server process the point started.
type server struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser // node: closing it ends the process
	port    int
	done    chan struct{}
	command string
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the process (SIGTERM, or node's stdin closed), killed after 10 s.
func (s *server) stop() {
	if s.stdin != nil {
		_ = s.stdin.Close()
	} else {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

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

// startTether starts `tether serve` with its default settings on a free
// port and waits until /readyz answers 200.
func startTether(cfg config) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-log-level", "warn"}
	cmd := exec.Command(cfg.Tether, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s serve: %w", cfg.Tether, err)
	}
	s := &server{cmd: cmd, port: port, done: make(chan struct{}),
		command: "tether " + strings.Join(args, " ")}
	go func() { _ = cmd.Wait(); close(s.done) }()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("tether serve exited at start: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("tether serve on port %d was not ready within 15 s (last: %v)", port, err)
		}
	}
}

// startNode starts test/e2e/client/node_server.mjs (socket.io 4.8 with
// tether serve's subscribe and publish events) and waits until it listens.
func startNode(cfg config) (*server, error) {
	dir := findPath(cfg.NodeDir, "../test/e2e/client", "test/e2e/client")
	cmd := exec.Command("node", "node_server.mjs")
	cmd.Dir = dir
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
	s := &server{cmd: cmd, stdin: stdin, done: make(chan struct{}),
		command: "node test/e2e/client/node_server.mjs"}
	r := bufio.NewReader(stdout)
	line, err := r.ReadBytes('\n')
	// Wait only after the first read: Wait closes the pipe.
	go func() { _, _ = io.Copy(io.Discard, r); _ = cmd.Wait(); close(s.done) }()
	var ready struct {
		Op   string `json:"op"`
		Port int    `json:"port"`
	}
	if err == nil {
		err = json.Unmarshal(line, &ready)
	}
	if err != nil || ready.Op != "listening" {
		s.stop()
		return nil, fmt.Errorf("failed to start the node server (%q): %v", line, err)
	}
	s.port = ready.Port
	return s, nil
}

// scenarioArgs returns tether load's arguments of a scenario (without -url
// and -pid), its rooms and publish rate.
func scenarioArgs(cfg config, procs int) (args []string, rooms int, rate float64, measured time.Duration, err error) {
	args = []string{"load", "-clients", strconv.Itoa(cfg.Clients), "-procs", strconv.Itoa(procs),
		"-ramp", strconv.Itoa(cfg.Ramp), "-sources", "250", "-transports", "websocket"}
	switch cfg.Scenario {
	case "idle":
		measured = 30 * time.Second
		args = append(args, "-rooms", "0", "-mode", "receive", "-warmup", "1s", "-duration", "30s", "-drain", "0s")
	case "active":
		measured = 20 * time.Second
		rooms = max(1, cfg.Clients/100)
		rate = float64(cfg.Clients) / 100
		args = append(args, "-rooms", strconv.Itoa(rooms), "-mode", "publish",
			"-publish-rate", strconv.FormatFloat(rate, 'f', -1, 64), "-size", "100",
			"-warmup", "5s", "-duration", "20s", "-drain", "5s")
	default:
		err = fmt.Errorf("unknown -scenario %q (idle or active)", cfg.Scenario)
	}
	return args, rooms, rate, measured, err
}

func point(cfg config) error {
	if cfg.Clients < 1 {
		return errors.New("-clients must be positive")
	}
	procs := (cfg.Clients + 4999) / 5000
	args, rooms, rate, measured, err := scenarioArgs(cfg, procs)
	if err != nil {
		return err
	}
	slabBefore := slabKB()
	var srv *server
	switch cfg.Server {
	case "tether":
		srv, err = startTether(cfg)
	case "node":
		srv, err = startNode(cfg)
	default:
		err = fmt.Errorf("unknown -server %q", cfg.Server)
	}
	if err != nil {
		return err
	}
	defer srv.stop()
	time.Sleep(time.Second) // settle before tether load's "before" sample

	args = append(args, "-url", fmt.Sprintf("http://127.0.0.1:%d", srv.port), "-pid", strconv.Itoa(srv.pid()),
		"-label", cfg.Server, "-out", "json")
	load := exec.Command(cfg.Tether, args...)
	var out bytes.Buffer
	load.Stdout = &out
	load.Stderr = os.Stderr
	if err := load.Start(); err != nil {
		return fmt.Errorf("failed to start tether load: %w", err)
	}
	// Sample the kernel's side in the middle of the measured time: after
	// the ramp (clients/ramp s), the settling second, the warm-up.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var kern kernelSample
	warmup := 1 * time.Second
	if cfg.Scenario == "active" {
		warmup = 5 * time.Second
	}
	wait := time.Duration(float64(cfg.Clients)/float64(cfg.Ramp)*float64(time.Second)) + 2*time.Second + warmup + measured/2
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			kern = sampleKernel(srv.port)
		}
	})
	loadErr := load.Wait()
	cancel()
	wg.Wait()

	var rep loadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return fmt.Errorf("failed to read tether load's report (%v, exit %v): %w", out.String(), loadErr, err)
	}
	p := Point{
		Server: cfg.Server, Scenario: cfg.Scenario, Clients: cfg.Clients, Connected: rep.Connected,
		Procs: procs, Rooms: rooms, PublishRate: rate, DurationS: measured.Seconds(),
		Expected: rep.Expected, Delivered: rep.Delivered, DeliveredPerS: rep.DeliveredPerS,
		LatencyP50: rep.Latency.P50, LatencyP99: rep.Latency.P99, ConnectP99: rep.ConnectTime.P99,
		SlabBeforeKB: slabBefore, SlabConnectedKB: kern.slab,
		SkmemSockets: kern.sockets, SkmemBytes: kern.skmem, TCPMemPages: kern.tcpMem, TCPInuse: kern.tcpInuse,
		Time:         time.Now().UTC().Format(time.RFC3339),
		ServeCommand: srv.command,
		LoadCommand:  "tether " + strings.Join(args, " "),
		OK:           rep.OK, Failures: rep.Failures,
	}
	if rep.Server != nil {
		p.RSSBefore, p.RSSConnected, p.RSSPerConn = rep.Server.RSSBefore, rep.Server.RSSConnected, rep.Server.RSSPerConnection
		p.CPUPercent, p.CPUPerMsgUS = rep.Server.CPUPercent, rep.Server.CPUPerMessageUS
	}
	if rss, err := bench.ProcRSS(srv.pid()); err == nil {
		p.RSSEnd = rss
		if rep.Connected > 0 {
			p.RSSEndPerConn = float64(rss-p.RSSBefore) / float64(rep.Connected)
		}
	}
	p.Threads = procThreads(srv.pid())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		p.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	line, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("failed to encode the point: %w", err)
	}
	fmt.Println(string(line))
	if !p.OK {
		return fmt.Errorf("tether load reported failures: %v", p.Failures)
	}
	return nil
}

func procThreads(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n
		}
	}
	return 0
}

type kernelSample struct {
	sockets          int
	skmem            int64
	tcpMem, tcpInuse int64
	slab             int64
}

// slabKB returns the Slab line of /proc/meminfo, in KiB (0 if unknown).
func slabKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Slab:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

var skmemRE = regexp.MustCompile(`skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f(\d+),w(\d+),`)

// sampleKernel sums the socket memory of the server's established TCP
// connections (ss -tmn) and reads /proc/net/sockstat.
func sampleKernel(port int) kernelSample {
	k := kernelSample{slab: slabKB()}
	out, err := exec.Command("ss", "-tmnH", "state", "established", fmt.Sprintf("( sport = :%d )", port)).Output()
	if err == nil {
		for _, m := range skmemRE.FindAllSubmatch(out, -1) {
			k.sockets++
			for _, v := range m[1:] {
				n, _ := strconv.ParseInt(string(v), 10, 64)
				k.skmem += n
			}
		}
	} else {
		log.Printf("ss failed: %v", err)
	}
	if b, err := os.ReadFile("/proc/net/sockstat"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "TCP:" {
				continue
			}
			for i := 1; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(f[i+1], 10, 64)
				switch f[i] {
				case "mem":
					k.tcpMem = n
				case "inuse":
					k.tcpInuse = n
				}
			}
		}
	}
	return k
}

// readPoints reads JSON lines of points.
func readPoints(r io.Reader) ([]Point, error) {
	var ps []Point
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var p Point
		if err := json.Unmarshal(line, &p); err != nil {
			return nil, fmt.Errorf("failed to read a point: %w", err)
		}
		ps = append(ps, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read the points: %w", err)
	}
	return ps, nil
}

// fit returns the least-squares line y = a + b·x.
func fit(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	if n < 2 {
		return math.NaN(), math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	b = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return (sy - b*sx) / n, b
}

// series groups points by server and scenario, in order of appearance.
func series(ps []Point) (keys []string, by map[string][]Point) {
	by = map[string][]Point{}
	for _, p := range ps {
		k := p.Server + " " + p.Scenario
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], p)
	}
	return keys, by
}

func serverName(s string) string {
	if s == "node" {
		return "Node socket.io 4.8"
	}
	return "tether serve"
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func table(r io.Reader, w io.Writer) error {
	ps, err := readPoints(r)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "| server | scenario | clients (connected) | procs | rooms | publishes/s | delivered/s | server RSS before → connected → end, MiB | RSS per client (connected / end) | server CPU, % of one core | CPU per delivered msg | latency p50 / p99 | connect p99 | server sockets' buffers (ss skmem) | kernel slab Δ per connection (both ends) | ok |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, p := range ps {
		perMsg, lat, rate := "", "", ""
		if p.Scenario == "active" {
			perMsg = fmt.Sprintf("%.1f µs", p.CPUPerMsgUS)
			lat = fmt.Sprintf("%.1f / %.1f ms", p.LatencyP50, p.LatencyP99)
			rate = fmt.Sprintf("%g", p.PublishRate)
		}
		skmem := ""
		if p.SkmemSockets > 0 {
			skmem = fmt.Sprintf("%d sockets, %.0f B each", p.SkmemSockets, float64(p.SkmemBytes)/float64(p.SkmemSockets))
		}
		slab := ""
		if p.SlabBeforeKB > 0 && p.SlabConnectedKB > 0 && p.Connected > 0 {
			slab = fmt.Sprintf("%.1f KiB", float64(p.SlabConnectedKB-p.SlabBeforeKB)/float64(p.Connected))
		}
		ok := "yes"
		if !p.OK {
			ok = strings.Join(p.Failures, "; ")
		}
		fmt.Fprintf(w, "| %s | %s | %d (%d) | %d | %d | %s | %.0f | %s → %s → %s | %.1f / %.1f KiB | %.1f %% | %s | %s | %.0f ms | %s | %s | %s |\n",
			serverName(p.Server), p.Scenario, p.Clients, p.Connected, p.Procs, p.Rooms, rate, p.DeliveredPerS,
			mib(p.RSSBefore), mib(p.RSSConnected), mib(p.RSSEnd), p.RSSPerConn/1024, p.RSSEndPerConn/1024,
			p.CPUPercent, perMsg, lat, p.ConnectP99, skmem, slab, ok)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Least-squares lines over the points (RSS at the end of the measured time; CPU over it):")
	fmt.Fprintln(w)
	keys, by := series(ps)
	for _, k := range keys {
		s := by[k]
		var xs, rss, cpu []float64
		for _, p := range s {
			xs = append(xs, float64(p.Connected))
			rss = append(rss, float64(p.RSSEnd))
			cpu = append(cpu, p.CPUPercent)
		}
		ra, rb := fit(xs, rss)
		ca, cb := fit(xs, cpu)
		fmt.Fprintf(w, "- %s, %s: RSS ≈ %.1f MiB + %.2f KiB × clients; CPU ≈ %.2f %% + %.3f %% per 1,000 clients (of one core)\n",
			serverName(s[0].Server), s[0].Scenario, ra/(1<<20), rb/1024, ca, cb*1000)
	}
	return nil
}
