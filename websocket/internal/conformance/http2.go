package conformance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// WebSockets over HTTP/2 (RFC 8441): the same cases, played on a stream of
// an HTTP/2 connection instead of a TCP connection of its own. The peer's
// end of the stream is a net.Conn (h2Conn) whose reads and writes are the
// stream's DATA; what TCP's FIN and RST are to the suite, END_STREAM and
// RST_STREAM are here:
//
//   - a testee server closes the stream first (END_STREAM) once the
//     closing handshake is done; the peer, as a client, waits for it;
//   - a testee client ends its side (END_STREAM) once the handshake is done
//     and waits for the server's; the peer, as a server, waits for the
//     client's end and then ends its own (its handler returns).
//
// Unlike a TCP socket, a stream that the testee has ended refuses further
// writes (net/http's server resets a stream whose request is still being
// sent once its response is complete: RFC 9113, section 8.1). The peer's
// writes then pretend to succeed, as writes to a TCP socket whose peer has
// closed do until the reset comes back: what the peer sends after the
// testee closed is not looked at by any case, and the peer's reads still
// see how the testee ended the stream.

// DialPeerHTTP2 opens a WebSocket over HTTP/2 to the server under test at
// url (https://host/path) through rt, which must be able to send an
// extended CONNECT (golang.org/x/net/http2's Transport can), offering the
// permessage-deflate offers given, and checks the server's answer.
func DialPeerHTTP2(rt http.RoundTripper, url string, offers []Offer) (*Peer, error) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, url, pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(offers) > 0 {
		var s []string
		for _, o := range offers {
			s = append(s, o.header())
		}
		req.Header.Set("Sec-WebSocket-Extensions", strings.Join(s, ", "))
	}
	t := time.AfterFunc(10*time.Second, cancel)
	resp, err := rt.RoundTrip(req)
	if !t.Stop() {
		err = fmt.Errorf("timed out: %v", err)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to send the extended CONNECT: %w", err)
	}
	fail := func(err error) (*Peer, error) {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		return fail(fmt.Errorf("testee answered the extended CONNECT with %s %s", resp.Proto, resp.Status))
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != "" {
		return fail(fmt.Errorf("testee sent Sec-WebSocket-Accept over HTTP/2"))
	}
	var pmd *deflateState
	if exts := resp.Header.Values("Sec-WebSocket-Extensions"); len(exts) > 0 {
		r, err := checkResponse(exts, offers)
		if err != nil {
			return fail(err)
		}
		pmd = newDeflateState(r, true)
	}
	c := &h2Conn{r: resp.Body, w: pw, close: func() {
		pw.CloseWithError(net.ErrClosed)
		resp.Body.Close()
		cancel()
	}}
	return newPeer(c, bufio.NewReader(c), true, pmd), nil
}

// AcceptPeerHTTP2 answers a client's extended CONNECT as a raw server, in
// an HTTP/2 server's handler. accept chooses the permessage-deflate
// response to the client's offers; nil declines compression. The handler
// must then wait for [Peer.Done] before it returns: returning ends the
// stream.
func AcceptPeerHTTP2(w http.ResponseWriter, r *http.Request, accept *Accept) (*Peer, error) {
	switch {
	case r.ProtoMajor != 2 || r.Method != http.MethodConnect || r.Header.Get(":protocol") != "websocket":
		http.Error(w, "not an extended CONNECT", http.StatusBadRequest)
		return nil, fmt.Errorf("bad request %s %s %s, :protocol %q", r.Method, r.URL, r.Proto, r.Header.Get(":protocol"))
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		http.Error(w, "bad version", http.StatusBadRequest)
		return nil, fmt.Errorf("Sec-WebSocket-Version is %q", r.Header.Get("Sec-WebSocket-Version"))
	case r.Header.Get("Sec-WebSocket-Key") != "" || r.Header.Get("Upgrade") != "":
		http.Error(w, "HTTP/1.1 handshake fields", http.StatusBadRequest)
		return nil, fmt.Errorf("client sent HTTP/1.1 handshake fields over HTTP/2: key %q, Upgrade %q", r.Header.Get("Sec-WebSocket-Key"), r.Header.Get("Upgrade"))
	}
	var pmd *deflateState
	if offers := r.Header.Values("Sec-WebSocket-Extensions"); len(offers) > 0 && accept != nil {
		resp, err := accept.respond(offers)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, err
		}
		w.Header().Set("Sec-WebSocket-Extensions", resp.header())
		pmd = newDeflateState(resp, false)
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("failed to send the response: %w", err)
	}
	done := make(chan struct{})
	var once sync.Once
	c := &h2Conn{r: r.Body, w: flushWriter{w, rc}, close: func() { once.Do(func() { close(done) }) }}
	p := newPeer(c, bufio.NewReader(c), false, pmd)
	p.done = done
	return p, nil
}

// Done returns a channel closed when the peer is closed; the handler of
// [AcceptPeerHTTP2] waits for it.
func (p *Peer) Done() <-chan struct{} { return p.done }

// flushWriter writes to an HTTP/2 response and flushes each write.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// h2Conn is the peer's end of a stream. Writes after the testee ended the
// stream are dropped (see above); deadlines are the peer's own timers'
// business, so they are not set on the stream.
type h2Conn struct {
	r     io.Reader
	w     io.Writer
	close func()

	mu     sync.Mutex
	closed bool
}

func (c *h2Conn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (c *h2Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	c.w.Write(b) // an error means that the testee ended the stream: dropped
	return len(b), nil
}

func (c *h2Conn) Close() error {
	c.mu.Lock()
	closed := c.closed
	c.closed = true
	c.mu.Unlock()
	if !closed {
		c.close()
	}
	return nil
}

func (c *h2Conn) LocalAddr() net.Addr              { return nil }
func (c *h2Conn) RemoteAddr() net.Addr             { return nil }
func (c *h2Conn) SetDeadline(time.Time) error      { return nil }
func (c *h2Conn) SetReadDeadline(time.Time) error  { return nil }
func (c *h2Conn) SetWriteDeadline(time.Time) error { return nil }
