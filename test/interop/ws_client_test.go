package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// step is one step of a ws_client.mjs plan.
type step map[string]any

// echoSizes are the message sizes around each frame-length encoding, and a
// big one.
var echoSizes = []int{0, 125, 126, 65535, 65536, 1 << 20}

// plan runs ws_client.mjs against url with ws options and steps.
func plan(t *testing.T, url string, options map[string]any, steps ...step) events {
	t.Helper()
	return runNode(t, "ws_client.mjs", url, mustJSON(t, map[string]any{"options": options, "steps": steps}))
}

// deflateOffer is the ws client's permessage-deflate option: compress every
// message, plus the given parameters.
func deflateOffer(kv ...any) map[string]any {
	m := map[string]any{"threshold": 0}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// compressAll is our server's permessage-deflate with context takeover,
// compressing every message (even empty ones).
func compressAll(mode websocket.CompressionMode) websocket.CompressionOptions {
	return websocket.CompressionOptions{Mode: mode, Threshold: -1}
}

// checkEchoes fails for every echo step that did not come back intact.
func checkEchoes(t *testing.T, es events) int {
	t.Helper()
	n := 0
	for _, e := range es.ops("echo") {
		n++
		if !e.OK {
			t.Errorf("echo step %d (%s, %d bytes, %d fragments) came back wrong: %s", e.Step, e.Type, e.Size, e.Fragments, e)
		}
	}
	return n
}

// TestWSClientEcho has Node's ws client send every size of text and binary
// message, whole and fragmented, to our server, with and without
// permessage-deflate.
func TestWSClientEcho(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			srv := startServer(t, &websocket.AcceptOptions{Compression: compressAll(websocket.CompressionContextTakeover)})
			var steps []step
			for _, size := range echoSizes {
				steps = append(steps,
					step{"op": "echo", "type": "text", "size": size, "pattern": "mixed"},
					step{"op": "echo", "type": "binary", "size": size, "pattern": "random", "seed": size + 1})
			}
			// Fragments cut inside UTF-8 characters, and a ping between two
			// fragments.
			steps = append(steps,
				step{"op": "echo", "type": "text", "size": 200_000, "pattern": "mixed", "fragments": 3},
				step{"op": "echo", "type": "text", "size": 10, "pattern": "mixed", "fragments": 10},
				step{"op": "echo", "type": "binary", "size": 65536, "pattern": "random", "fragments": 4, "pingMid": true},
				step{"op": "echo", "type": "text", "size": 3000, "pattern": "mixed", "compress": false},
				step{"op": "echo", "type": "binary", "size": 1 << 20, "pattern": "repeat"},
				step{"op": "close", "code": 1000, "reason": "done"},
			)
			var offer any = false
			if deflate {
				offer = deflateOffer()
			}
			es := plan(t, srv.ws+"/echo", map[string]any{"perMessageDeflate": offer}, steps...)
			rep := srv.report(t)

			open := es.one(t, "open")
			wantExt := ""
			if deflate {
				wantExt = "permessage-deflate"
			}
			if open.ExtensionsHeader != wantExt || rep.compressed != deflate {
				t.Errorf("negotiated %q (server: compressed=%v), want %q", open.ExtensionsHeader, rep.compressed, wantExt)
			}
			n := checkEchoes(t, es)
			if rep.messages != n {
				t.Errorf("server echoed %d messages, want %d", rep.messages, n)
			}
			if pong := es.step(t, len(steps)-4).Pong; pong != "mid-message" {
				t.Errorf("pong between fragments = %q, want %q", pong, "mid-message")
			}
			big := es.step(t, len(steps)-2)
			if deflate && (big.WireOut > 64<<10 || big.WireIn > 64<<10) {
				t.Errorf("1 MiB of repeated text took %d bytes out and %d back: not compressed", big.WireOut, big.WireIn)
			}
			if !deflate && (big.WireOut < 1<<20 || big.WireIn < 1<<20) {
				t.Errorf("1 MiB took %d bytes out and %d back without compression", big.WireOut, big.WireIn)
			}
			if code, reason := closeCode(t, rep.readErr); code != websocket.StatusNormalClosure || reason != "done" {
				t.Errorf("server saw close %d %q, want 1000 %q", code, reason, "done")
			}
			if c := es.step(t, len(steps)-1); c.Code != 1000 {
				t.Errorf("ws saw close %d, want 1000", c.Code)
			}
		})
	}
}

