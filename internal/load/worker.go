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
	sentAll      atomic.Int64 // every message sent, warm-up included
	notSent      atomic.Int64 // measured messages not sent: no connected client, or too many waiting for their ack
	expected     atomic.Int64 // measured deliveries expected
	delivered    atomic.Int64 // measured deliveries
	deliveredAll atomic.Int64 // every delivery, for the rate
	disconnects  atomic.Int64
	reconnects   atomic.Int64
	inFlight     atomic.Int64 // acks waited for
	sendingDone  atomic.Bool  // the traffic time is over: no more messages are sent
	inWindow     atomic.Int64 // -publish-rate max: messages in flight (not complete)
	maxInWindow  atomic.Int64 // the most messages in flight at once
	windowLost   atomic.Int64 // messages given up as complete after windowTimeout
}

// windowTimeout is how long a message may stay incomplete in the window
// (-publish-rate max) before its place is given to another: as long as an
// acknowledgement is waited for.
const windowTimeout = 10 * time.Second

// slot is a place in the window of -publish-rate max. Its state is the
// generation of the message in it (its sequence number + 1; 0: none) in
// the high 32 bits, and what the message still waits for in the low 32
// bits: its acknowledgement (or its emit, with -event) and its deliveries
// to this worker's clients.
type slot struct {
	state atomic.Uint64
	sent  atomic.Int64 // Unix nanoseconds
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
	index  int
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
	loopback  []bool // of each URL: whether its clients use dialers
	maxFlight int64

	// -publish-rate max: the window's places, the free ones, and the
	// clients ready in each room (group) of this worker.
	slots   []slot
	free    chan int
	readyIn []atomic.Int64
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
	w := &worker{cfg: cfg, index: index}
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
	base0 := payload{T: time.Now().UnixNano(), S: 1 << 40, M: true, Room: "load-00000", P: ""}
	if cfg.PublishMax {
		base0.W, base0.K = max(index, 1), max(cfg.Window-1, 1)
	}
	base, _ := json.Marshal(base0)
	if pad := cfg.Size - len(base); pad > 0 {
		w.pad = strings.Repeat("x", pad)
	}
	anyLoopback := false
	for _, u := range cfg.URLs {
		w.loopback = append(w.loopback, loopbackHost(u))
		anyLoopback = anyLoopback || loopbackHost(u)
	}
	if len(cfg.URLs) == 0 { // a Config not through Validate
		w.loopback = []bool{loopbackHost(cfg.URL)}
		anyLoopback = w.loopback[0]
	}
	if cfg.Sources > 0 && anyLoopback {
		for k := range cfg.Sources {
			ip := net.IPv4(127, 0, byte((k+2)/256), byte((k+2)%256))
			w.dialers = append(w.dialers, &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: cfg.ConnectTimeout})
		}
	}
	w.maxFlight = int64(max(1000, cfg.PublishRate*w.share*10))
	if cfg.PublishMax {
		w.slots = make([]slot, cfg.Window)
		w.free = make(chan int, cfg.Window)
		for k := range cfg.Window {
			w.free <- k
		}
		w.readyIn = make([]atomic.Int64, max(cfg.Rooms, 1))
	}
	return w
}

// group returns the index of the client's room among -rooms (0 without
// rooms).
func (w *worker) group(lc *loadClient) int {
	if w.cfg.Rooms > 0 {
		return lc.i % w.cfg.Rooms
	}
	return 0
}

// setReady marks the client ready (connected and in its room) or not,
// and counts the ready clients of each room.
func (w *worker) setReady(lc *loadClient, ready bool) {
	if lc.ready.Swap(ready) == ready || w.readyIn == nil {
		return
	}
	if ready {
		w.readyIn[w.group(lc)].Add(1)
	} else {
		w.readyIn[w.group(lc)].Add(-1)
	}
}

