package workerpool

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// workers counts the goroutines of pools that wait for a job or run one,
// and how many of them wait.
func workers() (all, waiting int) {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "workerpool.(*Pool[...]).work") {
			all++
			if strings.Contains(g, "[select") {
				waiting++
			}
		}
	}
	return all, waiting
}

// goid returns the calling goroutine's id, from its stack's header.
func goid() string {
	buf := make([]byte, 64)
	return strings.Fields(string(buf[:runtime.Stack(buf, false)]))[1]
}

// TestPool checks that every job runs once, that sequential jobs reuse one
// worker, and that idle workers end.
func TestPool(t *testing.T) {
	var mu sync.Mutex
	got := map[int]int{}
	ran := map[string]bool{} // goroutines that ran the sequential jobs
	var wg sync.WaitGroup
	p := New(2*time.Second, func(n int) {
		mu.Lock()
		got[n]++
		if n < 100 {
			ran[goid()] = true
		}
		mu.Unlock()
		wg.Done()
	})
	before, _ := workers()
	// One after the other, each once the worker waits again: one worker
	// runs them all.
	for i := range 100 {
		wg.Add(1)
		p.Go(i)
		wg.Wait()
		for deadline := time.Now().Add(5 * time.Second); ; {
			if _, waiting := workers(); waiting > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the worker does not wait for the next job")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if len(ran) != 1 {
		t.Errorf("%d goroutines ran 100 jobs given one after the other to a waiting worker, want 1", len(ran))
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
	for {
		n, _ := workers()
		if n <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still there after the idle period", n-before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
