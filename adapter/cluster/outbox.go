package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// BatchPublisher is implemented by transports that send several messages
// in one round trip (a pipeline of Redis commands): the adapter's publisher
// hands them what is waiting, in order.
type BatchPublisher interface {
	// PublishBatch publishes ms, in order, as Publish would publish each
	// one, and sets offsets[i] and errs[i] (slices as long as ms) to what
	// Publish would have returned for ms[i].
	PublishBatch(ctx context.Context, ms []*Message, offsets []string, errs []error)
}

// ErrDropped is the error an [Observer] is given for a message that was
// not published because the adapter's publish queue was full
// (Options.MaxPendingBytes): the broker was slow or unreachable for
// longer than the queue covers.
var ErrDropped = errors.New("cluster: the publish queue is full; message dropped")

// errClosing is the error of a message published after Close.
var errClosing = errors.New("cluster: the adapter is closed")

// outChunk bounds the messages of one batch.
const outChunk = 256

// outOverhead is what a queued message is counted for besides its data.
const outOverhead = 128

// publishTimeout bounds one batch when the transport sets no bound of its
// own.
const publishTimeout = 5 * time.Second

// outItem is a message waiting to be published: to every server, or to
// the server to when it is a response. after, when set, is called with the
// offset the transport gave it ("" when publishing failed), in order with
// the other items' (local delivery that waits for its offset).
type outItem struct {
	m     *Message
	to    string
	after func(offset string)
	size  int
	// mark, for a mark (no message), is called once what was queued
	// before it is published or failed, with the count of messages that
	// failed by then (outbox.failures), or with errClosing when the mark
	// came after Close.
	mark func(failures uint64, err error)
}

// outbox is an adapter's publish queue: publishing never blocks the
// caller. One goroutine publishes what is queued, in order, in batches
// (one round trip each with a BatchPublisher). The queue is bounded in
// bytes: when it is full, a message is dropped, counted (Observer) and
// logged, rather than held. While the broker fails or hangs (the last
// batch failed, or the current one takes longer than MaxOffsetWait) the
// local deliveries that wait for an offset are not held either: they are
// made at once, without an offset (see Adapter.Broadcast).
type outbox struct {
	a *Adapter

	// order serializes the local deliveries of broadcasts that wait for
	// an offset with those made at once, so that local sockets get them
	// in the order of the calls.
	order sync.Mutex

	mu       sync.Mutex
	q        []outItem
	inflight []outItem // the batch being published
	gen      uint64    // counts the batches taken
	bytes    int
	failing  bool // the last batch failed, or took longer than MaxOffsetWait: deliveries do not wait
	dropping bool // dropped since the queue was last below its bound
	closing  bool
	wake     chan struct{}
	done     chan struct{}

	// failures counts the messages that were not published: failed,
	// dropped (queue full) or refused (closing). A mark compares it with
	// the count when it was taken (see PublishMark).
	failures atomic.Uint64
}

