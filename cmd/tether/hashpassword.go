package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// runHashPassword reads a password from stdin (its first line) and prints
// its bcrypt hash, for admin_ui.password_hash.
func runHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-password", "Reads a password from standard input (its first line) and prints its bcrypt hash,\n"+
		"for admin_ui.password_hash (TETHER_ADMIN_UI_PASSWORD_HASH):\n\n"+
		"  printf '%s' 'the password' | tether hash-password", stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d to %d (each step doubles the work of a check)", bcrypt.MinCost, bcrypt.MaxCost))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("failed to read the password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return errors.New("no password on standard input")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		return fmt.Errorf("failed to hash the password: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", hash)
	return err
}
