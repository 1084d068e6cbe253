package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/websocket"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg *prometheus.Registry

	eventsIn          *prometheus.CounterVec
	eventsOut         *prometheus.CounterVec
	eventsDropped     *prometheus.CounterVec
	bytesIn           prometheus.CounterFunc
	bytesOut          prometheus.CounterFunc
	batchedWrites     prometheus.CounterFunc
	fanout            prometheus.Histogram
	slowDisconnects   *prometheus.CounterVec
	disconnects       *prometheus.CounterVec
	rejectedHandshake *prometheus.CounterVec
	apiRequests       *prometheus.CounterVec
	wsConnections     *prometheus.CounterVec

	// Events that left a connection state recovery log, by reason.
	recoveryDropped      *prometheus.CounterVec
	recoveryDroppedBytes *prometheus.CounterVec

	// The cluster's, when the server is a node of one.
	cluster *clusterMetrics

	bytesRead, bytesWritten atomic.Uint64
}

// newMetrics returns the metrics; connections and recoveryLog are read at
// scrape time.
func newMetrics(connections func() map[string]int, recoveryLog func() (packets, bytes map[string]int)) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.eventsIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_events_received_total",
		Help: "Events received from clients, by namespace.",
	}, []string{"namespace"})
	m.eventsOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_events_sent_total",
		Help: "Events sent to clients (one per receiver), by namespace.",
	}, []string{"namespace"})
	m.eventsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_events_dropped_total",
		Help: "Events from clients that were dropped, by reason.",
	}, []string{"reason"})
	m.bytesIn = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tether_bytes_received_total",
		Help: "Bytes read from client connections (TLS included), on the main listener.",
	}, func() float64 { return float64(m.bytesRead.Load()) })
	m.bytesOut = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tether_bytes_sent_total",
		Help: "Bytes written to client connections (TLS included), on the main listener.",
	}, func() float64 { return float64(m.bytesWritten.Load()) })
	m.batchedWrites = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tether_batched_writes_total",
		Help: "Writes of broadcasts to idle WebSockets made together with other receivers' in one io_uring submission, in this process (none where io_uring is unavailable: the log at start says why).",
	}, func() float64 { return float64(websocket.GroupedWrites()) })
	m.fanout = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tether_broadcast_fanout_seconds",
		Help:    "Time to hand a broadcast (publish or API emit) to every receiver's queue.",
		Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10), // 10 µs .. 2.6 s
	})
	m.slowDisconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_slow_client_disconnects_total",
		Help: "Clients disconnected as too slow, by reason: send_queue (too many packets or bytes waiting), poll_response (a poll response not taken in time), post_body (a POST body not sent in time), stalled_writes (a WebSocket that takes no data).",
	}, []string{"reason"})
	m.disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_disconnects_total",
		Help: "Sockets disconnected, by reason.",
	}, []string{"reason"})
	m.rejectedHandshake = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_handshakes_rejected_total",
		Help: "Connections refused, by reason.",
	}, []string{"reason"})
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_api_requests_total",
		Help: "Backend API requests, by endpoint and status code.",
	}, []string{"endpoint", "code"})
	m.wsConnections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_websocket_connections_total",
		Help: "WebSocket connections accepted (handshakes and upgrades), by HTTP version: 1.1 (a connection each) or 2 (a stream of the client's HTTP/2 connection, RFC 8441).",
	}, []string{"http"})
	m.recoveryDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_recovery_log_dropped_total",
		Help: "Events that left a connection state recovery log, by reason: age (older than recovery.max_disconnection), bytes or packets (over recovery.max_log_bytes or max_log_packets: a client that missed them gets a new session).",
	}, []string{"reason"})
	m.recoveryDroppedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_recovery_log_dropped_bytes_total",
		Help: "Bytes of the events that left a connection state recovery log, by reason.",
	}, []string{"reason"})
	conns := prometheus.NewDesc("tether_connections", "Open client connections, by transport.", []string{"transport"}, nil)
	logBytes := prometheus.NewDesc("tether_recovery_log_bytes", "Bytes held by the connection state recovery log, by namespace.", []string{"namespace"}, nil)
	logPackets := prometheus.NewDesc("tether_recovery_log_packets", "Events held by the connection state recovery log, by namespace.", []string{"namespace"}, nil)
	m.reg.MustRegister(
		m.eventsIn, m.eventsOut, m.eventsDropped, m.bytesIn, m.bytesOut, m.batchedWrites, m.fanout,
		m.slowDisconnects, m.disconnects, m.rejectedHandshake, m.apiRequests, m.wsConnections,
		m.recoveryDropped, m.recoveryDroppedBytes,
		&gaugeCollector{desc: conns, values: connections},
		&gaugeCollector{desc: logBytes, values: func() map[string]int { _, b := recoveryLog(); return b }},
		&gaugeCollector{desc: logPackets, values: func() map[string]int { p, _ := recoveryLog(); return p }},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Zero series for the reasons people alert on.
	for _, r := range []string{rejectOrigin, rejectRate, rejectConnections, rejectShutdown} {
		m.rejectedHandshake.WithLabelValues(r)
	}
	for _, r := range []string{slowSendQueue, slowPollResponse, slowPostBody, slowStalledWrites} {
		m.slowDisconnects.WithLabelValues(r)
	}
	for _, v := range []string{"1.1", "2"} {
		m.wsConnections.WithLabelValues(v)
	}
	for _, r := range []string{socketio.DropBytes, socketio.DropPackets} {
		m.recoveryDropped.WithLabelValues(r)
		m.recoveryDroppedBytes.WithLabelValues(r)
	}
	return m
}

