// Command fanout measures Socket.IO broadcast fan-out: Tether's socketio
// server against Node's socket.io 4.8 doing the same thing, each in its own
// process on loopback TCP, driven by the same clients.
//
// It starts the server of -server (go: this binary in server mode; node:
// bench/fanout/node/server.mjs) as a child process, opens -clients Socket.IO
// clients over WebSocket (a minimal Engine.IO v4 / Socket.IO v5 client on
// Tether's websocket.Dial, one goroutine each), which the server puts in the
// room "bench", and has the server broadcast the event `tick` carrying its
// send time to the room, for -warmup and then -duration:
//
//   - -rate N: N broadcasts per second, paced by the server;
//   - -rate max: as fast as the server keeps up, paced by a window of
//     -window broadcasts in flight: a new one is sent when every client has
//     received an earlier one.
//
// It reports messages delivered per second over all clients, the p50 and p99
// latency (receive time minus send time, same clock), the server's RSS
// growth per connection (VmRSS after connecting minus before, divided by the
// clients) and the server's CPU time per delivered message.
//
// This is the library form (an extra row of BENCHMARKS.md): the product,
// `tether serve`, and clusters are measured with `tether load`
// (bench/load/product.sh).
//
//	fanout -server node -clients 5000 -rate 20 -size 100 -duration 10s -out json
//	fanout -mode table < results.jsonl
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
	"math/bits"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-rt/tether/bench"
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/websocket"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("fanout: ")
	var (
		mode     = flag.String("mode", "run", "run, or table (JSON results on stdin)")
		server   = flag.String("server", "go", "server to measure: go or node")
		clients  = flag.Int("clients", 5000, "number of Socket.IO clients, all in one room")
		rate     = flag.String("rate", "20", "broadcasts per second, or max")
		window   = flag.Int("window", 16, "broadcasts in flight in max mode")
		size     = flag.Int("size", 100, "payload bytes per broadcast (the p string)")
		duration = flag.Duration("duration", 10*time.Second, "measured time")
		warmup   = flag.Duration("warmup", time.Second, "broadcast time before measuring")
		dialers  = flag.Int("dialers", 50, "connections opened at a time while ramping up")
		nodeDir  = flag.String("nodedir", "", "directory of server.mjs (default fanout/node, or bench/fanout/node from the repository root)")
		out      = flag.String("out", "text", "text or json")
		serve    = flag.Int("serve", -1, "internal: run the Go server on this port (0: any), commands on stdin")
	)
	flag.Parse()
	switch {
	case *serve >= 0:
		if err := serveGo(*serve); err != nil {
			log.Fatal(err)
		}
		return
	case *mode == "table":
		if err := printTable(os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	case *mode != "run":
		log.Fatalf("unknown -mode %q", *mode)
	}
	cfg := config{
		Server: *server, Clients: *clients, Window: *window, Size: *size,
		Duration: *duration, Warmup: *warmup, Dialers: *dialers, NodeDir: *nodeDir}
	if *rate == "max" {
		cfg.Max = true
	} else {
		r, err := strconv.ParseFloat(*rate, 64)
		if err != nil || r <= 0 {
			log.Fatalf("bad -rate %q: a positive number or max", *rate)
		}
		cfg.Rate = r
	}
	res, err := run(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if *out == "json" {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return
	}
	fmt.Printf("%s %s: %d clients, %d broadcasts of %d B: %.0f msg/s delivered (%d/%d), p50 %.2f ms, p99 %.2f ms, RSS %.1f KiB/conn, CPU %.2f µs/msg (%.0f%% of a core)\n",
		res.Server, res.RateName, res.Clients, res.Broadcasts, res.Size, res.MsgsPerSec, res.Delivered, res.Expected,
		res.P50ms, res.P99ms, res.RSSPerConnKiB, res.CPUusPerMsg, res.CPUPercent)
}

type config struct {
	Server                string
	Clients, Window, Size int
	Rate                  float64
	Max                   bool
	Duration, Warmup      time.Duration
	Dialers               int
	NodeDir               string
}

// result is one JSON line of output.
type result struct {
	Server        string  `json:"server"`
	RateName      string  `json:"rate"`
	Clients       int     `json:"clients"`
	Connected     int     `json:"connected"`
	Size          int     `json:"size"`
	Window        int     `json:"window,omitempty"`
	DurationSec   float64 `json:"duration_s"`
	Broadcasts    int64   `json:"broadcasts"`
	Delivered     int64   `json:"delivered"`
	Expected      int64   `json:"expected"`
	MsgsPerSec    float64 `json:"msgs_per_s"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	RSSBeforeMiB  float64 `json:"rss_before_mib"`
	RSSAfterMiB   float64 `json:"rss_after_mib"`
	RSSPerConnKiB float64 `json:"rss_per_conn_kib"`
	CPUusPerMsg   float64 `json:"cpu_us_per_msg"`
	CPUPercent    float64 `json:"cpu_percent"`
	Disconnects   int64   `json:"disconnects"`
	Load          string  `json:"load"`
	Time          string  `json:"time"`
}

// child is the server process and its command channel.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	lines *bufio.Scanner
	port  int
}

func startServer(cfg config) (*child, error) {
	var cmd *exec.Cmd
	switch cfg.Server {
	case "go":
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("failed to find this executable: %w", err)
		}
		cmd = exec.Command(self, "-serve", "0")
	case "node":
		dir := cfg.NodeDir
		if dir == "" {
			dir = "fanout/node"
			if _, err := os.Stat(dir); err != nil {
				dir = filepath.Join("bench", "fanout", "node")
			}
		}
		cmd = exec.Command("node", filepath.Join(dir, "server.mjs"), "0")
	default:
		return nil, fmt.Errorf("unknown server %q: go or node", cfg.Server)
	}
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
		return nil, fmt.Errorf("failed to start the %s server: %w", cfg.Server, err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	var ready struct {
		Ready bool `json:"ready"`
		Port  int  `json:"port"`
	}
	if err := c.read(&ready); err != nil {
		c.stop()
		return nil, fmt.Errorf("failed to start the %s server: %w", cfg.Server, err)
	}
	c.port = ready.Port
	return c, nil
}

func (c *child) send(line string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.stdin, line+"\n")
	if err != nil {
		return fmt.Errorf("failed to command the server: %w", err)
	}
	return nil
}

func (c *child) read(v any) error {
	if !c.lines.Scan() {
		if err := c.lines.Err(); err != nil {
			return fmt.Errorf("failed to read from the server: %w", err)
		}
		return errors.New("failed to read from the server: it exited")
	}
	if err := json.Unmarshal(c.lines.Bytes(), v); err != nil {
		return fmt.Errorf("failed to parse the server's answer %q: %w", c.lines.Text(), err)
	}
	return nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// hist is a log-linear latency histogram in microseconds: 64 buckets per
// power of two (about 1.5 % resolution).
const histSub = 64

type hist [64 * histSub]atomic.Int64

func histIndex(us int64) int {
	if us < histSub {
		if us < 0 {
			return 0
		}
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 7 // us >> e in [64, 128)
	i := (e+1)*histSub + int(us>>e) - histSub
	if i >= len(hist{}) {
		return len(hist{}) - 1
	}
	return i
}

// histValue returns the lower bound of bucket i, in microseconds.
func histValue(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := i/histSub - 1
	return int64(i%histSub+histSub) << e
}

// stats is shared by all clients.
type stats struct {
	measuring   atomic.Bool
	delivered   atomic.Int64
	received    atomic.Int64 // measured or not
	maxSeq      atomic.Int64
	disconnects atomic.Int64
	shards      [32]hist

	// max mode: receipts per sequence number, and the credits to give.
	target  int32
	pending [4096]atomic.Int32
	credits chan int
}

func (st *stats) record(clientID int, seq, sentNanos int64, now time.Time) {
	st.received.Add(1)
	if seq > st.maxSeq.Load() {
		st.maxSeq.Store(seq) // racy max, good enough for a count of broadcasts
	}
	if st.credits != nil {
		p := &st.pending[seq%int64(len(st.pending))]
		if p.Add(1) == st.target {
			p.Store(0)
			st.credits <- 1
		}
	}
	if !st.measuring.Load() {
		return
	}
	st.delivered.Add(1)
	us := (now.UnixNano() - sentNanos) / 1000
	st.shards[clientID%len(st.shards)][histIndex(us)].Add(1)
}

func (st *stats) quantiles(qs ...float64) []float64 {
	var total int64
	var counts [len(hist{})]int64
	for s := range st.shards {
		for i := range counts {
			n := st.shards[s][i].Load()
			counts[i] += n
			total += n
		}
	}
	out := make([]float64, len(qs))
	for k, q := range qs {
		want := min(int64(q*float64(total)), total-1)
		var acc int64
		for i, n := range counts {
			acc += n
			if acc > want && n > 0 {
				out[k] = float64(histValue(i)) / 1000
				break
			}
		}
	}
	return out
}

// connectClients starts n clients on url, at most dialers handshaking at a
// time, and returns once every client connected, or with an error saying
// how many failed. The WaitGroup counts the clients' goroutines.
func connectClients(ctx context.Context, n, dialers int, url string, st *stats) (*sync.WaitGroup, error) {
	connected := make(chan error, n)
	sem := make(chan struct{}, dialers)
	wg := new(sync.WaitGroup)
	go func() {
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				c := make(chan error, 1)
				go func() {
					err := <-c
					<-sem
					connected <- err
				}()
				client(ctx, i, url, st, c)
			})
		}
	}()
	var nerr int
	var firstErr error
	for range n {
		if err := <-connected; err != nil {
			nerr++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if nerr > 0 {
		return wg, fmt.Errorf("%d of %d clients failed to connect, first: %w", nerr, n, firstErr)
	}
	return wg, nil
}

// client runs one Socket.IO client: Engine.IO v4 over WebSocket, connected
// to the main namespace, counting `tick` events until the connection ends.
func client(ctx context.Context, id int, url string, st *stats, connected chan<- error) {
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		connected <- fmt.Errorf("failed to dial: %w", err)
		return
	}
	defer conn.CloseNow()
	go func() { <-ctx.Done(); conn.CloseNow() }()
	joined := false
	err = conn.ReadLoop(func(_ websocket.MessageType, data []byte) error {
		if len(data) == 0 {
			return nil
		}
		switch data[0] {
		case '0': // Engine.IO open: connect to the main namespace
			return conn.WriteMessage(websocket.MessageText, []byte("40"))
		case '2': // ping
			return conn.WriteMessage(websocket.MessageText, []byte("3"))
		case '4':
			if len(data) >= 2 && data[1] == '0' && !joined {
				joined = true
				connected <- nil
				return nil
			}
			if len(data) >= 2 && data[1] == '4' {
				return fmt.Errorf("connect_error: %s", data)
			}
			if len(data) >= 2 && data[1] == '2' {
				now := time.Now()
				t, ok1 := intField(data, `"t":`)
				s, ok2 := intField(data, `"s":`)
				if !ok1 || !ok2 {
					return fmt.Errorf("unexpected event %.80q", data)
				}
				st.record(id, s, t, now)
			}
		}
		return nil
	})
	if !joined {
		connected <- fmt.Errorf("failed to connect: %w", err)
		return
	}
	if ctx.Err() == nil {
		st.disconnects.Add(1)
		log.Printf("client %d disconnected: %v", id, err)
	}
}

// intField parses the integer after the first occurrence of key in data.
func intField(data []byte, key string) (int64, bool) {
	i := strings.Index(string(data), key) // no copy: the compiler converts in place
	if i < 0 {
		return 0, false
	}
	var v int64
	j := i + len(key)
	start := j
	for ; j < len(data) && data[j] >= '0' && data[j] <= '9'; j++ {
		v = v*10 + int64(data[j]-'0')
	}
	return v, j > start
}

func run(cfg config) (*result, error) {
	srv, err := startServer(cfg)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond) // let the runtime settle
	rssBefore, err := bench.ProcRSS(pid)
	if err != nil {
		return nil, err
	}

	st := &stats{target: int32(cfg.Clients)}
	if cfg.Max {
		st.credits = make(chan int, len(st.pending))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := fmt.Sprintf("ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket", srv.port)
	rampStart := time.Now()
	wg, err := connectClients(ctx, cfg.Clients, cfg.Dialers, url, st)
	if err != nil {
		return nil, err
	}
	log.Printf("%s: %d clients connected in %v", cfg.Server, cfg.Clients, time.Since(rampStart).Round(time.Millisecond))
	// Wait until the server has them all in the room.
	var count struct {
		Count int `json:"count"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := srv.send("count"); err != nil {
			return nil, err
		}
		if err := srv.read(&count); err != nil {
			return nil, err
		}
		if count.Count == cfg.Clients || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if count.Count != cfg.Clients {
		return nil, fmt.Errorf("server has %d of %d clients in the room", count.Count, cfg.Clients)
	}
	time.Sleep(time.Second)
	rssAfter, err := bench.ProcRSS(pid)
	if err != nil {
		return nil, err
	}

	// Broadcast.
	stallErr := make(chan error, 1)
	stopCredits := make(chan struct{})
	var creditsDone sync.WaitGroup
	if cfg.Max {
		if err := srv.send(fmt.Sprintf("credit %d %d", cfg.Window, cfg.Size)); err != nil {
			return nil, err
		}
		creditsDone.Go(func() {
			for {
				select {
				case <-stopCredits:
					return
				case k := <-st.credits:
					// Batch the credits that are waiting into one command.
					for more := true; more; {
						select {
						case n := <-st.credits:
							k += n
						default:
							more = false
						}
					}
					if err := srv.send(fmt.Sprintf("credit %d %d", k, cfg.Size)); err != nil {
						stallErr <- err
						return
					}
				case <-time.After(10 * time.Second):
					stallErr <- errors.New("no broadcast completed for 10 s (a client fell behind or dropped)")
					return
				}
			}
		})
	} else if err := srv.send(fmt.Sprintf("rate %g %d", cfg.Rate, cfg.Size)); err != nil {
		return nil, err
	}
	time.Sleep(cfg.Warmup)
	cpu0, err := bench.ProcCPU(pid)
	if err != nil {
		return nil, err
	}
	seq0 := st.maxSeq.Load()
	st.measuring.Store(true)
	t0 := time.Now()
	select {
	case <-time.After(cfg.Duration):
	case err := <-stallErr:
		return nil, err
	}
	st.measuring.Store(false)
	elapsed := time.Since(t0)
	cpu1, err := bench.ProcCPU(pid)
	if err != nil {
		return nil, err
	}
	seq1 := st.maxSeq.Load()
	close(stopCredits)
	creditsDone.Wait()
	if !cfg.Max {
		if err := srv.send("stop"); err != nil {
			return nil, err
		}
	}
	cancel()
	wg.Wait()

	delivered := st.delivered.Load()
	q := st.quantiles(0.5, 0.99, 1)
	res := &result{
		Server:        cfg.Server,
		Clients:       cfg.Clients,
		Connected:     count.Count,
		Size:          cfg.Size,
		DurationSec:   elapsed.Seconds(),
		Broadcasts:    seq1 - seq0,
		Delivered:     delivered,
		Expected:      (seq1 - seq0) * int64(cfg.Clients),
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
	}
	if delivered > 0 {
		res.CPUusPerMsg = float64((cpu1 - cpu0).Microseconds()) / float64(delivered)
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

// tick is the payload of a broadcast, as server.mjs sends it.
type tick struct {
	T int64  `json:"t"`
	S int64  `json:"s"`
	P string `json:"p"`
}

// serveGo runs Tether's Socket.IO server with the command protocol of
// server.mjs on stdin and stdout.
// With FANOUT_CPUPROFILE set to a file name, it writes a CPU profile of its
// whole life there; with FANOUT_HEAPPROFILE, a heap profile each time it
// is asked to count its clients (the last one: all clients connected).
func serveGo(port int) error {
	if name := os.Getenv("FANOUT_CPUPROFILE"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("failed to create the CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("failed to start the CPU profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if os.Getenv("FANOUT_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for exact sizes
	}
	srv := socketio.NewServer(&socketio.Options{Options: engineio.Options{Transports: []string{"websocket"}}})
	srv.OnConnection(func(s *socketio.Socket) {
		s.Join("bench")
	})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	go func() { _ = http.Serve(ln, mux) }()

	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"ready": true, "port": ln.Addr().(*net.TCPAddr).Port})
	room := srv.To("bench")
	var seq int64
	var seqMu sync.Mutex
	emit := func(p string) {
		seqMu.Lock()
		s := seq
		seq++
		seqMu.Unlock()
		_ = room.Emit("tick", tick{T: time.Now().UnixNano(), S: s, P: p})
	}
	var stopRate chan struct{}
	var rateDone sync.WaitGroup
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		arg := func(i int) float64 {
			if i >= len(f) {
				return 0
			}
			v, _ := strconv.ParseFloat(f[i], 64)
			return v
		}
		switch f[0] {
		case "count":
			ids, err := room.AllSockets(context.Background())
			if err != nil {
				return fmt.Errorf("failed to count the sockets: %w", err)
			}
			if err := writeHeapProfile(); err != nil {
				return err
			}
			_ = out.Encode(map[string]int{"count": len(ids)})
		case "rate":
			period := time.Duration(float64(time.Second) / arg(1))
			p := strings.Repeat("x", int(arg(2)))
			stopRate = make(chan struct{})
			stop := stopRate
			rateDone.Go(func() {
				start := time.Now()
				for sent := int64(0); ; {
					// Catch up when the timer fires late, as server.mjs does.
					due := int64(time.Since(start)/period) + 1
					for ; sent < due; sent++ {
						emit(p)
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Until(start.Add(time.Duration(sent) * period))):
					}
				}
			})
		case "credit":
			p := strings.Repeat("x", int(arg(2)))
			for range int(arg(1)) {
				emit(p)
			}
		case "stop":
			if stopRate != nil {
				close(stopRate)
				rateDone.Wait()
				stopRate = nil
			}
			seqMu.Lock()
			_ = out.Encode(map[string]int64{"stopped": seq})
			seqMu.Unlock()
		case "rss":
			rss, err := bench.ProcRSS(os.Getpid())
			if err != nil {
				return err
			}
			_ = out.Encode(map[string]int64{"rss": rss})
		}
	}
	return srv.Close()
}

// writeHeapProfile writes a heap profile (after a GC) to the file named by
// FANOUT_HEAPPROFILE, if set.
func writeHeapProfile() error {
	name := os.Getenv("FANOUT_HEAPPROFILE")
	if name == "" {
		return nil
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("failed to create the heap profile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("failed to write the heap profile: %w", err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "fanout server: heap in use %d KiB, stacks %d KiB, %d goroutines\n",
		ms.HeapInuse>>10, ms.StackInuse>>10, runtime.NumGoroutine())
	return nil
}

// printTable prints JSON result lines as a Markdown table.
func printTable(r io.Reader, w io.Writer) error {
	fmt.Fprintln(w, "| server | rate | clients | payload | broadcasts/s | delivered msg/s | delivered / expected | p50 latency | p99 latency | server RSS per connection | server CPU per delivered msg | server CPU | drops |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	dec := json.NewDecoder(r)
	for {
		var res result
		if err := dec.Decode(&res); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("failed to read results: %w", err)
		}
		name := map[string]string{"go": "Tether (Go)", "node": "Node socket.io 4.8"}[res.Server]
		rate := res.RateName
		if res.Window > 0 {
			rate = fmt.Sprintf("max (window %d)", res.Window)
		}
		pct := 0.0
		if res.Expected > 0 {
			pct = 100 * float64(res.Delivered) / float64(res.Expected)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d B | %.1f | %.0f | %.1f %% | %.2f ms | %.2f ms | %.1f KiB | %.2f µs | %.0f %% | %d |\n",
			name, rate, res.Clients, res.Size, float64(res.Broadcasts)/res.DurationSec, res.MsgsPerSec, pct,
			res.P50ms, res.P99ms, res.RSSPerConnKiB, res.CPUusPerMsg, res.CPUPercent, res.Disconnects)
	}
}
