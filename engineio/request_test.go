package engineio

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestPackHeader(t *testing.T) {
	long := strings.Repeat("v", 300) // a length of two uvarint bytes
	for _, h := range []http.Header{
		nil,
		{},
		{"User-Agent": {"Go-http-client/1.1"}},
		// Well-known strings as keys and values where they are not
		// expected, next to their near misses.
		{"13": {"Upgrade", "upgrade", "websocket "}, "Accept": {"1", "http", ""}, "": {"GET"}},
		{
			"X-Many":                 {"a", "", "c"},
			"non-canonical":          {"kept as it is"},
			"X-Empty":                {},
			"X-Long":                 {long},
			strings.Repeat("K", 200): {"é ü \t tab"},
		},
	} {
		b := packHeader(h)
		got := unpackHeader(b)
		if !reflect.DeepEqual(got, h) {
			t.Errorf("unpackHeader(packHeader(%q)) = %q", h, got)
		}
		if len(h) > 0 {
			if n := testing.AllocsPerRun(10, func() { packHeader(h) }); n != 1 {
				t.Errorf("packHeader(%q): %v allocations, want 1", h, n)
			}
			// The map and its table, one array for all the values: no
			// allocation per key or value.
			if n := testing.AllocsPerRun(10, func() { unpackHeader(b) }); n > 3 {
				t.Errorf("unpackHeader: %v allocations, want at most 3", n)
			}
		}
	}
}

// TestRequestKept checks that a session's Request is the handshake request:
// the header, URL, host, remote address, protocol and TLS state that
// net/http parsed, without its body and context, and made anew by each
// call.
func TestRequestKept(t *testing.T) {
	u, err := url.ParseRequestURI("/engine.io/?EIO=4&transport=websocket&x=1&x=2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := (&http.Request{
		Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Upgrade": {"websocket"}, "Cookie": {"a=1", "b=2"}, "X-Forwarded-For": {"10.0.0.1, 10.0.0.2"}},
		Host:   "example.com:8080", RemoteAddr: "192.0.2.1:54321", RequestURI: u.String(),
		TLS: &tls.ConnectionState{ServerName: "example.com"},
	}).WithContext(ctx)
	s := &Socket{req: keepRequest(r)}

	got := s.Request()
	if got.Context() != context.Background() {
		t.Error("Request's context is not the background one")
	}
	if got.Body != http.NoBody {
		t.Errorf("Request's body is %v, want http.NoBody", got.Body)
	}
	want := r.Clone(context.Background())
	want.Body = http.NoBody
	// (A nil context is the background one: compare with it set.)
	if !reflect.DeepEqual(got.WithContext(context.Background()), want) {
		t.Errorf("Request() = %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(s.Header(), r.Header) {
		t.Errorf("Header() = %q, want %q", s.Header(), r.Header)
	}
	if s.RemoteAddr() != r.RemoteAddr {
		t.Errorf("RemoteAddr() = %q", s.RemoteAddr())
	}
	// Each call makes its own: a caller changing one does not change the
	// next.
	got.Header.Set("Upgrade", "changed")
	got.URL.RawQuery = "changed"
	again := s.Request()
	if again.Header.Get("Upgrade") != "websocket" || again.URL.Query().Get("EIO") != "4" || again == got {
		t.Errorf("a second Request() shares the first one's state: %+v", again)
	}
	if r.Header.Get("Upgrade") != "websocket" || r.URL.RawQuery == "changed" {
		t.Error("changing Request() changed the handshake request")
	}
}

// TestRequestKeptURL checks that a URL changed before the engine saw the
// request (by http.StripPrefix, say) is the one Request returns, and that
// an unchanged one is not kept but parsed again from RequestURI.
func TestRequestKeptURL(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "http://example.com/app/engine.io/?EIO=4&transport=polling", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RequestURI = "/app/engine.io/?EIO=4&transport=polling"
	r.URL, _ = url.ParseRequestURI(r.RequestURI)
	if h := keepRequest(r); h.url != nil {
		t.Errorf("an unchanged URL is kept: %v", h.url)
	} else if got := h.request().URL; *got != *r.URL {
		t.Errorf("URL = %#v, want %#v", got, r.URL)
	}
	stripped := *r.URL
	stripped.Path = "/engine.io/"
	r.URL = &stripped
	if got := (&Socket{req: keepRequest(r)}).Request().URL; *got != stripped {
		t.Errorf("URL = %#v, want the changed %#v", got, stripped)
	}
}

