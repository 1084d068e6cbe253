package server

import (
	"context"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"testing"
	"time"
)

// TestMemReleaser checks when an idle server returns memory: only after
// memReleaseQuietTicks quiet ticks, only when enough is free, at most once
// per memReleaseEvery, and never while the server allocates.
func TestMemReleaser(t *testing.T) {
	const live = 64 << 20
	t0 := time.Unix(1_000_000, 0)
	var m memReleaser
	allocs := uint64(1 << 30)
	// step advances the clock by one tick after allocating n bytes, with
	// free bytes free, and returns the decision.
	tick := 0
	step := func(n, free uint64) bool {
		allocs += n
		tick++
		return m.observe(memSample{allocs: allocs, live: live, objects: live, free: free}, t0.Add(time.Duration(tick)*memReleaseTick))
	}
	busy := uint64(live/64 + 1)
	if step(0, live) {
		t.Fatal("released on the first sample")
	}
	// A busy server is never interrupted, however much is free.
	for range 100 {
		if step(busy, live) {
			t.Fatal("released while allocating more than live/64 per tick")
		}
	}
	// Quiet, but too little free.
	for range 5 {
		if step(0, live/8-1) {
			t.Fatal("released with less than live/8 free")
		}
	}
	// Quiet with plenty free: released on the second quiet tick at the
	// latest (the previous ticks were quiet already).
	if !step(memQuietMin, live) {
		t.Fatal("did not release after quiet ticks with live/8 free")
	}
	// Not again within memReleaseEvery.
	start := tick
	for time.Duration(tick-start+1)*memReleaseTick < memReleaseEvery {
		if step(0, live) {
			t.Fatalf("released again %d ticks after the last", tick-start)
		}
	}
	if !step(0, live) {
		t.Fatal("did not release memReleaseEvery after the last release")
	}
	// After a busy tick it takes memReleaseQuietTicks quiet ones again.
	for range 40 {
		step(busy, live)
	}
	for i := 1; i < memReleaseQuietTicks; i++ {
		if step(0, live) {
			t.Fatalf("released after %d quiet ticks", i)
		}
	}
	if !step(0, live) {
		t.Fatalf("did not release after %d quiet ticks", memReleaseQuietTicks)
	}
	// Garbage counts as releasable.
	for range 40 {
		step(busy, 0)
	}
	for range memReleaseQuietTicks - 1 {
		step(0, 0)
	}
	tick++
	if !m.observe(memSample{allocs: allocs, live: live, objects: live + live/4, free: 0}, t0.Add(time.Duration(tick)*memReleaseTick)) {
		t.Fatal("did not release with live/4 of garbage")
	}
}

// TestReadMemSample reads the runtime's counters: the live heap and the
// allocations are never zero in a running test binary.
func TestReadMemSample(t *testing.T) {
	var samples []rtmetrics.Sample
	s := readMemSample(&samples)
	if s.allocs == 0 || s.objects == 0 {
		t.Fatalf("sample %+v: the runtime reports no heap", s)
	}
	debug.FreeOSMemory() // a collection: the live heap is known after it
	if s := readMemSample(&samples); s.live == 0 {
		t.Fatalf("sample %+v after a collection: no live heap", s)
	}
}

// TestReleaseIdleMemoryStops checks that the releaser's goroutine ends
// with its context (Serve cancels it when it returns).
func TestReleaseIdleMemoryStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		releaseIdleMemory(ctx)
		close(done)
	}()
	cancel()
	<-done
}
