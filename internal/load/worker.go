package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	eio "github.com/tether-rt/tether/engineio/client"
	"github.com/tether-rt/tether/socketio/client"
)

// counts are a worker's counters, all atomic.
type counts struct {
	connected    atomic.Int64 // connected now
	connects     atomic.Int64 // first connections that succeeded
	published    atomic.Int64 // measured messages sent
	notSent      atomic.Int64 // measured messages not sent: no connected client, or too many waiting for their ack
	expected     atomic.Int64 // measured deliveries expected
	delivered    atomic.Int64 // measured deliveries
	deliveredAll atomic.Int64 // every delivery, for the rate
	disconnects  atomic.Int64
	reconnects   atomic.Int64
	inFlight     atomic.Int64 // acks waited for
}

// errCounts counts errors by reason.
type errCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errCounts) add(reason string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[reason]++
	e.mu.Unlock()
}

func (e *errCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// worker runs a share of the clients: those numbered lo to hi-1.
type worker struct {
	cfg    *Config
	lo, hi int
	share  float64 // of the publish rate and ramp

	c         counts
	connErrs  errCounts
	subErrs   errCounts
	pubErrs   errCounts
	connTime  Histogram
	ackRTT    Histogram
	latency   Histogram
	recent    atomic.Pointer[Histogram] // delivery latency since the last progress report
	window    atomic.Pointer[[2]int64]  // the measured time, Unix nanoseconds
	ending    atomic.Bool               // the run is over: disconnections are ours
	clients   []*loadClient
	roomSizes []int // clients per room, over all processes
	event     string
	pad       string
	dialers   []*net.Dialer
	maxFlight int64
}

type loadClient struct {
	i     int
	room  string
	m     *client.Manager
	s     *client.Socket
	ready atomic.Bool // connected and in its room
}

// workerRange returns the clients of worker w of p.
func workerRange(n, p, w int) (int, int) {
	return n * w / p, n * (w + 1) / p
}

func newWorker(cfg *Config, index int) *worker {
	w := &worker{cfg: cfg}
	w.lo, w.hi = workerRange(cfg.Clients, cfg.Procs, index)
	w.share = float64(w.hi-w.lo) / float64(cfg.Clients)
	w.recent.Store(&Histogram{})
	if cfg.Rooms > 0 {
		w.roomSizes = make([]int, cfg.Rooms)
		for i := range cfg.Clients {
			w.roomSizes[i%cfg.Rooms]++
		}
	}
	w.event = cfg.Event
	if w.event == "" {
		switch cfg.Mode {
		case ModePublish:
			w.event = "load"
		case ModeAck:
			w.event = "echo"
		}
	}
	base, _ := json.Marshal(payload{T: time.Now().UnixNano(), S: 1 << 40, M: true, Room: "load-00000", P: ""})
	if pad := cfg.Size - len(base); pad > 0 {
		w.pad = strings.Repeat("x", pad)
	}
	if cfg.Sources > 0 && loopbackHost(cfg.URL) {
		for k := range cfg.Sources {
			ip := net.IPv4(127, 0, byte((k+2)/256), byte((k+2)%256))
			w.dialers = append(w.dialers, &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: cfg.ConnectTimeout})
		}
	}
	w.maxFlight = int64(max(1000, cfg.PublishRate*w.share*10))
	return w
}

// payload is a message's data: the send time (Unix nanoseconds), a
// sequence number, whether it was sent in the measured time, the room,
// and padding to -size.
type payload struct {
	T    int64  `json:"t"`
	S    uint64 `json:"s"`
	M    bool   `json:"m"`
	Room string `json:"room,omitempty"`
	P    string `json:"p"`
}

// connectAll connects the worker's clients at its share of the ramp and
// returns when every one has connected or failed.
func (w *worker) connectAll(ctx context.Context) {
	cfg := w.cfg
	rate := cfg.Ramp * w.share
	sem := make(chan struct{}, 1000) // connections being made at once
	var wg sync.WaitGroup
	start := time.Now()
	for i := w.lo; i < w.hi; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i-w.lo) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		lc := &loadClient{i: i}
		if cfg.Rooms > 0 && cfg.Mode != ModeAck {
			lc.room = fmt.Sprintf("load-%d", i%cfg.Rooms)
		}
		w.clients = append(w.clients, lc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w.connect(ctx, lc)
		}()
	}
	wg.Wait()
}

