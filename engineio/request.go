package engineio

import (
	"crypto/tls"
	"encoding/binary"
	"net/http"
	"net/url"
	"strings"
)

// handshakeRequest is what a session keeps of its handshake request, for
// [Socket.Request], [Socket.Header] and [Socket.RemoteAddr]: the strings
// net/http parsed (method, protocol, host, remote address, request URI)
// and the header packed into one string, instead of net/http's header map
// (a map, its slices and one string per value cost an idle session three
// times the bytes of the header itself) and the request line they were
// cut from; the URL only when it is not what parsing the request URI gives
// (a handler before the engine changed it); the TLS state, as net/http
// made it. Nothing refers to the request, its context or its body, so
// nothing of net/http's connection stays reachable.
type handshakeRequest struct {
	packed     string   // see packRequest
	url        *url.URL // nil: parse the request URI
	tls        *tls.ConnectionState
	protoMajor uint8
	protoMinor uint8
}

// The strings at the start of handshakeRequest.packed, in order.
const (
	reqMethod = iota
	reqProto
	reqHost
	reqRemoteAddr
	reqURI
	reqStrings // the header follows
)

// keepRequest returns what a session keeps of r.
func keepRequest(r *http.Request) handshakeRequest {
	h := handshakeRequest{
		packed:     packRequest(r),
		url:        r.URL,
		tls:        r.TLS,
		protoMajor: uint8(r.ProtoMajor),
		protoMinor: uint8(r.ProtoMinor),
	}
	if r.URL != nil {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && *u == *r.URL {
			h.url = nil
		}
	}
	return h
}

// field returns the packed string i (reqMethod, ...).
func (h *handshakeRequest) field(i int) string {
	p := h.packed
	for range i {
		_, p = unpackString(p)
	}
	f, _ := unpackString(p)
	return f
}

// request returns a new request equal to the kept one, with an empty
// body and the background context.
func (h *handshakeRequest) request() *http.Request {
	var f [reqStrings]string
	p := h.packed
	for i := range f {
		f[i], p = unpackString(p)
	}
	u := new(url.URL)
	switch {
	case h.url != nil:
		*u = *h.url
		if h.url.User != nil {
			user := *h.url.User
			u.User = &user
		}
	default:
		// It parsed when the request came.
		u, _ = url.ParseRequestURI(f[reqURI])
	}
	return &http.Request{
		Method:     f[reqMethod],
		URL:        u,
		Proto:      f[reqProto],
		ProtoMajor: int(h.protoMajor),
		ProtoMinor: int(h.protoMinor),
		Header:     unpackHeader(p),
		Body:       http.NoBody,
		Host:       f[reqHost],
		RemoteAddr: f[reqRemoteAddr],
		RequestURI: f[reqURI],
		TLS:        h.tls,
	}
}

// header returns the header of the kept request.
func (h *handshakeRequest) header() http.Header {
	p := h.packed
	for range reqStrings {
		_, p = unpackString(p)
	}
	return unpackHeader(p)
}

// packRequest packs r's method, protocol, host, remote address and request
// URI (each as appendString writes it) and its header (see packHeader)
// into one string.
func packRequest(r *http.Request) string {
	strs := [reqStrings]string{reqMethod: r.Method, reqProto: r.Proto, reqHost: r.Host, reqRemoteAddr: r.RemoteAddr, reqURI: r.RequestURI}
	n := headerLen(r.Header)
	for _, s := range strs {
		n += stringLen(s)
	}
	var b strings.Builder // one allocation of n bytes, kept as the string
	b.Grow(n)
	for _, s := range strs {
		appendString(&b, s)
	}
	appendHeader(&b, r.Header)
	return b.String()
}

// packHeader packs h into one string: for each key (in the map's order),
// the key, the number of values (a uvarint), and each value, keys and
// values as appendString writes them. Keys and values are kept byte for
// byte (canonical or not), a key with no value too, so unpackHeader
// returns a header equal to h. A nil header packs into "\x00" (one key of
// no length: no key is empty), an empty one into "".
func packHeader(h http.Header) string {
	var b strings.Builder
	b.Grow(headerLen(h))
	appendHeader(&b, h)
	return b.String()
}

// headerLen returns the length of h packed.
func headerLen(h http.Header) int {
	if h == nil {
		return 1
	}
	n := 0
	for k, vs := range h {
		n += stringLen(k) + uvarintLen(len(vs))
		for _, v := range vs {
			n += stringLen(v)
		}
	}
	return n
}

// appendHeader appends h packed to b.
func appendHeader(b *strings.Builder, h http.Header) {
	if h == nil {
		b.WriteByte(0)
		return
	}
	for k, vs := range h {
		appendString(b, k)
		appendUvarint(b, len(vs))
		for _, v := range vs {
			appendString(b, v)
		}
	}
}

