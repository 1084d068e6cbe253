package server

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// listen listens on addr. For "localhost:port" it listens on both
// loopback addresses, 127.0.0.1 and ::1 (when the system has IPv6), since
// browsers may try either first: listening on what "localhost" resolves to
// would leave out the other. A port that is taken on ::1 is an error (a
// browser would reach another program there); a missing IPv6 loopback is
// not.
func listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !strings.EqualFold(host, "localhost") {
		return net.Listen("tcp", addr)
	}
	v4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		if v6, err6 := net.Listen("tcp6", net.JoinHostPort("::1", port)); err6 == nil {
			return v6, nil // no IPv4 loopback
		}
		return nil, err
	}
	chosen := port == "0"
	if chosen {
		port = strconv.Itoa(v4.Addr().(*net.TCPAddr).Port)
	}
	v6, err := net.Listen("tcp6", net.JoinHostPort("::1", port))
	switch {
	case err == nil:
		return newMultiListener(v4, v6), nil
	case errors.Is(err, syscall.EADDRINUSE) && !chosen:
		v4.Close()
		return nil, fmt.Errorf("%w (localhost: 127.0.0.1 is free but ::1 is not)", err)
	default:
		return v4, nil // no IPv6 loopback (or, for port 0, the port is taken there)
	}
}

// multiListener accepts the connections of several listeners.
type multiListener struct {
	lns    []net.Listener
	conns  chan net.Conn
	errs   chan error
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func newMultiListener(lns ...net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error, len(lns)), closed: make(chan struct{})}
	for _, ln := range lns {
		m.wg.Add(1)
		go m.accept(ln)
	}
	return m
}

func (m *multiListener) accept(ln net.Listener) {
	defer m.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case m.errs <- err:
			case <-m.closed:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		select {
		case m.conns <- c:
		case <-m.closed:
			c.Close()
			return
		}
	}
}

// Accept returns the next connection of any of the listeners, or the
// first error one of them had.
func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close closes every listener.
func (m *multiListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.closed)
		for _, ln := range m.lns {
			errs = append(errs, ln.Close())
		}
		m.wg.Wait()
	})
	return errors.Join(errs...)
}

// Addr returns the first listener's address.
func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }

// listenAddrs returns the addresses ln listens on.
func listenAddrs(ln net.Listener) []string {
	if cl, ok := ln.(*countingListener); ok {
		ln = cl.Listener
	}
	m, ok := ln.(*multiListener)
	if !ok {
		return []string{ln.Addr().String()}
	}
	out := make([]string, len(m.lns))
	for i, l := range m.lns {
		out[i] = l.Addr().String()
	}
	return out
}
