package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestHashPassword checks that `tether hash-password` prints a bcrypt hash
// of the first line of its input, at the cost asked for, and refuses an
// empty password.
func TestHashPassword(t *testing.T) {
	cmd := tether(nil, "hash-password", "-cost", "5")
	cmd.Stdin = strings.NewReader("change it\nnot this\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	hash := strings.TrimSuffix(stdout.String(), "\n")
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("change it")); err != nil {
		t.Fatalf("%q is not the hash of the password: %v", hash, err)
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != 5 {
		t.Errorf("cost %d, %v", cost, err)
	}
	cmd = tether(nil, "hash-password")
	cmd.Stdin = strings.NewReader("\n")
	stderr.Reset()
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "no password on standard input") {
		t.Errorf("empty password: %v, %s", err, stderr.String())
	}
}
