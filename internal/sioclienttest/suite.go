// Package sioclienttest is the behaviour suite of the Socket.IO client
// (package socketio/client), run against every server it must work with:
// Tether's (in socketio/client) and Node's socket.io 4.8 (in
// test/e2e/client). A server runs the same handlers in both (see
// [Server]); the suite cuts connections with a TCP proxy in front of it.
package sioclienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	eio "github.com/tether-rt/tether/engineio/client"
	"github.com/tether-rt/tether/internal/tcpproxy"
	"github.com/tether-rt/tether/socketio/client"
)

// waitTimeout bounds every wait for something that should happen; tests
// fail when it passes, they never assert on durations.
const waitTimeout = 10 * time.Second

// Config says what server a test needs.
type Config struct {
	// Recovery turns connection state recovery on, with a short heartbeat
	// (100 ms ping interval) so that the server soon notices a polling
	// client that is gone; the ping timeout (1 s) leaves a client on a
	// busy machine time to answer.
	Recovery bool
}

// Server is a Socket.IO server for the suite, with the same behaviour
// whatever its implementation, in the namespaces "/" and "/admin":
//
//   - a middleware records each CONNECT's auth payload (Auths) and refuses
//     the token "bad" with the message "not authorized" and the data
//     {"reason":"bad token","code":401};
//   - on connection it records the handshake's headers and query
//     (Handshakes, "/" only) and emits "welcome" {id, nsp, recovered,
//     engine} (the socket id, the namespace, whether the session was
//     recovered, the Engine.IO id);
//   - events: "echo" acknowledges with its arguments; "echoRaw" emits
//     "echoRaw" back with its arguments, binary parts as binary (and
//     acknowledges with them when asked); "join" (room) joins and
//     acknowledges "joined"; "broadcast" (room, msg) emits "news" msg to
//     the room (and acknowledges "ok"); "ask" emits "question" "what?"
//     with an acknowledgement and acknowledges with the answer; "kick"
//     disconnects the socket; "ignore" does nothing; "record" records its
//     first argument's JSON (Recorded).
//
// Its URL goes through Proxy.
type Server interface {
	URL() string
	Proxy() *tcpproxy.Proxy
	// Emit broadcasts event with arg (none when nil) to room of "/".
	Emit(room, event string, arg any)
	Recorded() <-chan string
	Auths() <-chan json.RawMessage
	Handshakes() <-chan Handshake
	// Sessions returns the number of open Engine.IO sessions.
	Sessions() int
	// WaitGone waits until "/" has no socket with the id (or fails t).
	WaitGone(t *testing.T, id string)
}

// Handshake is what a server saw of a connection's handshake.
type Handshake struct {
	Headers http.Header
	Query   url.Values
}

// NewServer starts a server for a test; it stops when the test ends.
type NewServer func(t *testing.T, cfg Config) Server

// Run runs the suite against the servers newServer starts.
func Run(t *testing.T, newServer NewServer) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, NewServer)
	}{
		{"EmitAndAck", testEmitAndAck},
		{"NamespacesShareConnection", testNamespacesShareConnection},
		{"AuthAndConnectError", testAuthAndConnectError},
		{"ReconnectAndBuffer", testReconnectAndBuffer},
		{"BufferedOrder", testBufferedOrder},
		{"Recovery", testRecovery},
		{"ServerDisconnect", testServerDisconnect},
		{"AckTimeout", testAckTimeout},
		{"ReconnectionAttempts", testReconnectionAttempts},
		{"ConnectRefused", testConnectRefused},
		{"OnceOffAny", testOnceOffAny},
		{"ConcurrentUse", testConcurrentUse},
		{"HeadersAndQuery", testHeadersAndQuery},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newServer) })
	}
}

// fastOptions reconnect quickly (the tests cut connections).
func fastOptions(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	o.ReconnectionDelay = 20 * time.Millisecond
	o.ReconnectionDelayMax = 100 * time.Millisecond
	o.ForceNew = true
	return o
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, url string, o *client.Options) *client.Socket {
	t.Helper()
	s, err := client.Connect(ctxT(t), url, fastOptions(o))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { s.Manager().Close() })
	return s
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not come", what)
		var zero T
		return zero
	}
}