// payload is a message's data: the send time (Unix nanoseconds), a
// sequence number, whether it was sent in the measured time, the room,
// with -publish-rate max the sending worker and the message's place in its
// window, and padding to -size.
type payload struct {
	T    int64  `json:"t"`
	S    uint64 `json:"s"`
	M    bool   `json:"m"`
	Room string `json:"room,omitempty"`
	W    int    `json:"w,omitempty"`
	K    int    `json:"k,omitempty"`
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
	if len(w.dialers) > 0 && w.loopback[lc.i%len(w.loopback)] {
		opts.Engine.NetDialContext = w.dialers[lc.i%len(w.dialers)].DialContext
	}
	if len(cfg.Tokens) > 0 {
		opts.SocketOptions.Auth = map[string]string{"token": cfg.Tokens[lc.i%len(cfg.Tokens)]}
	}
	m, err := client.NewManager(cfg.urlFor(lc.i), opts)
	if err != nil {
		w.connErrs.add(err.Error())
		return
	}
	lc.m = m
	s := m.Socket(cfg.Namespace, &opts.SocketOptions)
	lc.s = s
	w.listen(lc)
	connected := false
	counted := make(chan struct{}) // closed by the first OnConnect
	s.OnConnect(func() {
		w.c.connected.Add(1)
		if connected && lc.room != "" && !s.Recovered() {
			go w.subscribe(ctx, lc) // a new session: join the room again
		} else if connected {
			w.setReady(lc, true)
		} else {
			close(counted)
		}
		connected = true
	})
	s.OnDisconnect(func(reason string) {
		w.c.connected.Add(-1)
		w.setReady(lc, false)
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
	// Connect returns before the client runs its connect handlers: wait
	// for the first, so that a count read once every client has connected
	// includes this one.
	select {
	case <-counted:
	case <-ctx.Done():
	case <-time.After(cfg.ConnectTimeout):
	}
	if lc.room == "" {
		w.setReady(lc, true)
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
	w.setReady(lc, true)
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
		var p received
		if !decodePayload(e.Args[0], &p) || p.T <= 0 {
			return
		}
		if w.slots != nil && p.W == w.index && w.cfg.Mode == ModePublish {
			w.done(p.K, p.S)
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
	if cfg.PublishMax && cfg.Mode != ModeReceive && len(w.clients) > 0 {
		w.publishMax(ctx, from, to)
		return
	}
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
			w.startSend(ctx, &wg, lc, seq, measured, -1)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// nextReady returns the next ready client after *next, round the
// clients, and moves *next past it; nil when none is ready.
func (w *worker) nextReady(next *int) *loadClient {
	for k := 0; k < len(w.clients); k++ {
		c := w.clients[(*next+k)%len(w.clients)]
		if c.ready.Load() {
			*next = (*next + k + 1) % len(w.clients)
			return c
		}
	}
	return nil
}

// publishMax sends messages as fast as the server keeps up, until to: a
// message takes a free place in the window (-window), and gives it back
// when it is complete: acknowledged (emitted, with -event) and received by
// every client of this worker that was ready in its room when it was sent,
// but the sender. Places held longer than windowTimeout are given back
// (counted as lost from the window).
func (w *worker) publishMax(ctx context.Context, from, to time.Time) {
	end := time.NewTimer(time.Until(to))
	defer end.Stop()
	reap := time.NewTicker(time.Second)
	defer reap.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var seq uint64
	next := 0
	for {
		var k int
		select {
		case k = <-w.free:
		case <-reap.C:
			w.reap()
			continue
		case <-end.C:
			return
		case <-ctx.Done():
			return
		}
		now := time.Now()
		if !now.Before(to) {
			w.free <- k
			return
		}
		lc := w.nextReady(&next)
		if lc == nil { // no client ready: wait for one
			w.free <- k
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		wait := int64(1) // the acknowledgement, or the emit
		if w.cfg.Mode == ModePublish {
			wait += max(w.readyIn[w.group(lc)].Load()-1, 0)
		}
		sl := &w.slots[k]
		sl.sent.Store(now.UnixNano())
		sl.state.Store(uint64(uint32(seq+1))<<32 | uint64(wait))
		if n := w.c.inWindow.Add(1); n > w.c.maxInWindow.Load() {
			w.c.maxInWindow.Store(n) // only this goroutine raises it
		}
		measured := !now.Before(from)
		w.startSend(ctx, &wg, lc, seq, measured, k)
		seq++
	}
}

// done counts one of what message seq in place k waits for; the last
// gives the place back.
func (w *worker) done(k int, seq uint64) {
	if k < 0 || k >= len(w.slots) {
		return
	}
	sl := &w.slots[k]
	gen := uint32(seq + 1)
	for {
		v := sl.state.Load()
		if uint32(v>>32) != gen || uint32(v) == 0 {
			return // another message's place, or complete
		}
		if sl.state.CompareAndSwap(v, v-1) {
			if uint32(v) == 1 {
				w.release(k)
			}
			return
		}
	}
}

// abandon gives back the place of message seq, which failed.
func (w *worker) abandon(k int, seq uint64) {
	if k < 0 || k >= len(w.slots) {
		return
	}
	sl := &w.slots[k]
	gen := uint64(uint32(seq + 1))
	for {
		v := sl.state.Load()
		if v>>32 != gen || uint32(v) == 0 {
			return
		}
		if sl.state.CompareAndSwap(v, gen<<32) {
			w.release(k)
			return
		}
	}
}

// reap gives back the places held longer than windowTimeout.
func (w *worker) reap() {
	old := time.Now().Add(-windowTimeout).UnixNano()
	for k := range w.slots {
		sl := &w.slots[k]
		if v := sl.state.Load(); uint32(v) != 0 && sl.sent.Load() < old && sl.state.CompareAndSwap(v, v&^0xffffffff) {
			w.c.windowLost.Add(1)
			w.release(k)
		}
	}
}

func (w *worker) release(k int) {
	w.c.inWindow.Add(-1)
	w.free <- k
}

// startSend counts a message as sent (published when measured) and in
// flight, and sends it on a goroutine of its own that wg tracks; k is its
// window slot, or -1 for a message sent at a fixed rate.
func (w *worker) startSend(ctx context.Context, wg *sync.WaitGroup, lc *loadClient, seq uint64, measured bool, k int) {
	if measured {
		w.c.published.Add(1)
	}
	w.c.sentAll.Add(1)
	w.c.inFlight.Add(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.c.inFlight.Add(-1)
		w.send(ctx, lc, seq, measured, k)
	}()
}

// send sends one message and records its acknowledgement; k is its place
// in the window (-publish-rate max), or -1.
func (w *worker) send(ctx context.Context, lc *loadClient, seq uint64, measured bool, k int) {
	cfg := w.cfg
	p := payload{T: time.Now().UnixNano(), S: seq, M: measured, Room: lc.room, P: w.pad}
	if k >= 0 {
		p.W, p.K = w.index, k
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fail := func(r string) {
		if measured {
			w.pubErrs.add(r)
		}
		w.abandon(k, seq)
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
		w.done(k, seq)
		if measured {
			w.ackRTT.Record(rtt)
			if len(cfg.URLs) > 1 { // the receivers of one server of the cluster
				w.c.expected.Add(w.roomOthers(lc))
			} else {
				w.c.expected.Add(a.Receivers)
			}
		}
	case cfg.Mode == ModePublish:
		if err := lc.s.Emit(w.event, p); err != nil {
			fail(reason(err))
			return
		}
		w.done(k, seq)
		if measured {
			w.c.expected.Add(w.roomOthers(lc))
		}
	default: // ack
		t0 := time.Now()
		if _, err := lc.s.EmitWithAck(actx, w.event, p); err != nil {
			fail(reason(err))
			return
		}
		w.done(k, seq)
		if measured {
			w.ackRTT.Record(time.Since(t0))
		}
	}
}

// roomOthers returns the members of the client's room, over all
// processes and servers, but the client.
func (w *worker) roomOthers(lc *loadClient) int64 {
	if w.cfg.Rooms > 0 {
		return int64(w.roomSizes[lc.i%w.cfg.Rooms] - 1)
	}
	return int64(w.cfg.Clients - 1)
}

// drain waits, at most cfg.Drain, for the acknowledgements and the
// deliveries still on their way. With drained nil (one process) it ends
// when this worker's own counts add up; a worker process's counts do not
// (the acknowledgements of its messages count the receivers in the other
// workers too, and its clients receive the other workers' messages), so
// there drained reports the parent's verdict on the sums of every
// worker's counts, and progress keeps the parent informed.
func (w *worker) drain(ctx context.Context, drained func() bool, progress func(progressMsg)) {
	deadline := time.Now().Add(w.cfg.Drain)
	last := time.Time{}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if drained != nil {
			if drained() {
				return
			}
			if time.Since(last) >= 50*time.Millisecond {
				progress(w.progress())
				last = time.Now()
			}
		} else if w.complete() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// complete reports whether the acknowledgements and the deliveries this
// worker counts are all in.
func (w *worker) complete() bool {
	return w.c.inFlight.Load() == 0 && (w.cfg.Mode != ModePublish || w.c.delivered.Load() >= w.c.expected.Load())
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
