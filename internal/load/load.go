// Package load is `tether load`: a load generator for Socket.IO servers
// (Tether's, Node's, any other), built on the Socket.IO client of package
// socketio/client.
//
// A run connects -clients clients at -ramp connections per second, each
// into one of -rooms rooms (tether serve's "subscribe" event), then makes
// traffic for -warmup and -duration: in the publish mode (the default)
// clients publish -publish-rate messages per second, all together, with
// tether serve's "publish" event (or emit the -event their server relays
// to the room), and every client of the room receives them; in the ack
// mode clients emit an event and wait for its acknowledgement; in the
// receive mode they only receive what the server or a backend publishes.
// Each message's data carries its send time (Unix nanoseconds, "t"), so
// that receivers measure the delivery latency; only messages sent in the
// measured time count. After the measured time, the run waits (-drain) for
// the messages still on their way, then reports: connection times and
// errors by reason, acknowledgement round trips, delivered against
// expected messages (the expected count is the publish acknowledgement's
// receivers, as tether serve and the test servers answer), delivery
// latency quantiles (an HDR-style histogram), disconnections and
// reconnections and, given -pid of a local server, its CPU per delivered
// message and memory per connection. It exits non-zero when anything went
// wrong: a connection or a message failed, a client was disconnected, or
// fewer messages arrived than expected.
//
// With -publish-rate max the clients publish as fast as the server keeps
// up: each worker keeps at most -window messages in flight, and a message
// is complete, and its place in the window given to the next, when its
// acknowledgement came (the publish event, the ack mode; with -event, when
// it was emitted) and every client of that worker expected to receive it
// has (the members of its room ready in that worker, but the sender). So
// with -procs P up to P × -window messages are in flight, and each worker
// paces its messages by its own receivers. A place held for 10 s is given
// back and the message counted as a failure.
//
// -url takes several URLs separated by commas, the servers of one
// cluster: client i connects to URL i mod n, and a message is expected by
// every other member of its room (the publish acknowledgement counts the
// receivers of one server only). -pid takes as many process ids, whose
// CPU time and memory are summed.
//
// With -procs P it runs P worker processes (the same program, with
// -worker), each with its share of the clients and of the rates, within
// its own file limit, and merges their histograms. Clients of a server on
// an IPv4 loopback address connect from -sources addresses, 127.0.0.2 and
// on, so that ephemeral ports do not run out. Everything is bounded: the
// run stops by itself after the ramp, the connection timeout, the warm-up,
// the measured time and the drain.
package load

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ErrHelp is returned when the flags asked for the help, which is printed.
var ErrHelp = errors.New("help requested")

// ErrFailed is returned when the run finished but something went wrong
// (the report says what).
var ErrFailed = errors.New("the run had errors")

