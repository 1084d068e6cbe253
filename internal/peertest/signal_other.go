//go:build !unix

package peertest

import "os"

// pauseSignal and resumeSignal are nil where a process cannot be stopped
// by a signal: [Redis.Pause] skips the test there.
var pauseSignal, resumeSignal os.Signal
