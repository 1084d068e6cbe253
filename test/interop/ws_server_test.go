package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tether-rt/tether/websocket"
)

// wsServer is ws_server.mjs, started for a test.
type wsServer struct {
	*nodeProc
	url string // ws://127.0.0.1:port
}

// startWSServer starts Node's ws server with config (see ws_server.mjs).
func startWSServer(t *testing.T, config map[string]any) *wsServer {
	t.Helper()
	p := startNode(t, "ws_server.mjs", mustJSON(t, config))
	port := p.waitFor(t, "listening").Port
	return &wsServer{p, fmt.Sprintf("ws://127.0.0.1:%d", port)}
}

// dial dials with our client, counting the bytes on the wire.
func dial(t *testing.T, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, *countingConn) {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	var cc *countingConn
	opts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc = &countingConn{Conn: c}
		return cc, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, resp, cc
}

// goPayload builds size bytes of a pattern: "repeat" (compressible text),
// "mixed" (UTF-8 text with multi-byte characters) or "random".
func goPayload(pattern string, size int, seed uint64) []byte {
	switch pattern {
	case "repeat":
		return []byte(strings.Repeat("tether interop, again and again. ", size/33+1)[:size])
	case "mixed":
		b := []byte(strings.Repeat("tether ünïcødé ✓ 👋 — ", size/20+1))[:size]
		n := size
		for !utf8.Valid(b[:n]) { // do not end inside a character
			n--
		}
		for i := n; i < size; i++ {
			b[i] = 'x'
		}
		return b
	}
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// roundTrip sends data to the ws echo and reads it back. It returns the
// bytes the message took on the wire each way: to ws (as ws counted them)
// and back (as we counted them).
func roundTrip(t *testing.T, c *websocket.Conn, cc *countingConn, s *wsServer, typ websocket.MessageType, data []byte) (out, in int64) {
	t.Helper()
	in0 := cc.in.Load()
	if err := c.WriteMessage(typ, data); err != nil {
		t.Fatalf("WriteMessage(%s, %d bytes): %v", typ, len(data), err)
	}
	m := s.waitFor(t, "message")
	sum := sha256.Sum256(data)
	if m.GotSize != len(data) || m.Sha != hex.EncodeToString(sum[:]) || m.GotType != typ.String() {
		t.Errorf("ws received %s %d bytes (sha %.12s), want %s %d bytes (sha %.12s)", m.GotType, m.GotSize, m.Sha, typ, len(data), hex.EncodeToString(sum[:]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gotTyp, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read echo of %d bytes: %v", len(data), err)
	}
	if gotTyp != typ || !bytes.Equal(got, data) {
		t.Errorf("echo of %s %d bytes came back as %s %d bytes (equal: %v)", typ, len(data), gotTyp, len(got), bytes.Equal(got, data))
	}
	return m.WireIn, cc.in.Load() - in0
}

// closeWith closes c and checks that ws saw code and reason.
func closeWith(t *testing.T, c *websocket.Conn, s *wsServer, code websocket.StatusCode, reason string) {
	t.Helper()
	if err := c.Close(code, reason); err != nil {
		t.Errorf("Close: %v", err)
	}
	if e := s.waitFor(t, "close"); e.Code != int(code) || e.Reason != reason {
		t.Errorf("ws saw close %d %q, want %d %q", e.Code, e.Reason, code, reason)
	}
}

// TestDialWSServerEcho has our client exchange every size of message with
// Node's ws server, with and without permessage-deflate, whole and
// streamed in fragments.
func TestDialWSServerEcho(t *testing.T) {
	s := startWSServer(t, nil)
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			var pmd any = false
			if deflate {
				pmd = map[string]any{"threshold": 0}
			}
			c, resp, cc := dial(t, s.url+"/echo?pmd="+url.QueryEscape(mustJSON(t, pmd)), &websocket.DialOptions{Compression: compressAll(websocket.CompressionContextTakeover)})
			conn := s.waitFor(t, "connection")
			if c.CompressionNegotiated() != deflate || (conn.Extensions == "permessage-deflate") != deflate {
				t.Errorf("compression negotiated: us %v, ws %q (response %q); want %v",
					c.CompressionNegotiated(), conn.Extensions, resp.Header.Get("Sec-WebSocket-Extensions"), deflate)
			}
			for _, size := range echoSizes {
				roundTrip(t, c, cc, s, websocket.MessageText, goPayload("mixed", size, 0))
				roundTrip(t, c, cc, s, websocket.MessageBinary, goPayload("random", size, uint64(size)))
			}
			out, in := roundTrip(t, c, cc, s, websocket.MessageText, goPayload("repeat", 1<<20, 0))
			if deflate && (out > 64<<10 || in > 64<<10) {
				t.Errorf("1 MiB of repeated text took %d bytes out and %d back: not compressed", out, in)
			}
			if !deflate && (out < 1<<20 || in < 1<<20) {
				t.Errorf("1 MiB took %d bytes out and %d back without compression", out, in)
			}

			// A message streamed in pieces that cut UTF-8 characters.
			msg := goPayload("mixed", 100_000, 0)
			w, err := c.Writer(context.Background(), websocket.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			for p := msg; len(p) > 0; {
				n := min(len(p), 7777)
				if _, err := w.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if m := s.waitFor(t, "message"); m.GotSize != len(msg) || m.GotType != "text" {
				t.Errorf("ws got the streamed message as %s %d bytes, want text %d", m.GotType, m.GotSize, len(msg))
			}
			if _, got, err := c.Read(context.Background()); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("streamed message echo: %d bytes, %v", len(got), err)
			}
			closeWith(t, c, s, websocket.StatusNormalClosure, "done")
		})
	}
}

// TestDialWSServerCompression negotiates permessage-deflate with ws's server
// in each variant and checks from the wire that context takeover and the
// window sizes are what was agreed.
func TestDialWSServerCompression(t *testing.T) {
	type want struct {
		header            string
		shortOut, shortIn bool // a repeated 200-byte message shrinks: us->ws, ws->us
		longOut, longIn   bool // the same with 4 KiB
	}
	ct := compressAll(websocket.CompressionContextTakeover)
	cases := []struct {
		name   string
		client websocket.CompressionOptions
		server map[string]any
		want   want
	}{
		{"context takeover", ct, map[string]any{},
			want{"permessage-deflate", true, true, true, true}},
		{"client no context takeover", compressAll(websocket.CompressionNoContextTakeover), map[string]any{},
			want{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", false, false, false, false}},
		{"server no context takeover", ct, map[string]any{"serverNoContextTakeover": true, "clientNoContextTakeover": true},
			want{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", false, false, false, false}},
		{"server asks client no context takeover", ct, map[string]any{"clientNoContextTakeover": true},
			want{"permessage-deflate; client_no_context_takeover", false, true, false, true}},
		{"server window bits", ct, map[string]any{"serverMaxWindowBits": 10, "clientMaxWindowBits": 9},
			want{"permessage-deflate; client_max_window_bits=9; server_max_window_bits=10", true, true, false, false}},
		{"client window bits 8", ct, map[string]any{"clientMaxWindowBits": 8},
			want{"permessage-deflate; client_max_window_bits=8", true, true, false, true}},
		{"client asks server window", websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1, ServerMaxWindowBits: 9}, map[string]any{},
			want{"permessage-deflate; server_max_window_bits=9", true, true, true, false}},
		// zlib cannot deflate with an 8-bit window: Node uses 9 bits for
		// what ws sends, more than agreed. Our inflater takes it.
		{"client asks server window 8", websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1, ServerMaxWindowBits: 8}, map[string]any{},
			want{"permessage-deflate; server_max_window_bits=8", true, true, true, false}},
		{"client's own window", websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1, ClientMaxWindowBits: 10}, map[string]any{},
			want{"permessage-deflate", true, true, false, true}},
	}
	s := startWSServer(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pmd := map[string]any{"threshold": 0}
			for k, v := range tc.server {
				pmd[k] = v
			}
			c, resp, cc := dial(t, s.url+"/echo?pmd="+url.QueryEscape(mustJSON(t, pmd)), &websocket.DialOptions{Compression: tc.client})
			conn := s.waitFor(t, "connection")
			if h := resp.Header.Get("Sec-WebSocket-Extensions"); h != tc.want.header || !c.CompressionNegotiated() {
				t.Errorf("negotiated %q (offer %q, compression %v), want %q", h, conn.Offer, c.CompressionNegotiated(), tc.want.header)
			}
			shrinks := func(size int, seed uint64) (out, in bool) {
				data := goPayload("random", size, seed)
				roundTrip(t, c, cc, s, websocket.MessageBinary, data)
				o, i := roundTrip(t, c, cc, s, websocket.MessageBinary, data)
				return o < int64(size/2), i < int64(size/2)
			}
			if out, in := shrinks(200, 7); out != tc.want.shortOut || in != tc.want.shortIn {
				t.Errorf("repeated 200-byte message shrank: us->ws %v, ws->us %v; want %v, %v (context takeover)", out, in, tc.want.shortOut, tc.want.shortIn)
			}
			if out, in := shrinks(4096, 9); out != tc.want.longOut || in != tc.want.longIn {
				t.Errorf("repeated 4 KiB message shrank: us->ws %v, ws->us %v; want %v, %v (window size)", out, in, tc.want.longOut, tc.want.longIn)
			}
			if out, in := roundTrip(t, c, cc, s, websocket.MessageText, goPayload("repeat", 1<<20, 0)); out > 64<<10 || in > 64<<10 {
				t.Errorf("1 MiB of repeated text took %d bytes out and %d back: not compressed", out, in)
			}
			for _, size := range []int{0, 125, 126, 65536} {
				roundTrip(t, c, cc, s, websocket.MessageText, goPayload("mixed", size, 0))
				roundTrip(t, c, cc, s, websocket.MessageBinary, goPayload("random", size, 3))
			}
			closeWith(t, c, s, websocket.StatusNormalClosure, "")
		})
	}
}

