package cluster_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/internal/siotest"
	"github.com/tether-rt/tether/socketio"
)

// gated is a transport whose publishes wait until gate is closed, as over
// a broker that hangs.
type gated struct {
	cluster.Transport
	gate chan struct{}
}

func (g *gated) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return g.Transport.Publish(ctx, m)
}

// drops is an Observer that counts the messages dropped by a full queue.
type drops struct{ dropped, published atomic.Int64 }

func (d *drops) Published(_ string, _ cluster.MessageType, err error) {
	switch {
	case errors.Is(err, cluster.ErrDropped):
		d.dropped.Add(1)
	case err == nil:
		d.published.Add(1)
	}
}
func (d *drops) Received(string, cluster.MessageType)                      {}
func (d *drops) Requested(string, cluster.MessageType, time.Duration, int) {}

// TestPublishQueue checks that broadcasts never wait for the transport:
// while it hangs, they reach the local clients, in order, and what does
// not fit the queue (MaxPendingBytes) is dropped and reported; once it
// answers again, the queued ones reach the other server in order, and so do
// later ones.
func TestPublishQueue(t *testing.T) {
	bus := cluster.NewBus()
	gate := make(chan struct{})
	dial := func(nsp, uid string, h cluster.Handler) (cluster.Transport, error) {
		tr, err := bus.Dialer()(nsp, uid, h)
		return &gated{Transport: tr, gate: gate}, err
	}
	obs := &drops{}
	a := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(dial, &cluster.Options{Observer: obs, MaxPendingBytes: 4096})})
	b := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(bus.Dialer(), nil)})
	for _, s := range []*socketio.Server{a, b} {
		t.Cleanup(func() { _ = s.Close() })
	}
	ha, hb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(ha.Close)
	t.Cleanup(hb.Close)
	ca, cb := siotest.Dial(t, ha.URL, nil), siotest.Dial(t, hb.URL, nil)

	const n = 200
	pad := strings.Repeat("x", 100)
	for i := range n {
		if err := a.Emit("m", i, pad); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if e := ca.Next("m"); string(e.Args[0]) != strconv.Itoa(i) {
			t.Fatalf("local broadcast %d: got %s", i, e.Raw)
		}
	}
	dropped := obs.dropped.Load()
	if dropped == 0 || dropped >= n {
		t.Fatalf("%d of %d broadcasts dropped while the transport hung: want those that did not fit 4 KiB", dropped, n)
	}
	close(gate)
	deadline := time.Now().Add(siotest.Timeout)
	for obs.published.Load() < n-dropped { // the queue drains
		if time.Now().After(deadline) {
			t.Fatalf("published %d of the %d queued broadcasts", obs.published.Load(), n-dropped)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := a.Emit("after"); err != nil {
		t.Fatal(err)
	}
	cb.Next("after")
	// What was queued went out, in order, before "after".
	got, last := 0, -1
	for _, e := range cb.Events() {
		if e.Name != "m" {
			continue
		}
		i, _ := strconv.Atoi(string(e.Args[0]))
		if i <= last {
			t.Fatalf("the other server got %d after %d", i, last)
		}
		last = i
		got++
	}
	if want := n - int(dropped); got != want {
		t.Errorf("the other server got %d broadcasts, want the %d not dropped", got, want)
	}
}

// failing is a transport whose publishes fail while fail is set.
type failing struct {
	cluster.Transport
	fail atomic.Bool
}

func (f *failing) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	if f.fail.Load() {
		return "", errors.New("broker down")
	}
	return f.Transport.Publish(ctx, m)
}

// entered is gated that reports each publish it starts on pub.
type entered struct {
	gated
	pub chan struct{}
}

func (e *entered) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	e.pub <- struct{}{}
	return e.gated.Publish(ctx, m)
}

