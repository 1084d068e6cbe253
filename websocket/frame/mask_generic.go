//go:build !amd64 || purego

package frame

const maskWideMin = 64

// hasMaskWide is false: there is no wide implementation here.
const hasMaskWide = false

func maskCopyWide(dst, src *byte, n int, key uint64) { panic("unreachable") }
