package server

import (
	"context"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// Returning idle memory to the operating system.
//
// With the collector's default GOGC=100 the Go heap may grow to twice the
// live heap between collections, and the pages it used on the way stay
// resident: the runtime's scavenger only returns what lies beyond about
// 110 % of that goal. A server that has just accepted thousands of
// connections and then holds them idle keeps the garbage of the
// connection ramp resident for good: about a third of its memory (see
// BENCHMARKS.md, "Idle memory of `tether serve`"). A lower GOGC would free
// it, but costs CPU on every collection of a busy server.
//
// So tether serve watches its allocation rate instead: when the heap has
// hardly grown for a while (an idle server: heartbeats only) and a sizable
// part of the heap is free or garbage, it collects and returns the free
// pages to the operating system ([debug.FreeOSMemory]). A busy server
// allocates far more than the quiet threshold and is never interrupted; an
// idle one pays one collection of its live heap at most every
// memReleaseEvery.

const (
	// memReleaseTick is how often the allocation counters are read.
	memReleaseTick = time.Second
	// memReleaseQuietTicks is how many ticks in a row the server must be
	// quiet before memory is released.
	memReleaseQuietTicks = 2
	// memReleaseEvery is the shortest time between two releases.
	memReleaseEvery = 30 * time.Second
	// memReleaseMin is the least memory worth a release: free pages and
	// garbage of at least this many bytes (and an eighth of the live heap).
	memReleaseMin = 1 << 20
	// memQuietMin is the allocation per tick that is always quiet; above
	// it, a tick is quiet when it allocated at most 1/64 of the live heap.
	memQuietMin = 64 << 10
)

// memSample is what memReleaser reads of the runtime.
type memSample struct {
	allocs  uint64 // bytes allocated since the program started
	live    uint64 // live heap marked by the last collection
	objects uint64 // heap objects now: the live ones and garbage
	free    uint64 // free heap pages still resident
}

// memReleaser decides when an idle server returns memory to the operating
// system. It is fed one sample per tick.
type memReleaser struct {
	prevAllocs uint64
	quiet      int       // quiet ticks in a row
	last       time.Time // last release
	started    bool
}

// observe takes the sample of the tick at now and reports whether memory
// should be released now.
func (m *memReleaser) observe(s memSample, now time.Time) bool {
	if !m.started {
		m.started, m.prevAllocs = true, s.allocs
		return false
	}
	allocated := s.allocs - m.prevAllocs
	m.prevAllocs = s.allocs
	if allocated > max(s.live/64, memQuietMin) {
		m.quiet = 0
		return false
	}
	m.quiet++
	if m.quiet < memReleaseQuietTicks || (!m.last.IsZero() && now.Sub(m.last) < memReleaseEvery) {
		return false
	}
	var garbage uint64
	if s.objects > s.live {
		garbage = s.objects - s.live
	}
	if free := s.free + garbage; free < max(s.live/8, memReleaseMin) {
		return false
	}
	m.last, m.quiet = now, 0
	return true
}

// memMetrics are the runtime/metrics names of a memSample's fields.
var memMetrics = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
}

// readMemSample reads a memSample into samples (made by the first call).
func readMemSample(samples *[]rtmetrics.Sample) memSample {
	if *samples == nil {
		*samples = make([]rtmetrics.Sample, len(memMetrics))
		for i, name := range memMetrics {
			(*samples)[i].Name = name
		}
	}
	s := *samples
	rtmetrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return memSample{allocs: v(0), live: v(1), objects: v(2), free: v(3)}
}

// releaseIdleMemory returns memory to the operating system whenever the
// process is idle (see memReleaser), until ctx is done.
func releaseIdleMemory(ctx context.Context) {
	t := time.NewTicker(memReleaseTick)
	defer t.Stop()
	var (
		m       memReleaser
		samples []rtmetrics.Sample
	)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if m.observe(readMemSample(&samples), now) {
				debug.FreeOSMemory()
			}
		}
	}
}
