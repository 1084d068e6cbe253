package prefetch

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestPointer checks that Pointer reads the pointer stored at its address,
// nil included, where the package has assembly, and nil elsewhere.
func TestPointer(t *testing.T) {
	x := new(int)
	p := unsafe.Pointer(x)
	got := Pointer(unsafe.Pointer(&p))
	switch {
	case got == p:
	case got == nil && !purego && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64"):
		t.Fatal("Pointer returned nil for a pointer stored")
	case got != nil:
		t.Fatalf("Pointer returned %p, want %p", got, p)
	}
	var none unsafe.Pointer
	if got := Pointer(unsafe.Pointer(&none)); got != nil {
		t.Fatalf("Pointer of a nil pointer: %p", got)
	}
}

// TestLineNeverFaults checks that a prefetch of nil, of an object's last
// byte and of objects soon garbage neither faults nor changes anything.
func TestLineNeverFaults(t *testing.T) {
	Line(nil)
	b := make([]byte, 64)
	b[63] = 7
	Line(unsafe.Pointer(&b[63]))
	if b[63] != 7 {
		t.Fatal("a prefetch changed memory")
	}
	for range 1000 {
		Line(unsafe.Pointer(new([256]byte)))
	}
	// Lines of an object's odd part, up to its last byte.
	Lines(unsafe.Pointer(&b[1]), 63)
	if b[63] != 7 {
		t.Fatal("a prefetch changed memory")
	}
	runtime.GC()
}

func TestNoAllocation(t *testing.T) {
	x := new([128]byte)
	p := unsafe.Pointer(x)
	if n := testing.AllocsPerRun(100, func() {
		Line(Pointer(unsafe.Pointer(&p)))
		Lines(p, 128)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
