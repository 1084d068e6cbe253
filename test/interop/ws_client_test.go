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

// clientRun is one connection of ws_client.mjs: ws options and steps.
type clientRun struct {
	URL     string         `json:"url"`
	Options map[string]any `json:"options,omitempty"`
	Steps   []step         `json:"steps"`
}

// runClients runs the connections one after the other in one ws_client.mjs
// process and returns the events of each.
func runClients(t *testing.T, runs ...clientRun) []events {
	t.Helper()
	all := runNode(t, "ws_client.mjs", mustJSON(t, map[string]any{"connections": runs}))
	out := make([]events, len(runs))
	for _, e := range all {
		if e.Conn != nil && *e.Conn >= 0 && *e.Conn < len(runs) {
			out[*e.Conn] = append(out[*e.Conn], e)
		}
	}
	return out
}

// plan runs one ws_client.mjs connection to url with ws options and steps.
func plan(t *testing.T, url string, options map[string]any, steps ...step) events {
	t.Helper()
	return runClients(t, clientRun{url, options, steps})[0]
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

// clientCase is one connection of a ws client test: our server, what ws
// does, and what to check once it is over.
type clientCase struct {
	name  string
	srv   *goServer
	run   clientRun
	check func(t *testing.T, es events, rep report)
}

// runClientCases runs the cases' connections in one ws_client.mjs process,
// then checks each in a subtest with the report of its server.
func runClientCases(t *testing.T, cases []clientCase) {
	t.Helper()
	runs := make([]clientRun, len(cases))
	for i, c := range cases {
		runs[i] = c.run
	}
	results := runClients(t, runs...)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, results[i], c.srv.report(t))
		})
	}
}