// connect connects one client and joins its room.
func (w *worker) connect(ctx context.Context, lc *loadClient) {
	cfg := w.cfg
	opts := &client.Options{Engine: eio.Options{Transports: cfg.transportFor(lc.i)}}
	if len(w.dialers) > 0 {
		opts.Engine.NetDialContext = w.dialers[lc.i%len(w.dialers)].DialContext
	}
	if len(cfg.Tokens) > 0 {
		opts.SocketOptions.Auth = map[string]string{"token": cfg.Tokens[lc.i%len(cfg.Tokens)]}
	}
	m, err := client.NewManager(cfg.URL, opts)
	if err != nil {
		w.connErrs.add(err.Error())
		return
	}
	lc.m = m
	s := m.Socket(cfg.Namespace, &opts.SocketOptions)
	lc.s = s
	w.listen(lc)
	connected := false
	s.OnConnect(func() {
		w.c.connected.Add(1)
		if connected && lc.room != "" && !s.Recovered() {
			go w.subscribe(ctx, lc) // a new session: join the room again
		} else if connected {
			lc.ready.Store(true)
		}
		connected = true
	})
	s.OnDisconnect(func(reason string) {
		w.c.connected.Add(-1)
		lc.ready.Store(false)
		if !w.ending.Load() {
			w.c.disconnects.Add(1)
		}
	})
	m.OnReconnect(func(int) { w.c.reconnects.Add(1) })
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	t0 := time.Now()
	err = s.Connect(cctx)
	cancel()
	if err != nil {
		w.connErrs.add(reason(err))
		s.Disconnect()
		m.Close()
		lc.m, lc.s = nil, nil
		return
	}
	w.connTime.Record(time.Since(t0))
	w.c.connects.Add(1)
	if lc.room == "" {
		lc.ready.Store(true)
		return
	}
	w.subscribe(ctx, lc)
}

// subscribe joins the client's room with tether serve's subscribe event.
func (w *worker) subscribe(ctx context.Context, lc *loadClient) {
	sctx, cancel := context.WithTimeout(ctx, w.cfg.ConnectTimeout)
	defer cancel()
	args, err := lc.s.EmitWithAck(sctx, "subscribe", map[string]string{"room": lc.room})
	if err != nil {
		w.subErrs.add(reason(err))
		return
	}
	var a struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &a) != nil || !a.OK {
		w.subErrs.add("refused: " + a.Reason)
		return
	}
	lc.ready.Store(true)
}

// listen sets the handler of the messages the client receives.
func (w *worker) listen(lc *loadClient) {
	if w.cfg.Mode == ModeAck {
		return
	}
	h := func(e *client.Event) {
		now := time.Now().UnixNano()
		if len(e.Args) == 0 {
			return
		}
		var p struct {
			T int64 `json:"t"`
			M bool  `json:"m"`
		}
		if json.Unmarshal(e.Args[0], &p) != nil || p.T <= 0 {
			return
		}
		d := time.Duration(now - p.T)
		w.recent.Load().Record(d)
		w.c.deliveredAll.Add(1)
		measured := p.M
		if w.cfg.Mode == ModeReceive { // the sender did not know the window
			win := w.window.Load()
			measured = win != nil && p.T >= win[0] && p.T < win[1]
		}
		if measured {
			w.latency.Record(d)
			w.c.delivered.Add(1)
		}
	}
	if w.cfg.Mode == ModeReceive && w.event == "" {
		lc.s.OnAny(h)
		return
	}
	lc.s.On(w.event, h)
}