// events collects one event's occurrences.
func events(s *client.Socket, name string) chan *client.Event {
	ch := make(chan *client.Event, 1000)
	s.On(name, func(e *client.Event) { ch <- e })
	return ch
}

type welcome struct {
	ID        string `json:"id"`
	Nsp       string `json:"nsp"`
	Recovered bool   `json:"recovered"`
	Engine    string `json:"engine"`
}

var transportSets = map[string][]string{
	"polling":   {"polling"},
	"websocket": {"websocket"},
	"upgrade":   nil,
}

// TestEmitAndAck: events both ways, acknowledgements both ways, binary
// arguments both ways, typed decoding, on every transport.
func testEmitAndAck(t *testing.T, newServer NewServer) {
	for name, transports := range transportSets {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, Config{})
			m, err := client.NewManager(srv.URL(), fastOptions(&client.Options{Engine: eio.Options{Transports: transports}}))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			s := m.Socket("/", nil)
			welcomes := events(s, "welcome")
			echoes := events(s, "echoRaw")
			s.On("question", func(e *client.Event) {
				var q string
				if err := e.Decode(&q); err != nil || q != "what?" || !e.WantsAck() {
					t.Errorf("question %q %v", q, err)
				}
				e.Ack("forty-two")
			})
			if err := s.Connect(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			var w welcome
			if err := wait(t, welcomes, "welcome").Decode(&w); err != nil || w.ID != s.ID() || w.Nsp != "/" || w.Engine != m.EngineID() {
				t.Fatalf("welcome %+v (%v), socket id %q, engine %q", w, err, s.ID(), m.EngineID())
			}
			type item struct {
				Name string `json:"name"`
				Blob []byte `json:"blob"`
				N    int    `json:"n"`
			}
			args, err := s.EmitWithAck(ctxT(t), "echo", item{"a", []byte{0, 1, 255}, 7}, "two", []byte("raw"))
			if err != nil {
				t.Fatal(err)
			}
			var got item
			var two string
			var raw []byte
			if err := (&client.Event{Args: args}).Decode(&got, &two, &raw); err != nil {
				t.Fatal(err)
			}
			if got.Name != "a" || string(got.Blob) != "\x00\x01\xff" || got.N != 7 || two != "two" || string(raw) != "raw" {
				t.Fatalf("echo: %+v %q %q", got, two, raw)
			}
			// Binary parts stay binary on the server: it sends them back as
			// attachments.
			if err := s.Emit("echoRaw", map[string]any{"b": []byte{9, 8}}); err != nil {
				t.Fatal(err)
			}
			var back struct {
				B []byte `json:"b"`
			}
			if err := wait(t, echoes, "echoRaw").Decode(&back); err != nil || string(back.B) != "\x09\x08" {
				t.Fatalf("echoRaw: %q %v", back.B, err)
			}
			// The server asks, the client answers in its handler.
			args, err = s.EmitWithAck(ctxT(t), "ask")
			if err != nil || len(args) != 1 || string(args[0]) != `"forty-two"` {
				t.Fatalf("ask: %s %v", args, err)
			}
			if tr := m.Transport(); transports != nil && tr != transports[0] {
				t.Fatalf("transport %q", tr)
			}
			if err := s.Emit("connect"); !errors.Is(err, client.ErrReservedEvent) {
				t.Fatalf("Emit(connect): %v", err)
			}
		})
	}
}

