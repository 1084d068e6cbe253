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
// would leave out the other. A port that another program holds on either
// address is an error (a browser would reach that program there); a
// missing loopback address (no IPv6, or no IPv4) is not.
func listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !strings.EqualFold(host, "localhost") {
		return net.Listen("tcp", addr)
	}
	v4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %s", err, takenLoopback("127.0.0.1", port))
		}
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
		return nil, fmt.Errorf("%w: %s", err, takenLoopback("::1", port))
	default:
		return v4, nil // no IPv6 loopback (or, for port 0, the port is taken there)
	}
}

// takenLoopback explains why a port taken on one loopback address stops
// a server on "localhost", and what to do.
func takenLoopback(ip, port string) string {
	return fmt.Sprintf("localhost is both 127.0.0.1 and [::1], and a browser opening localhost:%s may reach "+
		"whatever holds %s instead of this server: stop it, or choose another port (-addr)", port, net.JoinHostPort(ip, port))
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

// listenURL returns the URL to open in a browser for a server configured
// with addr and listening on ln: the host of addr when it is a name (such
// as localhost), "localhost" when addr has no host or an unspecified one
// (":8080", "0.0.0.0:8080"), else the address ln listens on; the port is
// always ln's, which tells the port chosen for ":0".
func listenURL(scheme, addr string, ln net.Listener) string {
	host, _, _ := net.SplitHostPort(addr)
	lnHost, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return scheme + "://" + ln.Addr().String() + "/"
	}
	if host == "" || net.ParseIP(host) != nil {
		host = lnHost
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "localhost"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