// webSocketAccepted counts a WebSocket the engine accepted, by the HTTP
// version of its request.
func (m *metrics) webSocketAccepted(r *http.Request) {
	v := "1.1"
	if r.ProtoMajor == 2 {
		v = "2"
	}
	m.wsConnections.WithLabelValues(v).Inc()
}

// recoveryLogDropped counts events that left a recovery log
// (socketio.RecoveryOptions.OnDrop).
func (m *metrics) recoveryLogDropped(_ string, packets int, bytes int64, reason string) {
	m.recoveryDropped.WithLabelValues(reason).Add(float64(packets))
	m.recoveryDroppedBytes.WithLabelValues(reason).Add(float64(bytes))
}

// The reasons of tether_handshakes_rejected_total (authentication failures
// use the auth reasons with underscores, such as "token_expired").
const (
	rejectOrigin      = "origin"
	rejectRate        = "rate_limited"
	rejectConnections = "too_many_connections"
	rejectShutdown    = "shutting_down"
)

// The reasons of tether_slow_client_disconnects_total.
const (
	slowSendQueue     = "send_queue"
	slowPollResponse  = "poll_response"
	slowPostBody      = "post_body"
	slowStalledWrites = "stalled_writes"
)

// slowReason returns the reason of tether_slow_client_disconnects_total
// for a session that closed with reason and err, or "" when its client was
// not cut off as too slow.
func slowReason(reason string, err error) string {
	switch {
	case reason == engineio.ReasonSendQueueFull:
		return slowSendQueue
	case errors.Is(err, engineio.ErrSlowPoll):
		return slowPollResponse
	case errors.Is(err, engineio.ErrSlowPost):
		return slowPostBody
	case errors.Is(err, engineio.ErrStalledWriter):
		return slowStalledWrites
	}
	return ""
}

// gaugeCollector exposes gauges computed at scrape time.
type gaugeCollector struct {
	desc   *prometheus.Desc
	values func() map[string]int
}

func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	for label, v := range g.values() {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v), label)
	}
}

// countingListener counts the bytes of its connections. Closing it more
// than once is not an error, so that Serve can stop accepting before the
// http.Server's Shutdown closes it again.
type countingListener struct {
	net.Listener
	m        *metrics
	noGroups bool // engine.io_uring is off: no write groups

	once     sync.Once
	closeErr error
}

func (l *countingListener) Close() error {
	l.once.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c, m: l.m, noGroups: l.noGroups}
	if rawSocket(c) {
		if rc, err := c.(syscall.Conn).SyscallConn(); err == nil {
			cc.rc = rc
			cc.fdw.Init(rc)
		}
	}
	return cc, nil
}