func newOutbox(a *Adapter) *outbox {
	return &outbox{a: a, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func sizeOf(m *Message) int {
	if m == nil {
		return 0
	}
	n := outOverhead + len(m.Value.JSON)
	for _, b := range m.Value.Attachments {
		n += len(b)
	}
	return n
}

// add queues it. It returns false when it was not queued (the queue is
// full, or the adapter closed): the message is lost, and it.after is not
// called. When the broker is failing, the message is queued without
// it.after (attached reports whether after will be called).
func (o *outbox) add(it outItem) (queued, attached bool) {
	it.size = sizeOf(it.m)
	o.mu.Lock()
	var err error
	switch {
	case o.closing:
		err = errClosing
	case it.m != nil && len(o.q) > 0 && o.bytes+it.size > o.a.opts.MaxPendingBytes:
		err = ErrDropped
		if !o.dropping {
			o.dropping = true
			o.a.log.Warn("cluster: the publish queue is full; dropping messages to the other servers until the broker catches up",
				"namespace", o.a.nsp, "max_pending_bytes", o.a.opts.MaxPendingBytes)
		}
	}
	if err == nil {
		if o.failing {
			it.after = nil
		}
		attached = it.after != nil
		o.q = append(o.q, it)
		o.bytes += it.size
	}
	o.mu.Unlock()
	if err != nil {
		if it.m != nil {
			o.failures.Add(1)
		}
		if it.mark != nil {
			it.mark(o.failures.Load(), err)
		}
		if obs := o.a.opts.Observer; obs != nil && err == ErrDropped {
			obs.Published(o.a.nsp, it.m.Type, err)
		}
		return false, false
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true, attached
}

// flush waits until what was queued before it is published (or failed),
// or ctx is done.
func (o *outbox) flush(ctx context.Context) error {
	f := make(chan struct{})
	o.add(outItem{mark: func(uint64, error) { close(f) }})
	select {
	case <-f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking messages and waits until what was queued is
// published (or failed).
func (o *outbox) close() {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	<-o.done
}

// run publishes the queue until close.
func (o *outbox) run() {
	defer close(o.done)
	bp, _ := o.a.t.(BatchPublisher)
	var ms []*Message
	var offsets []string
	var errs []error
	for {
		<-o.wake
		for {
			o.mu.Lock()
			batch := o.take()
			closing, failing, gen := o.closing, o.failing, o.gen
			o.mu.Unlock()
			if len(batch) == 0 {
				if closing {
					return
				}
				break
			}
			if mark := batch[0].mark; mark != nil {
				o.mu.Lock()
				o.inflight = nil
				o.mu.Unlock()
				mark(o.failures.Load(), nil)
				continue
			}
			if closing && failing {
				// Closing while the broker fails: what is left is lost;
				// do not wait for the broker once per batch.
				errs = errs[:0]
				for _, it := range batch {
					errs = append(errs, errClosing)
					o.published(it.m, errClosing)
				}
				o.settle(batch, nil, errs)
				continue
			}
			if batch[0].to != "" {
				ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
				err := o.a.t.PublishResponse(ctx, batch[0].to, batch[0].m)
				cancel()
				o.published(batch[0].m, err)
				o.settle(batch, nil, []error{err})
				continue
			}
			ms = ms[:0]
			for _, it := range batch {
				ms = append(ms, it.m)
			}
			offsets = append(offsets[:0], make([]string, len(ms))...)
			errs = append(errs[:0], make([]error, len(ms))...)
			var watchdog *time.Timer
			if hasAfter(batch) {
				watchdog = time.AfterFunc(o.a.opts.MaxOffsetWait, func() { o.stall(gen) })
			}
			ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
			if bp != nil {
				bp.PublishBatch(ctx, ms, offsets, errs)
			} else {
				for i, m := range ms {
					offsets[i], errs[i] = o.a.t.Publish(ctx, m)
				}
			}
			cancel()
			if watchdog != nil {
				watchdog.Stop()
			}
			for i, m := range ms {
				o.published(m, errs[i])
			}
			o.settle(batch, offsets, errs)
			clear(ms)
		}
	}
}

// take removes the next batch from the queue: up to outChunk messages to
// every server, or one response. The caller holds o.mu.
func (o *outbox) take() []outItem {
	n := 0
	for n < len(o.q) && n < outChunk && (n == 0 || o.q[n].to == "" && o.q[n].mark == nil) {
		if o.q[n].to != "" || o.q[n].mark != nil {
			n = 1
			break
		}
		n++
	}
	batch := make([]outItem, n)
	copy(batch, o.q[:n])
	clear(o.q[:n])
	o.inflight = batch
	o.gen++
	o.q = o.q[n:]
	for _, it := range batch {
		o.bytes -= it.size
	}
	if len(o.q) == 0 {
		o.q = nil
		o.dropping = false
	}
	return batch
}

// published reports one message's outcome.
func (o *outbox) published(m *Message, err error) {
	if err != nil {
		o.failures.Add(1)
		o.a.log.Debug("cluster: failed to publish", "namespace", o.a.nsp, "type", int(m.Type), "err", err)
	}
	if obs := o.a.opts.Observer; obs != nil {
		obs.Published(o.a.nsp, m.Type, err)
	}
}

func hasAfter(batch []outItem) bool {
	for _, it := range batch {
		if it.after != nil {
			return true
		}
	}
	return false
}

// stall is called when a batch with local deliveries that wait for their
// offsets takes longer than MaxOffsetWait: the broker hangs. Those
// deliveries, and the ones queued behind them, are made at once without
// an offset, in order, and later ones no longer wait (until a batch
// succeeds again).
func (o *outbox) stall(gen uint64) {
	o.order.Lock()
	defer o.order.Unlock()
	o.mu.Lock()
	if gen != o.gen || o.inflight == nil {
		o.mu.Unlock()
		return // the batch ended meanwhile
	}
	was := o.failing
	o.failing = true
	held := o.takeAfters()
	o.mu.Unlock()
	if !was {
		o.a.log.Warn("cluster: the broker does not answer; local delivery goes on without waiting for it",
			"namespace", o.a.nsp, "waited", o.a.opts.MaxOffsetWait)
	}
	for _, f := range held {
		f("")
	}
}

// takeAfters removes and returns the local deliveries still waiting for
// their offsets, in order: the batch in flight's, then the queue's. The
// caller holds o.mu.
func (o *outbox) takeAfters() []func(string) {
	var held []func(string)
	for _, q := range [][]outItem{o.inflight, o.q} {
		for i := range q {
			if q[i].after != nil {
				held = append(held, q[i].after)
				q[i].after = nil
			}
		}
	}
	return held
}

// settle makes the local deliveries of batch (the batch in flight) that
// still wait for their offsets, and records whether the broker fails. When
// it starts failing, the deliveries still queued are made at once, without
// an offset, in order, and later ones no longer wait (until a batch
// succeeds again).
func (o *outbox) settle(batch []outItem, offsets []string, errs []error) {
	o.order.Lock()
	defer o.order.Unlock()
	o.mu.Lock()
	afters := make([]func(string), len(batch))
	for i := range batch {
		if i < len(o.inflight) {
			afters[i] = o.inflight[i].after
		}
	}
	o.inflight = nil
	o.mu.Unlock()
	for i, f := range afters {
		if f != nil {
			off := ""
			if errs[i] == nil && offsets != nil {
				off = offsets[i]
			}
			f(off)
		}
	}
	last := errs[len(errs)-1]
	o.mu.Lock()
	was := o.failing
	o.failing = last != nil
	var held []func(string)
	if o.failing {
		held = o.takeAfters()
	}
	o.mu.Unlock()
	switch {
	case last != nil && !was:
		o.a.log.Warn("cluster: failed to publish; local delivery goes on without waiting for the broker, and messages to the other servers are lost until it answers",
			"namespace", o.a.nsp, "err", last)
	case last == nil && was:
		o.a.log.Info("cluster: publishing again", "namespace", o.a.nsp)
	}
	for _, f := range held {
		f("")
	}
}
