package conformanceserver

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/websocket"
)

// Options selects the variants of the reference configuration.
type Options struct {
	// AllowEIO3 accepts Engine.IO v3 clients too (Node's allowEIO3).
	AllowEIO3 bool
}

// Server is the reference server: an http.Handler serving /engine.io/ and
// /socket.io/. Close it to end every session.
type Server struct {
	mux *http.ServeMux
	eio *engineio.Server
	sio *socketio.Server
}

// AuthDelay is how long after a namespace connection the Socket.IO server
// emits "auth".
//
// The Socket.IO suite reads the CONNECT answer and the "auth" event with two
// successive `await waitFor(socket, "message")`. Its WebSocket client (ws
// 8.5) dispatches every message of one TCP read synchronously, before the
// second listener exists, so when both messages come in one read the "auth"
// event is lost and the suite takes the next ping for it. Node's server
// writes them separately too, only a few tens of microseconds apart, and
// fails these checks now and then for the same reason. Emitting "auth" a
// little later puts it in a read of its own; 50 ms leaves ample margin on
// both sides: the first ping comes 300 ms after the handshake.
const AuthDelay = 50 * time.Millisecond

// engineOptions returns the Engine.IO settings both servers share.
func engineOptions(o Options) engineio.Options {
	return engineio.Options{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   1_000_000,
		AllowEIO3:    o.AllowEIO3,
		CORS:         &engineio.CORSOptions{Origins: []string{"*"}},
		WebSocket: websocket.AcceptOptions{
			// The suites open WebSockets from pages of any origin, as
			// CORS "*" allows for polling.
			InsecureSkipVerify: true,
			// No permessage-deflate, as Node's default: with context
			// takeover the suites' client (ws) compresses every message
			// it sends on its zlib thread pool, so its "2probe" and "5"
			// reach the server after the poll it sends right behind them.
		},
	}
}

// New returns the reference server.
func New(o Options) *Server {
	eopts := engineOptions(o)
	eio := engineio.NewServer(&eopts)
	eio.OnConnection(func(s *engineio.Socket) {
		s.OnMessage(func(p engineio.Packet) {
			s.Send(p)
		})
	})

	sio := socketio.NewServer(&socketio.Options{
		Options:        engineOptions(o),
		ConnectTimeout: time.Second,
	})
	sio.OnConnection(func(s *socketio.Socket) {
		emitAuth(s)
		// OnRaw: binary attachments go back as binary attachments.
		s.OnRaw("message", func(s *socketio.Socket, args []socketio.RawArg, _ socketio.AckFunc) {
			s.Emit("message-back", socketio.Args(args)...)
		})
		s.OnRaw("message-with-ack", func(s *socketio.Socket, args []socketio.RawArg, ack socketio.AckFunc) {
			if ack != nil {
				ack(socketio.Args(args)...)
			}
		})
	})
	sio.Of("/custom").OnConnection(emitAuth)

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", sio)
	return &Server{mux: mux, eio: eio, sio: sio}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close ends every Engine.IO and Socket.IO session.
func (s *Server) Close() error {
	err := s.sio.Close()
	if err2 := s.eio.Close(); err == nil {
		err = err2
	}
	return err
}

// emitAuth emits "auth" with the socket's handshake auth, AuthDelay from
// now.
func emitAuth(s *socketio.Socket) {
	auth := authOf(s)
	time.AfterFunc(AuthDelay, func() { s.Emit("auth", auth) })
}

// authOf returns the socket's handshake auth, {} when the client sent none
// (as Node's socket.handshake.auth).
func authOf(s *socketio.Socket) json.RawMessage {
	if a := s.Handshake().Auth; len(a) > 0 {
		return a
	}
	return json.RawMessage("{}")
}
