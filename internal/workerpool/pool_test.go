package workerpool

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// workers counts the goroutines of pools that wait for a job or run one.
func workers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "workerpool.(*Pool[...]).work")
}

// TestPool checks that every job runs once, that sequential jobs reuse one
// worker, and that idle workers end.
func TestPool(t *testing.T) {
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	p := New(200*time.Millisecond, func(n int) {
		mu.Lock()
		got[n]++
		mu.Unlock()
		wg.Done()
	})
	before := workers()
	// One after the other: a worker that finished is waiting when the next
	// job comes, so few workers run (one, unless the scheduler is slow to
	// park it).
	for i := range 100 {
		wg.Add(1)
		p.Go(i)
		wg.Wait()
		for j := 0; j < 100 && workers()-before > 1; j++ {
			time.Sleep(time.Millisecond) // let the worker reach its wait
		}
	}
	if n := workers() - before; n > 2 {
		t.Errorf("%d workers for jobs run one after the other", n)
	}
	// Many at once.
	for i := 100; i < 1100; i++ {
		wg.Add(1)
		p.Go(i)
	}
	wg.Wait()
	if len(got) != 1100 {
		t.Fatalf("%d distinct jobs ran, want 1100", len(got))
	}
	for n, c := range got {
		if c != 1 {
			t.Fatalf("job %d ran %d times", n, c)
		}
	}
	// Idle workers end.
	deadline := time.Now().Add(10 * time.Second)
	for workers() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still there after the idle period", workers()-before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