// publish sends messages at the worker's share of the rate from t0 to
// the end of the measured time, each from the next ready client.
func (w *worker) publish(ctx context.Context, t0 time.Time) {
	cfg := w.cfg
	rate := cfg.PublishRate * w.share
	from := t0.Add(cfg.Warmup)
	to := from.Add(cfg.Duration)
	if cfg.Mode == ModeReceive || rate <= 0 || len(w.clients) == 0 {
		select {
		case <-time.After(time.Until(to)):
		case <-ctx.Done():
		}
		return
	}
	var seq uint64
	next := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		now := time.Now()
		if !now.Before(to) {
			return
		}
		due := uint64(now.Sub(t0).Seconds() * rate)
		for ; seq < due; seq++ {
			measured := !now.Before(from)
			var lc *loadClient
			for k := 0; k < len(w.clients); k++ {
				c := w.clients[(next+k)%len(w.clients)]
				if c.ready.Load() {
					lc = c
					next = (next + k + 1) % len(w.clients)
					break
				}
			}
			if lc == nil || w.c.inFlight.Load() >= w.maxFlight {
				if measured {
					w.c.notSent.Add(1)
				}
				continue
			}
			if measured {
				w.c.published.Add(1)
			}
			w.c.inFlight.Add(1)
			wg.Add(1)
			go func(seq uint64) {
				defer wg.Done()
				defer w.c.inFlight.Add(-1)
				w.send(ctx, lc, seq, measured)
			}(seq)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// send sends one message and records its acknowledgement.
func (w *worker) send(ctx context.Context, lc *loadClient, seq uint64, measured bool) {
	cfg := w.cfg
	p := payload{T: time.Now().UnixNano(), S: seq, M: measured, Room: lc.room, P: w.pad}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fail := func(r string) {
		if measured {
			w.pubErrs.add(r)
		}
	}
	switch {
	case cfg.Mode == ModePublish && cfg.Event == "":
		t0 := time.Now()
		args, err := lc.s.EmitWithAck(actx, "publish", map[string]any{"room": lc.room, "event": w.event, "data": p})
		if err != nil {
			fail(reason(err))
			return
		}
		rtt := time.Since(t0)
		var a struct {
			OK        bool   `json:"ok"`
			Receivers int64  `json:"receivers"`
			Reason    string `json:"reason"`
		}
		if len(args) == 0 || json.Unmarshal(args[0], &a) != nil || !a.OK {
			fail("refused: " + a.Reason)
			return
		}
		if measured {
			w.ackRTT.Record(rtt)
			w.c.expected.Add(a.Receivers)
		}
	case cfg.Mode == ModePublish:
		if err := lc.s.Emit(w.event, p); err != nil {
			fail(reason(err))
			return
		}
		if measured {
			n := int64(cfg.Clients - 1)
			if cfg.Rooms > 0 {
				n = int64(w.roomSizes[lc.i%cfg.Rooms] - 1)
			}
			w.c.expected.Add(n)
		}
	default: // ack
		t0 := time.Now()
		if _, err := lc.s.EmitWithAck(actx, w.event, p); err != nil {
			fail(reason(err))
			return
		}
		if measured {
			w.ackRTT.Record(time.Since(t0))
		}
	}
}

// drain waits, at most cfg.Drain, for the acknowledgements and the
// deliveries still on their way.
func (w *worker) drain(ctx context.Context) {
	deadline := time.Now().Add(w.cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if w.c.inFlight.Load() == 0 && (w.cfg.Mode != ModePublish || w.c.delivered.Load() >= w.c.expected.Load()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close disconnects every client.
func (w *worker) close() {
	w.ending.Store(true)
	for _, lc := range w.clients {
		if lc.m != nil {
			lc.m.Close()
		}
	}
}

// reason names an error for the report, without the details (addresses,
// ports) that differ from one client to the next.
func reason(err error) string {
	var ce *client.ConnectError
	var he *eio.HandshakeError
	switch {
	case errors.As(err, &ce):
		var d struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(ce.Data, &d) == nil && d.Reason != "" {
			return fmt.Sprintf("connect_error: %s (%s)", ce.Message, d.Reason)
		}
		return "connect_error: " + ce.Message
	case errors.As(err, &he):
		if he.Code >= 0 {
			return fmt.Sprintf("HTTP %d: %s", he.StatusCode, he.Message)
		}
		return fmt.Sprintf("HTTP %d", he.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no source address or port left (EADDRNOTAVAIL)"
	case errors.Is(err, syscall.EMFILE):
		return "too many open files (EMFILE)"
	case errors.Is(err, client.ErrDisconnected):
		return "disconnected before the acknowledgement"
	case errors.Is(err, client.ErrBufferFull):
		return "offline buffer full"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 60 {
		msg = msg[i+2:]
	}
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}