// TestWSClientCompression negotiates permessage-deflate with ws in each
// variant RFC 7692 allows and checks, from the bytes on the wire, that each
// side keeps (or drops) its context and honours the window it agreed to.
func TestWSClientCompression(t *testing.T) {
	type want struct {
		header string
		// Whether a repeated 200-byte random message shrinks the second
		// time, from ws (out) and from us (in): context takeover.
		shortOut, shortIn bool
		// The same for 4 KiB: only with a window bigger than 4 KiB.
		longOut, longIn bool
	}
	cases := []struct {
		name   string
		server websocket.CompressionOptions
		offer  map[string]any
		want   want
	}{
		{"context takeover", compressAll(websocket.CompressionContextTakeover), deflateOffer(),
			want{"permessage-deflate", true, true, true, true}},
		{"client asks no context takeover", compressAll(websocket.CompressionContextTakeover),
			deflateOffer("serverNoContextTakeover", true, "clientNoContextTakeover", true),
			want{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", false, false, false, false}},
		{"client asks server no context takeover", compressAll(websocket.CompressionContextTakeover),
			deflateOffer("serverNoContextTakeover", true),
			want{"permessage-deflate; server_no_context_takeover", true, false, true, false}},
		{"server no context takeover", compressAll(websocket.CompressionNoContextTakeover), deflateOffer(),
			want{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", false, false, false, false}},
		{"client window bits", compressAll(websocket.CompressionContextTakeover),
			deflateOffer("serverMaxWindowBits", 10, "clientMaxWindowBits", 9),
			want{"permessage-deflate; server_max_window_bits=10", true, true, false, false}},
		{"window bits 8", compressAll(websocket.CompressionContextTakeover),
			deflateOffer("serverMaxWindowBits", 8, "clientMaxWindowBits", 8),
			want{"permessage-deflate; server_max_window_bits=8", true, true, false, false}},
		{"server window bits", websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1, ServerMaxWindowBits: 10, ClientMaxWindowBits: 9},
			deflateOffer(),
			want{"permessage-deflate; client_max_window_bits=9", true, true, false, false}},
		{"server window bits, no context takeover", websocket.CompressionOptions{Mode: websocket.CompressionNoContextTakeover, Threshold: -1, ServerMaxWindowBits: 9, ClientMaxWindowBits: 12},
			deflateOffer(),
			want{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=12", false, false, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &websocket.AcceptOptions{Compression: tc.server})
			steps := []step{
				{"op": "echo", "type": "binary", "size": 200, "pattern": "random", "seed": 7},
				{"op": "echo", "type": "binary", "size": 200, "pattern": "random", "seed": 7},
				{"op": "echo", "type": "binary", "size": 4096, "pattern": "random", "seed": 9},
				{"op": "echo", "type": "binary", "size": 4096, "pattern": "random", "seed": 9},
				{"op": "echo", "type": "text", "size": 1 << 20, "pattern": "repeat"},
			}
			for _, size := range []int{0, 125, 126, 65536} {
				steps = append(steps,
					step{"op": "echo", "type": "text", "size": size, "pattern": "mixed"},
					step{"op": "echo", "type": "binary", "size": size, "pattern": "random", "seed": size},
					step{"op": "echo", "type": "text", "size": size, "pattern": "mixed", "fragments": 3})
			}
			steps = append(steps, step{"op": "close", "code": 1000})
			es := plan(t, srv.ws+"/echo", map[string]any{"perMessageDeflate": tc.offer}, steps...)
			rep := srv.report(t)

			if h := es.one(t, "open").ExtensionsHeader; h != tc.want.header {
				t.Errorf("negotiated %q, want %q", h, tc.want.header)
			}
			if !rep.compressed {
				t.Error("server: compression not negotiated")
			}
			checkEchoes(t, es)
			shrinks := func(i int, size int64) (out, in bool) {
				e := es.step(t, i)
				return e.WireOut < size/2, e.WireIn < size/2
			}
			if out, in := shrinks(1, 200); out != tc.want.shortOut || in != tc.want.shortIn {
				t.Errorf("repeated 200-byte message shrank: ws->us %v, us->ws %v; want %v, %v (context takeover)",
					out, in, tc.want.shortOut, tc.want.shortIn)
			}
			if out, in := shrinks(3, 4096); out != tc.want.longOut || in != tc.want.longIn {
				t.Errorf("repeated 4 KiB message shrank: ws->us %v, us->ws %v; want %v, %v (window size)",
					out, in, tc.want.longOut, tc.want.longIn)
			}
			if out, in := shrinks(4, 1<<20); !out || !in {
				t.Errorf("1 MiB of repeated text: %s; want it compressed both ways", es.step(t, 4))
			}
			if code, _ := closeCode(t, rep.readErr); code != websocket.StatusNormalClosure {
				t.Errorf("server saw close %d, want 1000", code)
			}
		})
	}
}

// TestWSClientPing checks pings both ways: ws pings us (even between the
// fragments of a message) and we ping ws.
func TestWSClientPing(t *testing.T) {
	srv := startServer(t, nil)
	long := strings.Repeat("p", 125)
	es := plan(t, srv.ws+"/ping", nil,
		step{"op": "ping", "data": "hello"},
		step{"op": "ping", "data": long},
		step{"op": "ping", "data": ""},
		step{"op": "echo", "type": "text", "size": 100_000, "fragments": 2, "pingMid": true},
		step{"op": "close", "code": 1000},
	)
	rep := srv.report(t)
	for i, want := range []string{"hello", long, ""} {
		if got := es.step(t, i); got.Op != "ping" || got.Data != want {
			t.Errorf("step %d: pong %q, want %q (%s)", i, got.Data, want, got)
		}
	}
	checkEchoes(t, es)
	if e := es.step(t, 3); e.Pong != "mid-message" {
		t.Errorf("no pong between fragments: %s", e)
	}
	if rep.pingErr != nil {
		t.Errorf("server Ping: %v", rep.pingErr)
	}
	if n := len(es.ops("ping-received")); n != 1 {
		t.Errorf("ws saw %d pings from us, want 1", n)
	}
}

// TestWSClientClose checks that close codes and reasons cross in both
// directions.
func TestWSClientClose(t *testing.T) {
	srv := startServer(t, &websocket.AcceptOptions{Compression: compressAll(websocket.CompressionContextTakeover)})
	t.Run("ws closes with reason", func(t *testing.T) {
		reason := "bye from ws ✓"
		es := plan(t, srv.ws+"/echo", nil,
			step{"op": "echo", "type": "text", "size": 10},
			step{"op": "close", "code": 4000, "reason": reason})
		rep := srv.report(t)
		if code, got := closeCode(t, rep.readErr); code != 4000 || got != reason {
			t.Errorf("server saw close %d %q, want 4000 %q", code, got, reason)
		}
		if c := es.step(t, 1); c.Code != 4000 {
			t.Errorf("ws saw close %d (%q), want our echo of 4000", c.Code, c.Reason)
		}
	})
	t.Run("ws closes without code", func(t *testing.T) {
		es := plan(t, srv.ws+"/echo", nil, step{"op": "close"})
		rep := srv.report(t)
		if code, _ := closeCode(t, rep.readErr); code != websocket.StatusNoStatusRcvd {
			t.Errorf("server saw close %d, want 1005", code)
		}
		if c := es.step(t, 0); c.Code != 1005 {
			t.Errorf("ws saw close %d, want 1005 (an empty close frame back)", c.Code)
		}
	})
	t.Run("ws closes with the longest reason", func(t *testing.T) {
		reason := strings.Repeat("r", 123)
		plan(t, srv.ws+"/echo", nil, step{"op": "close", "code": 4000, "reason": reason})
		if code, got := closeCode(t, srv.report(t).readErr); code != 4000 || got != reason {
			t.Errorf("server saw close %d %q, want 4000 and 123 bytes of reason", code, got)
		}
	})
	t.Run("server cuts a long reason at a character", func(t *testing.T) {
		// 65 two-byte characters: 130 bytes, cut to 61 characters (122
		// bytes) to fit a control frame without splitting one.
		reason := strings.Repeat("é", 65)
		es := plan(t, srv.ws+"/close?code=4001&reason="+reason, nil,
			step{"op": "echo", "type": "text", "size": 1},
			step{"op": "expectClose"})
		srv.report(t)
		if c := es.step(t, 1); c.Code != 4001 || c.Reason != strings.Repeat("é", 61) {
			t.Errorf("ws saw close %d with a %d-byte reason %q, want 4001 and 61 × é", c.Code, len(c.Reason), c.Reason)
		}
	})
	t.Run("server closes with reason", func(t *testing.T) {
		reason := "bye from go: adiós"
		es := plan(t, srv.ws+"/close?code=4001&reason="+strings.ReplaceAll(reason, " ", "%20"), map[string]any{"perMessageDeflate": deflateOffer()},
			step{"op": "echo", "type": "binary", "size": 300},
			step{"op": "expectClose"})
		rep := srv.report(t)
		if rep.closeErr != nil {
			t.Errorf("server Close: %v", rep.closeErr)
		}
		if c := es.step(t, 1); c.Code != 4001 || c.Reason != reason {
			t.Errorf("ws saw close %d %q, want 4001 %q", c.Code, c.Reason, reason)
		}
	})
}

// TestWSClientSubprotocol checks that the server's preferred subprotocol
// among those ws offers is chosen, on both sides.
func TestWSClientSubprotocol(t *testing.T) {
	srv := startServer(t, &websocket.AcceptOptions{Subprotocols: []string{"v1.tether", "v2.tether"}})
	es := plan(t, srv.ws+"/echo", map[string]any{"protocols": []string{"v3.tether", "v2.tether", "v1.tether"}},
		step{"op": "echo", "type": "text", "size": 5},
		step{"op": "close", "code": 1000})
	rep := srv.report(t)
	checkEchoes(t, es)
	if p := es.one(t, "open").Protocol; p != "v1.tether" || rep.subprotocol != "v1.tether" {
		t.Errorf("subprotocol: ws %q, server %q; want v1.tether", p, rep.subprotocol)
	}

	es = plan(t, srv.ws+"/echo", nil, step{"op": "close", "code": 1000})
	rep = srv.report(t)
	if p := es.one(t, "open").Protocol; p != "" || rep.subprotocol != "" {
		t.Errorf("subprotocol without an offer: ws %q, server %q; want none", p, rep.subprotocol)
	}
}

// TestWSClientReadLimit checks that a message over our read limit fails
// the connection with 1009, as ws sees it, also when it is compressed
// small on the wire.
func TestWSClientReadLimit(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			srv := startServer(t, &websocket.AcceptOptions{ReadLimit: 1024, Compression: compressAll(websocket.CompressionContextTakeover)})
			var offer any = false
			over := 1025
			if deflate {
				offer = deflateOffer()
				over = 64 << 10 // a few hundred bytes on the wire
			}
			es := plan(t, srv.ws+"/echo", map[string]any{"perMessageDeflate": offer},
				step{"op": "echo", "type": "binary", "size": 1024, "pattern": "repeat"},
				step{"op": "send", "type": "binary", "size": over, "pattern": "repeat"},
				step{"op": "expectClose"})
			rep := srv.report(t)
			checkEchoes(t, es)
			if deflate {
				if sent := es.step(t, 1); sent.WireOut > 1024 {
					t.Errorf("the over-limit message took %d bytes on the wire; want it compressed under the limit", sent.WireOut)
				}
			}
			if c := es.step(t, 2); c.Code != 1009 {
				t.Errorf("ws saw close %d %q, want 1009", c.Code, c.Reason)
			}
			if code, _ := closeCode(t, rep.readErr); code != websocket.StatusMessageTooBig {
				t.Errorf("server read error %v, want close 1009", rep.readErr)
			}
		})
	}
}

