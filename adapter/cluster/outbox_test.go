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
