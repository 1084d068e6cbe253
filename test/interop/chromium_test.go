package interop

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"

	"github.com/tether-rt/tether/websocket"
)

// needChromium checks that Chromium is installed.
func needChromium(t *testing.T) {
	t.Helper()
	peertest.Chromium(t)
}

// forCase returns the events of one browser case.
func (es events) forCase(name string) events {
	var out events
	for _, e := range es {
		if e.Case == name {
			out = append(out, e)
		}
	}
	return out
}

// browserCase is one case of browser.mjs.
type browserCase struct {
	Name      string   `json:"name"`
	Page      string   `json:"page"`
	URL       string   `json:"url"`
	Protocols []string `json:"protocols,omitempty"`
	Steps     []step   `json:"steps"`
}

// TestChromium has Chromium open sockets to our server from a page of the
// same origin and from a page of another origin: messages of every size
// both ways with permessage-deflate, close codes both ways, and the
// Cross-Site WebSocket Hijacking protection (a foreign origin is refused
// with 403 unless OriginPatterns allows it). One browser runs all cases.
func TestChromium(t *testing.T) {
	needNode(t)
	needChromium(t)

	// The foreign site: only a page.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { servePage(w) }))
	t.Cleanup(other.Close)
	otherHost := strings.TrimPrefix(other.URL, "http://")

	srv := startServerFunc(t, func(r *http.Request) *websocket.AcceptOptions {
		switch r.URL.Query().Get("policy") {
		case "allowed":
			return &websocket.AcceptOptions{
				OriginPatterns: []string{otherHost},
				Compression:    websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover},
			}
		case "small":
			return &websocket.AcceptOptions{
				Subprotocols: []string{"v1.tether"},
				Compression: websocket.CompressionOptions{
					Mode: websocket.CompressionNoContextTakeover, Threshold: -1,
					ServerMaxWindowBits: 9, ClientMaxWindowBits: 10,
				},
			}
		}
		// Same origin only (the default), compression as `tether echo`.
		return &websocket.AcceptOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}}
	})
	ownPage := srv.URL + "/page"
	otherPage := other.URL + "/page"

	var echoes []step
	for _, size := range echoSizes {
		echoes = append(echoes,
			step{"op": "echo", "type": "text", "size": size, "pattern": "mixed"},
			step{"op": "echo", "type": "binary", "size": size, "pattern": "random"})
	}
	withClose := func(steps []step, code int, reason string) []step {
		return append(append([]step(nil), steps...), step{"op": "close", "code": code, "reason": reason})
	}
	cases := []browserCase{
		{Name: "same-origin", Page: ownPage, URL: srv.ws + "/echo?case=same-origin",
			Steps: withClose(echoes, 4000, "bye from chromium ✓")},
		{Name: "compressible", Page: ownPage, URL: srv.ws + "/echo?case=compressible",
			Steps: []step{
				{"op": "echo", "type": "text", "size": 1 << 20, "pattern": "repeat"},
				{"op": "echo", "type": "binary", "size": 1 << 20, "pattern": "repeat"},
				{"op": "close", "code": 1000, "reason": ""},
			}},
		{Name: "server-closes", Page: ownPage, URL: srv.ws + "/close?code=4001&reason=bye%20from%20go&case=server-closes",
			Steps: []step{{"op": "echo", "type": "text", "size": 5}, {"op": "expectClose"}}},
		{Name: "small-window", Page: ownPage, URL: srv.ws + "/echo?policy=small&case=small-window",
			Protocols: []string{"v2.tether", "v1.tether"},
			Steps:     withClose(echoes, 1000, "")},
		{Name: "cross-origin-refused", Page: otherPage, URL: srv.ws + "/echo?case=cross-origin-refused"},
		{Name: "cross-origin-allowed", Page: otherPage, URL: srv.ws + "/echo?policy=allowed&case=cross-origin-allowed",
			Steps: withClose(echoes[:4], 1000, "")},
	}
	all := runNode(t, "browser.mjs", mustJSON(t, map[string]any{"cases": cases}))

	reports := map[string]report{}
	for len(reports) < len(cases) {
		select {
		case r := <-srv.reports:
			if _, dup := reports[r.name]; dup || r.name == "" {
				t.Errorf("unexpected request to %s (case %q): %v", r.path, r.name, r.readErr)
			}
			reports[r.name] = r
		case <-time.After(waitTimeout):
			t.Fatalf("server reported %d of %d connections", len(reports), len(cases))
		}
	}

	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			es := all.forCase(c.Name)
			rep := reports[c.Name]
			if p := es.one(t, "page"); !strings.HasPrefix(c.Page, p.Message) {
				t.Fatalf("page origin %q, want %q", p.Message, c.Page)
			}
			if c.Name == "cross-origin-refused" {
				if f := es.one(t, "open-failed"); f.Code != 1006 {
					t.Errorf("refused socket closed with %d, want 1006", f.Code)
				}
				if rep.refused != http.StatusForbidden || rep.origin != other.URL {
					t.Errorf("server: refused %d for Origin %q, want 403 for %q", rep.refused, rep.origin, other.URL)
				}
				return
			}
			open := es.one(t, "open")
			if n := checkEchoes(t, es); rep.messages != n || n != len(es.ops("echo")) {
				t.Errorf("server echoed %d messages, browser %d", rep.messages, n)
			}
			if !strings.Contains(rep.offer, "permessage-deflate") || !rep.compressed {
				t.Errorf("compression: offer %q, negotiated %v", rep.offer, rep.compressed)
			}
			switch c.Name {
			case "same-origin":
				if open.Extensions != "permessage-deflate" {
					t.Errorf("browser's ws.extensions = %q, want permessage-deflate", open.Extensions)
				}
				if rep.origin != srv.URL {
					t.Errorf("server saw Origin %q, want %q", rep.origin, srv.URL)
				}
				if code, reason := closeCode(t, rep.readErr); code != 4000 || reason != "bye from chromium ✓" {
					t.Errorf("server saw close %d %q", code, reason)
				}
				if e := es.ops("close"); len(e) != 1 || e[0].Code != 4000 || !e[0].WasClean {
					t.Errorf("browser close event: %s", e)
				}
			case "compressible":
				if rep.in > 64<<10 || rep.out > 64<<10 {
					t.Errorf("2 MiB of repeated text took %d bytes in and %d out: not compressed", rep.in, rep.out)
				}
			case "server-closes":
				if rep.closeErr != nil {
					t.Errorf("server Close: %v", rep.closeErr)
				}
				if e := es.ops("expectClose"); len(e) != 1 || e[0].Code != 4001 || e[0].Reason != "bye from go" || !e[0].WasClean {
					t.Errorf("browser close event: %s; want clean 4001 %q", e, "bye from go")
				}
			case "small-window":
				want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10"
				if open.Extensions != want {
					t.Errorf("browser's ws.extensions = %q, want %q", open.Extensions, want)
				}
				if open.Protocol != "v1.tether" || rep.subprotocol != "v1.tether" {
					t.Errorf("subprotocol: browser %q, server %q; want v1.tether", open.Protocol, rep.subprotocol)
				}
			case "cross-origin-allowed":
				if rep.origin != other.URL {
					t.Errorf("server saw Origin %q, want %q", rep.origin, other.URL)
				}
			}
		})
	}
}
