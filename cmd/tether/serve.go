package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-rt/tether/demo"
	"github.com/tether-rt/tether/server"
)

// staticFiles, when set, is what serve serves at "/" instead of the demo
// apps (or, with the demos off, the built-in page that lists the
// endpoints).
var staticFiles fs.FS

// isHelp reports whether arg asks for the usage.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// demoNamespaces are the namespaces of the demo apps.
var demoNamespaces = []string{demo.LeaderboardNamespace, demo.ChatNamespace, demo.TickerNamespace}

// loadConfig is server.LoadConfig plus, with the demos on, an entry in
// Namespaces for each demo namespace the configuration does not list, so
// that the demos get the rules (authentication, event rate limits) and
// metrics of configured namespaces.
func loadConfig(name string, args []string, stderr io.Writer) (*server.Config, error) {
	cfg, err := server.LoadConfig(name, args, os.Getenv, stderr)
	if err != nil {
		return nil, err
	}
	if cfg.Demos {
		cfg.AddNamespaces(demoNamespaces...)
	}
	return cfg, nil
}

// newServer returns the server serve runs for cfg, logging to stderr, with
// the demos wired in when cfg.Demos is set; stop ends the demos'
// background work.
func newServer(cfg *server.Config, stderr io.Writer) (srv *server.Server, stop func(), err error) {
	static := staticFiles
	if cfg.Demos && static == nil {
		static = demo.AssetsWithPath(cfg.Path)
	}
	srv, err = server.New(server.Options{
		Config: cfg,
		Static: static,
		Logger: server.NewLogger(stderr, &cfg.Log),
	})
	if err != nil {
		return nil, nil, err
	}
	stop = func() {}
	if cfg.Demos {
		stop = demo.Register(srv.IO(), demo.Options{TickerRate: cfg.DemoTickerRate})
	}
	return srv, stop, nil
}

// execHTTP2WebSocket, set by main, starts the program again (execve) with
// net/http's extended CONNECT switched on or off (h2xconnect.Exec) when the
// process does not have the setting serve wants; nil where the commands run
// inside another program (the tests).
var execHTTP2WebSocket func(on bool) error

// runServe runs the standalone server until SIGINT or SIGTERM, then shuts
// it down gracefully.
func runServe(args []string, _, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.TLS.CertFile != "" && execHTTP2WebSocket != nil {
		// WebSockets over HTTP/2 (http2_websocket): Go's HTTP/2 server
		// allows them only when GODEBUG=http2xconnect=1 was in the
		// environment at start-up. On failure the server runs as it is
		// and logs which way it went.
		if err := execHTTP2WebSocket(cfg.HTTP2WebSocket); err != nil {
			fmt.Fprintln(stderr, "tether:", err)
		}
	}
	srv, stopDemos, err := newServer(cfg, stderr)
	if err != nil {
		return err
	}
	defer stopDemos()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

// runConfig prints the configuration serve would run with, as YAML with
// the secrets redacted, or fails with the validation errors.
func runConfig(args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("config", args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	out, err := cfg.YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
