package prefetch

import "unsafe"

// Line asks for the cache line holding p. p may be anything, nil
// included.
func Line(p unsafe.Pointer) { line(p) }

// lineSize is the cache line of the CPUs the package has assembly for
// (amd64, and arm64's common cores).
const lineSize = 64

// Lines asks for every cache line of the n bytes from p: of an object, or
// of the part of it that a use reads (n > 0).
func Lines(p unsafe.Pointer, n uintptr) {
	for off := uintptr(0); off < n; off += lineSize {
		line(unsafe.Add(p, off))
	}
	line(unsafe.Add(p, n-1)) // the last line, when p is not at a line's start
}

// Pointer returns the pointer stored at pp, read for a prefetch only: the
// race detector does not see the read, and the result is a hint, to be
// passed to Line or Pointer again and never dereferenced by Go code.
// pp must be a valid address; the result may be nil, or stale. Where the
// package has no assembly (other architectures, or built with the tag
// purego) Pointer returns nil and Line does nothing.
func Pointer(pp unsafe.Pointer) unsafe.Pointer { return load(pp) }