// rawSocket reports whether c is one of the net package's own sockets,
// which countingConn reads with raw reads: another syscall.Conn may
// refuse them, or count what goes through it.
func rawSocket(c net.Conn) bool {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// countingConn counts the bytes read from and written to a client
// connection.
//
// It passes the socket's descriptor through (it is a [syscall.Conn]) so
// that WebSocket connections are read with websocket.Conn.ReadLoopAsync's
// poller, which holds no goroutine for an idle connection: the poller only
// registers the descriptor with epoll and, once data is there, reads
// through the countingConn, so every byte is still counted. Raw reads and
// writes on the descriptor would go around the count — io.Copy from an
// os.File would sendfile(2) straight to the socket — so the
// [syscall.RawConn] it returns refuses them (and, lacking the net package's
// own methods, is no path for sendfile or splice); its WriteNonblocking,
// the non-blocking write a broadcast makes to an idle WebSocket, counts
// what it writes. Over TLS the server reads a tls.Conn wrapped
// around the countingConn, which is no syscall.Conn: each WebSocket then
// has a reader goroutine of its own.
type countingConn struct {
	net.Conn
	m  *metrics
	rc syscall.RawConn // the socket's: set by Accept for the net package's sockets, else by the first WriteNonblocking

	// fdw writes a broadcast's non-blocking writes to the descriptor of
	// the net package's sockets (set by Accept) without going through rc.
	// It is why Close goes through fdw: the descriptor must not be closed
	// (and its number reused) under a write.
	fdw websocket.FDWriter

	noGroups bool // GroupFD gives nothing: broadcasts write to it alone
}

// Close closes the socket once no write of fdw is under way.
func (c *countingConn) Close() error { return c.fdw.Close(c.Conn.Close) }

// rawConn returns the raw connection that Read and Write use, nil when
// they go through the wrapped connection: rc only for the net package's
// sockets (set by Accept), checked in this order because WriteNonblocking
// may set rc later for another connection, from another goroutine.
func (c *countingConn) rawConn() syscall.RawConn {
	if rawSocket(c.Conn) {
		return c.rc
	}
	return nil
}

// Read reads from the socket, as websocket.Conn reads the net package's
// sockets: with a raw read (websocket.ReadRaw) where it can; and counts
// what it read.
func (c *countingConn) Read(p []byte) (int, error) {
	n, err := 0, errors.ErrUnsupported
	if rc := c.rawConn(); rc != nil {
		n, err = websocket.ReadRaw(rc, p)
	}
	if err == errors.ErrUnsupported {
		n, err = c.Conn.Read(p)
	}
	c.m.bytesRead.Add(uint64(n))
	return n, err
}

// Write writes to the socket as Read reads it (websocket.WriteRaw), and
// counts what it wrote.
func (c *countingConn) Write(p []byte) (int, error) {
	n, err := 0, errors.ErrUnsupported
	if rc := c.rawConn(); rc != nil {
		n, err = websocket.WriteRaw(rc, p)
	}
	if err == errors.ErrUnsupported {
		n, err = c.Conn.Write(p)
	}
	c.m.bytesWritten.Add(uint64(n))
	return n, err
}

// WriteNonblocking writes what the socket takes of p now, and counts it
// (websocket.NonblockingWriter: the write of a broadcast that must not
// wait). It writes the net package's sockets' descriptors directly (fdw);
// other sockets through their raw connection, which the first call gets.
// The connection's WebSocket calls it under its write lock.
func (c *countingConn) WriteNonblocking(p []byte) (int, error) {
	n, err := c.fdw.WriteNonblocking(p)
	if err == errors.ErrUnsupported {
		n, err = c.writeNonblockingRC(p)
	}
	c.m.bytesWritten.Add(uint64(n))
	return n, err
}

// GroupFD returns the writer of the socket's descriptor, through which a
// broadcast's websocket.WriteGroup writes to it with other receivers
// (websocket.GroupWriter); Wrote counts what such a write wrote.
func (c *countingConn) GroupFD() *websocket.FDWriter {
	if c.noGroups {
		return nil
	}
	return &c.fdw
}

// Wrote counts n bytes that a websocket.WriteGroup wrote to the socket.
func (c *countingConn) Wrote(n int) { c.m.bytesWritten.Add(uint64(n)) }

// writeNonblockingRC writes as WriteNonblocking does, through the socket's
// raw connection: for a socket whose descriptor fdw does not hold.
func (c *countingConn) writeNonblockingRC(p []byte) (int, error) {
	if c.rc == nil {
		sc, ok := c.Conn.(syscall.Conn)
		if !ok {
			return 0, errNoSocket
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return 0, fmt.Errorf("server: failed to get the raw connection: %w", err)
		}
		c.rc = rc
	}
	return websocket.WriteRawNonblocking(c.rc, p)
}

// SyscallConn returns the connection's socket for Control only; see
// [countingConn].
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNoSocket
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return controlOnly{rc}, nil
}

var (
	errNoSocket  = errors.New("server: the connection has no socket of its own")
	errUncounted = errors.New("server: raw reads and writes would not be counted: use Read and Write")
)

// controlOnly is a socket's RawConn that allows Control (the descriptor,
// socket options) but not raw reads and writes, which would not be
// counted.
type controlOnly struct{ rc syscall.RawConn }

func (r controlOnly) Control(f func(fd uintptr)) error { return r.rc.Control(f) }

func (controlOnly) Read(func(fd uintptr) bool) error  { return errUncounted }
func (controlOnly) Write(func(fd uintptr) bool) error { return errUncounted }
