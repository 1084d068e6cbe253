package main

import (
	"fmt"
	"syscall"

	"github.com/tether-rt/tether/internal/uring"
)

// batchState is the ring of -batch and the descriptors it sends to.
var batchState struct {
	ring *uring.Ring
	fds  []int
	res  []int32
}

// batchRound writes msg to every connection in io_uring submissions of
// batch sends each. The descriptors stay open for the whole run (the
// listener's connections are never closed), so they are taken once.
func batchRound(conns []syscall.RawConn, msg []byte, batch int) error {
	b := &batchState
	if b.ring == nil {
		r, err := uring.New(batch)
		if err != nil {
			return err
		}
		b.ring, b.res = r, make([]int32, r.Size())
		for _, rc := range conns {
			if err := rc.Control(func(fd uintptr) { b.fds = append(b.fds, int(fd)) }); err != nil {
				return fmt.Errorf("failed to get a descriptor: %w", err)
			}
		}
	}
	for i := 0; i < len(b.fds); {
		for ; i < len(b.fds) && b.ring.Send(b.fds[i], msg); i++ {
		}
		k := b.ring.Queued()
		if err := b.ring.Submit(b.res); err != nil {
			return err
		}
		for _, v := range b.res[:k] {
			if v < 0 {
				return fmt.Errorf("failed to write: %w", syscall.Errno(-v))
			}
		}
	}
	return nil
}
