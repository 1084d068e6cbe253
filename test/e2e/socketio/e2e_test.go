package socketioe2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
)

// nodeTimeout bounds every Node process a test starts.
const nodeTimeout = 90 * time.Second

// needNode returns the path of node, checking that the npm packages of this
// folder are installed.
func needNode(t *testing.T) string {
	t.Helper()
	return peertest.Node(t, "test/e2e/socketio", "socket.io-client", "playwright-core")
}

// event is one JSON line a Node script printed.
type event struct {
	Op        string `json:"op"`
	OK        bool   `json:"ok"`
	Message   string `json:"message"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
	Ticks     int    `json:"ticks"`
	Transport string `json:"transport"`
	// Extensions are the WebSocket extensions the client agreed on.
	Extensions string `json:"extensions"`
	raw        string
}

type events []event

func (es events) String() string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("  " + e.raw + "\n")
	}
	return b.String()
}

func (es events) one(t *testing.T, op string) event {
	t.Helper()
	var found []event
	for _, e := range es {
		if e.Op == op {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %q event, got %d in:\n%s", op, len(found), es)
	}
	return found[0]
}

// runNode runs a Node script to its end; it must end with {op:"done",ok:true}.
func runNode(t *testing.T, script string, args ...string) events {
	t.Helper()
	es, lines, stderr, err := peertest.RunScript[event](t, needNode(t), nodeTimeout, script, args...)
	for i := range es {
		es[i].raw = lines[i]
	}
	done := events(es).one(t, "done")
	if err != nil || !done.OK {
		t.Fatalf("node %s %v failed: %v\n%s\nstdout:\n%sstderr:\n%s", script, args, err, done.Message, events(es), stderr)
	}
	return es
}

// harness is a socketio.Server on a loopback HTTP server whose TCP
// connections can be killed, as a network failure would.
type harness struct {
	t   *testing.T
	srv *socketio.Server
	hs  *httptest.Server
	url string

	// direct, when set before serve, counts the writes that do not wait
	// for the network (a broadcast's direct writes, engineio/direct.go).
	direct *atomic.Int64
	sndbuf int // with direct: the send buffer of each connection, when not 0

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	down  time.Time // requests fail until then
}

// killConnections simulates a network failure: it closes every TCP
// connection and fails the requests of the next 300 ms (a polling client
// would otherwise go on with new connections).
func (h *harness) killConnections() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = time.Now().Add(300 * time.Millisecond)
	for c := range h.conns {
		_ = c.Close()
	}
}

func (h *harness) isDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Before(h.down)
}

// serve serves srv at /socket.io/ (and extra handlers) on loopback.
func (h *harness) serve(t *testing.T, srv *socketio.Server, extra map[string]http.Handler) {
	t.Helper()
	h.t, h.srv, h.conns = t, srv, map[net.Conn]struct{}{}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	for p, hd := range extra {
		mux.Handle(p, hd)
	}
	h.hs = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.isDown() {
			panic(http.ErrAbortHandler) // drops the connection
		}
		mux.ServeHTTP(w, r)
	}))
	h.hs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		h.mu.Lock()
		defer h.mu.Unlock()
		switch st {
		case http.StateNew:
			h.conns[c] = struct{}{}
		case http.StateClosed:
			delete(h.conns, c)
		}
	}
	if h.direct != nil {
		h.hs.Listener = countingListener{h.hs.Listener, h.direct, h.sndbuf}
	}
	h.hs.Start()
	h.url = h.hs.URL
	t.Cleanup(func() {
		_ = srv.Close()
		h.killConnections()
		h.hs.Close()
	})
}

// newServer returns a server with the handlers the scenarios of client.mjs
// use.
func newServer(t *testing.T, opts *socketio.Options) (*socketio.Server, *harness) {
	return newServerExtra(t, opts, nil)
}

// newServerExtra is newServer with more HTTP handlers.
func newServerExtra(t *testing.T, opts *socketio.Options, extra map[string]http.Handler) (*socketio.Server, *harness) {
	srv := socketio.NewServer(opts)
	h := &harness{}
	t.Helper()
	ctx := context.Background()

	type upload struct {
		Name   string   `json:"name"`
		Data   []byte   `json:"data"`
		Nested [][]byte `json:"nested"`
	}
	common := func(s *socketio.Socket) {
		s.On("echo", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
			_ = ack(args) // the client's emitWithAck resolves with the first argument

		})
		s.On("whoami", func(s *socketio.Socket, _ []json.RawMessage, ack socketio.AckFunc) {
			if u, ok := s.Data().Get("user"); ok {
				_ = ack(map[string]any{"user": u, "nsp": s.Namespace().Name()})
				return
			}
			_ = ack(s.Namespace().Name())
		})
	}
	srv.OnConnection(func(s *socketio.Socket) {
		common(s)
		_ = s.Emit("welcome", map[string]any{"id": s.ID(), "transport": s.Transport(), "recovered": s.Recovered()})
		s.On("disconnect-me", func(s *socketio.Socket, _ []json.RawMessage, _ socketio.AckFunc) { s.Disconnect(false) })
		s.On("kill", func(*socketio.Socket, []json.RawMessage, socketio.AckFunc) { h.killConnections() })
		s.On("ask-me", func(s *socketio.Socket, _ []json.RawMessage, ack socketio.AckFunc) {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			answer, err := s.EmitWithAck(c, "question", 1, "two")
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			_ = ack(map[string]any{"answer": answer, "error": msg})
		})
		socketio.OnTyped(s, "binary-echo", func(s *socketio.Socket, u upload, _ socketio.AckFunc) {
			_ = s.Emit("binary-echo", u)
		})
		socketio.OnTyped(s, "binary-len", func(s *socketio.Socket, b []byte, ack socketio.AckFunc) { _ = ack(len(b)) })
		socketio.OnTyped(s, "big", func(s *socketio.Socket, str string, ack socketio.AckFunc) {
			if ack != nil {
				_ = ack(len(str))
			}
		})
		socketio.OnTyped(s, "join", func(s *socketio.Socket, rooms []string, ack socketio.AckFunc) {
			s.Join(rooms...)
			_ = ack(s.Rooms())
		})
		s.On("rooms", func(s *socketio.Socket, _ []json.RawMessage, ack socketio.AckFunc) { _ = ack(s.Rooms()) })
		type to struct {
			Rooms   []string `json:"rooms"`
			Except  []string `json:"except"`
			Payload any      `json:"payload"`
		}
		socketio.OnTyped(s, "to", func(s *socketio.Socket, v to, ack socketio.AckFunc) {
			_ = srv.To(v.Rooms...).Except(v.Except...).Emit("news", v.Payload)
			_ = ack()
		})
		socketio.OnTyped(s, "from-socket", func(s *socketio.Socket, v to, ack socketio.AckFunc) {
			_ = s.To(v.Rooms...).Emit("news", v.Payload)
			_ = ack()
		})
		type poll struct {
			TimeoutMs int `json:"timeoutMs"`
		}
		socketio.OnTyped(s, "poll-all", func(s *socketio.Socket, p poll, ack socketio.AckFunc) {
			go func() {
				answers, err := srv.Timeout(time.Duration(p.TimeoutMs)*time.Millisecond).EmitWithAck(ctx, "poll")
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				if answers == nil {
					answers = []json.RawMessage{}
				}
				_ = ack(map[string]any{"answers": answers, "error": msg})
			}()
		})
		// A stream of numbered broadcasts to the room "stream", until the
		// client asks to stop (or 100000 of them).
		socketio.OnTyped(s, "start-stream", func(s *socketio.Socket, _ int, _ socketio.AckFunc) {
			s.Join("stream")
			stop := make(chan struct{})
			var once sync.Once
			s.Data().Set("stop", func() { once.Do(func() { close(stop) }) })
			go func() {
				i := 0
				for ; i < 100000; i++ {
					select {
					case <-stop:
					default:
						_ = srv.To("stream").Emit("tick", i)
						time.Sleep(time.Millisecond)
						continue
					}
					break
				}
				_ = srv.To("stream").Emit("end", i)
			}()
		})
		s.On("stop-stream", func(s *socketio.Socket, _ []json.RawMessage, _ socketio.AckFunc) {
			if stop, ok := s.Data().Get("stop"); ok {
				stop.(func())()
			}
		})
	})
	srv.Of("/admin").OnConnection(common)
	srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`)).OnConnection(common)
	secure := srv.Of("/secure")
	secure.Use(func(s *socketio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "secret" {
			return socketio.NewConnectError("not authorized", map[string]any{"code": 401, "hint": "use the secret"})
		}
		s.Data().Set("user", "alice")
		return nil
	})
	secure.OnConnection(common)

	// The chat of the browser test.
	chat := srv.Of("/chat")
	chat.Use(func(s *socketio.Socket) error {
		var auth struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(s.Handshake().Auth, &auth) != nil || auth.Name == "" {
			return socketio.NewConnectError("a name is required", nil)
		}
		s.Data().Set("name", auth.Name)
		return nil
	})
	chat.OnConnection(func(s *socketio.Socket) {
		name, _ := s.Data().Get("name")
		socketio.OnTyped(s, "chat message", func(s *socketio.Socket, text string, ack socketio.AckFunc) {
			_ = s.Broadcast().Emit("chat message", map[string]any{"from": name, "text": text})
			if ack != nil {
				_ = ack("delivered")
			}
		})
		type binary struct {
			Data []byte `json:"data"`
		}
		socketio.OnTyped(s, "binary", func(s *socketio.Socket, b binary, _ socketio.AckFunc) { _ = s.Emit("binary", b) })
	})

	h.serve(t, srv, extra)
	return srv, h
}

