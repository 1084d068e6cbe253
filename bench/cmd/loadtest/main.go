// Command loadtest measures WebSocket echo servers and clients built with
// Tether, gorilla/websocket, lxzan/gws and coder/websocket, each in its own
// process on loopback TCP.
//
// Echo throughput and latency (-mode echo, the default): starts the echo
// server of -lib in a child process, opens -conns connections with the
// client of -client (Tether's by default, so that only the server differs),
// and has each connection send a -size message and wait for its echo, over
// and over, for -warmup and then -duration. It reports messages per second,
// payload MB/s (one direction), the p50 and p99 round trip, and the CPU time
// each process spent per message.
//
//	loadtest -lib gws -conns 1000 -size 4096 -compress deflate -duration 5s -out json
//
// -lib tether-echo measures the product as users run it: the binary that
// -tether names, started as `tether echo -addr 127.0.0.1:0` (default flags
// otherwise). Its idle memory is its RSS only.
//
//	loadtest -lib tether-echo -tether ./tether -client gorilla -size 4096
//
// Memory per idle connection (-mode idle): starts the server of -lib,
// measures it (heap and stacks in use after a GC, and RSS), opens -conns
// connections that each exchange one 512-byte message and then stay quiet,
// measures again and divides the difference by -conns.
//
//	loadtest -mode idle -lib coder -conns 10000 -compress off
//
// Report (-mode table): reads the JSON lines of earlier runs on stdin and
// prints them as Markdown tables; -mode benchtable does the same for the
// output of the BenchmarkServerEcho benchmarks (medians).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tether-rt/tether/bench"
)

// libHelp lists the servers of -lib beyond bench.Libraries.
const libHelp = ", tether-go, tether-async, tether-echoserver (`tether echo`'s handler in this process), or tether-echo (the product, `tether echo` with its default flags: see -tether)"

