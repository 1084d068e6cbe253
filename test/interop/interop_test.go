package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"

	"github.com/tether-rt/tether/websocket"
)

// The tests log what the Node scripts printed when they fail, or always
// when TETHER_INTEROP_LOG is set.

// nodeTimeout bounds every Node process a test starts, and waitTimeout
// every wait for a peer's event: bounds for hangs on a loaded machine, not
// performance expectations.
const (
	nodeTimeout = 2 * time.Minute
	waitTimeout = 30 * time.Second
)

// needNode returns the path of node, checking that the npm packages of this
// folder are installed.
func needNode(t *testing.T) string {
	t.Helper()
	return peertest.Node(t, "test/interop", "ws", "playwright-core")
}

// event is one JSON line a Node script printed. Fields are filled as the
// event has them.
type event struct {
	Conn             *int              `json:"conn"`
	Case             string            `json:"case"`
	Step             *int              `json:"step"`
	Op               string            `json:"op"`
	OK               bool              `json:"ok"`
	Type             string            `json:"type"`
	GotType          string            `json:"gotType"`
	Size             int               `json:"size"`
	GotSize          int               `json:"gotSize"`
	Fragments        int               `json:"fragments"`
	WireIn           int64             `json:"wireIn"`
	WireOut          int64             `json:"wireOut"`
	Code             int               `json:"code"`
	Reason           string            `json:"reason"`
	WasClean         bool              `json:"wasClean"`
	Data             string            `json:"data"`
	Pong             string            `json:"pong"`
	Sha              string            `json:"sha"`
	Protocol         string            `json:"protocol"`
	Extensions       string            `json:"extensions"`
	ExtensionsHeader string            `json:"extensionsHeader"`
	Offer            string            `json:"offer"`
	Message          string            `json:"message"`
	Port             int               `json:"port"`
	Path             string            `json:"path"`
	Headers          map[string]string `json:"headers"`
	raw              string
}

func (e event) String() string { return e.raw }

func parseEvent(line string) (event, error) {
	var e event
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		return e, fmt.Errorf("failed to parse %q: %w", line, err)
	}
	e.raw = line
	return e, nil
}

type events []event

// ops returns the events with op.
func (es events) ops(op string) events {
	var out events
	for _, e := range es {
		if e.Op == op {
			out = append(out, e)
		}
	}
	return out
}

// one returns the only event with op.
func (es events) one(t *testing.T, op string) event {
	t.Helper()
	got := es.ops(op)
	if len(got) != 1 {
		t.Fatalf("want one %q event, got %d in:\n%s", op, len(got), es)
	}
	return got[0]
}

// step returns the result of step i of a plan.
func (es events) step(t *testing.T, i int) event {
	t.Helper()
	for _, e := range es {
		if e.Step != nil && *e.Step == i {
			return e
		}
	}
	t.Fatalf("no result for step %d in:\n%s", i, es)
	return event{}
}

func (es events) String() string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("  " + e.raw + "\n")
	}
	return b.String()
}

// runNode runs a Node script to its end and returns what it printed.
func runNode(t *testing.T, script string, args ...string) events {
	t.Helper()
	list, lines, stderr, err := peertest.RunScript[event](t, needNode(t), nodeTimeout, script, args...)
	es := events(list)
	for i := range es {
		es[i].raw = lines[i]
	}
	if err != nil {
		t.Fatalf("node %s failed: %v\nstdout:\n%sstderr:\n%s", script, err, es, stderr)
	}
	if len(es.ops("done")) != 1 {
		t.Fatalf("node %s did not finish:\n%sstderr:\n%s", script, es, stderr)
	}
	for _, e := range es {
		if e.Op == "step-failed" || (e.Op == "open-failed" && script != "browser.mjs") {
			t.Errorf("node %s: %s", script, e)
		}
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("TETHER_INTEROP_LOG") != "" {
			t.Logf("node %s printed:\n%sstderr:\n%s", script, es, stderr)
		}
	})
	return es
}

// nodeProc is a Node script running alongside the test (a server).
type nodeProc struct {
	script string
	cmd    *exec.Cmd
	lines  chan event
	stderr *syncBuffer
	seen   []event
}

