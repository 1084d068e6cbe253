package engineio

import (
	"crypto/tls"
	"encoding/binary"
	"net/http"
	"net/url"
)

// handshakeRequest is what a session keeps of its handshake request, for
// [Socket.Request], [Socket.Header] and [Socket.RemoteAddr]: the fields
// net/http set, with the header packed into one buffer instead of
// net/http's map (a map, its slices and one string per value cost an idle
// session three times the bytes of the header itself). The strings and the
// URL are the request's own, which net/http leaves alone once the handler
// has returned; nothing refers to the request itself, its context or its
// body, so nothing of net/http's connection stays reachable.
type handshakeRequest struct {
	method     string
	url        *url.URL
	proto      string
	protoMajor int32
	protoMinor int32
	host       string
	remoteAddr string
	requestURI string
	tls        *tls.ConnectionState
	header     []byte // see packHeader
}

// keepRequest returns what a session keeps of r.
func keepRequest(r *http.Request) handshakeRequest {
	return handshakeRequest{
		method:     r.Method,
		url:        r.URL,
		proto:      r.Proto,
		protoMajor: int32(r.ProtoMajor),
		protoMinor: int32(r.ProtoMinor),
		host:       r.Host,
		remoteAddr: r.RemoteAddr,
		requestURI: r.RequestURI,
		tls:        r.TLS,
		header:     packHeader(r.Header),
	}
}

// request returns a new request equal to the kept one, with an empty
// body and the background context.
func (h *handshakeRequest) request() *http.Request {
	u := new(url.URL)
	if h.url != nil {
		*u = *h.url
		if h.url.User != nil {
			user := *h.url.User
			u.User = &user
		}
	}
	return &http.Request{
		Method:     h.method,
		URL:        u,
		Proto:      h.proto,
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
	if h.url == nil {
		return ""
	}
	return h.url.Query().Get(key)
}

// packHeader packs h into one buffer: for each key (in the map's order),
// the key's length, the key, the number of values, and each value's length
// and the value, lengths as uvarints. Keys and values are kept byte for
// byte (canonical or not), a key with no value too, so unpackHeader
// returns a header equal to h.
func packHeader(h http.Header) []byte {
	if h == nil {
		return nil
	}
	n := 0
	for k, vs := range h {
		n += uvarintLen(len(k)) + len(k) + uvarintLen(len(vs))
		for _, v := range vs {
			n += uvarintLen(len(v)) + len(v)
		}
	}
	b := make([]byte, 0, n)
	for k, vs := range h {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// unpackHeader returns the header packHeader packed into b: a new map
// whose values share one backing array, as net/http's do.
func unpackHeader(b []byte) http.Header {
	if b == nil {
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
		key := string(p[:k])
		p = p[k:]
		nv, p = uvarint(p)
		start := len(all)
		for range nv {
			var l uint64
			l, p = uvarint(p)
			all = append(all, string(p[:l]))
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
func uvarint(p []byte) (uint64, []byte) {
	v, n := binary.Uvarint(p)
	return v, p[n:]
}
