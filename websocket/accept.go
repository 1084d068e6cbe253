package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// AcceptOptions configures [Accept]. The zero value is ready to use: no
// subprotocols, same-origin requests only, no compression, a 16 MiB read
// limit and no heartbeat.
type AcceptOptions struct {
	// Subprotocols lists the subprotocols the server speaks, in order of
	// preference. The first one the client also offers is chosen.
	Subprotocols []string

	// OriginPatterns lists the origins allowed besides the request's own
	// host. A pattern without "://" is matched against the Origin's host
	// (with port), one with "://" against the whole Origin; both use
	// [path.Match] syntax, case-insensitively: "example.com",
	// "*.example.com", "https://app.example.com".
	OriginPatterns []string

	// InsecureSkipVerify accepts any Origin. Don't set it for servers that
	// browsers reach with credentials: any site could then act as the user
	// (Cross-Site WebSocket Hijacking).
	InsecureSkipVerify bool

	// Compression configures permessage-deflate.
	Compression CompressionOptions

	// ReadLimit is the largest message the connection reads: 0 means
	// [DefaultReadLimit], a negative value means no limit.
	ReadLimit int64

	// PingInterval, when positive, makes the connection ping a peer that
	// has sent nothing for that long, and close it when nothing arrives
	// within PingTimeout (0 means PingInterval) after the ping.
	PingInterval time.Duration
	PingTimeout  time.Duration

	// WriteTimeout bounds writing the handshake response; 0 means 10 s.
	WriteTimeout time.Duration
}

// HandshakeError is the error [Accept] returns for a request it refused,
// with the HTTP status it answered with.
type HandshakeError struct {
	Status int
	Reason string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket: refused handshake (%d %s): %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// Accept checks an opening handshake (RFC 6455, section 4.2), answers it
// and returns the connection. If the request is not an acceptable
// WebSocket handshake, Accept writes an HTTP error response itself (400 for
// a malformed request, 403 for a refused Origin, 405 for a method other
// than GET, 426 for a missing upgrade or unsupported version) and returns a
// [*HandshakeError].
//
// Headers set on w before the call (cookies, say) are sent with the
// response.
//
// Over HTTP/2, Accept takes an extended CONNECT (RFC 8441: method CONNECT,
// :protocol websocket, Sec-WebSocket-Version 13, no key), answers 200 and
// returns a connection over the request's stream, which behaves as one over
// HTTP/1.1; any other HTTP/2 request is refused with 400 (426 would need
// an Upgrade header, which HTTP/2 forbids). Browsers use it when the
// server's HTTP/2 connection advertises it, which net/http does only when
// the program starts with GODEBUG=http2xconnect=1 in its environment (see
// [ExtendedConnectEnabled]). net/http ends the stream when the handler
// returns: the handler of a request with r.ProtoMajor == 2 must not return
// before the connection is closed, so it waits for [Conn.Done] (over
// HTTP/1.1 the connection is taken from net/http and the handler may
// return at once).
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	key, err := checkAccept(w, r, opts)
	if err != nil {
		return nil, err
	}
	proto := selectSubprotocol(r.Header.Values("Sec-WebSocket-Protocol"), opts.Subprotocols)
	cp, extResp := negotiateServer(opts.Compression, r.Header.Values("Sec-WebSocket-Extensions"))
	if isHTTP2(r) {
		return acceptHTTP2(w, r, opts, proto, extResp, cp)
	}

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: connection cannot be upgraded", http.StatusInternalServerError)
		return nil, fmt.Errorf("websocket: failed to hijack connection: %w", err)
	}
	// Drop the deadlines net/http may have set for reading the request.
	nc.SetDeadline(time.Time{})

	bp := getBuffer()
	b := appendResponse((*bp)[:0], key, proto, extResp, w.Header())
	wt := opts.WriteTimeout
	if wt == 0 {
		wt = 10 * time.Second
	}
	nc.SetWriteDeadline(time.Now().Add(wt))
	_, err = nc.Write(b)
	*bp = b[:0]
	putBuffer(bp)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: failed to write handshake response: %w", err)
	}
	nc.SetWriteDeadline(time.Time{})

	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	return newConn(connConfig{
		nc:           nc,
		subprotocol:  proto,
		buffered:     buffered,
		readLimit:    opts.ReadLimit,
		compress:     cp,
		compressMin:  opts.Compression.threshold(),
		pingInterval: opts.PingInterval,
		pingTimeout:  opts.PingTimeout,
	}), nil
}