// wellKnown are strings that the handshakes of Engine.IO and Socket.IO
// clients (browsers, Node's socket.io-client and ws, Go's) commonly carry:
// methods, protocols, request URIs, header names and values. Packed, each
// of the first 64 is one byte, its index, instead of its bytes: the names
// and values every client sends alike are most of a handshake's header,
// and each session keeps its packed request for as long as it lives (a
// Go client's handshake packs into 75 bytes instead of 224, a browser's
// into 302 instead of 598; TestPackedRequestSize). Packing is local to
// the process: the list may change between versions.
var wellKnown = [...]string{
	// Every WebSocket handshake.
	"GET", "HTTP/1.1", "Upgrade", "Connection", "websocket",
	"Sec-Websocket-Key", "Sec-Websocket-Version", "13",
	"Sec-Websocket-Extensions", "permessage-deflate; client_max_window_bits",
	"User-Agent", "/socket.io/?EIO=4&transport=websocket",
	"/socket.io/?EIO=4&transport=polling", "HTTP/2.0",
	"Go-http-client/1.1",
	// Browsers.
	"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control",
	"Pragma", "no-cache", "Origin", "Cookie", "gzip, deflate, br, zstd",
	"gzip, deflate, br", "gzip, deflate", "*/*", "keep-alive, Upgrade",
	"keep-alive", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
	"empty", "cors", "same-origin", "same-site", "cross-site",
	"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "?0",
	`"Windows"`, `"macOS"`, `"Linux"`, `"Android"`, "Referer", "Dnt", "1",
	"Priority",
	// Proxies and other clients.
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip",
	"Forwarded", "https", "http", "Authorization",
	"Sec-Websocket-Protocol", "permessage-deflate",
	"/socket.io/?EIO=3&transport=websocket",
	"/socket.io/?EIO=3&transport=polling",
	"/engine.io/?EIO=4&transport=websocket",
	"/engine.io/?EIO=4&transport=polling",
}

// wellKnownIndex is the index of each string in wellKnown.
var wellKnownIndex = func() map[string]int {
	m := make(map[string]int, len(wellKnown))
	for i, s := range wellKnown {
		if _, dup := m[s]; dup {
			panic("engineio: " + s + " is twice in wellKnown")
		}
		m[s] = i
	}
	return m
}()

// appendString appends s to b: a uvarint, twice the index plus one of a
// string in wellKnown, else twice the length of s followed by s.
func appendString(b *strings.Builder, s string) {
	if i, ok := wellKnownIndex[s]; ok {
		appendUvarint(b, 2*i+1)
		return
	}
	appendUvarint(b, 2*len(s))
	b.WriteString(s)
}

// stringLen returns the length of s as appendString writes it.
func stringLen(s string) int {
	if i, ok := wellKnownIndex[s]; ok {
		return uvarintLen(2*i + 1)
	}
	return uvarintLen(2*len(s)) + len(s)
}

// unpackString returns the string appendString wrote at the start of p,
// and the rest of p.
func unpackString(p string) (string, string) {
	x, p := uvarint(p)
	if x&1 == 1 {
		return wellKnown[x>>1], p
	}
	l := x >> 1
	return p[:l], p[l:]
}

// appendUvarint appends n as a uvarint to b.
func appendUvarint(b *strings.Builder, n int) {
	var tmp [binary.MaxVarintLen64]byte
	b.Write(binary.AppendUvarint(tmp[:0], uint64(n)))
}

// unpackHeader returns the header packHeader packed into b: a new map
// whose values share one backing array, as net/http's do, and whose keys
// and values are substrings of b.
func unpackHeader(b string) http.Header {
	if b == "\x00" {
		return nil
	}
	keys, values := 0, 0
	for p := b; len(p) > 0; {
		var nv uint64
		_, p = unpackString(p)
		nv, p = uvarint(p)
		keys++
		for range nv {
			_, p = unpackString(p)
			values++
		}
	}
	h := make(http.Header, keys)
	all := make([]string, 0, values)
	for p := b; len(p) > 0; {
		var key string
		var nv uint64
		key, p = unpackString(p)
		nv, p = uvarint(p)
		start := len(all)
		for range nv {
			var v string
			v, p = unpackString(p)
			all = append(all, v)
		}
		h[key] = all[start:len(all):len(all)]
	}
	return h
}

// uvarintLen returns the length of n as a uvarint.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// uvarint reads a uvarint written by appendUvarint at the start of p.
func uvarint(p string) (uint64, string) {
	var v uint64
	for i := 0; i < len(p); i++ {
		c := p[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, p[i+1:]
		}
	}
	return v, ""
}
