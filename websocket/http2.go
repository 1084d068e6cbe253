package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"
)

// WebSockets over HTTP/2 (RFC 8441).
//
// A WebSocket over HTTP/2 is one stream of an HTTP/2 connection, opened by
// an extended CONNECT request (method CONNECT, :protocol websocket) and
// answered 200; the stream's DATA frames then carry the WebSocket's frames,
// unchanged. The [Conn] on top is the same as over HTTP/1.1: it reads and
// writes a net.Conn, which for a stream is a serverStream (the request body
// and the response writer, flushed per write) or a clientStream (a pipe
// into the request body and the response body).
//
// Closing maps as RFC 8441, section 4, says: an orderly close of the
// stream is END_STREAM (TCP's FIN), an abortive one RST_STREAM (TCP's
// RST). A reset stream reads as a [CloseError] with
// [StatusAbnormalClosure], as a connection dropped without a close frame.

// xconnect records whether net/http's HTTP/2 server advertises extended
// CONNECT in this process. Go 1.26 has no per-server setting for it: its
// bundled HTTP/2 server reads GODEBUG from the environment once, when
// net/http is initialized (before this package is), and enables extended
// CONNECT when it contains "http2xconnect=1" (golang.org/issue/71128,
// golang.org/issue/53208). The same test is made here.
var xconnect = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// ExtendedConnectEnabled reports whether the HTTP/2 servers of net/http in
// this process advertise extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL,
// RFC 8441), so that clients, browsers among them, may open WebSockets as
// streams of their HTTP/2 connections, which [Accept] accepts.
//
// In Go 1.26 this is a property of the process, not of a server: net/http
// enables it only when the environment the program started with has
// GODEBUG=http2xconnect=1 (a //go:debug line in the program does not do
// it, and neither does setting the variable once the program runs). Without
// it, browsers open WebSockets over HTTP/1.1, on a connection of their own.
func ExtendedConnectEnabled() bool { return xconnect }

// ErrExtendedConnectUnsupported is what [Dial] over HTTP/2 fails with (in
// its chain) when the server's HTTP/2 connection does not allow extended
// CONNECT: its first SETTINGS frame lacks SETTINGS_ENABLE_CONNECT_PROTOCOL.
// Dialing without [DialOptions].HTTP2Transport uses HTTP/1.1 instead.
var ErrExtendedConnectUnsupported = errors.New("websocket: the server's HTTP/2 does not allow extended CONNECT (RFC 8441)")

// isExtendedConnect reports whether r came over HTTP/2. net/http's HTTP/1
// server refuses any other version than 1.x, so a handler sees ProtoMajor 2
// only from its HTTP/2 server.
func isHTTP2(r *http.Request) bool { return r.ProtoMajor == 2 }

// checkExtendedConnect checks the request of a WebSocket over HTTP/2 (RFC
// 8441, sections 4 and 5): an extended CONNECT with :protocol websocket and
// Sec-WebSocket-Version 13. There is no key: the stream is the proof that
// the server understood the request.
func checkExtendedConnect(r *http.Request) *HandshakeError {
	if r.Method != http.MethodConnect || !strings.EqualFold(r.Header.Get(":protocol"), "websocket") {
		return &HandshakeError{http.StatusBadRequest, "a WebSocket over HTTP/2 is an extended CONNECT with :protocol websocket (RFC 8441)"}
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
		return &HandshakeError{http.StatusBadRequest, "unsupported Sec-WebSocket-Version: only 13 is spoken"}
	}
	return nil
}