func scenario(t *testing.T, h *harness, name string, opts any) events {
	t.Helper()
	raw, _ := json.Marshal(opts)
	return runNode(t, "client.mjs", name, h.url, string(raw))
}

func TestTransports(t *testing.T) {
	needNode(t)
	_, h := newServer(t, nil)
	for _, tc := range []struct {
		name string
		opts map[string]any
	}{
		{"polling", map[string]any{"transports": []string{"polling"}, "want": "polling"}},
		{"websocket", map[string]any{"transports": []string{"websocket"}, "want": "websocket"}},
		{"upgrade", map[string]any{"upgrade": true, "want": "websocket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := scenario(t, h, "transport", tc.opts)
			if got := es.one(t, "transport").Name; got != tc.opts["want"] {
				t.Fatalf("transport %q", got)
			}
		})
	}
}

func TestReconnection(t *testing.T) {
	needNode(t)
	_, h := newServer(t, nil)
	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			scenario(t, h, "reconnection", map[string]any{"transports": []string{tr}})
		})
	}
}

func TestNamespaces(t *testing.T) {
	needNode(t)
	_, h := newServer(t, nil)
	scenario(t, h, "namespaces", nil)
}

func TestMiddlewareConnectError(t *testing.T) {
	needNode(t)
	_, h := newServer(t, nil)
	scenario(t, h, "middleware", nil)
}