// TestWSClientEcho has Node's ws client send every size of text and binary
// message, whole and fragmented, to our server, with and without
// permessage-deflate.
func TestWSClientEcho(t *testing.T) {
	var steps []step
	for _, size := range echoSizes {
		steps = append(steps,
			step{"op": "echo", "type": "text", "size": size, "pattern": "mixed"},
			step{"op": "echo", "type": "binary", "size": size, "pattern": "random", "seed": size + 1})
	}
	// Fragments cut inside UTF-8 characters, a ping between two fragments,
	// an uncompressed message on a compressed connection.
	steps = append(steps,
		step{"op": "echo", "type": "text", "size": 200_000, "pattern": "mixed", "fragments": 3},
		step{"op": "echo", "type": "text", "size": 10, "pattern": "mixed", "fragments": 10},
		step{"op": "echo", "type": "binary", "size": 65536, "pattern": "random", "fragments": 4, "pingMid": true},
		step{"op": "echo", "type": "text", "size": 3000, "pattern": "mixed", "compress": false},
		step{"op": "echo", "type": "binary", "size": 1 << 20, "pattern": "repeat"},
		step{"op": "close", "code": 1000, "reason": "done"},
	)
	var cases []clientCase
	for _, deflate := range []bool{false, true} {
		var offer any = false
		wantExt := ""
		if deflate {
			offer, wantExt = deflateOffer(), "permessage-deflate"
		}
		srv := startServer(t, &websocket.AcceptOptions{Compression: compressAll(websocket.CompressionContextTakeover)})
		cases = append(cases, clientCase{
			name: fmt.Sprintf("deflate=%v", deflate),
			srv:  srv,
			run:  clientRun{srv.ws + "/echo", map[string]any{"perMessageDeflate": offer}, steps},
			check: func(t *testing.T, es events, rep report) {
				open := es.one(t, "open")
				if open.ExtensionsHeader != wantExt || rep.compressed != deflate {
					t.Errorf("negotiated %q (server: compressed=%v), want %q", open.ExtensionsHeader, rep.compressed, wantExt)
				}
				n := checkEchoes(t, es)
				if rep.messages != n || n != len(steps)-1 {
					t.Errorf("server echoed %d messages, ws %d, want %d", rep.messages, n, len(steps)-1)
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
			},
		})
	}
	runClientCases(t, cases)
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
	variants := []struct {
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
		// zlib deflates with 9 bits when 8 are agreed; our inflater takes it.
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
	// Compressible sizes between: repeated and Huffman-only text.
	for _, size := range []int{300, 1000, 3000, 8192} {
		steps = append(steps,
			step{"op": "echo", "type": "text", "size": size, "pattern": "mixed"},
			step{"op": "echo", "type": "binary", "size": size, "pattern": "ascii", "seed": size})
	}
	steps = append(steps, step{"op": "close", "code": 1000})

	var cases []clientCase
	for _, v := range variants {
		srv := startServer(t, &websocket.AcceptOptions{Compression: v.server})
		cases = append(cases, clientCase{
			name: v.name,
			srv:  srv,
			run:  clientRun{srv.ws + "/echo", map[string]any{"perMessageDeflate": v.offer}, steps},
			check: func(t *testing.T, es events, rep report) {
				if h := es.one(t, "open").ExtensionsHeader; h != v.want.header {
					t.Errorf("negotiated %q, want %q", h, v.want.header)
				}
				if !rep.compressed {
					t.Error("server: compression not negotiated")
				}
				checkEchoes(t, es)
				shrinks := func(i int, size int64) (out, in bool) {
					e := es.step(t, i)
					return e.WireOut < size/2, e.WireIn < size/2
				}
				if out, in := shrinks(1, 200); out != v.want.shortOut || in != v.want.shortIn {
					t.Errorf("repeated 200-byte message shrank: ws->us %v, us->ws %v; want %v, %v (context takeover)",
						out, in, v.want.shortOut, v.want.shortIn)
				}
				if out, in := shrinks(3, 4096); out != v.want.longOut || in != v.want.longIn {
					t.Errorf("repeated 4 KiB message shrank: ws->us %v, us->ws %v; want %v, %v (window size)",
						out, in, v.want.longOut, v.want.longIn)
				}
				if out, in := shrinks(4, 1<<20); !out || !in {
					t.Errorf("1 MiB of repeated text: %s; want it compressed both ways", es.step(t, 4))
				}
				if code, _ := closeCode(t, rep.readErr); code != websocket.StatusNormalClosure {
					t.Errorf("server saw close %d, want 1000", code)
				}
			},
		})
	}
	runClientCases(t, cases)
}

// TestWSClientControl checks pings both ways (also between the fragments
// of a message, and our heartbeat on an idle connection), close codes and
// reasons both ways, subprotocols and the read limit.
func TestWSClientControl(t *testing.T) {
	long := strings.Repeat("p", 125)
	var cases []clientCase
	add := func(name string, opts *websocket.AcceptOptions, path string, wsOpts map[string]any, check func(*testing.T, events, report), steps ...step) {
		srv := startServer(t, opts)
		cases = append(cases, clientCase{name, srv, clientRun{srv.ws + path, wsOpts, steps}, check})
	}
	deflate := &websocket.AcceptOptions{Compression: compressAll(websocket.CompressionContextTakeover)}

	add("pings", nil, "/ping", nil, func(t *testing.T, es events, rep report) {
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
	},
		step{"op": "ping", "data": "hello"},
		step{"op": "ping", "data": long},
		step{"op": "ping", "data": ""},
		step{"op": "echo", "type": "text", "size": 100_000, "fragments": 2, "pingMid": true},
		step{"op": "close", "code": 1000})

	add("heartbeat", &websocket.AcceptOptions{PingInterval: 50 * time.Millisecond, PingTimeout: 5 * time.Second}, "/echo", nil,
		func(t *testing.T, es events, rep report) {
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
		},
		step{"op": "echo", "type": "text", "size": 10},
		step{"op": "sleep", "ms": 1000},
		step{"op": "echo", "type": "text", "size": 10},
		step{"op": "close", "code": 1000})

	wsReason := "bye from ws ✓"
	add("ws closes with reason", deflate, "/echo", nil, func(t *testing.T, es events, rep report) {
		if code, got := closeCode(t, rep.readErr); code != 4000 || got != wsReason {
			t.Errorf("server saw close %d %q, want 4000 %q", code, got, wsReason)
		}
		if c := es.step(t, 1); c.Code != 4000 {
			t.Errorf("ws saw close %d (%q), want our echo of 4000", c.Code, c.Reason)
		}
	},
		step{"op": "echo", "type": "text", "size": 10},
		step{"op": "close", "code": 4000, "reason": wsReason})

	add("ws closes without code", deflate, "/echo", nil, func(t *testing.T, es events, rep report) {
		if code, _ := closeCode(t, rep.readErr); code != websocket.StatusNoStatusRcvd {
			t.Errorf("server saw close %d, want 1005", code)
		}
		if c := es.step(t, 0); c.Code != 1005 {
			t.Errorf("ws saw close %d, want 1005 (an empty close frame back)", c.Code)
		}
	}, step{"op": "close"})

	longest := strings.Repeat("r", 123)
	add("ws closes with the longest reason", deflate, "/echo", nil, func(t *testing.T, es events, rep report) {
		if code, got := closeCode(t, rep.readErr); code != 4000 || got != longest {
			t.Errorf("server saw close %d %q, want 4000 and 123 bytes of reason", code, got)
		}
	}, step{"op": "close", "code": 4000, "reason": longest})

	// 65 two-byte characters: 130 bytes, cut to 61 characters (122 bytes)
	// to fit a control frame without splitting one.
	add("server cuts a long reason at a character", deflate, "/close?code=4001&reason="+strings.Repeat("é", 65), nil,
		func(t *testing.T, es events, rep report) {
			if c := es.step(t, 1); c.Code != 4001 || c.Reason != strings.Repeat("é", 61) {
				t.Errorf("ws saw close %d with a %d-byte reason %q, want 4001 and 61 × é", c.Code, len(c.Reason), c.Reason)
			}
		},
		step{"op": "echo", "type": "text", "size": 1},
		step{"op": "expectClose"})

	goReason := "bye from go: adiós"
	add("server closes with reason", deflate, "/close?code=4001&reason="+strings.ReplaceAll(goReason, " ", "%20"),
		map[string]any{"perMessageDeflate": deflateOffer()},
		func(t *testing.T, es events, rep report) {
			if rep.closeErr != nil {
				t.Errorf("server Close: %v", rep.closeErr)
			}
			if c := es.step(t, 1); c.Code != 4001 || c.Reason != goReason {
				t.Errorf("ws saw close %d %q, want 4001 %q", c.Code, c.Reason, goReason)
			}
		},
		step{"op": "echo", "type": "binary", "size": 300},
		step{"op": "expectClose"})

	protos := &websocket.AcceptOptions{Subprotocols: []string{"v1.tether", "v2.tether"}}
	add("subprotocol", protos, "/echo", map[string]any{"protocols": []string{"v3.tether", "v2.tether", "v1.tether"}},
		func(t *testing.T, es events, rep report) {
			checkEchoes(t, es)
			if p := es.one(t, "open").Protocol; p != "v1.tether" || rep.subprotocol != "v1.tether" {
				t.Errorf("subprotocol: ws %q, server %q; want v1.tether (the server's preference)", p, rep.subprotocol)
			}
		},
		step{"op": "echo", "type": "text", "size": 5},
		step{"op": "close", "code": 1000})

	add("no subprotocol offered", protos, "/echo", nil, func(t *testing.T, es events, rep report) {
		if p := es.one(t, "open").Protocol; p != "" || rep.subprotocol != "" {
			t.Errorf("subprotocol without an offer: ws %q, server %q; want none", p, rep.subprotocol)
		}
	}, step{"op": "close", "code": 1000})

	// A message over our read limit fails the connection with 1009, also
	// when it is compressed small on the wire.
	for _, deflate := range []bool{false, true} {
		var offer any = false
		over := 1025
		if deflate {
			offer = deflateOffer()
			over = 64 << 10 // a few hundred bytes on the wire
		}
		add(fmt.Sprintf("read limit, deflate=%v", deflate),
			&websocket.AcceptOptions{ReadLimit: 1024, Compression: compressAll(websocket.CompressionContextTakeover)},
			"/echo", map[string]any{"perMessageDeflate": offer},
			func(t *testing.T, es events, rep report) {
				checkEchoes(t, es)
				if sent := es.step(t, 1); deflate && sent.WireOut > 1024 {
					t.Errorf("the over-limit message took %d bytes on the wire; want it compressed under the limit", sent.WireOut)
				}
				if c := es.step(t, 2); c.Code != 1009 {
					t.Errorf("ws saw close %d %q, want 1009", c.Code, c.Reason)
				}
				if code, _ := closeCode(t, rep.readErr); code != websocket.StatusMessageTooBig {
					t.Errorf("server read error %v, want close 1009", rep.readErr)
				}
			},
			step{"op": "echo", "type": "binary", "size": 1024, "pattern": "repeat"},
			step{"op": "send", "type": "binary", "size": over, "pattern": "repeat"},
			step{"op": "expectClose"})
	}
	runClientCases(t, cases)
}

// TestWSClientPrepared has ws receive prepared messages (the broadcast
// path: framed and compressed once) under each compression variant: one
// message shared by all connections, and each echo prepared once and sent
// twice.
func TestWSClientPrepared(t *testing.T) {
	optsFor := func(r *http.Request) *websocket.AcceptOptions {
		mode := websocket.CompressionContextTakeover
		if r.URL.Query().Get("nctx") != "" {
			mode = websocket.CompressionNoContextTakeover
		}
		return &websocket.AcceptOptions{Compression: websocket.CompressionOptions{Mode: mode}}
	}
	sum := sha256.Sum256(broadcastData)
	steps := []step{
		{"op": "expectMessage"},
		{"op": "echo", "type": "text", "size": 100_000, "pattern": "mixed", "copies": 2},
		{"op": "echo", "type": "binary", "size": 200, "pattern": "random", "copies": 2},
		{"op": "echo", "type": "binary", "size": 0, "copies": 2},
		{"op": "close", "code": 1000},
	}
	var cases []clientCase
	for _, v := range []struct {
		name, query string
		offer       any
	}{
		{"no compression", "", false},
		{"context takeover", "", deflateOffer()},
		{"no context takeover", "?nctx=1", deflateOffer()},
		{"no context takeover, small window", "?nctx=1", deflateOffer("serverMaxWindowBits", 9)},
		{"client asks no context takeover", "", deflateOffer("serverNoContextTakeover", true)},
	} {
		srv := startServerFunc(t, optsFor)
		cases = append(cases, clientCase{
			name: v.name,
			srv:  srv,
			run:  clientRun{srv.ws + "/prepared" + v.query, map[string]any{"perMessageDeflate": v.offer}, steps},
			check: func(t *testing.T, es events, rep report) {
				if m := es.step(t, 0); m.GotType != "text" || m.Sha != hex.EncodeToString(sum[:]) {
					t.Errorf("broadcast arrived as %s %d bytes (sha %.12s), want text %d bytes", m.GotType, m.GotSize, m.Sha, len(broadcastData))
				}
				checkEchoes(t, es)
				if code, _ := closeCode(t, rep.readErr); code != websocket.StatusNormalClosure {
					t.Errorf("server read error %v, want close 1000", rep.readErr)
				}
			},
		})
	}
	runClientCases(t, cases)
}