// browserRequest is a WebSocket handshake as Chrome sends it.
func browserRequest() *http.Request {
	u, _ := url.ParseRequestURI("/socket.io/?EIO=4&transport=websocket")
	return &http.Request{
		Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Host: "chat.example.com", RemoteAddr: "203.0.113.7:51234", RequestURI: u.String(),
		Header: http.Header{
			"Connection":               {"Upgrade"},
			"Pragma":                   {"no-cache"},
			"Cache-Control":            {"no-cache"},
			"User-Agent":               {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
			"Upgrade":                  {"websocket"},
			"Origin":                   {"https://chat.example.com"},
			"Sec-Websocket-Version":    {"13"},
			"Accept-Encoding":          {"gzip, deflate, br, zstd"},
			"Accept-Language":          {"en-GB,en;q=0.9,fr;q=0.8"},
			"Cookie":                   {"io=ZXhhbXBsZQ; session=0123456789abcdef0123456789abcdef"},
			"Sec-Websocket-Key":        {"dGhlIHNhbXBsZSBub25jZQ=="},
			"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"},
		},
	}
}

// BenchmarkKeepRequest is what a handshake costs to keep its request.
func BenchmarkKeepRequest(b *testing.B) {
	r := browserRequest()
	b.ReportAllocs()
	for b.Loop() {
		_ = keepRequest(r)
	}
}

// BenchmarkRequest is what Socket.Request costs: the request made anew
// from what the session keeps (for socketio, each Socket.Handshake after
// the connection, each socket of a FetchSockets).
func BenchmarkRequest(b *testing.B) {
	s := &Socket{req: keepRequest(browserRequest())}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Request()
	}
}

// goRequest is the handshake of Go's WebSocket client (tether load's) as
// net/http parses it.
func goRequest() *http.Request {
	r := browserRequest()
	r.Host, r.RemoteAddr = "127.0.0.1:18080", "127.0.0.23:40123"
	r.Header = http.Header{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
		"User-Agent":            {"Go-http-client/1.1"},
	}
	return r
}

// TestPackedRequestSize bounds what a session keeps of a typical
// handshake: each idle session holds it for as long as it lives, and the
// names and values every client sends alike are one byte each (wellKnown).
// Before them, the Go client's packed into 224 bytes, the browser's into
// 598.
func TestPackedRequestSize(t *testing.T) {
	for _, c := range []struct {
		name string
		r    *http.Request
		max  int
	}{{"go", goRequest(), 80}, {"browser", browserRequest(), 320}} {
		h := keepRequest(c.r)
		if n := len(h.packed); n > c.max {
			t.Errorf("%s: the request packs into %d bytes, want at most %d", c.name, n, c.max)
		}
		got := (&Socket{req: h}).Request()
		if !reflect.DeepEqual(got.Header, c.r.Header) || got.Method != c.r.Method || got.Proto != c.r.Proto ||
			got.Host != c.r.Host || got.RemoteAddr != c.r.RemoteAddr || got.RequestURI != c.r.RequestURI {
			t.Errorf("%s: the request made from the packed one differs: %+v", c.name, got)
		}
	}
	if len(wellKnown) > 64 {
		t.Errorf("wellKnown has %d strings: those past 64 take two bytes", len(wellKnown))
	}
}

// FuzzPackHeader packs headers made of the fuzzer's strings, well-known
// ones among them, and unpacks them back.
func FuzzPackHeader(f *testing.F) {
	f.Add("Upgrade", "websocket", "X-Other", "value", uint8(3))
	f.Add("", "", "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", uint8(0))
	f.Add(strings.Repeat("k", 70), strings.Repeat("v", 200), "13", "GET", uint8(255))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, n uint8) {
		h := http.Header{k1: {v1, v2}, k2: {}}
		for i := range int(n % 4) {
			h[k2] = append(h[k2], wellKnown[(int(n)+i)%len(wellKnown)], v1)
		}
		if got := unpackHeader(packHeader(h)); !reflect.DeepEqual(got, h) {
			t.Fatalf("unpackHeader(packHeader(%q)) = %q", h, got)
		}
		if got := headerLen(h); got != len(packHeader(h)) {
			t.Fatalf("headerLen = %d, packed %d bytes", got, len(packHeader(h)))
		}
	})
}