// TestDialWSServer covers the handshake and control frames against ws's
// server: close codes both ways, pings, subprotocols, headers, redirects.
func TestDialWSServer(t *testing.T) {
	s := startWSServer(t, map[string]any{"perMessageDeflate": false, "protocols": []string{"v1.tether", "v2.tether"}, "maxPayload": 64 << 10})

	t.Run("client closes", func(t *testing.T) {
		c, _, cc := dial(t, s.url+"/echo", nil)
		s.waitFor(t, "connection")
		roundTrip(t, c, cc, s, websocket.MessageText, []byte("hello"))
		closeWith(t, c, s, 4003, "bye from go ✓")
	})

	t.Run("server closes", func(t *testing.T) {
		reason := "bye from ws"
		c, _, _ := dial(t, s.url+"/close?code=4002&reason="+strings.ReplaceAll(reason, " ", "%20"), nil)
		s.waitFor(t, "connection")
		if err := c.WriteMessage(websocket.MessageText, []byte("close me")); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.Read(context.Background())
		if code, got := closeCode(t, err); code != 4002 || got != reason {
			t.Errorf("our client saw close %d %q, want 4002 %q", code, got, reason)
		}
		if e := s.waitFor(t, "close"); e.Code != 4002 {
			t.Errorf("ws saw close %d back, want 4002", e.Code)
		}
	})

	t.Run("ws read limit", func(t *testing.T) {
		c, _, _ := dial(t, s.url+"/echo", nil)
		s.waitFor(t, "connection")
		if err := c.WriteMessage(websocket.MessageBinary, make([]byte, 64<<10+1)); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.Read(context.Background())
		if code, _ := closeCode(t, err); code != websocket.StatusMessageTooBig {
			t.Errorf("our client saw close %d, want 1009 from ws", code)
		}
		if e := s.waitFor(t, "error"); !strings.Contains(e.Message, "Max payload") {
			t.Errorf("ws error %q, want Max payload size exceeded", e.Message)
		}
		// ws fails the connection: it stops reading once its close frame
		// is out, so it reports 1006 whatever we answer.
		s.waitFor(t, "close")
	})

	t.Run("our read limit", func(t *testing.T) {
		c, _, _ := dial(t, s.url+"/echo", &websocket.DialOptions{ReadLimit: 1000})
		s.waitFor(t, "connection")
		if err := c.WriteMessage(websocket.MessageBinary, make([]byte, 1001)); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.Read(context.Background())
		if code, _ := closeCode(t, err); code != websocket.StatusMessageTooBig {
			t.Errorf("our client read error %v, want close 1009", err)
		}
		if e := s.waitFor(t, "close"); e.Code != 1009 {
			t.Errorf("ws saw close %d, want 1009", e.Code)
		}
	})

	t.Run("server pings", func(t *testing.T) {
		c, _, _ := dial(t, s.url+"/ping?data=are-you-there", nil)
		s.waitFor(t, "connection")
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.Read(context.Background())
			readErr <- err
		}()
		if e := s.waitFor(t, "pong"); e.Data != "are-you-there" {
			t.Errorf("ws got pong %q, want %q", e.Data, "are-you-there")
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("pending Read ended with %v, want close 1000", err)
		}
		s.waitFor(t, "close")
	})

	t.Run("we ping", func(t *testing.T) {
		c, _, _ := dial(t, s.url+"/echo", nil)
		s.waitFor(t, "connection")
		go c.Read(context.Background()) // pongs are read by a reader
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if e := s.waitFor(t, "ping-received"); len(e.Data) != 8 {
			t.Errorf("ws got ping payload %q", e.Data)
		}
		closeWith(t, c, s, websocket.StatusNormalClosure, "")
	})

	t.Run("subprotocol", func(t *testing.T) {
		c, _, _ := dial(t, s.url+"/echo", &websocket.DialOptions{Subprotocols: []string{"v2.tether", "v1.tether"}})
		if e := s.waitFor(t, "connection"); e.Protocol != "v1.tether" || c.Subprotocol() != "v1.tether" {
			t.Errorf("subprotocol: ws %q, us %q; want v1.tether (the server's preference)", e.Protocol, c.Subprotocol())
		}
		closeWith(t, c, s, websocket.StatusNormalClosure, "")

		c, _, _ = dial(t, s.url+"/echo", &websocket.DialOptions{Subprotocols: []string{"v9.tether"}})
		if e := s.waitFor(t, "connection"); e.Protocol != "" || c.Subprotocol() != "" {
			t.Errorf("subprotocol: ws %q, us %q; want none", e.Protocol, c.Subprotocol())
		}
		closeWith(t, c, s, websocket.StatusNormalClosure, "")
	})

	t.Run("headers", func(t *testing.T) {
		h := http.Header{}
		h.Set("Authorization", "Bearer t0k3n")
		h.Set("Origin", "https://app.example")
		h.Set("X-Tether-Test", "interop")
		h.Add("Cookie", "a=1")
		c, _, _ := dial(t, s.url+"/echo?room=lobby", &websocket.DialOptions{HTTPHeader: h})
		e := s.waitFor(t, "connection")
		for k, want := range map[string]string{
			"authorization":         "Bearer t0k3n",
			"origin":                "https://app.example",
			"x-tether-test":         "interop",
			"cookie":                "a=1",
			"sec-websocket-version": "13",
			"host":                  strings.TrimPrefix(s.url, "ws://"),
		} {
			if got := e.Headers[k]; got != want {
				t.Errorf("ws saw %s: %q, want %q", k, got, want)
			}
		}
		if e.Path != "/echo" {
			t.Errorf("ws saw path %q, want /echo", e.Path)
		}
		closeWith(t, c, s, websocket.StatusNormalClosure, "")
	})

	t.Run("redirect refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, s.url+"/redirect", nil)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial followed or accepted a redirect")
		}
		s.waitFor(t, "redirected")
		loc := s.url + "/echo"
		if !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), loc) {
			t.Errorf("Dial error %q does not say it was redirected to %s", err, loc)
		}
		if resp == nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != loc {
			t.Errorf("Dial response %+v, want the 302 with its Location", resp)
		} else if _, err := io.ReadAll(resp.Body); err != nil {
			t.Errorf("reading the response body: %v", err)
		}
	})
}