// TestPublishMark checks that a mark confirms a broadcast only once the
// transport has published it, and confirms with an error when it was not
// published: failed, dropped by a full queue, or refused after Close.
func TestPublishMark(t *testing.T) {
	bus := cluster.NewBus()
	var tr *entered
	dial := func(nsp, uid string, h cluster.Handler) (cluster.Transport, error) {
		inner, err := bus.Dialer()(nsp, uid, h)
		tr = &entered{gated: gated{Transport: inner, gate: make(chan struct{})}, pub: make(chan struct{}, 1)}
		return tr, err
	}
	a := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(dial, nil)})
	b := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(bus.Dialer(), nil)})
	t.Cleanup(func() { _ = b.Close() })
	hb := httptest.NewServer(b)
	t.Cleanup(hb.Close)
	cb := siotest.Dial(t, hb.URL, nil)
	ad := a.Of("/").Adapter().(*cluster.Adapter)

	confirm := ad.MarkPublish()
	if err := a.Emit("m", 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	confirm(func(err error) { done <- err })
	<-tr.pub // the broadcast is with the transport, which hangs
	select {
	case err := <-done:
		t.Fatalf("confirmed (%v) while the transport had not published", err)
	default:
	}
	close(tr.gate)
	if err := wait(t, done); err != nil {
		t.Fatalf("confirmation of a published broadcast: %v", err)
	}
	cb.Next("m") // it is in the other server

	_ = a.Close()
	ad.MarkPublish()(func(err error) { done <- err })
	if err := wait(t, done); err == nil {
		t.Fatal("a mark after Close confirmed without an error")
	}
}

// TestPublishMarkFailures checks the confirmations of broadcasts that
// failed or were dropped, and that a later mark is not blamed for them.
func TestPublishMarkFailures(t *testing.T) {
	bus := cluster.NewBus()
	var tr *failing
	dial := func(nsp, uid string, h cluster.Handler) (cluster.Transport, error) {
		inner, err := bus.Dialer()(nsp, uid, h)
		tr = &failing{Transport: inner}
		return tr, err
	}
	a := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(dial, nil)})
	t.Cleanup(func() { _ = a.Close() })
	ad := a.Of("/").Adapter().(*cluster.Adapter)
	done := make(chan error, 1)

	tr.fail.Store(true)
	confirm := ad.MarkPublish()
	_ = a.Emit("m", 1)
	confirm(func(err error) { done <- err })
	if err := wait(t, done); !errors.Is(err, socketio.ErrNotPublished) {
		t.Fatalf("confirmation of a failed broadcast: %v, want ErrNotPublished", err)
	}

	tr.fail.Store(false)
	confirm = ad.MarkPublish()
	_ = a.Emit("m", 2)
	confirm(func(err error) { done <- err })
	if err := wait(t, done); err != nil {
		t.Fatalf("confirmation of a broadcast after the broker came back: %v", err)
	}

	// A full queue: the transport hangs, and a broadcast that does not
	// fit MaxPendingBytes is dropped.
	gate := make(chan struct{})
	var g *gated
	dialGated := func(nsp, uid string, h cluster.Handler) (cluster.Transport, error) {
		inner, err := bus.Dialer()(nsp, uid, h)
		g = &gated{Transport: inner, gate: gate}
		return g, err
	}
	c := socketio.NewServer(&socketio.Options{Adapter: cluster.NewFactory(dialGated, &cluster.Options{MaxPendingBytes: 1024})})
	t.Cleanup(func() { _ = c.Close() })
	cd := c.Of("/").Adapter().(*cluster.Adapter)
	big := strings.Repeat("x", 600)
	_ = c.Emit("m", big) // taken by the publisher, which hangs
	_ = c.Emit("m", big) // queued
	confirm = cd.MarkPublish()
	_ = c.Emit("m", big) // dropped... unless the first was not taken yet
	_ = c.Emit("m", big) // ...then this one is
	confirm(func(err error) { done <- err })
	close(gate)
	if err := wait(t, done); !errors.Is(err, socketio.ErrNotPublished) {
		t.Fatalf("confirmation of a dropped broadcast: %v, want ErrNotPublished", err)
	}
}

func wait(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(siotest.Timeout):
		t.Fatal("no confirmation")
		return nil
	}
}
