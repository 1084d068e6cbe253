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
		var l uint64
		l, p = uvarint(p)
		p = p[l:]
	}
	l, p := uvarint(p)
	return p[:l]
}

// request returns a new request equal to the kept one, with an empty
// body and the background context.
func (h *handshakeRequest) request() *http.Request {
	var f [reqStrings]string
	p := h.packed
	for i := range f {
		var l uint64
		l, p = uvarint(p)
		f[i], p = p[:l], p[l:]
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
		var l uint64
		l, p = uvarint(p)
		p = p[l:]
	}
	return unpackHeader(p)
}

// packRequest packs r's method, protocol, host, remote address and request
// URI (each as its length, a uvarint, and its bytes) and its header (see
// packHeader) into one string.
func packRequest(r *http.Request) string {
	strs := [reqStrings]string{reqMethod: r.Method, reqProto: r.Proto, reqHost: r.Host, reqRemoteAddr: r.RemoteAddr, reqURI: r.RequestURI}
	n := headerLen(r.Header)
	for _, s := range strs {
		n += uvarintLen(len(s)) + len(s)
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
// the key's length, the key, the number of values, and each value's length
// and the value, lengths as uvarints. Keys and values are kept byte for
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
		n += uvarintLen(len(k)) + len(k) + uvarintLen(len(vs))
		for _, v := range vs {
			n += uvarintLen(len(v)) + len(v)
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

// appendString appends the length of s, as a uvarint, and s to b.
func appendString(b *strings.Builder, s string) {
	appendUvarint(b, len(s))
	b.WriteString(s)
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
		var k, nv uint64
		k, p = uvarint(p)
		p = p[k:]
		nv, p = uvarint(p)
		keys++
		for range nv {
			var l uint64
			l, p = uvarint(p)
			p = p[l:]
			values++
		}
	}
	h := make(http.Header, keys)
	all := make([]string, 0, values)
	for p := b; len(p) > 0; {
		var k, nv uint64
		k, p = uvarint(p)
		key := p[:k]
		p = p[k:]
		nv, p = uvarint(p)
		start := len(all)
		for range nv {
			var l uint64
			l, p = uvarint(p)
			all = append(all, p[:l])
			p = p[l:]
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