// Main runs tether load with args (the flags after "load").
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := &Config{}
	fs := cfg.FlagSet(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: tether load [flags]

Drives a Socket.IO server (tether serve, Node's socket.io, any other) with
clients and measures it: connection times and errors, acknowledgement round
trips, delivered against expected messages and their latency, and, with
-pid, the server's CPU per delivered message and memory per connection.
Exits 1 when a connection or a message failed or fewer messages arrived than
expected.

  tether load -url http://127.0.0.1:8080 -clients 1000 -rooms 1 -publish-rate 20 -duration 10s
  tether load -url http://127.0.0.1:8080 -clients 1000 -rooms 1 -publish-rate max -window 16 -pid $PID
  tether load -url http://127.0.0.1:8081,http://127.0.0.1:8082 -clients 1000 -rooms 1 -publish-rate max -pid $PID1,$PID2

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Mode == ModePublish && cfg.Event == "" && cfg.Rooms == 0 && (cfg.PublishRate > 0 || cfg.PublishMax) {
		return errors.New("-rooms 0: the publish event needs a room (or use -event, or -mode ack)")
	}
	if cfg.worker >= 0 {
		return runWorkerProcess(ctx, cfg, stdin, stdout)
	}
	cfg.Args = args
	rep, err := Run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if err := rep.Write(stdout, cfg.Out); err != nil {
		return err
	}
	if len(rep.Failures) > 0 {
		return fmt.Errorf("%w: %s", ErrFailed, rep.Failures[0])
	}
	return nil
}

// Executable is the program that runs as a worker process (-procs): the
// running one.
var Executable = os.Executable

// Run runs the load described by cfg and returns its report; progress
// goes to progressOut (a live line on a terminal, a line a second
// otherwise).
func Run(ctx context.Context, cfg *Config, progressOut io.Writer) (*Report, error) {
	bound := cfg.ConnectTimeout + cfg.Warmup + cfg.Duration + cfg.Drain + 30*time.Second
	if cfg.Ramp > 0 {
		bound += time.Duration(float64(cfg.Clients) / cfg.Ramp * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()

	start := time.Now()
	var srv *serverSampler
	pids := cfg.PIDs
	if len(pids) == 0 && cfg.PID > 0 {
		pids = []int{cfg.PID}
	}
	if len(pids) > 0 {
		var err error
		if srv, err = newServerSampler(pids); err != nil {
			return nil, err
		}
	}
	prog := newProgress(progressOut, cfg.Clients, cfg.Procs)
	defer prog.stop()

	type source struct {
		ready  chan readyMsg
		goCh   chan time.Time
		result chan *workerResult
		err    chan error
	}
	srcs := make([]*source, cfg.Procs)
	for i := range srcs {
		srcs[i] = &source{ready: make(chan readyMsg, 1), goCh: make(chan time.Time, 1), result: make(chan *workerResult, 1), err: make(chan error, 1)}
	}
	var procs []*workerProc
	if cfg.Procs == 1 {
		s := srcs[0]
		go func() {
			res, err := runWorker(ctx, cfg, 0,
				func(r readyMsg) { s.ready <- r },
				func(ctx context.Context) (time.Time, error) {
					select {
					case t := <-s.goCh:
						return t, nil
					case <-ctx.Done():
						return time.Time{}, ctx.Err()
					}
				},
				func(p progressMsg) { prog.update(0, p) }, nil)
			if err != nil {
				s.err <- err
				return
			}
			s.result <- res
		}()
	} else {
		exe, err := Executable()
		if err != nil {
			return nil, fmt.Errorf("failed to find the program for the workers: %w", err)
		}
		procs, err = startWorkers(ctx, cfg, exe, progressOut)
		defer func() {
			for _, p := range procs {
				p.stdin.Close()
			}
			for _, p := range procs {
				select {
				case <-p.done:
				case <-time.After(10 * time.Second):
					p.cmd.Process.Kill()
				}
			}
		}()
		if err != nil {
			return nil, err
		}
		// The drain ends when the sums of the workers' counts add up
		// (see worker.drain): the parent tells every worker, once.
		var (
			wmu       sync.Mutex // writes to the workers' stdin
			dmu       sync.Mutex
			last      = make([]progressMsg, len(procs))
			drainSent bool
		)
		write := func(p *workerProc, s string) {
			wmu.Lock()
			defer wmu.Unlock()
			fmt.Fprintln(p.stdin, s)
		}
		for i, p := range procs {
			s := srcs[i]
			go func() {
				gotResult := false
				for l := range p.lines {
					switch {
					case l.Ready != nil:
						s.ready <- *l.Ready
					case l.Progress != nil:
						prog.update(i, *l.Progress)
						dmu.Lock()
						last[i] = *l.Progress
						done := !drainSent && drainedAll(cfg.Mode, last)
						drainSent = drainSent || done
						dmu.Unlock()
						if done {
							for _, q := range procs {
								write(q, `{"drained":{}}`)
							}
						}
					case l.Result != nil:
						gotResult = true
						s.result <- l.Result
					}
				}
				err := <-p.done
				if !gotResult {
					if err == nil {
						err = errors.New("exited before its result")
					}
					s.err <- fmt.Errorf("load worker %d: %w", i, err)
				}
				p.done <- err // for the deferred wait
			}()
			go func() {
				for t := range s.goCh {
					write(p, fmt.Sprintf(`{"go":{"t0":%d}}`, t.UnixNano()))
				}
			}()
		}
	}

	// Connection: every worker ready.
	var connected int64
	for _, s := range srcs {
		select {
		case r := <-s.ready:
			connected += r.Connected
		case err := <-s.err:
			return nil, err
		case <-ctx.Done():
			return nil, fmt.Errorf("the clients did not connect in time: %w", ctx.Err())
		}
	}
	prog.phase("settling")
	if srv != nil {
		time.Sleep(time.Second) // let the server settle
		srv.connected(connected)
	}
	t0 := time.Now().Add(100 * time.Millisecond)
	prog.phase("warm-up")
	for _, s := range srcs {
		s.goCh <- t0
		if cfg.Procs > 1 {
			close(s.goCh)
		}
	}
	// The generator's own CPU: this process and its workers.
	gen := &serverSampler{pids: []int{os.Getpid()}}
	for _, p := range procs {
		gen.pids = append(gen.pids, p.cmd.Process.Pid)
	}
	var cpuWG sync.WaitGroup
	cpuWG.Add(1)
	go func() {
		defer cpuWG.Done()
		from := t0.Add(cfg.Warmup)
		time.Sleep(time.Until(from))
		prog.phase("measuring")
		gen.windowStart()
		if srv != nil {
			srv.windowStart()
		}
		time.Sleep(time.Until(from.Add(cfg.Duration)))
		if srv != nil {
			srv.windowEnd()
		}
		gen.windowEnd()
		prog.phase("draining")
	}()
	var results []*workerResult
	for _, s := range srcs {
		select {
		case r := <-s.result:
			results = append(results, r)
		case err := <-s.err:
			return nil, err
		case <-ctx.Done():
			return nil, fmt.Errorf("the run did not end in time: %w", ctx.Err())
		}
	}
	cpuWG.Wait()
	prog.stop()
	rep := newReport(cfg, results, connected, srv)
	rep.Generator = gen.cpuStats()
	rep.ElapsedS = time.Since(start).Seconds()
	return rep, nil
}