// TestNamespacesShareConnection: sockets of two namespaces on one Manager
// share one Engine.IO session; ForceNew gives a new one.
func testNamespacesShareConnection(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	ctx := ctxT(t)
	opts := &client.Options{ReconnectionDelay: 20 * time.Millisecond}
	main, err := client.Connect(ctx, srv.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer main.Manager().Close()
	admin, err := client.Connect(ctx, srv.URL()+"/admin", opts)
	if err != nil {
		t.Fatal(err)
	}
	if admin.Manager() != main.Manager() || admin.Namespace() != "/admin" {
		t.Fatalf("admin socket on another manager, namespace %q", admin.Namespace())
	}
	args, err := admin.EmitWithAck(ctx, "echo", "hi admin")
	if err != nil || string(args[0]) != `"hi admin"` {
		t.Fatalf("admin echo %s %v", args, err)
	}
	if n := srv.Sessions(); n != 1 {
		t.Fatalf("%d Engine.IO sessions, want 1", n)
	}
	// The same namespace again: a new manager (as the JavaScript client).
	again, err := client.Connect(ctx, srv.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Manager().Close()
	forced, err := client.Connect(ctx, srv.URL()+"/admin", &client.Options{ForceNew: true})
	if err != nil {
		t.Fatal(err)
	}
	defer forced.Manager().Close()
	if again.Manager() == main.Manager() || forced.Manager() == main.Manager() {
		t.Fatal("a second socket of a namespace, or ForceNew, reused the manager")
	}
	if n := srv.Sessions(); n != 3 {
		t.Fatalf("%d Engine.IO sessions, want 3", n)
	}
	// Disconnecting one socket keeps the shared connection for the other.
	admin.Disconnect()
	if args, err := main.EmitWithAck(ctx, "echo", 1); err != nil || string(args[0]) != "1" {
		t.Fatalf("echo after the other namespace left: %s %v", args, err)
	}
}

// TestAuthAndConnectError: static auth, an auth function called at each
// connection, and a refusal with the server's message and data.
func testAuthAndConnectError(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	connect(t, srv.URL(), &client.Options{SocketOptions: client.SocketOptions{Auth: map[string]string{"token": "good"}}})
	if a := wait(t, srv.Auths(), "auth"); string(a) != `{"token":"good"}` {
		t.Fatalf("auth %s", a)
	}

	_, err := client.Connect(ctxT(t), srv.URL(), fastOptions(&client.Options{SocketOptions: client.SocketOptions{Auth: map[string]string{"token": "bad"}}}))
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Message != "not authorized" || !jsonEqual(ce.Data, `{"reason":"bad token","code":401}`) {
		t.Fatalf("refused: %v %#v", err, ce)
	}
	wait(t, srv.Auths(), "auth")

	// An auth function is called at each connection: after a drop, the
	// reconnection sends a fresh payload.
	var calls atomic.Int32
	s := connect(t, srv.URL(), &client.Options{SocketOptions: client.SocketOptions{AuthFunc: func(ctx context.Context) (any, error) {
		return map[string]any{"token": "good", "n": calls.Add(1)}, nil
	}}})
	if a := wait(t, srv.Auths(), "auth"); !jsonEqual(a, `{"token":"good","n":1}`) {
		t.Fatalf("auth %s", a)
	}
	reconnected := make(chan int, 1)
	s.Manager().OnReconnect(func(n int) { reconnected <- n })
	cut(t, srv.Proxy(), s)
	wait(t, reconnected, "the reconnection")
	for { // the first socket reconnects too: skip its static auth
		a := wait(t, srv.Auths(), "auth")
		if strings.Contains(string(a), `"n"`) {
			if !jsonEqual(a, `{"token":"good","n":2}`) {
				t.Fatalf("auth after reconnecting %s", a)
			}
			break
		}
	}

	// A refused socket's handlers hear of it.
	m, _ := client.NewManager(srv.URL(), fastOptions(nil))
	defer m.Close()
	bad := m.Socket("/admin", &client.SocketOptions{AuthFunc: func(context.Context) (any, error) { return map[string]string{"token": "bad"}, nil }})
	errs := make(chan error, 1)
	bad.OnConnectError(func(err error) { errs <- err })
	if err := bad.Connect(ctxT(t)); !errors.As(err, &ce) {
		t.Fatalf("Connect: %v", err)
	}
	if err := wait(t, errs, "connect_error"); !errors.As(err, &ce) || ce.Message != "not authorized" {
		t.Fatalf("connect_error handler: %v", err)
	}
	if bad.Connected() {
		t.Fatal("refused socket connected")
	}
	if err := bad.Connect(ctxT(t)); !errors.As(err, &ce) {
		t.Fatalf("second Connect: %v", err)
	}
}

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// TestReconnectAndBuffer: a dropped connection comes back by itself;
// events emitted while offline are buffered and sent after, in order;
// volatile ones are dropped; the handlers see disconnect and connect.
func testReconnectAndBuffer(t *testing.T, newServer NewServer) {
	for name, transports := range transportSets {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, Config{})
			recorded := srv.Recorded()
			s := connect(t, srv.URL(), &client.Options{Engine: eio.Options{Transports: transports}})
			disconnects := make(chan string, 10)
			connects := make(chan bool, 10)
			s.OnDisconnect(func(reason string) { disconnects <- reason })
			s.OnConnect(func() { connects <- true })
			// Connected, a volatile event goes out when the connection is
			// not busy writing (a POST in flight makes it busy).
			sentVolatile := false
			for i := 0; i < 200 && !sentVolatile; i++ {
				s.Volatile().Emit("record", "volatile while connected")
				select {
				case r := <-recorded:
					if r != `"volatile while connected"` {
						t.Fatalf("recorded %s", r)
					}
					sentVolatile = true
				case <-time.After(10 * time.Millisecond):
				}
			}
			if !sentVolatile {
				t.Fatal("no volatile event went out while connected")
			}
			// More than one may have gone out, and one that took longer
			// than 10 ms (an upgrade in progress) may arrive later still:
			// the records below skip them.
			next := func(what string) string {
				for {
					if r := wait(t, recorded, what); r != `"volatile while connected"` {
						return r
					}
				}
			}
			srv.Proxy().Refuse(true)
			srv.Proxy().Drop()
			if r := wait(t, disconnects, "disconnect"); r != "transport close" && r != "transport error" {
				t.Fatalf("disconnected with %q", r)
			}
			if s.Connected() {
				t.Fatal("still connected")
			}
			// Offline: buffered, and volatile dropped.
			for i := range 5 {
				if err := s.Emit("record", fmt.Sprint("buffered ", i)); err != nil {
					t.Fatal(err)
				}
				if err := s.Volatile().Emit("record", "volatile"); err != nil {
					t.Fatal(err)
				}
			}
			acked := make(chan error, 1)
			go func() {
				args, err := s.EmitWithAck(ctxT(t), "echo", "after")
				if err == nil && string(args[0]) != `"after"` {
					err = fmt.Errorf("ack %s", args)
				}
				acked <- err
			}()
			srv.Proxy().Refuse(false)
			wait(t, connects, "the reconnection")
			if err := wait(t, acked, "the buffered ack"); err != nil {
				t.Fatal(err)
			}
			s.Emit("record", "live")
			for i := range 5 {
				if r := next("a buffered event"); r != fmt.Sprintf(`"buffered %d"`, i) {
					t.Fatalf("recorded %s", r)
				}
			}
			if r := next("the live event"); r != `"live"` {
				t.Fatalf("recorded %s, not the live event", r)
			}
		})
	}
}