func TestRooms(t *testing.T) {
	needNode(t)
	_, h := newServer(t, nil)
	scenario(t, h, "rooms", nil)
}

func TestBroadcastWithAck(t *testing.T) {
	needNode(t)
	_, h := newServer(t, nil)
	scenario(t, h, "broadcastAck", nil)
}

// TestConnectionStateRecovery kills the client's TCP connection in the
// middle of a stream of broadcasts: the client reconnects, gets its id and
// rooms back, and every packet exactly once, in order.
func TestConnectionStateRecovery(t *testing.T) {
	needNode(t)
	srv, h := newServer(t, &socketio.Options{ConnectionStateRecovery: &socketio.RecoveryOptions{SkipMiddlewares: true}})
	recovered := make(chan bool, 16)
	srv.OnConnection(func(s *socketio.Socket) { recovered <- s.Recovered() })
	for _, tr := range [][]string{{"websocket"}, {"polling"}, {"polling", "websocket"}} {
		t.Run(strings.Join(tr, "+"), func(t *testing.T) {
			es := scenario(t, h, "recovery", map[string]any{"transports": tr, "killAt": []int{100, 400, 700}, "after": 300})
			if got := es.one(t, "recovered").Ticks; got < 1000 {
				t.Fatalf("ticks %d", got)
			}
			want := []bool{false, true, true, true}
			for i, w := range want {
				if got := <-recovered; got != w {
					t.Fatalf("connection %d: Recovered() = %v", i, got)
				}
			}
			if len(recovered) > 0 {
				t.Fatalf("%d more connections", len(recovered))
			}
		})
	}
}

func TestMaxPayload(t *testing.T) {
	needNode(t)
	_, h := newServer(t, nil)
	for _, tr := range []string{"websocket", "polling"} {
		t.Run(tr, func(t *testing.T) {
			scenario(t, h, "maxPayload", map[string]any{"transports": []string{tr}})
		})
	}
}

// TestChromium has two Chromium pages chat through the browser build of
// socket.io-client, served by the test server with the page.
func TestChromium(t *testing.T) {
	needNode(t)
	peertest.Chromium(t)
	_, h := newServerExtra(t, nil, map[string]http.Handler{
		"/chat.html": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, "chat.html")
		}),
		"/client/socket.io.min.js": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join("node_modules", "socket.io-client", "dist", "socket.io.min.js"))
		}),
	})
	es := runNode(t, "browser.mjs", h.url)
	if got := es.one(t, "connected").Transport; got != "websocket" && got != "polling" {
		t.Fatalf("transport %q", got)
	}
	es.one(t, "chat")
}

// TestSocketIOv2Client runs socket.io-client 2.x (Engine.IO 3) against a
// server with AllowEIO3, as Node's allowEIO3 serves it.
func TestSocketIOv2Client(t *testing.T) {
	needNode(t)
	if _, err := os.Stat(filepath.Join("node_modules", "socket.io-client-v2", "package.json")); err != nil {
		peertest.Missing(t, "npm package socket.io-client-v2 is not installed (run npm ci in test/e2e/socketio)")
	}
	_, h := newServer(t, &socketio.Options{Options: engineio.Options{AllowEIO3: true}})
	for _, tr := range []string{"polling", "websocket"} {
		t.Run(tr, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"transports": []string{tr}})
			runNode(t, "client_v2.mjs", h.url, string(raw))
		})
	}
}
