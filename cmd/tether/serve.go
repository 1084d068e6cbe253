package main

import (
	"context"
	"errors"
	"flag"
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

// runServe runs the standalone server until SIGINT or SIGTERM, then shuts
// it down gracefully.
func runServe(args []string, _, stderr io.Writer) error {
	cfg, err := server.LoadConfig("serve", args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	static := staticFiles
	if cfg.Demos && static == nil {
		static = demo.Assets()
	}
	srv, err := server.New(server.Options{
		Config: cfg,
		Static: static,
		Logger: server.NewLogger(stderr, &cfg.Log),
	})
	if err != nil {
		return err
	}
	if cfg.Demos {
		stopDemos := demo.Register(srv.IO(), demo.Options{})
		defer stopDemos()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

// runConfig prints the configuration serve would run with, as YAML with
// the secrets redacted, or fails with the validation errors.
func runConfig(args []string, stdout, stderr io.Writer) error {
	cfg, err := server.LoadConfig("config", args, os.Getenv, stderr)
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
