package demo

import (
	"sync"
	"time"
)

// coalescer runs fn on its own goroutine after [coalescer.kick], at most
// once per interval: kicks that come while fn runs or during the interval
// after it are coalesced into one more run at the end of the interval.
type coalescer struct {
	interval time.Duration
	fn       func()
	kicks    chan struct{}
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

func newCoalescer(interval time.Duration, fn func()) *coalescer {
	c := &coalescer{interval: interval, fn: fn, kicks: make(chan struct{}, 1), done: make(chan struct{})}
	c.wg.Add(1)
	go c.run()
	return c
}

// kick asks for a run of fn; it never blocks.
func (c *coalescer) kick() {
	select {
	case c.kicks <- struct{}{}:
	default:
	}
}

// stop ends the goroutine and waits for a run under way.
func (c *coalescer) stop() {
	c.once.Do(func() { close(c.done) })
	c.wg.Wait()
}

func (c *coalescer) run() {
	defer c.wg.Done()
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-c.done:
			return
		case <-c.kicks:
		}
		c.fn()
		t.Reset(c.interval)
		select {
		case <-c.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}
