package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-rt/tether/internal/load"
)

// runLoad runs tether load until it ends by itself, or SIGINT or SIGTERM
// cuts it short.
func runLoad(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := load.Main(ctx, args, stdin, stdout, stderr)
	if errors.Is(err, load.ErrHelp) {
		return errHelp
	}
	return err
}
