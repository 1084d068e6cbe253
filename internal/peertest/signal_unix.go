//go:build unix

package peertest

import (
	"os"
	"syscall"
)

// pauseSignal and resumeSignal stop and continue a process, as a hung
// host would stop answering.
var pauseSignal, resumeSignal os.Signal = syscall.SIGSTOP, syscall.SIGCONT