// TestBufferedOrder: events emitted while offline reach the server once,
// in order, before those emitted after the reconnection.
func testBufferedOrder(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	got := srv.Recorded()
	s := connect(t, srv.URL(), nil)
	disconnected := make(chan string, 1)
	s.OnDisconnect(func(r string) { disconnected <- r })
	srv.Proxy().Refuse(true)
	srv.Proxy().Drop()
	wait(t, disconnected, "disconnect")
	for i := range 100 {
		s.Emit("record", i)
	}
	srv.Proxy().Refuse(false)
	done := make(chan struct{})
	go func() { // emits racing the reconnection
		defer close(done)
		for i := 100; i < 200; i++ {
			s.Emit("record", i)
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range 200 {
		if v := wait(t, got, "an event"); v != fmt.Sprint(i) {
			t.Fatalf("event %d: %s", i, v)
		}
	}
	<-done
}

// TestRecovery: with connection state recovery on the server, a socket
// that comes back after a drop gets its session back (same id, rooms) and
// the broadcasts it missed.
func testRecovery(t *testing.T, newServer NewServer) {
	for name, transports := range transportSets {
		t.Run(name, func(t *testing.T) {
			// A short heartbeat: the server notices the drop of a polling
			// client soon.
			srv := newServer(t, Config{Recovery: true})
			s := connect(t, srv.URL(), &client.Options{Engine: eio.Options{Transports: transports}})
			if s.Recovered() {
				t.Fatal("recovered at the first connection")
			}
			id := s.ID()
			news := events(s, "news")
			if _, err := s.EmitWithAck(ctxT(t), "join", "r"); err != nil {
				t.Fatal(err)
			}
			other := connect(t, srv.URL(), nil)
			if _, err := other.EmitWithAck(ctxT(t), "broadcast", "r", "before"); err != nil {
				t.Fatal(err)
			}
			if e := wait(t, news, "news"); string(e.Args[0]) != `"before"` || len(e.Args) != 2 {
				t.Fatalf("news %s", e.Args) // the data and the offset
			}
			connects := make(chan bool, 1)
			s.OnConnect(func() { connects <- s.Recovered() })
			srv.Proxy().Refuse(true)
			srv.Proxy().Drop()
			// The other client reconnects too (through the same proxy):
			// broadcast from the server meanwhile.
			srv.WaitGone(t, id)
			for i := range 3 {
				srv.Emit("r", "news", fmt.Sprint("missed ", i))
			}
			srv.Proxy().Refuse(false)
			if !wait(t, connects, "the reconnection") {
				t.Fatal("not recovered")
			}
			if s.ID() != id {
				t.Fatalf("id %q after recovery, was %q", s.ID(), id)
			}
			for i := range 3 {
				if e := wait(t, news, "a missed broadcast"); string(e.Args[0]) != fmt.Sprintf(`"missed %d"`, i) {
					t.Fatalf("missed %d: %s", i, e.Args[0])
				}
			}
			// Still in the room.
			srv.Emit("r", "news", "after")
			if e := wait(t, news, "news"); string(e.Args[0]) != `"after"` {
				t.Fatalf("news %s", e.Args[0])
			}
		})
	}
}

// TestServerDisconnect: a socket the server disconnects stays
// disconnected ("io server disconnect"), and a socket the client
// disconnects is gone on the server.
func testServerDisconnect(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	s := connect(t, srv.URL(), nil)
	reasons := make(chan string, 10)
	s.OnDisconnect(func(r string) { reasons <- r })
	s.Emit("kick")
	if r := wait(t, reasons, "disconnect"); r != client.ReasonIOServerDisconnect {
		t.Fatalf("reason %q", r)
	}
	if _, err := s.EmitWithAck(ctxTimeout(t, 200*time.Millisecond), "echo", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EmitWithAck after a server disconnect: %v", err)
	}
	// It connects again when asked.
	if err := s.Connect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	s.Disconnect()
	if r := wait(t, reasons, "disconnect"); r != client.ReasonIOClientDisconnect {
		t.Fatalf("reason %q", r)
	}
	srv.WaitGone(t, id)
}

// cut drops the connections of the proxy and refuses new ones until the
// socket noticed (Go's HTTP client would retry a poll cut short on a new
// connection, and the session would live on), then lets it reconnect.
func cut(t *testing.T, p *tcpproxy.Proxy, s *client.Socket) {
	t.Helper()
	gone := make(chan bool, 1)
	s.OnDisconnect(func(string) {
		select {
		case gone <- true:
		default:
		}
	})
	p.Refuse(true)
	p.Drop()
	wait(t, gone, "the disconnection")
	p.Refuse(false)
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestAckTimeout: EmitWithAck ends with its context when no answer comes,
// and with ErrDisconnected when the connection is lost first.
func testAckTimeout(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	s := connect(t, srv.URL(), nil)
	if _, err := s.EmitWithAck(ctxTimeout(t, 100*time.Millisecond), "ignore"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EmitWithAck: %v", err)
	}
	res := make(chan error, 1)
	go func() {
		// "record" has no acknowledgement either, and tells when it came.
		_, err := s.EmitWithAck(ctxT(t), "record", "unanswered")
		res <- err
	}()
	// It went out (a drop before would have buffered it).
	if r := wait(t, srv.Recorded(), "the event"); r != `"unanswered"` {
		t.Fatalf("recorded %s", r)
	}
	cut(t, srv.Proxy(), s)
	if err := wait(t, res, "the failed ack"); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("EmitWithAck across a drop: %v", err)
	}
}

// TestReconnectionAttempts: against a server that is gone, the manager
// tries ReconnectionAttempts times, reports each failure, and gives up.
func testReconnectionAttempts(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	s := connect(t, srv.URL(), &client.Options{ReconnectionAttempts: 3})
	m := s.Manager()
	var attempts []int
	var mu sync.Mutex
	failed := make(chan bool, 1)
	m.OnReconnectAttempt(func(n int) { mu.Lock(); attempts = append(attempts, n); mu.Unlock() })
	m.OnReconnectFailed(func() { failed <- true })
	connErrs := make(chan error, 10)
	s.OnConnectError(func(err error) { connErrs <- err })
	srv.Proxy().Refuse(true)
	srv.Proxy().Drop()
	wait(t, failed, "reconnect_failed")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Fatalf("attempts %v", attempts)
	}
	if len(connErrs) != 3 {
		t.Fatalf("%d connect errors", len(connErrs))
	}
}

// TestConnectRefused: a server that is not there fails Connect with the
// dial's error.
func testConnectRefused(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	srv.Proxy().Refuse(true)
	_, err := client.Connect(ctxT(t), srv.URL(), fastOptions(&client.Options{NoReconnect: true}))
	if err == nil || !strings.Contains(err.Error(), "polling GET failed") {
		t.Fatalf("Connect: %v", err)
	}
	_, err = client.Connect(ctxT(t), srv.URL(), fastOptions(&client.Options{Engine: eio.Options{Transports: []string{"websocket"}}}))
	if err == nil {
		t.Fatal("Connect over WebSocket to a refusing server succeeded")
	}
}

// TestOnceOffAny: Once fires once, Off removes, OnAny sees every event,
// the function On returns removes that handler only.
func testOnceOffAny(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	s := connect(t, srv.URL(), nil)
	if _, err := s.EmitWithAck(ctxT(t), "join", "r"); err != nil {
		t.Fatal(err)
	}
	var once, on, removed, any atomic.Int32
	s.Once("news", func(*client.Event) { once.Add(1) })
	s.On("news", func(*client.Event) { on.Add(1) })
	off := s.On("news", func(*client.Event) { removed.Add(1) })
	off()
	s.OnAny(func(e *client.Event) {
		if e.Name == "news" {
			any.Add(1)
		}
	})
	last := make(chan bool, 10)
	s.On("last", func(*client.Event) { last <- true })
	for range 3 {
		srv.Emit("r", "news", 1)
	}
	srv.Emit("r", "last", nil)
	wait(t, last, "last")
	if once.Load() != 1 || on.Load() != 3 || removed.Load() != 0 || any.Load() != 3 {
		t.Fatalf("once %d, on %d, removed %d, any %d", once.Load(), on.Load(), removed.Load(), any.Load())
	}
	s.Off("news")
	srv.Emit("r", "news", 1)
	srv.Emit("r", "last", nil)
	wait(t, last, "last")
	if on.Load() != 3 || any.Load() != 4 {
		t.Fatalf("after Off: on %d, any %d", on.Load(), any.Load())
	}
}

// TestConcurrentUse: many goroutines emit and wait for acknowledgements on
// one socket (run with -race); every answer matches its question.
func testConcurrentUse(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	s := connect(t, srv.URL(), nil)
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf("%d-%d", g, i)
				args, err := s.EmitWithAck(ctxT(t), "echo", want)
				if err != nil || string(args[0]) != `"`+want+`"` {
					t.Errorf("echo %s: %s %v", want, args, err)
					return
				}
				s.Emit("echo", want)
				s.On("x", func(*client.Event) {})()
			}
		}()
	}
	wg.Wait()
}

// TestHeadersAndQuery reach the server with the handshake.
func testHeadersAndQuery(t *testing.T, newServer NewServer) {
	srv := newServer(t, Config{})
	connect(t, srv.URL(), &client.Options{Engine: eio.Options{Header: http.Header{"X-App": {"test"}}, Query: url.Values{"v": {"1"}}}})
	h := wait(t, srv.Handshakes(), "the handshake")
	if h.Headers.Get("X-App") != "test" || h.Query.Get("v") != "1" {
		t.Fatalf("headers %v, query %v", h.Headers, h.Query)
	}
}
