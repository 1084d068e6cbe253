package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialOptions configures [Dial]. The zero value is ready to use.
type DialOptions struct {
	// HTTPHeader is sent with the handshake request (cookies, Origin,
	// Authorization…).
	HTTPHeader http.Header

	// Subprotocols are offered to the server, in order of preference.
	Subprotocols []string

	// Compression configures permessage-deflate.
	Compression CompressionOptions

	// HandshakeTimeout bounds the whole dial: proxy, TCP, TLS and the
	// HTTP exchange. 0 means 30 s.
	HandshakeTimeout time.Duration

	// TLSConfig is used for wss:// URLs. nil means the defaults.
	TLSConfig *tls.Config

	// Proxy returns the HTTP proxy to tunnel through with CONNECT, or nil
	// for none. nil means [http.ProxyFromEnvironment] (HTTP_PROXY,
	// HTTPS_PROXY, NO_PROXY).
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext dials TCP connections. nil means a [net.Dialer].
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// ReadLimit is the largest message the connection reads: 0 means
	// [DefaultReadLimit], a negative value means no limit.
	ReadLimit int64

	// PingInterval and PingTimeout enable the heartbeat; see
	// [AcceptOptions].
	PingInterval time.Duration
	PingTimeout  time.Duration

	// HTTP2Transport, when set, opens the WebSocket as a stream of an
	// HTTP/2 connection (RFC 8441) that the transport makes or already has
	// to the server, with an extended CONNECT request: many WebSockets,
	// and the transport's other requests, then share one connection. It
	// is a golang.org/x/net/http2 Transport, shared by the dials (set its
	// AllowHTTP and DialTLSContext for an h2c server). net/http's own
	// Transport does not do: in Go 1.26 its HTTP/2 client could send an
	// extended CONNECT, but its RoundTrip refuses the :protocol
	// pseudo-header as an invalid header name before the request gets
	// there. Proxy, NetDialContext and TLSConfig are the transport's
	// business then, and these options' are not used.
	//
	// When the server's HTTP/2 does not allow extended CONNECT, Dial fails
	// with an error wrapping [ErrExtendedConnectUnsupported]; dial again
	// without HTTP2Transport to use HTTP/1.1. nil (the default) dials over
	// HTTP/1.1.
	HTTP2Transport http.RoundTripper
}

// Dial opens a WebSocket connection to a ws://, wss://, http:// or
// https:// URL: over HTTP/1.1 (an Upgrade on a connection of its own), or,
// with [DialOptions].HTTP2Transport, as a stream of an HTTP/2 connection
// (RFC 8441).
//
// When the handshake fails after the server answered, Dial also returns the
// server's response, with up to 1 KiB of its body. Dial does not follow
// redirects: a 3xx answer is an error naming the Location.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if err := opts.Compression.validate(); err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: failed to parse URL: %w", err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return nil, nil, errBadScheme
	}
	timeout := opts.HandshakeTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if opts.HTTP2Transport != nil {
		return dialHTTP2(ctx, opts.HTTP2Transport, u, opts)
	}

	nc, err := dialTransport(ctx, u, opts)
	if err != nil {
		return nil, nil, err
	}
	// Bound the handshake by ctx, whatever the transport does.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	c, resp, err := clientHandshake(nc, u, opts)
	if !stop() {
		err = fmt.Errorf("websocket: handshake with %s timed out: %w", u.Host, ctx.Err())
	} else if err == nil {
		nc.SetDeadline(time.Time{})
		return c, resp, nil
	}
	nc.Close()
	return nil, resp, err
}