// checkAccept checks opts and the handshake request, answers a refused
// request with its HTTP error, and returns the client's key.
//
// It is a function of its own (as is appendResponse) so that its locals
// are not on the stack while Accept hijacks the connection and writes the
// response: a handler goroutine that stays in the connection's read loop
// keeps the stack its deepest call needed, and on top of net/http's own
// frames Accept must stay within 4 KiB for that to be the smallest stack
// the runtime keeps for an idle connection.
//
//go:noinline
func checkAccept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (string, error) {
	if err := opts.Compression.validate(); err != nil {
		http.Error(w, "server misconfigured", http.StatusInternalServerError)
		return "", err
	}
	var key string
	var herr *HandshakeError
	if isHTTP2(r) {
		herr = checkExtendedConnect(r)
		if herr != nil {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
	} else {
		key, herr = checkHandshake(r)
	}
	if herr == nil && !opts.InsecureSkipVerify {
		herr = checkOrigin(r, opts.OriginPatterns)
	}
	if herr != nil {
		switch herr.Status {
		case http.StatusUpgradeRequired:
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Sec-WebSocket-Version", "13")
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodGet)
		}
		http.Error(w, herr.Reason, herr.Status)
		return "", herr
	}
	return key, nil
}

// appendResponse appends the 101 response to b: the accept key, the
// subprotocol and extensions chosen, and the headers set on the
// ResponseWriter.
//
//go:noinline
func appendResponse(b []byte, key, proto, extResp string, header http.Header) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = appendAcceptKey(b, key)
	b = append(b, "\r\n"...)
	if proto != "" {
		b = append(b, "Sec-WebSocket-Protocol: "+proto+"\r\n"...)
	}
	if extResp != "" {
		b = append(b, "Sec-WebSocket-Extensions: "+extResp+"\r\n"...)
	}
	for k, vs := range header {
		for _, v := range vs {
			if validHeaderValue(k) && validHeaderValue(v) {
				b = append(b, k+": "+v+"\r\n"...)
			}
		}
	}
	return append(b, "\r\n"...)
}

// checkHandshake checks the request line and headers of an opening
// handshake and returns the client's key.
func checkHandshake(r *http.Request) (string, *HandshakeError) {
	if r.Method != http.MethodGet {
		return "", &HandshakeError{http.StatusMethodNotAllowed, "WebSocket handshake must use GET"}
	}
	if !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
		return "", &HandshakeError{http.StatusBadRequest, "WebSocket handshake needs HTTP/1.1"}
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "", &HandshakeError{http.StatusUpgradeRequired, "WebSocket handshake needs Connection: Upgrade and Upgrade: websocket"}
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
		return "", &HandshakeError{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version: only 13 is spoken"}
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", &HandshakeError{http.StatusBadRequest, "WebSocket handshake needs exactly one Sec-WebSocket-Key"}
	}
	key := strings.TrimSpace(keys[0])
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return "", &HandshakeError{http.StatusBadRequest, "Sec-WebSocket-Key is not 16 bytes in base64"}
	}
	return key, nil
}

// checkOrigin allows requests without an Origin (not from a browser), from
// the request's own host, and from origins matching patterns.
func checkOrigin(r *http.Request, patterns []string) *HandshakeError {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return &HandshakeError{http.StatusForbidden, fmt.Sprintf("malformed Origin %q", origin)}
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = origin
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return &HandshakeError{http.StatusForbidden, fmt.Sprintf("Origin %q is not allowed for host %q", origin, r.Host)}
}

// selectSubprotocol returns the first of the server's subprotocols the
// client offers.
func selectSubprotocol(offered []string, supported []string) string {
	for _, s := range supported {
		for _, v := range offered {
			for _, o := range strings.Split(v, ",") {
				if strings.TrimSpace(o) == s {
					return s
				}
			}
		}
	}
	return ""
}

// headerHasToken reports whether the comma-separated header name contains
// token, ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// validHeaderValue rejects strings that would break the response framing.
func validHeaderValue(s string) bool { return !strings.ContainsAny(s, "\r\n") }

// keyGUID is the GUID RFC 6455 appends to the client's key.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a client key.
func acceptKey(key string) string {
	return string(appendAcceptKey(nil, key))
}

// appendAcceptKey appends Sec-WebSocket-Accept for a client key to b. A
// key of the usual 24 characters is hashed without allocating, which keeps
// Accept's deepest call shallow (see checkAccept).
func appendAcceptKey(b []byte, key string) []byte {
	var in [24 + len(keyGUID)]byte
	var sum [sha1.Size]byte
	if len(key) == 24 {
		copy(in[copy(in[:], key):], keyGUID)
		sum = sha1.Sum(in[:])
	} else {
		sum = sha1.Sum([]byte(key + keyGUID))
	}
	return base64.StdEncoding.AppendEncode(b, sum[:])
}

var errBadScheme = errors.New("websocket: URL scheme must be ws, wss, http or https")