// startNode starts a Node script that runs until the test ends.
func startNode(t *testing.T, script string, args ...string) *nodeProc {
	t.Helper()
	node := needNode(t)
	cmd := exec.Command(node, append([]string{script}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{script: script, cmd: cmd, lines: make(chan event, 1024), stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start node %s: %v", script, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			e, err := parseEvent(sc.Text())
			if err != nil {
				e = event{Op: "bad-line", Message: err.Error(), raw: sc.Text()}
			}
			p.lines <- e
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // the script exits when stdin ends
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() || os.Getenv("TETHER_INTEROP_LOG") != "" {
			t.Logf("node %s printed:\n%sstderr:\n%s", script, events(p.seen), p.stderr.String())
		}
	})
	return p
}

// waitFor returns the next event with op, passing over others. An "error"
// event fails the test unless it is what is awaited.
func (p *nodeProc) waitFor(t *testing.T, op string) event {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case e, ok := <-p.lines:
			if !ok {
				t.Fatalf("node %s ended while waiting for %q; stderr:\n%s", p.script, op, p.stderr.String())
			}
			p.seen = append(p.seen, e)
			if e.Op == op {
				return e
			}
			if e.Op == "error" || e.Op == "bad-line" {
				t.Fatalf("node %s while waiting for %q: %s", p.script, op, e)
			}
		case <-timeout:
			t.Fatalf("node %s: no %q event in %v; seen:\n%s", p.script, op, waitTimeout, events(p.seen))
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// countingConn counts the bytes that cross a connection, to tell from the
// wire whether messages were compressed.
type countingConn struct {
	net.Conn
	in, out atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// CloseWrite keeps the half-close the engine uses when failing a
// connection.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c}, nil
}

// report is what our server saw of one connection.
type report struct {
	name        string // the request's "case" query parameter
	path        string
	origin      string
	offer       string // Sec-WebSocket-Extensions of the request
	refused     int    // HTTP status when Accept refused the handshake
	subprotocol string
	compressed  bool
	readErr     error // what ended the read loop
	closeErr    error // the result of a server-initiated Close
	pingErr     error // the result of a server-initiated Ping
	messages    int
	in, out     int64 // bytes on the wire after the handshake
}

// goServer is one of our servers, started in-process for a test.
type goServer struct {
	*httptest.Server
	ws      string // ws:// base URL
	reports chan report
}

// startServer starts our WebSocket server with opts. Every path upgrades;
// what the connection does depends on the path:
//
//	/close?code=C&reason=R  echo one message, then close with C and R;
//	/ping                   ping the client, then echo;
//	/prepared               send broadcast, then echo each message twice,
//	                        all with WritePrepared;
//	anything else           echo.
//
// Pages for the browser are served from /page.
func startServer(t *testing.T, opts *websocket.AcceptOptions) *goServer {
	t.Helper()
	return startServerFunc(t, func(*http.Request) *websocket.AcceptOptions { return opts })
}

// startServerFunc is startServer with options chosen per request.
func startServerFunc(t *testing.T, optsFor func(*http.Request) *websocket.AcceptOptions) *goServer {
	t.Helper()
	s := &goServer{reports: make(chan report, 64)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/page" {
			servePage(w)
			return
		}
		s.serveWS(w, r, optsFor(r))
	}))
	s.Listener = countingListener{s.Listener}
	s.Start()
	t.Cleanup(s.Close)
	s.ws = "ws://" + s.Listener.Addr().String()
	return s
}

func (s *goServer) serveWS(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) {
	rep := report{name: r.URL.Query().Get("case"), path: r.URL.Path, origin: r.Header.Get("Origin"), offer: r.Header.Get("Sec-WebSocket-Extensions")}
	defer func() { s.reports <- rep }()
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		var he *websocket.HandshakeError
		if errors.As(err, &he) {
			rep.refused = he.Status
		}
		rep.readErr = err
		return
	}
	defer c.CloseNow()
	cc := c.NetConn().(*countingConn)
	in0, out0 := cc.in.Load(), cc.out.Load()
	defer func() { rep.in, rep.out = cc.in.Load()-in0, cc.out.Load()-out0 }()
	rep.subprotocol = c.Subprotocol()
	rep.compressed = c.CompressionNegotiated()

	echo := func(typ websocket.MessageType, p []byte) error {
		rep.messages++
		return c.WriteMessage(typ, p)
	}
	switch r.URL.Path {
	case "/close":
		typ, p, err := c.Read(r.Context())
		if err != nil {
			rep.readErr = err
			return
		}
		if err := echo(typ, p); err != nil {
			rep.readErr = err
			return
		}
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		rep.closeErr = c.Close(websocket.StatusCode(code), r.URL.Query().Get("reason"))
	case "/prepared":
		// The broadcast way: one prepared message for every connection,
		// and each echo prepared once and written twice.
		if err := c.WritePrepared(broadcast); err != nil {
			rep.readErr = err
			return
		}
		rep.readErr = c.ReadLoop(func(typ websocket.MessageType, p []byte) error {
			rep.messages++
			pm := websocket.NewPreparedMessage(typ, bytes.Clone(p))
			if err := c.WritePrepared(pm); err != nil {
				return err
			}
			return c.WritePrepared(pm)
		})
	case "/ping":
		done := make(chan error, 1)
		go func() { done <- c.ReadLoop(echo) }()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		rep.pingErr = c.Ping(ctx)
		cancel()
		rep.readErr = <-done
	default:
		rep.readErr = c.ReadLoop(echo)
	}
}

// broadcast is the prepared message /prepared sends every connection.
var broadcast = websocket.NewPreparedMessage(websocket.MessageText, broadcastData)

var broadcastData = goPayload("mixed", 50_000, 0)

// report returns the report of the next connection that ended.
func (s *goServer) report(t *testing.T) report {
	t.Helper()
	select {
	case r := <-s.reports:
		return r
	case <-time.After(waitTimeout):
		t.Fatalf("server saw no connection end within %v", waitTimeout)
		return report{}
	}
}

// servePage serves the empty page the browser opens sockets from.
func servePage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><html><head><title>tether interop</title><link rel=icon href=\"data:,\"></head><body>tether interop</body></html>\n")
}

// closeCode returns the close code in err, failing when there is none.
func closeCode(t *testing.T, err error) (websocket.StatusCode, string) {
	t.Helper()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("want a close error, got %v", err)
	}
	return ce.Code, ce.Reason
}

// mustJSON encodes v for a script's command line.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
