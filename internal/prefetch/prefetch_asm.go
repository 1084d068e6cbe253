//go:build (amd64 || arm64) && !purego

package prefetch

import "unsafe"

//go:noescape
func line(p unsafe.Pointer)

//go:noescape
func load(pp unsafe.Pointer) unsafe.Pointer