// acceptHTTP2 answers an extended CONNECT with 200, the subprotocol and
// extensions chosen, and the headers set on w, and returns the connection
// over the stream.
//
//go:noinline
func acceptHTTP2(w http.ResponseWriter, r *http.Request, opts *AcceptOptions, proto, extResp string, cp compressParams) (*Conn, error) {
	rc := http.NewResponseController(w)
	h := w.Header()
	if proto != "" {
		h.Set("Sec-WebSocket-Protocol", proto)
	}
	if extResp != "" {
		h.Set("Sec-WebSocket-Extensions", extResp)
	}
	// Full duplex is what HTTP/2 always does; say so for any writer that
	// needs to be told. Drop the deadlines the server's ReadTimeout and
	// WriteTimeout set on the stream: they would end the WebSocket.
	_ = rc.EnableFullDuplex()
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		http.Error(w, "websocket: stream cannot be used as a WebSocket", http.StatusInternalServerError)
		return nil, fmt.Errorf("websocket: failed to clear the stream's read deadline: %w", err)
	}
	wt := opts.WriteTimeout
	if wt == 0 {
		wt = 10 * time.Second
	}
	rc.SetWriteDeadline(time.Now().Add(wt))
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("websocket: failed to write handshake response: %w", err)
	}
	rc.SetWriteDeadline(time.Time{})
	s := &serverStream{body: r.Body, w: w, rc: rc, remote: parseAddr(r.RemoteAddr)}
	s.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return newConn(connConfig{
		nc:           s,
		subprotocol:  proto,
		readLimit:    opts.ReadLimit,
		compress:     cp,
		compressMin:  opts.Compression.threshold(),
		pingInterval: opts.PingInterval,
		pingTimeout:  opts.PingTimeout,
	}), nil
}

// serverStream is the net.Conn of a WebSocket accepted over HTTP/2: reads
// come from the request body, writes go to the response writer and are
// flushed, so each write becomes DATA frames on the wire at once.
//
// The stream belongs to the handler: net/http ends it when the handler
// returns, and the response writer must not be used after that. Close
// therefore refuses every later write and deadline, waits for a write in
// progress to end (resetting the stream when that write waits for flow
// control), and the handler returns only after Close ([Conn.Done]).
//
// Invariants: w and rc are used only while closed is false or by a write
// that began before; Close returns once no write is in progress.
type serverStream struct {
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	local  net.Addr
	remote net.Addr

	mu      sync.Mutex
	closed  bool
	writing bool          // a write is in progress (the Conn writes one at a time, under wmu)
	idle    chan struct{} // made by Close when a write is in progress; closed when it ends
}

