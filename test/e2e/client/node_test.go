package cliente2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/internal/sioclienttest"
	"github.com/tether-rt/tether/internal/tcpproxy"
)

// nodeServer is node_server.mjs, a Node socket.io 4.8 server, behind a
// TCP proxy.
type nodeServer struct {
	addr  string // the server's own address
	proxy *tcpproxy.Proxy
	cmd   *exec.Cmd
	stdin io.WriteCloser

	auths      chan json.RawMessage
	recorded   chan string
	handshakes chan sioclienttest.Handshake

	mu      sync.Mutex
	seq     int
	results map[int]chan json.RawMessage
}

// startNode starts node_server.mjs with args; it stops when the test
// ends.
func startNode(t *testing.T, args ...string) *nodeServer {
	t.Helper()
	node := peertest.Node(t, "test/e2e/client", "socket.io", "engine.io")
	ctx, cancel := context.WithCancel(context.Background())
	s := &nodeServer{
		cmd:        exec.CommandContext(ctx, node, append([]string{"node_server.mjs"}, args...)...),
		auths:      make(chan json.RawMessage, 1000),
		recorded:   make(chan string, 1000),
		handshakes: make(chan sioclienttest.Handshake, 1000),
		results:    map[int]chan json.RawMessage{},
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	listening := make(chan int, 1)
	go s.read(t, stdout, listening)
	t.Cleanup(func() {
		s.stdin.Close()
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	select {
	case port := <-listening:
		s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	case <-time.After(30 * time.Second):
		t.Fatal("node_server.mjs did not listen")
	}
	p, err := tcpproxy.New(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	s.proxy = p
	t.Cleanup(func() { p.Close() })
	return s
}

func (s *nodeServer) read(t *testing.T, r io.Reader, listening chan int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l struct {
			Op      string              `json:"op"`
			Port    int                 `json:"port"`
			Auth    json.RawMessage     `json:"auth"`
			Headers map[string]any      `json:"headers"`
			Query   map[string][]string `json:"-"`
			RawQ    map[string]any      `json:"query"`
			JSON    string              `json:"json"`
			Seq     int                 `json:"seq"`
			Value   json.RawMessage     `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("node printed %q: %v", sc.Text(), err)
			continue
		}
		switch l.Op {
		case "listening":
			listening <- l.Port
		case "auth":
			s.auths <- l.Auth
		case "record":
			s.recorded <- l.JSON
		case "handshake":
			h := sioclienttest.Handshake{Headers: http.Header{}, Query: url.Values{}}
			for k, v := range l.Headers {
				h.Headers.Add(k, fmt.Sprint(v))
			}
			for k, v := range l.RawQ {
				h.Query.Add(k, fmt.Sprint(v))
			}
			s.handshakes <- h
		case "result":
			s.mu.Lock()
			ch := s.results[l.Seq]
			delete(s.results, l.Seq)
			s.mu.Unlock()
			if ch != nil {
				ch <- l.Value
			}
		}
	}
}

// command sends a command and returns its result.
func (s *nodeServer) command(t *testing.T, cmd map[string]any) json.RawMessage {
	t.Helper()
	ch := make(chan json.RawMessage, 1)
	s.mu.Lock()
	s.seq++
	cmd["seq"] = s.seq
	s.results[s.seq] = ch
	b, _ := json.Marshal(cmd)
	_, err := s.stdin.Write(append(b, '\n'))
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("node command: %v", err)
	}
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("node did not answer %s", b)
		return nil
	}
}

// suiteServer adapts a nodeServer to the suite.
type suiteServer struct {
	*nodeServer
	t *testing.T
}

func (s suiteServer) URL() string                                { return "http://" + s.proxy.Addr }
func (s suiteServer) Proxy() *tcpproxy.Proxy                     { return s.proxy }
func (s suiteServer) Recorded() <-chan string                    { return s.recorded }
func (s suiteServer) Auths() <-chan json.RawMessage              { return s.auths }
func (s suiteServer) Handshakes() <-chan sioclienttest.Handshake { return s.handshakes }

func (s suiteServer) Emit(room, event string, arg any) {
	c := map[string]any{"cmd": "emit", "room": room, "event": event}
	if arg != nil {
		c["arg"] = arg
	}
	s.command(s.t, c)
}

func (s suiteServer) Sessions() int {
	var n int
	json.Unmarshal(s.command(s.t, map[string]any{"cmd": "sessions"}), &n)
	return n
}

func (s suiteServer) WaitGone(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for string(s.command(t, map[string]any{"cmd": "has", "id": id})) == "true" {
		if time.Now().After(deadline) {
			t.Fatalf("node still has the socket %s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSocketIOSuite runs the Socket.IO client's behaviour suite against
// Node's socket.io 4.8 server.
func TestSocketIOSuite(t *testing.T) {
	peertest.Node(t, "test/e2e/client", "socket.io", "engine.io")
	sioclienttest.Run(t, func(t *testing.T, cfg sioclienttest.Config) sioclienttest.Server {
		var args []string
		if cfg.Recovery {
			args = append(args, "recovery")
		}
		return suiteServer{startNode(t, args...), t}
	})
}
