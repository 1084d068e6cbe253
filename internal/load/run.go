package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The messages a worker process sends its parent, one JSON object a
// line, and the parent's one answer.
type (
	// readyMsg: the worker's clients have connected (or failed).
	readyMsg struct {
		Connected int64 `json:"connected"`
	}
	// goMsg (parent to worker): traffic starts at T0 (Unix nanoseconds).
	goMsg struct {
		T0 int64 `json:"t0"`
	}
	// progressMsg: the worker's counters, twice a second (more often
	// while it drains).
	progressMsg struct {
		Connected    int64    `json:"connected"`
		Errors       int64    `json:"errors"`
		DeliveredAll int64    `json:"delivered_all"`
		Recent       Snapshot `json:"recent"`
		// For the end of the drain: the traffic time is over, the
		// acknowledgements waited for, the measured deliveries expected
		// and received.
		SendingDone bool  `json:"sending_done,omitempty"`
		InFlight    int64 `json:"in_flight"`
		Expected    int64 `json:"expected"`
		Delivered   int64 `json:"delivered"`
	}
	// drainedMsg (parent to worker): every worker's messages are in.
	drainedMsg struct{}
	// workerResult: everything the worker measured.
	workerResult struct {
		Connects        int64            `json:"connects"`
		ConnectErrors   map[string]int64 `json:"connect_errors"`
		SubscribeErrors map[string]int64 `json:"subscribe_errors"`
		PublishErrors   map[string]int64 `json:"publish_errors"`
		Published       int64            `json:"published"`
		SentAll         int64            `json:"sent_all"`
		DeliveredAll    int64            `json:"delivered_all"`
		NotSent         int64            `json:"not_sent"`
		Expected        int64            `json:"expected"`
		Delivered       int64            `json:"delivered"`
		Disconnects     int64            `json:"disconnects"`
		Reconnects      int64            `json:"reconnects"`
		ConnectTime     Snapshot         `json:"connect_time"`
		AckRTT          Snapshot         `json:"ack_rtt"`
		Latency         Snapshot         `json:"latency"`
		MaxInFlight     int64            `json:"max_in_flight"`
		WindowLost      int64            `json:"window_lost"`
	}
	// line is one line of a worker's output.
	line struct {
		Ready    *readyMsg     `json:"ready,omitempty"`
		Progress *progressMsg  `json:"progress,omitempty"`
		Result   *workerResult `json:"result,omitempty"`
		Go       *goMsg        `json:"go,omitempty"`
		Drained  *drainedMsg   `json:"drained,omitempty"`
	}
)

// errors returns the number of errors so far.
func (w *worker) errorCount() int64 {
	var n int64
	for _, e := range []*errCounts{&w.connErrs, &w.subErrs, &w.pubErrs} {
		for _, v := range e.snapshot() {
			n += v
		}
	}
	return n + w.c.disconnects.Load()
}

func (w *worker) progress() progressMsg {
	old := w.recent.Swap(&Histogram{})
	return progressMsg{
		Connected:    w.c.connected.Load(),
		Errors:       w.errorCount(),
		DeliveredAll: w.c.deliveredAll.Load(),
		Recent:       old.Snapshot(),
		SendingDone:  w.c.sendingDone.Load(),
		InFlight:     w.c.inFlight.Load(),
		Expected:     w.c.expected.Load(),
		Delivered:    w.c.delivered.Load(),
	}
}

// drainedAll reports whether the workers' last progress says every
// message is in: their traffic time is over, no acknowledgement is waited
// for, and (publish mode) the deliveries add up to the expected ones.
func drainedAll(mode string, last []progressMsg) bool {
	var inFlight, expected, delivered int64
	for _, m := range last {
		if !m.SendingDone {
			return false
		}
		inFlight += m.InFlight
		expected += m.Expected
		delivered += m.Delivered
	}
	return inFlight == 0 && (mode != ModePublish || delivered >= expected)
}

