// Command sioserver is the library form of the Socket.IO fan-out rows of
// BENCHMARKS.md (extra rows, not what users run): Tether's Socket.IO server
// as an application would set it up from package socketio
// (socketio.NewServer, the WebSocket transport only), with nothing but
// tether serve's three client events, so that `tether load` drives it as it
// drives `tether serve` (bench/load/product.sh library):
//
//   - "subscribe" {room} -> {ok: true}: the socket joins room;
//   - "unsubscribe" {room} -> {ok: true}: the socket leaves room;
//   - "publish" {room, event, data} -> {ok: true, receivers}: the room's
//     other sockets get event(data, {room, from, user: ""}), data as it
//     arrived (binary parts included); receivers counts them.
//
// These are the answers of tether serve and of the Node server it is
// compared with, bench/fanout/node/server.mjs (through
// test/e2e/client/serve_events.mjs). tether serve also checks room and
// event names, permissions, rate limits and its publish mode, and keeps
// presence and recovery: none of that is here.
//
//	sioserver -addr 127.0.0.1:0
//
// It prints {"op":"listening","port":N} on stdout once it listens, and
// exits when its standard input closes. With FANOUT_CPUPROFILE set to a
// file name it writes a CPU profile of its whole life there.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime/pprof"

	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("sioserver: ")
	addr := flag.String("addr", "127.0.0.1:0", "`address` to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
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
	srv := newServer()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"op": "listening", "port": ln.Addr().(*net.TCPAddr).Port}); err != nil {
		return fmt.Errorf("failed to print the port: %w", err)
	}
	stdin := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdin) }()
	select {
	case <-stdin:
	case err := <-served:
		return fmt.Errorf("failed to serve: %w", err)
	}
	_ = hs.Close()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("failed to close the server: %w", err)
	}
	return nil
}

// handlers are tether serve's client events, shared by every socket.
var handlers = new(socketio.Handlers).
	On("subscribe", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		room, err := roomArg(args)
		if err == nil {
			s.Join(room)
		}
		answer(ack, err, nil)
	}).
	On("unsubscribe", func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		room, err := roomArg(args)
		if err == nil {
			s.Leave(room)
		}
		answer(ack, err, nil)
	}).
	OnRaw("publish", func(s *socketio.Socket, args []socketio.RawArg, ack socketio.AckFunc) {
		var a struct {
			Room  string          `json:"room"`
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if len(args) == 0 || json.Unmarshal(args[0].JSON, &a) != nil || a.Room == "" || a.Event == "" {
			answer(ack, errInvalidArgs, nil)
			return
		}
		data := socketio.RawArg{JSON: a.Data, Attachments: args[0].Attachments}
		if a.Data == nil {
			data.JSON = json.RawMessage("null")
		}
		n := s.Namespace().LocalSockets().Count(&socketio.BroadcastOptions{Rooms: []string{a.Room}, Except: []string{s.ID()}})
		err := s.To(a.Room).Emit(a.Event, data, map[string]string{"room": a.Room, "from": s.ID(), "user": ""})
		answer(ack, err, map[string]any{"ok": true, "receivers": n})
	})

var errInvalidArgs = errors.New("invalid arguments")

// roomArg decodes the first argument as {room}.
func roomArg(args []json.RawMessage) (string, error) {
	var a struct {
		Room string `json:"room"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &a) != nil || a.Room == "" {
		return "", errInvalidArgs
	}
	return a.Room, nil
}

// answer acknowledges an event: with res (or {ok: true} when nil), or
// with {ok: false, reason} when err is set.
func answer(ack socketio.AckFunc, err error, res map[string]any) {
	if ack == nil {
		return
	}
	switch {
	case err != nil:
		_ = ack(map[string]any{"ok": false, "reason": err.Error()})
	case res != nil:
		_ = ack(res)
	default:
		_ = ack(map[string]any{"ok": true})
	}
}

// newServer returns the Socket.IO server: the WebSocket transport only,
// tether serve's client events on every socket of the main namespace.
func newServer() *socketio.Server {
	srv := socketio.NewServer(&socketio.Options{Options: engineio.Options{Transports: []string{"websocket"}}})
	srv.OnConnection(func(s *socketio.Socket) { s.SetHandlers(handlers, nil) })
	return srv
}
