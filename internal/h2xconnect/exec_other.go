//go:build !unix

package h2xconnect

import "errors"

func execve(string, []string, []string) error {
	return errors.New("this system cannot replace a running program (no execve): set GODEBUG=http2xconnect=1 in the environment")
}