// TestWSClientHeartbeat checks that ws answers our heartbeat pings, so an
// idle but live connection stays open.
func TestWSClientHeartbeat(t *testing.T) {
	srv := startServer(t, &websocket.AcceptOptions{PingInterval: 50 * time.Millisecond, PingTimeout: 5 * time.Second})
	es := plan(t, srv.ws+"/echo", nil,
		step{"op": "echo", "type": "text", "size": 10},
		step{"op": "sleep", "ms": 1000},
		step{"op": "echo", "type": "text", "size": 10},
		step{"op": "close", "code": 1000})
	rep := srv.report(t)
	checkEchoes(t, es)
	if !es.step(t, 1).OK {
		t.Error("connection closed while idle")
	}
	if len(es.ops("ping-received")) == 0 {
		t.Error("ws saw no heartbeat ping in a second of idleness")
	}
	if code, _ := closeCode(t, rep.readErr); code != websocket.StatusNormalClosure {
		t.Errorf("server read error %v, want close 1000", rep.readErr)
	}
}

// TestWSClientPrepared has ws receive prepared messages (the broadcast
// path: framed and compressed once) under each compression variant: one
// message shared by all connections, and each echo prepared once and sent
// twice.
func TestWSClientPrepared(t *testing.T) {
	srv := startServerFunc(t, func(r *http.Request) *websocket.AcceptOptions {
		mode := websocket.CompressionContextTakeover
		if r.URL.Query().Get("nctx") != "" {
			mode = websocket.CompressionNoContextTakeover
		}
		return &websocket.AcceptOptions{Compression: websocket.CompressionOptions{Mode: mode}}
	})
	sum := sha256.Sum256(broadcastData)
	for _, tc := range []struct {
		name, query string
		offer       any
	}{
		{"no compression", "", false},
		{"context takeover", "", deflateOffer()},
		{"no context takeover", "?nctx=1", deflateOffer()},
		{"no context takeover, small window", "?nctx=1", deflateOffer("serverMaxWindowBits", 9)},
		{"client asks no context takeover", "", deflateOffer("serverNoContextTakeover", true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := plan(t, srv.ws+"/prepared"+tc.query, map[string]any{"perMessageDeflate": tc.offer},
				step{"op": "expectMessage"},
				step{"op": "echo", "type": "text", "size": 100_000, "pattern": "mixed", "copies": 2},
				step{"op": "echo", "type": "binary", "size": 200, "pattern": "random", "copies": 2},
				step{"op": "echo", "type": "binary", "size": 0, "copies": 2},
				step{"op": "close", "code": 1000})
			rep := srv.report(t)
			if m := es.step(t, 0); m.GotType != "text" || m.Sha != hex.EncodeToString(sum[:]) {
				t.Errorf("broadcast arrived as %s %d bytes (sha %.12s), want text %d bytes", m.GotType, m.GotSize, m.Sha, len(broadcastData))
			}
			checkEchoes(t, es)
			if code, _ := closeCode(t, rep.readErr); code != websocket.StatusNormalClosure {
				t.Errorf("server read error %v, want close 1000", rep.readErr)
			}
		})
	}
}
