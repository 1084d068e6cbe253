package server_test

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-rt/tether/demo"
	"github.com/tether-rt/tether/server"
	"github.com/tether-rt/tether/socketio"
)

// The standalone server embedded in a Go program, with the demo apps and
// an event of the application's own: what the README's embedding section
// shows.
func Example_embedding() {
	cfg := server.DefaultConfig() // or server.LoadConfig("serve", os.Args[1:], os.Getenv, os.Stderr)
	cfg.AddNamespaces(demo.LeaderboardNamespace, demo.ChatNamespace, demo.TickerNamespace)
	srv, err := server.New(server.Options{Config: cfg, Static: demo.AssetsWithPath(cfg.Path)})
	if err != nil {
		log.Fatal(err)
	}
	stop := demo.Register(srv.IO(), demo.Options{})
	defer stop()
	// More events on the default namespace, besides subscribe, publish...
	srv.IO().Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("echo", srv.Tracked(func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
			if ack != nil && len(args) > 0 {
				_ = ack(args[0])
			}
		}))
	})
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := srv.Run(ctx); err != nil { // or http.Handle("/", srv) in a server of your own
		log.Fatal(err)
	}
}
