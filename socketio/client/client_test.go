package client_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/internal/sioclienttest"
	"github.com/tether-rt/tether/internal/tcpproxy"
	"github.com/tether-rt/tether/socketio"
)

// TestSuite runs the client's behaviour suite against Tether's server.
func TestSuite(t *testing.T) {
	sioclienttest.Run(t, newServer)
}

// server is Tether's Socket.IO server on loopback, behind a TCP proxy,
// with the suite's handlers (see [sioclienttest.Server]).
type server struct {
	io         *socketio.Server
	hs         *httptest.Server
	proxy      *tcpproxy.Proxy
	auths      chan json.RawMessage
	recorded   chan string
	handshakes chan sioclienttest.Handshake
}

func newServer(t *testing.T, cfg sioclienttest.Config) sioclienttest.Server {
	t.Helper()
	var opts socketio.Options
	if cfg.Recovery {
		opts.Options = engineio.Options{PingInterval: 100 * time.Millisecond, PingTimeout: time.Second}
		opts.ConnectionStateRecovery = &socketio.RecoveryOptions{}
	}
	s := &server{
		io:         socketio.NewServer(&opts),
		auths:      make(chan json.RawMessage, 100),
		recorded:   make(chan string, 1000),
		handshakes: make(chan sioclienttest.Handshake, 100),
	}
	setup := func(n *socketio.Namespace) {
		n.Use(func(sock *socketio.Socket) error {
			s.auths <- sock.Handshake().Auth
			var a struct {
				Token string `json:"token"`
			}
			json.Unmarshal(sock.Handshake().Auth, &a)
			if a.Token == "bad" {
				return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"reason": "bad token", "code": 401}}
			}
			return nil
		})
		n.OnConnection(func(sock *socketio.Socket) {
			if n.Name() == "/" {
				s.handshakes <- sioclienttest.Handshake{Headers: sock.Handshake().Headers, Query: sock.Handshake().Query}
			}
			sock.On("echo", func(sock *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
				if ack != nil {
					ack(socketio.Args(args)...)
				}
			})
			sock.OnRaw("echoRaw", func(sock *socketio.Socket, args []socketio.RawArg, ack socketio.AckFunc) {
				sock.Emit("echoRaw", socketio.Args(args)...)
				if ack != nil {
					ack(socketio.Args(args)...)
				}
			})
			sock.On("join", func(sock *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
				var room string
				json.Unmarshal(args[0], &room)
				sock.Join(room)
				ack("joined")
			})
			sock.On("broadcast", func(sock *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
				var room, msg string
				json.Unmarshal(args[0], &room)
				json.Unmarshal(args[1], &msg)
				n.To(room).Emit("news", msg)
				if ack != nil {
					ack("ok")
				}
			})
			sock.On("ask", func(sock *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
				got, err := sock.EmitWithAck(context.Background(), "question", "what?")
				if err != nil {
					ack("error: " + err.Error())
					return
				}
				ack(got[0])
			})
			sock.On("kick", func(sock *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
				sock.Disconnect(false)
			})
			sock.On("ignore", func(*socketio.Socket, []json.RawMessage, socketio.AckFunc) {})
			sock.On("record", func(_ *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) {
				s.recorded <- string(args[0])
			})
			sock.Emit("welcome", map[string]any{"id": sock.ID(), "nsp": n.Name(), "recovered": sock.Recovered(), "engine": sock.EngineID()})
		})
	}
	setup(s.io.Of("/"))
	setup(s.io.Of("/admin"))
	s.hs = httptest.NewServer(s.io)
	p, err := tcpproxy.New(s.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s.proxy = p
	t.Cleanup(func() {
		p.Close()
		s.io.Close()
		s.hs.Close()
	})
	return s
}

func (s *server) URL() string                                { return "http://" + s.proxy.Addr }
func (s *server) Proxy() *tcpproxy.Proxy                     { return s.proxy }
func (s *server) Recorded() <-chan string                    { return s.recorded }
func (s *server) Auths() <-chan json.RawMessage              { return s.auths }
func (s *server) Handshakes() <-chan sioclienttest.Handshake { return s.handshakes }
func (s *server) Sessions() int                              { return s.io.Engine().Count() }

func (s *server) Emit(room, event string, arg any) {
	if arg == nil {
		s.io.To(room).Emit(event)
		return
	}
	s.io.To(room).Emit(event, arg)
}

func (s *server) WaitGone(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.io.Of("/").Socket(id) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the server still has the socket %s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNoServerImports: the client depends on no server package.
func TestNoServerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "github.com/tether-rt/tether/engineio", dep == "github.com/tether-rt/tether/socketio",
			strings.HasPrefix(dep, "github.com/tether-rt/tether/server"), strings.HasPrefix(dep, "github.com/tether-rt/tether/adapter"):
			t.Fatalf("socketio/client depends on %s", dep)
		}
	}
}
