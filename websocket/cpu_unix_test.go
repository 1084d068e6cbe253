//go:build unix

package websocket

import "syscall"

// cpuTime returns the user and system CPU time the process has used, in
// nanoseconds (all threads: the garbage collector's work counts too).
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
