// Command writefloor measures the floor of a fan-out at a fixed rate: the
// CPU a process spends per delivered message when each delivery is one
// plain write(2) of -size bytes on a loopback TCP connection, from one
// goroutine, -rate times per second to each of -conns connections. The
// readers run in a child process (the same binary with -reader), so that
// the writer's CPU (getrusage: user + system, which on loopback includes
// the kernel's delivery to the reading socket) is all that is counted. It
// is what a Socket.IO server's CPU per delivered message compares with:
// the rest is the server's own work.
//
// With -batch N the writes go to the kernel N at a time, in one
// io_uring_enter(2) each (internal/uring, as tether serve's write groups
// make a broadcast's): the floor of a server that batches its writes.
//
// Usage: writefloor -conns 1000 -rate 20 -size 200 -duration 20s [-batch 128]
// Output: one JSON line {conns, rate, size, writes, cpu_us_per_write}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	conns := flag.Int("conns", 1000, "connections")
	rate := flag.Float64("rate", 20, "writes per second to each connection")
	size := flag.Int("size", 200, "bytes per write")
	duration := flag.Duration("duration", 20*time.Second, "measured time")
	warmup := flag.Duration("warmup", 2*time.Second, "time of writes before the measured time")
	shuffle := flag.Bool("shuffle", false, "write to the connections in one random order rather than the order they were accepted (a Socket.IO room's map gives its sockets in the order of their ids' hashes)")
	tracked := flag.Bool("tracked", false, "write with syscall.Write (the scheduler told of each call) rather than a raw system call")
	batch := flag.Int("batch", 0, "make the writes in io_uring submissions of this many sends each (MSG_DONTWAIT, as tether serve's write groups: 128), rather than a write(2) each; 0: write(2)")
	reader := flag.String("reader", "", "internal: connect -conns readers to this address and read until killed")
	flag.Parse()
	if *reader != "" {
		if err := read(*reader, *conns); err != nil {
			slog.Error("writefloor: reader failed", "err", err)
			os.Exit(1)
		}
		return
	}
	if *tracked {
		writeFD = trackedWrite
	}
	if err := run(*conns, *rate, *size, *duration, *warmup, *shuffle, *batch); err != nil {
		slog.Error("writefloor: failed", "err", err)
		os.Exit(1)
	}
}

// read connects n connections to addr and discards what arrives.
func read(addr string, n int) error {
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("failed to connect: %w", err)
		}
		go func() { _, _ = io.Copy(io.Discard, c) }()
	}
	select {}
}

func run(n int, rate float64, size int, duration, warmup time.Duration, shuffle bool, batch int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("failed to find the executable: %w", err)
	}
	child := exec.Command(self, "-reader", ln.Addr().String(), "-conns", fmt.Sprint(n))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return fmt.Errorf("failed to start the readers: %w", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()

	fds := make([]syscall.RawConn, 0, n)
	for range n {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("failed to accept: %w", err)
		}
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return fmt.Errorf("failed to get the raw connection: %w", err)
		}
		fds = append(fds, rc)
	}
	if shuffle {
		rand.Shuffle(len(fds), func(i, j int) { fds[i], fds[j] = fds[j], fds[i] })
	}
	msg := make([]byte, size)
	var werr error
	write := func(fd uintptr) bool {
		for {
			_, err := writeFD(fd, msg)
			if err == syscall.EINTR {
				continue
			}
			if err != nil && err != syscall.EAGAIN {
				werr = err
			}
			return true
		}
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	round := func() error {
		if batch > 0 {
			return batchRound(fds, msg, batch)
		}
		for _, rc := range fds {
			if err := rc.Write(write); err != nil {
				return fmt.Errorf("failed to write: %w", err)
			}
			if werr != nil {
				return fmt.Errorf("failed to write: %w", werr)
			}
		}
		return nil
	}
	for end := time.Now().Add(warmup); time.Now().Before(end); <-tick.C {
		if err := round(); err != nil {
			return err
		}
	}
	cpu0 := cpuTime()
	writes := 0
	for end := time.Now().Add(duration); time.Now().Before(end); <-tick.C {
		if err := round(); err != nil {
			return err
		}
		writes += n
	}
	cpu := cpuTime() - cpu0
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"conns": n, "rate": rate, "size": size, "writes": writes, "shuffle": shuffle, "batch": batch,
		"cpu_us_per_write": float64(cpu.Microseconds()) / float64(writes),
	})
}

// writeFD makes one write(2) of p to the non-blocking descriptor fd.
var writeFD = rawWrite

func trackedWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