func (s *serverStream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if err != nil {
		s.mu.Lock()
		if s.closed {
			err = net.ErrClosed
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *serverStream) Write(p []byte) (int, error) {
	if err := s.startWrite(); err != nil {
		return 0, err
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, s.endWrite(err)
}

// write2 writes a then b with one flush (a frame's header and its payload).
func (s *serverStream) write2(a, b []byte) error {
	if err := s.startWrite(); err != nil {
		return err
	}
	_, err := s.w.Write(a)
	if err == nil {
		_, err = s.w.Write(b)
	}
	if err == nil {
		err = s.rc.Flush()
	}
	return s.endWrite(err)
}

func (s *serverStream) startWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	s.writing = true
	return nil
}

func (s *serverStream) endWrite(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writing = false
	if s.closed {
		if s.idle != nil {
			close(s.idle)
			s.idle = nil
		}
		if err != nil {
			err = net.ErrClosed
		}
	}
	return err
}

// Close ends the stream's use: reads return at once, writes are refused.
// A write in progress that waits for the peer's flow control is broken by
// resetting the stream (RST_STREAM, INTERNAL_ERROR: the only reset a
// net/http handler can send); otherwise the stream ends with END_STREAM
// when the handler returns.
func (s *serverStream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.closed = true
	var idle chan struct{}
	if s.writing {
		idle = make(chan struct{})
		s.idle = idle
		// A write deadline in the past resets the stream at once, which
		// ends a write waiting for a window update.
		s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	s.body.Close()
	if idle != nil {
		<-idle
	}
	return nil
}

func (s *serverStream) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

func (s *serverStream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	return s.rc.SetReadDeadline(t)
}

func (s *serverStream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	return s.rc.SetWriteDeadline(t)
}

func (s *serverStream) LocalAddr() net.Addr  { return s.local }
func (s *serverStream) RemoteAddr() net.Addr { return s.remote }

// parseAddr turns a request's RemoteAddr into a net.Addr.
func parseAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return streamAddr(s)
}

// streamAddr is an address that is only known as a string.
type streamAddr string

func (a streamAddr) Network() string { return "tcp" }
func (a streamAddr) String() string  { return string(a) }

// dialHTTP2 opens a WebSocket as a stream of an HTTP/2 connection of rt
// (RFC 8441): an extended CONNECT whose body is the pipe we write into and
// whose response body is what we read. ctx bounds the handshake only.
func dialHTTP2(ctx context.Context, rt http.RoundTripper, u *url.URL, opts *DialOptions) (*Conn, *http.Response, error) {
	pr, pw := io.Pipe()
	sctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(sctx, http.MethodConnect, u.String(), pr)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("websocket: failed to make the CONNECT request: %w", err)
	}
	req.ContentLength = -1
	for k, vs := range opts.HTTPHeader {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if opts.Compression.Mode != CompressionDisabled {
		req.Header.Set("Sec-WebSocket-Extensions", clientOffer(opts.Compression))
	}
	// The stream lives on after the handshake: ctx cancels only the
	// handshake.
	stop := context.AfterFunc(ctx, cancel)
	resp, err := rt.RoundTrip(req)
	if !stop() {
		err = fmt.Errorf("websocket: handshake with %s timed out: %w", u.Host, ctx.Err())
	} else if err != nil && strings.Contains(err.Error(), "extended connect not supported") {
		// net/http's error for a server without SETTINGS_ENABLE_CONNECT_PROTOCOL
		// is not exported.
		err = fmt.Errorf("%w: %v", ErrExtendedConnectUnsupported, err)
	} else if err != nil && strings.Contains(err.Error(), `invalid header field name ":protocol"`) {
		err = fmt.Errorf("websocket: the transport cannot send an extended CONNECT (net/http's Transport refuses :protocol; golang.org/x/net/http2's Transport sends it): %w", err)
	} else if err != nil {
		err = fmt.Errorf("websocket: failed to send the extended CONNECT to %s: %w", u.Host, err)
	}
	fail := func(err error) (*Conn, *http.Response, error) {
		cancel()
		pw.CloseWithError(err)
		if resp != nil {
			resp.Body.Close()
		}
		return nil, resp, err
	}
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		cancel()
		pw.Close()
		return nil, resp, fmt.Errorf("websocket: server refused the handshake: %s", resp.Status)
	}
	if resp.ProtoMajor != 2 {
		return fail(fmt.Errorf("websocket: bad handshake response: protocol is %s, want HTTP/2", resp.Proto))
	}
	proto, cp, err := checkNegotiation(resp, opts)
	if err != nil {
		return fail(err)
	}
	s := &clientStream{body: resp.Body, pw: pw, cancel: cancel, remote: streamAddr(u.Host), local: streamAddr("")}
	return newConn(connConfig{
		nc:           s,
		client:       true,
		subprotocol:  proto,
		readLimit:    opts.ReadLimit,
		compress:     cp,
		compressMin:  opts.Compression.threshold(),
		pingInterval: opts.PingInterval,
		pingTimeout:  opts.PingTimeout,
	}), resp, nil
}

// clientStream is the net.Conn of a WebSocket dialed over HTTP/2: writes go
// into a pipe that the HTTP/2 transport sends as the request body, reads
// come from the response body. CloseWrite ends the request body
// (END_STREAM); Close resets the stream (RST_STREAM, CANCEL) unless both
// sides have ended it.
//
// Deadlines are timers: one that expires resets the stream, and reads and
// writes then fail with an error wrapping [os.ErrDeadlineExceeded] (a
// connection whose read or write timed out is unusable, as over TCP).
type clientStream struct {
	body   io.ReadCloser
	pw     *io.PipeWriter
	cancel context.CancelFunc
	local  net.Addr
	remote net.Addr

	mu      sync.Mutex
	closed  bool
	expired bool
	rd, wd  *time.Timer
}

func (s *clientStream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if err != nil {
		err = s.streamErr(err)
	}
	return n, err
}

func (s *clientStream) Write(p []byte) (int, error) {
	n, err := s.pw.Write(p)
	if err != nil {
		err = s.streamErr(err)
	}
	return n, err
}

// write2 writes a then b.
func (s *clientStream) write2(a, b []byte) error {
	if _, err := s.Write(a); err != nil {
		return err
	}
	_, err := s.Write(b)
	return err
}

// streamErr returns what a failed read or write reports: the deadline's
// error after a deadline, net.ErrClosed after Close.
func (s *clientStream) streamErr(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.expired:
		return fmt.Errorf("websocket: stream reset: %w", os.ErrDeadlineExceeded)
	case s.closed:
		return net.ErrClosed
	}
	return err
}

