// Command tether is the Tether real-time server and its tools.
//
// Usage:
//
//	tether [serve] [flags]                                 the standalone real-time server (the default command)
//	tether config [flags]                                  print the effective configuration of serve
//	tether echo [-addr 127.0.0.1:9001] [-idle-timeout 60s] WebSocket echo server (conformance, benchmarks; -cpuprofile file, -io-uring=false)
//	tether conformance [-addr 127.0.0.1:3000] [-eio3]      Engine.IO/Socket.IO protocol test-suite server
//	tether version                                         print the version and the commit it was built from
//	tether hash-password [-cost 10] < password             print the bcrypt hash of a password (admin_ui.password_hash)
//	tether load [-url …] [-clients N] [-publish-rate R] …  drive a Socket.IO server with clients and measure it
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/tether-rt/tether/internal/conformanceserver"
	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/internal/h2xconnect"
	"github.com/tether-rt/tether/websocket"
)

func main() {
	execHTTP2WebSocket = h2xconnect.Exec
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintln(os.Stderr, "tether:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-version" || args[0] == "--version") {
		return runVersion(args[1:], stdout, stderr)
	}
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !isHelp(args[0])) {
		return runServe(args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "config":
		return runConfig(args[1:], stdout, stderr)
	case "echo":
		return runEcho(args[1:], stdout, stderr)
	case "conformance":
		return runConformance(args[1:], stdout, stderr)
	case "version":
		return runVersion(args[1:], stdout, stderr)
	case "hash-password":
		return runHashPassword(args[1:], os.Stdin, stdout, stderr)
	case "load":
		return runLoad(args[1:], os.Stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: tether <command> [flags]

Commands:
  serve         the standalone real-time server (the default command)
  config        print the effective configuration of serve (secrets redacted)
  echo          serve a WebSocket echo on every path (permessage-deflate with context takeover)
  conformance   serve the reference configuration of the Engine.IO/Socket.IO protocol test suites
  version       print the version and the commit it was built from (also -version)
  hash-password print the bcrypt hash of a password read from stdin (admin_ui.password_hash)
  load          drive a Socket.IO server with clients and measure it (connections, latency, delivery)

Run "tether <command> -h" for a command's flags.
`)
}

// runEcho serves the echo service until SIGINT or SIGTERM.
func runEcho(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("echo", "Serves a WebSocket echo on every path of ws://addr (permessage-deflate with context\n"+
		"takeover), the target of the conformance suite and the benchmarks, until SIGINT or SIGTERM.", stderr)
	addr := fs.String("addr", "127.0.0.1:9001", "`host:port` to listen on")
	idle := fs.Duration("idle-timeout", echoserver.DefaultIdleTimeout,
		"close a connection that sends nothing, not even a pong to the server's pings, for this long (0: never)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the whole run to `file`, for benchmarks")
	ioURing := fs.Bool("io-uring", true, "answer small messages from the poller, many connections per system call, with io_uring (Linux, where allowed); false: a reader goroutine per busy connection")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *idle < 0 {
		return fmt.Errorf("-idle-timeout is %v: it must not be negative", *idle)
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))
	opts := echoserver.DefaultOptions()
	echoserver.SetIdleTimeout(opts, *idle)
	h := echoserver.Handler(opts)
	h.Logger = log
	h.NoInline = !*ioURing
	switch err := websocket.GroupSupport(); {
	case !*ioURing:
		log.Info("echo: readers answer every message: -io-uring is off")
	case err != nil:
		log.Info("echo: readers answer every message: io_uring is unavailable", "err", err)
	default:
		log.Info("echo: the poller answers small messages itself, with io_uring")
	}
	return serveUntilSignal(*addr, "echo server", "ws://", echoserver.HTTPServer(h), h.Shutdown, log)
}

// startCPUProfile starts profiling the process's CPU into the file path,
// and returns the function that stops profiling and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failed to create the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to start the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// runConformance serves the reference configuration of the Engine.IO and
// Socket.IO protocol test suites until SIGINT or SIGTERM.
func runConformance(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("conformance", "Serves the reference configuration of the Engine.IO and Socket.IO protocol test suites\n"+
		"(github.com/socketio/engine.io-protocol and socket.io-protocol) on http://addr, until SIGINT or SIGTERM.", stderr)
	addr := fs.String("addr", "127.0.0.1:3000", "`host:port` to listen on")
	eio3 := fs.Bool("eio3", false, "accept Engine.IO v3 clients too (as Node's allowEIO3)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	h := conformanceserver.New(conformanceserver.Options{AllowEIO3: *eio3})
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return serveUntilSignal(*addr, "conformance server", "http://", hs, h.Close, slog.New(slog.NewTextHandler(stdout, nil)))
}

// newFlagSet returns the flag set of the command name, whose help prints
// the usage line, about and the flags with their defaults to output.
func newFlagSet(name, about string, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: tether %s [flags]\n\n%s\n\nFlags:\n", name, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, and returns errHelp when they ask for
// the help (which fs has printed), any other error of fs, or an error for
// arguments left over.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// errHelp ends a command that printed its help: the process exits 0.
var errHelp = errors.New("help requested")

// serveUntilSignal serves srv on addr until SIGINT or SIGTERM, then shuts
// down gracefully: it stops listening, calls closeSessions (when set) so
// long-lived sessions end, and waits up to 5 s for handlers to return.
func serveUntilSignal(addr, name, scheme string, srv *http.Server, closeSessions func() error, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	// Everything the process logs takes this format: the libraries' default
	// logger (socketio's, unless configured) and the log package route to
	// it, and so do net/http's own error lines.
	slog.SetDefault(log)
	if srv.ErrorLog == nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	log.Info(name+" listening", "addr", scheme+ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		if closeSessions != nil {
			closeSessions()
		}
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info(name + " stopped")
	return nil
}
