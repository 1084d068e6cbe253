//go:build (!amd64 && !arm64) || purego

package prefetch

import "unsafe"

func line(unsafe.Pointer) {}

func load(unsafe.Pointer) unsafe.Pointer { return nil }