func main() {
	log.SetFlags(0)
	log.SetPrefix("loadtest: ")
	var (
		mode     = flag.String("mode", "echo", "echo, idle, table (JSON results on stdin) or benchtable (go test -bench output on stdin)")
		lib      = flag.String("lib", "tether", "library of the server: "+strings.Join(bench.Libraries, ", ")+libHelp)
		client   = flag.String("client", "tether", "library of the client (echo mode)")
		conns    = flag.Int("conns", 1000, "number of connections")
		size     = flag.Int("size", 4096, "message size in bytes (echo mode)")
		compress = flag.String("compress", "off", "off, deflate (alias on: no context takeover) or deflate-ctx (context takeover)")
		duration = flag.Duration("duration", 3*time.Second, "measured time (echo mode)")
		warmup   = flag.Duration("warmup", time.Second, "time before measuring (echo mode)")
		out      = flag.String("out", "text", "text or json")
		serve    = flag.Bool("serve", false, "internal: run the server of -lib, print its address, exit when stdin closes")
		hold     = flag.Duration("hold", 0, "keep the server running this long after measuring, for profiling through its /debug/pprof/")
	)
	flag.StringVar(&tetherBin, "tether", "tether", "the `tether` binary that -lib tether-echo runs (`tether echo`, default flags)")
	flag.Parse()
	switch *mode {
	case "table":
		if err := printTables(os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	case "benchtable":
		if err := printBenchTable(os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	comp, err := bench.ParseCompression(*compress)
	if err != nil {
		log.Fatal(err)
	}
	if *serve {
		if err := runServer(*lib, comp); err != nil {
			log.Fatal(err)
		}
		return
	}
	var res any
	switch *mode {
	case "echo":
		res, err = runEcho(*lib, *client, comp, *conns, *size, *warmup, *duration)
	case "idle":
		res, err = runIdle(*lib, comp, *conns, *hold)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
	switch *out {
	case "json":
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	default:
		fmt.Printf("%+v\n", res)
	}
}

// serverStats is what the child server reports on /_stats.
type serverStats struct {
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	RSS        uint64 `json:"rss"`
	Goroutines int    `json:"goroutines"`
	CPUNanos   int64  `json:"cpuNanos"`
}

// runServer serves lib's echo handler on /ws and its statistics on
// /_stats (?gc=1 collects garbage first) until stdin is closed.
func runServer(lib string, c bench.Compression) error {
	h, err := bench.EchoHandler(lib, c)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/_stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
			debug.FreeOSMemory()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(serverStats{
			HeapInuse:  ms.HeapInuse,
			StackInuse: ms.StackInuse,
			RSS:        selfRSS(),
			Goroutines: runtime.NumGoroutine(),
			CPUNanos:   cpuTime(),
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	return (&http.Server{Handler: mux}).Serve(ln)
}

// selfRSS returns the resident set size of this process in bytes, 0 if
// it cannot be read.
func selfRSS() uint64 {
	n, _ := bench.ProcRSS(os.Getpid())
	return uint64(n)
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// tetherBin is the binary -lib tether-echo runs.
var tetherBin string

// server is a child process running an echo server.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // nil for the product (tether-echo), stopped with SIGTERM
	addr  string
}

// startServer starts the echo server of lib in a child process: this
// program with -serve, or for lib tether-echo the product as users run it,
// `tether echo` with its default flags (only the address differs).
func startServer(lib string, c bench.Compression) (*server, error) {
	if lib == "tether-echo" {
		return startTetherEcho()
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", "-lib", lib, "-compress", string(c))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start the %s server: %w", lib, err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s server did not start: %w", lib, err)
	}
	return &server{cmd: cmd, stdin: stdin, addr: strings.TrimSpace(line)}, nil
}

// startTetherEcho runs `tether echo -addr 127.0.0.1:0` and reads the
// address it listens on from its first log line.
func startTetherEcho() (*server, error) {
	cmd := exec.Command(tetherBin, "echo", "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s echo: %w", tetherBin, err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	_, addr, ok := strings.Cut(line, "addr=ws://")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("tether echo did not start (%q): %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }() // later log lines
	return &server{cmd: cmd, addr: strings.TrimSpace(addr)}, nil
}

func (s *server) stop() {
	if s.stdin != nil {
		s.stdin.Close()
	} else {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// stats returns the server's statistics; of the product (tether-echo),
// which serves no /_stats, only its RSS, with heap and goroutines -1.
func (s *server) stats(gc bool) (serverStats, error) {
	if s.stdin == nil {
		rss, err := bench.ProcRSS(s.cmd.Process.Pid)
		return serverStats{HeapInuse: ^uint64(0), Goroutines: -1, RSS: uint64(rss)}, err
	}
	url := "http://" + s.addr + "/_stats"
	if gc {
		url += "?gc=1"
	}
	var st serverStats
	resp, err := http.Get(url)
	if err != nil {
		return st, fmt.Errorf("failed to read server stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("failed to decode server stats: %w", err)
	}
	return st, nil
}

// dialAll runs dial for i in [0, n) with a few dials at a time.
func dialAll(n int, dial func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, 64)
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := dial(i); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("connection %d: %w", i, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// EchoResult is the outcome of one echo run. MBPerSec counts the payload
// in one direction.
type EchoResult struct {
	Mode         string  `json:"mode"`
	Server       string  `json:"server"`
	Client       string  `json:"client"`
	Compress     string  `json:"compress"`
	Conns        int     `json:"conns"`
	Size         int     `json:"size"`
	Seconds      float64 `json:"seconds"`
	Msgs         int     `json:"msgs"`
	MsgsPerSec   float64 `json:"msgsPerSec"`
	MBPerSec     float64 `json:"mbPerSec"`
	P50Micros    float64 `json:"p50us"`
	P99Micros    float64 `json:"p99us"`
	ServerCPUMsg float64 `json:"serverCPUusPerMsg"`
	ClientCPUMsg float64 `json:"clientCPUusPerMsg"`
}

func runEcho(lib, client string, c bench.Compression, conns, size int, warmup, duration time.Duration) (*EchoResult, error) {
	if !bench.Supports(lib, c) || !bench.Supports(client, c) {
		return nil, fmt.Errorf("compression %s is not supported by %s or %s", c, lib, client)
	}
	srv, err := startServer(lib, c)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	url := "ws://" + srv.addr + "/ws"
	clients := make([]bench.Client, conns)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	ctx := context.Background()
	if err := dialAll(conns, func(i int) error {
		cl, err := bench.Dial(ctx, client, url, c)
		clients[i] = cl
		return err
	}); err != nil {
		return nil, fmt.Errorf("failed to connect %s client to %s server: %w", client, lib, err)
	}

	payload := bench.Payload(size)
	from := time.Now().Add(warmup)
	to := from.Add(duration)
	recs := make([]bench.Recorder, conns)
	stop := make(chan struct{})
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i, cl := range clients {
		recs[i] = bench.Recorder{From: from, To: to, RTT: make([]time.Duration, 0, 256)}
		wg.Go(func() { errs <- cl.Run(stop, payload, &recs[i]) })
	}
	// The server's CPU time is read from /proc, not asked of the server:
	// a server that is saturated would answer late and shift the window.
	time.Sleep(time.Until(from))
	srv0, err := bench.ProcCPU(srv.cmd.Process.Pid)
	if err != nil {
		close(stop)
		return nil, err
	}
	cpu0 := cpuTime()
	time.Sleep(time.Until(to))
	srv1, err := bench.ProcCPU(srv.cmd.Process.Pid)
	cpu1 := cpuTime()
	close(stop)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return nil, errors.New("connections did not finish their last round trip within 30 s")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s client against %s server: %w", client, lib, err)
		}
	}

	var all []time.Duration
	for _, r := range recs {
		all = append(all, r.RTT...)
	}
	if len(all) == 0 {
		return nil, errors.New("no round trip completed in the measured window")
	}
	slices.Sort(all)
	secs := duration.Seconds()
	n := float64(len(all))
	return &EchoResult{
		Mode:         "echo",
		Server:       lib,
		Client:       client,
		Compress:     string(c),
		Conns:        conns,
		Size:         size,
		Seconds:      secs,
		Msgs:         len(all),
		MsgsPerSec:   n / secs,
		MBPerSec:     n * float64(size) / secs / 1e6,
		P50Micros:    micros(all[len(all)/2]),
		P99Micros:    micros(all[min(len(all)-1, len(all)*99/100)]),
		ServerCPUMsg: float64(srv1-srv0) / float64(time.Microsecond) / n,
		ClientCPUMsg: float64(cpu1-cpu0) / 1e3 / n,
	}, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// IdleResult is the memory a server holds per idle connection.
type IdleResult struct {
	Mode         string  `json:"mode"`
	Server       string  `json:"server"`
	Compress     string  `json:"compress"`
	Conns        int     `json:"conns"`
	HeapKiB      float64 `json:"heapKiB"` // HeapInuse+StackInuse after GC, per connection
	RSSKiB       float64 `json:"rssKiB"`
	GoroutinesPC float64 `json:"goroutinesPerConn"`
}

func runIdle(lib string, c bench.Compression, conns int, hold time.Duration) (*IdleResult, error) {
	if !bench.Supports(lib, c) {
		return nil, fmt.Errorf("compression %s is not supported by %s", c, lib)
	}
	srv, err := startServer(lib, c)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	// One connection first, so that what every server sets up once (pools,
	// the HTTP server's goroutines) is in the baseline.
	warm, err := bench.DialIdle(srv.addr, c)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to %s server: %w", lib, err)
	}
	defer warm.Close()
	time.Sleep(200 * time.Millisecond)
	st0, err := srv.stats(true)
	if err != nil {
		return nil, err
	}
	ncs := make([]net.Conn, conns)
	defer func() {
		for _, nc := range ncs {
			if nc != nil {
				nc.Close()
			}
		}
	}()
	if err := dialAll(conns, func(i int) error {
		nc, err := bench.DialIdle(srv.addr, c)
		ncs[i] = nc
		return err
	}); err != nil {
		return nil, fmt.Errorf("failed to connect to %s server: %w", lib, err)
	}
	// Let the server settle: every connection has answered its message,
	// so what remains is the idle state.
	time.Sleep(time.Second)
	st1, err := srv.stats(true)
	if err != nil {
		return nil, err
	}
	if hold > 0 {
		log.Printf("idle: heap %d→%d, stacks %d→%d; holding the server at http://%s/debug/pprof/ for %v",
			st0.HeapInuse, st1.HeapInuse, st0.StackInuse, st1.StackInuse, srv.addr, hold)
		time.Sleep(hold)
	}
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / 1024 / float64(conns) }
	if st0.Goroutines < 0 { // the product: RSS only
		return &IdleResult{Mode: "idle", Server: lib, Compress: string(c), Conns: conns,
			HeapKiB: -1, RSSKiB: per(st0.RSS, st1.RSS), GoroutinesPC: -1}, nil
	}
	return &IdleResult{
		Mode:         "idle",
		Server:       lib,
		Compress:     string(c),
		Conns:        conns,
		HeapKiB:      per(st0.HeapInuse+st0.StackInuse, st1.HeapInuse+st1.StackInuse),
		RSSKiB:       per(st0.RSS, st1.RSS),
		GoroutinesPC: float64(st1.Goroutines-st0.Goroutines) / float64(conns),
	}, nil
}
