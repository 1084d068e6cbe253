//go:build !linux || !(amd64 || arm64)

package uring

import (
	"errors"
	"fmt"
)

// Ring is an io_uring instance; this system has none, and [New] reports
// an error.
type Ring struct{}

// New reports that this system has no io_uring.
func New(entries int) (*Ring, error) {
	return nil, fmt.Errorf("uring: no io_uring on this system: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (r *Ring) Close() error { return nil }

// Size returns 0.
func (r *Ring) Size() int { return 0 }

// Queued returns 0.
func (r *Ring) Queued() int { return 0 }

// Send queues nothing.
func (r *Ring) Send(fd int, p []byte) bool { return false }

// Submit does nothing.
func (r *Ring) Submit(res []int32) error { return nil }

// Recv queues nothing.
func (r *Ring) Recv(fd int, p []byte) bool { return false }