func (w *worker) result() *workerResult {
	return &workerResult{
		Connects:        w.c.connects.Load(),
		ConnectErrors:   w.connErrs.snapshot(),
		SubscribeErrors: w.subErrs.snapshot(),
		PublishErrors:   w.pubErrs.snapshot(),
		Published:       w.c.published.Load(),
		SentAll:         w.c.sentAll.Load(),
		DeliveredAll:    w.c.deliveredAll.Load(),
		NotSent:         w.c.notSent.Load(),
		Expected:        w.c.expected.Load(),
		Delivered:       w.c.delivered.Load(),
		Disconnects:     w.c.disconnects.Load(),
		Reconnects:      w.c.reconnects.Load(),
		ConnectTime:     w.connTime.Snapshot(),
		AckRTT:          w.ackRTT.Snapshot(),
		Latency:         w.latency.Snapshot(),
		MaxInFlight:     w.c.maxInWindow.Load(),
		WindowLost:      w.c.windowLost.Load(),
	}
}

// runWorker runs worker index's clients: connect, report ready, wait for
// the start, traffic, drain, result. progress is called twice a second.
// drained (nil in a single process) tells the drain when every worker's
// messages are in (see [worker.drain]).
func runWorker(ctx context.Context, cfg *Config, index int, ready func(readyMsg), waitGo func(context.Context) (time.Time, error), progress func(progressMsg), drained func() bool) (*workerResult, error) {
	w := newWorker(cfg, index)
	defer w.close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond) // twice per line of progress
		defer t.Stop()
		for {
			select {
			case <-t.C:
				progress(w.progress())
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	w.connectAll(ctx)
	ready(readyMsg{Connected: w.c.connected.Load()})
	t0, err := waitGo(ctx)
	if err != nil {
		return nil, err
	}
	from := t0.Add(cfg.Warmup)
	w.window.Store(&[2]int64{from.UnixNano(), from.Add(cfg.Duration).UnixNano()})
	if d := time.Until(t0); d > 0 {
		time.Sleep(d)
	}
	w.publish(ctx, t0)
	w.c.sendingDone.Store(true)
	w.drain(ctx, drained, progress)
	return w.result(), nil
}

// runWorkerProcess is a worker process: it speaks to its parent through
// stdin and stdout.
func runWorkerProcess(ctx context.Context, cfg *Config, stdin io.Reader, stdout io.Writer) error {
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	send := func(l line) {
		mu.Lock()
		enc.Encode(l)
		mu.Unlock()
	}
	in := bufio.NewScanner(stdin)
	var drained atomic.Bool
	res, err := runWorker(ctx, cfg, cfg.worker,
		func(r readyMsg) { send(line{Ready: &r}) },
		func(ctx context.Context) (time.Time, error) {
			if !in.Scan() {
				return time.Time{}, errors.New("load worker: the parent went away")
			}
			var l line
			if err := json.Unmarshal(in.Bytes(), &l); err != nil || l.Go == nil {
				return time.Time{}, fmt.Errorf("load worker: bad message %q", in.Text())
			}
			// The next line is the parent's verdict that the drain is
			// over (or the end of stdin: the parent went away).
			go func() {
				for in.Scan() {
					var l line
					if json.Unmarshal(in.Bytes(), &l) == nil && l.Drained != nil {
						break
					}
				}
				drained.Store(true)
			}()
			return time.Unix(0, l.Go.T0), nil
		},
		func(p progressMsg) { send(line{Progress: &p}) },
		drained.Load)
	if err != nil {
		return err
	}
	send(line{Result: res})
	return nil
}

// workerProc is a worker process seen from the parent.
type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan line
	done  chan error
}

// startWorkers starts cfg.Procs worker processes: exe load <args> -worker i.
func startWorkers(ctx context.Context, cfg *Config, exe string, stderr io.Writer) ([]*workerProc, error) {
	var procs []*workerProc
	for i := range cfg.Procs {
		args := append([]string{"load"}, cfg.Args...)
		args = append(args, "-worker", strconv.Itoa(i))
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Stderr = stderr
		cmd.Env = os.Environ()
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return procs, err
		}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return procs, err
		}
		if err := cmd.Start(); err != nil {
			return procs, fmt.Errorf("failed to start worker %d: %w", i, err)
		}
		p := &workerProc{cmd: cmd, stdin: stdin, lines: make(chan line, 100), done: make(chan error, 1)}
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				var l line
				if json.Unmarshal(sc.Bytes(), &l) == nil {
					p.lines <- l
				}
			}
			close(p.lines)
			p.done <- cmd.Wait()
		}()
		procs = append(procs, p)
	}
	return procs, nil
}
