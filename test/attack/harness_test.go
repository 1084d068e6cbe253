package attack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/server"
)

// full runs each attack at the size of the outside battery instead of the
// test suite's smaller one.
var full = flag.Bool("attack.full", false, "run the attacks at full size (slower, more memory)")

// scale returns n at full size, small otherwise.
func scale(small, n int) int {
	if *full {
		return n
	}
	return small
}

// A row of the summary table.
type row struct {
	item     string // the item, e.g. "3"
	attack   string // what was sent
	bound    string // what the server must keep to
	measured string // what was seen
	ok       bool
}

var (
	rowsMu sync.Mutex
	rows   []row
)

// report records an attack's outcome for the summary table and fails t
// when the bound was not kept.
func report(t *testing.T, item, attack, bound, measured string, ok bool) {
	t.Helper()
	rowsMu.Lock()
	rows = append(rows, row{item, attack, bound, measured, ok})
	rowsMu.Unlock()
	if !ok {
		t.Errorf("item %s: %s: bound %s not kept: %s", item, attack, bound, measured)
	} else {
		t.Logf("item %s: %s: %s (bound %s)", item, attack, measured, bound)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if testing.Verbose() && len(rows) > 0 {
		printSummary(os.Stdout)
	}
	os.Exit(code)
}

// printSummary writes the summary table in Markdown.
func printSummary(w io.Writer) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].item < rows[j].item })
	size := "test-suite size"
	if *full {
		size = "full size"
	}
	fmt.Fprintf(w, "\nHardening battery (%s)\n\n", size)
	fmt.Fprintln(w, "| item | attack | bound | measured | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		res := "held"
		if !r.ok {
			res = "FAILED"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.item, r.attack, r.bound, r.measured, res)
	}
}

// heapInUse returns the bytes of heap in use after a full collection: what
// the process holds, not what it has yet to collect.
func heapInUse() uint64 {
	runtime.GC() // twice: sync.Pools keep what they held for one more cycle
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// mb formats bytes as megabytes.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// quietLogger discards the server's logs unless TETHER_TEST_LOGS is set.
func quietLogger() *slog.Logger {
	if os.Getenv("TETHER_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// tetherServe runs `tether serve` as shipped — server.New and Serve on a
// real listener, so the listener wrapper, the http.Server settings and the
// shutdown sequence are the product's — with the default configuration
// changed by edit (nil for none). It returns the base URL; the server is
// shut down when the test ends, or when stop is called (which returns
// Serve's error).
func tetherServe(t *testing.T, edit func(*server.Config)) (srv *server.Server, base string, stop func() error) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Demos = false
	if edit != nil {
		edit(cfg)
	}
	srv, err := server.New(server.Options{Config: cfg, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serr = <-done
		})
		return serr
	}
	t.Cleanup(func() { _ = stop() })
	return srv, "http://" + ln.Addr().String(), stop
}

// tetherEcho runs `tether echo` as shipped and returns its address.
func tetherEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := echoserver.Handler(nil)
	hs := echoserver.HTTPServer(h)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = h.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// eventually waits up to d for cond.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// dialRaw opens a TCP connection to addr.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// isClosed reports whether the peer has closed c (reading hits EOF or a
// reset within d; data is discarded).
func isClosed(c net.Conn, d time.Duration) bool {
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		return true
	}
}
