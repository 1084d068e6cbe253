package prefetch

import "unsafe"

// Line asks for the cache line holding p. p may be anything, nil
// included.
func Line(p unsafe.Pointer) { line(p) }

// Pointer returns the pointer stored at pp, read for a prefetch only: the
// race detector does not see the read, and the result is a hint, to be
// passed to Line or Pointer again and never dereferenced by Go code.
// pp must be a valid address; the result may be nil, or stale. Where the
// package has no assembly (other architectures, or built with the tag
// purego) Pointer returns nil and Line does nothing.
func Pointer(pp unsafe.Pointer) unsafe.Pointer { return load(pp) }