// dialTransport connects to u's host, through a proxy if one is set, and
// does the TLS handshake for https.
func dialTransport(ctx context.Context, u *url.URL, opts *DialOptions) (net.Conn, error) {
	dial := opts.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	addr := hostPort(u)
	proxy := opts.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	pu, err := proxy(&http.Request{URL: u, Header: http.Header{}})
	if err != nil {
		return nil, fmt.Errorf("websocket: failed to find proxy: %w", err)
	}
	var nc net.Conn
	if pu != nil {
		nc, err = dialProxy(ctx, dial, pu, addr)
	} else {
		nc, err = dial(ctx, "tcp", addr)
		if err != nil {
			err = fmt.Errorf("websocket: failed to dial %s: %w", addr, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = nil // WebSocket needs HTTP/1.1
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("websocket: TLS handshake with %s failed: %w", addr, err)
		}
		nc = tc
	}
	return nc, nil
}

// hostPort returns u's host with the scheme's default port added.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dialProxy opens a tunnel to addr through the HTTP proxy pu with CONNECT.
func dialProxy(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), pu *url.URL, addr string) (net.Conn, error) {
	if pu.Scheme != "http" {
		return nil, fmt.Errorf("websocket: unsupported proxy scheme %q (only http CONNECT proxies)", pu.Scheme)
	}
	paddr := hostPort(pu)
	nc, err := dial(ctx, "tcp", paddr)
	if err != nil {
		return nil, fmt.Errorf("websocket: failed to dial proxy %s: %w", paddr, err)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if pu.User != nil {
		pw, _ := pu.User.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pu.User.Username()+":"+pw)))
	}
	if err := req.Write(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: failed to send CONNECT to proxy %s: %w", paddr, err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: failed to read proxy %s response: %w", paddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		nc.Close()
		return nil, fmt.Errorf("websocket: proxy %s refused CONNECT to %s: %s", paddr, addr, resp.Status)
	}
	// What follows a 2xx answer to CONNECT is the tunnel: its
	// Content-Length or Transfer-Encoding must be ignored (RFC 9110,
	// section 9.3.6), so the body is not read (that would wait for bytes
	// the target server does not send before the handshake).
	if br.Buffered() > 0 {
		nc.Close()
		return nil, fmt.Errorf("websocket: proxy %s sent data before the tunnel was used", paddr)
	}
	return nc, nil
}

// clientHandshake sends the opening handshake on nc and checks the answer.
func clientHandshake(nc net.Conn, u *url.URL, opts *DialOptions) (*Conn, *http.Response, error) {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])

	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
		Host:       u.Host,
	}
	if req.URL.Path == "" {
		req.URL.Path = "/"
	}
	for k, vs := range opts.HTTPHeader {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if opts.Compression.Mode != CompressionDisabled {
		req.Header.Set("Sec-WebSocket-Extensions", clientOffer(opts.Compression))
	}
	if err := req.Write(nc); err != nil {
		return nil, nil, fmt.Errorf("websocket: failed to send handshake request: %w", err)
	}

	br := bufio.NewReaderSize(nc, readBufferSize)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: failed to read handshake response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			return nil, resp, fmt.Errorf("websocket: server redirected to %s (%s); redirects are not followed", loc, resp.Status)
		}
		return nil, resp, fmt.Errorf("websocket: server refused the handshake: %s", resp.Status)
	}
	fail := func(format string, args ...any) (*Conn, *http.Response, error) {
		return nil, resp, fmt.Errorf("websocket: bad handshake response: "+format, args...)
	}
	if !resp.ProtoAtLeast(1, 1) {
		return fail("protocol is %s, want HTTP/1.1 or later", resp.Proto)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return fail("Upgrade header is %q", resp.Header.Get("Upgrade"))
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return fail("Connection header is %q", resp.Header.Get("Connection"))
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return fail("Sec-WebSocket-Accept is %q, want %q", got, acceptKey(key))
	}
	proto, cp, err := checkNegotiation(resp, opts)
	if err != nil {
		return nil, resp, err
	}
	var buffered []byte
	if n := br.Buffered(); n > 0 {
		buffered, _ = br.Peek(n)
	}
	c := newConn(connConfig{
		nc:           nc,
		client:       true,
		subprotocol:  proto,
		buffered:     buffered,
		readLimit:    opts.ReadLimit,
		compress:     cp,
		compressMin:  opts.Compression.threshold(),
		pingInterval: opts.PingInterval,
		pingTimeout:  opts.PingTimeout,
	})
	return c, resp, nil
}

// checkNegotiation checks the subprotocol and extensions of a handshake
// response against the client's offer and returns what was agreed.
func checkNegotiation(resp *http.Response, opts *DialOptions) (string, compressParams, error) {
	proto := resp.Header.Get("Sec-WebSocket-Protocol")
	if proto != "" && selectSubprotocol([]string{proto}, opts.Subprotocols) != proto {
		return "", compressParams{}, fmt.Errorf("websocket: bad handshake response: server chose subprotocol %q, which was not offered", proto)
	}
	cp, err := negotiateClient(opts.Compression, resp.Header.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		return "", compressParams{}, fmt.Errorf("websocket: bad handshake response: %v", err)
	}
	return proto, cp, nil
}
