//go:build unix

package h2xconnect

import "syscall"

func execve(path string, args, env []string) error { return syscall.Exec(path, args, env) }