// CloseWrite ends the request body: END_STREAM after what was written.
func (s *clientStream) CloseWrite() error { return s.pw.Close() }

func (s *clientStream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.closed = true
	s.stopTimersLocked()
	s.mu.Unlock()
	s.abort(net.ErrClosed)
	return nil
}

// abort ends the stream: a reset unless both sides have ended it.
func (s *clientStream) abort(err error) {
	s.pw.CloseWithError(err)
	s.body.Close()
	s.cancel()
}

func (s *clientStream) stopTimersLocked() {
	for _, t := range []*time.Timer{s.rd, s.wd} {
		if t != nil {
			t.Stop()
		}
	}
	s.rd, s.wd = nil, nil
}

func (s *clientStream) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

func (s *clientStream) SetReadDeadline(t time.Time) error  { return s.setDeadline(&s.rd, t) }
func (s *clientStream) SetWriteDeadline(t time.Time) error { return s.setDeadline(&s.wd, t) }

func (s *clientStream) setDeadline(tp **time.Timer, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	if *tp != nil {
		(*tp).Stop()
		*tp = nil
	}
	if t.IsZero() {
		return nil
	}
	*tp = time.AfterFunc(time.Until(t), s.expire)
	return nil
}

// expire resets the stream when a deadline has passed.
func (s *clientStream) expire() {
	s.mu.Lock()
	if s.closed || s.expired {
		s.mu.Unlock()
		return
	}
	s.expired = true
	s.mu.Unlock()
	s.abort(os.ErrDeadlineExceeded)
}

func (s *clientStream) LocalAddr() net.Addr  { return s.local }
func (s *clientStream) RemoteAddr() net.Addr { return s.remote }

// streamResetError returns the read error of a stream that was reset, a
// [CloseError] with [StatusAbnormalClosure] naming the reset's code, or nil
// when err is not a stream reset.
//
// net/http's HTTP/2 stream error (a RST_STREAM from the peer, or one it
// sent) is not exported, and neither is golang.org/x/net/http2's the same
// type: both are structs with the fields StreamID, Code and Cause, which is
// what is looked for in err's chain.
func streamResetError(err error) *CloseError {
	for err != nil {
		v := reflect.ValueOf(err)
		if v.Kind() == reflect.Struct {
			id, code := v.FieldByName("StreamID"), v.FieldByName("Code")
			if id.IsValid() && code.IsValid() && id.Kind() == reflect.Uint32 && code.Kind() == reflect.Uint32 {
				return &CloseError{Code: StatusAbnormalClosure, Reason: "HTTP/2 stream reset: " + h2ErrCodeName(uint32(code.Uint()))}
			}
		}
		err = errors.Unwrap(err)
	}
	return nil
}

// h2ErrCodeName names an HTTP/2 error code (RFC 9113, section 7).
func h2ErrCodeName(code uint32) string {
	names := [...]string{"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
		"STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
		"ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"}
	if int(code) < len(names) {
		return names[code]
	}
	return fmt.Sprintf("error code %#x", code)
}

// isStream reports whether c is a WebSocket over HTTP/2.
func (c *Conn) isStream() bool {
	switch c.nc.(type) {
	case *serverStream, *clientStream:
		return true
	}
	return false
}
