package engineio

import (
	"crypto/tls"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// handshakeRequest is what a session keeps of its handshake request, for
// [Socket.Request], [Socket.Header] and [Socket.RemoteAddr]: the fields
// net/http set, with the header packed into one buffer instead of
// net/http's map (a map, its slices and one string per value cost an idle
// session three times the bytes of the header itself), and the URL only
// when it is not what parsing RequestURI gives (a handler before the
// engine changed it). The strings are the request's own, which net/http
// leaves alone once the handler has returned; nothing refers to the
// request itself, its context or its body, so nothing of net/http's
// connection stays reachable.
type handshakeRequest struct {
	method     string
	requestURI string
	url        *url.URL // nil: parse requestURI
	host       string
	remoteAddr string
	tls        *tls.ConnectionState
	header     string // see packHeader
	protoMajor uint8
	protoMinor uint8
	proto      string // "" when it is "HTTP/major.minor"
}

// keepRequest returns what a session keeps of r.
func keepRequest(r *http.Request) handshakeRequest {
	h := handshakeRequest{
		method:     r.Method,
		requestURI: r.RequestURI,
		url:        r.URL,
		host:       r.Host,
		remoteAddr: r.RemoteAddr,
		tls:        r.TLS,
		header:     packHeader(r.Header),
		protoMajor: uint8(r.ProtoMajor),
		protoMinor: uint8(r.ProtoMinor),
		proto:      r.Proto,
	}
	if r.URL != nil {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && *u == *r.URL {
			h.url = nil
		}
	}
	if int(h.protoMajor) == r.ProtoMajor && int(h.protoMinor) == r.ProtoMinor && r.Proto == protoString(r.ProtoMajor, r.ProtoMinor) {
		h.proto = ""
	}
	return h
}

// protoString returns "HTTP/major.minor".
func protoString(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "HTTP/1.1"
	case major == 2 && minor == 0:
		return "HTTP/2.0"
	}
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// request returns a new request equal to the kept one, with an empty
// body and the background context.
func (h *handshakeRequest) request() *http.Request {
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
		u, _ = url.ParseRequestURI(h.requestURI)
	}
	proto := h.proto
	if proto == "" {
		proto = protoString(int(h.protoMajor), int(h.protoMinor))
	}
	return &http.Request{
		Method:     h.method,
		URL:        u,
		Proto:      proto,
		ProtoMajor: int(h.protoMajor),
		ProtoMinor: int(h.protoMinor),
		Header:     unpackHeader(h.header),
		Body:       http.NoBody,
		Host:       h.host,
		RemoteAddr: h.remoteAddr,
		RequestURI: h.requestURI,
		TLS:        h.tls,
	}
}

// query returns the value of the handshake URL's query parameter key.
func (h *handshakeRequest) query(key string) string {
	return h.request().URL.Query().Get(key)
}

// packHeader packs h into one buffer: for each key (in the map's order),
// the key's length, the key, the number of values, and each value's length
// and the value, lengths as uvarints. Keys and values are kept byte for
// byte (canonical or not), a key with no value too, so unpackHeader
// returns a header equal to h.
// A nil header packs into "\x00" (one key of no length: no key is empty),
// an empty one into "".
func packHeader(h http.Header) string {
	if h == nil {
		return "\x00"
	}
	n := 0
	for k, vs := range h {
		n += uvarintLen(len(k)) + len(k) + uvarintLen(len(vs))
		for _, v := range vs {
			n += uvarintLen(len(v)) + len(v)
		}
	}
	var b strings.Builder // one allocation of n bytes, kept as the string
	b.Grow(n)
	var tmp [binary.MaxVarintLen64]byte
	uvarint := func(n int) { b.Write(binary.AppendUvarint(tmp[:0], uint64(n))) }
	for k, vs := range h {
		uvarint(len(k))
		b.WriteString(k)
		uvarint(len(vs))
		for _, v := range vs {
			uvarint(len(v))
			b.WriteString(v)
		}
	}
	return b.String()
}

// unpackHeader returns the header packHeader packed into b: a new map
// whose values share one backing array, as net/http's do.
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

// uvarint reads a uvarint that packHeader wrote at the start of p.
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
