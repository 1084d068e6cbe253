//go:build !linux

package main

import "syscall"

// rawWrite is syscall.Write where raw system calls are not used.
func rawWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
