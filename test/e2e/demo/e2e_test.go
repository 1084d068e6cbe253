package demoe2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"

	"github.com/tether-rt/tether/demo"
	tserver "github.com/tether-rt/tether/server"
)

// nodeTimeout bounds every Node process a test starts.
const nodeTimeout = 60 * time.Second

// needBrowser returns the path of node, checking that playwright-core and
// Chromium are installed.
func needBrowser(t *testing.T) string {
	t.Helper()
	node := peertest.Node(t, "test/e2e/demo", "playwright-core")
	peertest.Chromium(t)
	return node
}

// server is the demos on a loopback HTTP server.
type server struct {
	url string
	// refused counts the WebSocket handshakes refused (with blockWebSocket).
	refused atomic.Int64
}

// startServer serves the demos as `tether serve` does: the standalone
// server (package server) in its default configuration, with the demo
// namespaces under its rules (event rate limits...), connection state
// recovery, and the pages at /; but with Socket.IO at /rt/ instead of
// /socket.io/, which the pages must learn from the server. With
// blockWebSocket it refuses WebSocket handshakes with 403.
func startServer(t *testing.T, blockWebSocket bool) *server {
	t.Helper()
	cfg := tserver.DefaultConfig()
	cfg.Path = "/rt/"
	cfg.AddNamespaces(demo.LeaderboardNamespace, demo.ChatNamespace, demo.TickerNamespace)
	srv, err := tserver.New(tserver.Options{
		Config: cfg,
		Static: demo.AssetsWithPath(cfg.Path),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := demo.Register(srv.IO(), demo.Options{})
	s := &server{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if blockWebSocket && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			s.refused.Add(1)
			http.Error(w, "WebSocket is blocked here", http.StatusForbidden)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		stop()
		_ = srv.IO().Close()
		hs.Close()
	})
	s.url = hs.URL
	resp, err := http.Get(s.url + "/vendor/socket.io.min.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		peertest.Missing(t, "the pages' socket.io client is missing (%s): run scripts/build-web.sh, or npm ci in demo/web", resp.Status)
	}
	return s
}

// event is one JSON line a Node script printed.
type event struct {
	Op        string          `json:"op"`
	OK        bool            `json:"ok"`
	Message   string          `json:"message"`
	Name      string          `json:"name"`
	Transport string          `json:"transport"`
	Connects  json.RawMessage `json:"connects"`
	raw       string
}

type events []event

func (es events) String() string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("  " + e.raw + "\n")
	}
	return b.String()
}

// all returns the events op.
func (es events) all(op string) []event {
	var found []event
	for _, e := range es {
		if e.Op == op {
			found = append(found, e)
		}
	}
	return found
}

// runNode runs a Node script of this folder with args (the server's URL
// first); it must end with {op:"done",ok:true}.
func runNode(t *testing.T, node, script string, args ...string) events {
	t.Helper()
	list, lines, stderr, err := peertest.RunScript[event](t, node, nodeTimeout, script, args...)
	es := events(list)
	for i := range es {
		es[i].raw = lines[i]
	}
	done := es.all("done")
	if err != nil || len(done) != 1 || !done[0].OK {
		msg := ""
		if len(done) > 0 {
			msg = done[0].Message
		}
		t.Fatalf("node %s failed: %v\n%s\nstdout:\n%sstderr:\n%s", script, err, msg, es, stderr)
	}
	for _, e := range es.all("pageerror") {
		t.Errorf("page %s: %s", e.Name, e.Message)
	}
	return es
}

// TestLeaderboard has two pages on the leaderboard: a score in one shows in
// the other.
func TestLeaderboard(t *testing.T) {
	node := needBrowser(t)
	s := startServer(t, false)
	es := runNode(t, node, "leaderboard.mjs", s.url)
	if len(es.all("score")) != 1 || len(es.all("state")) != 2 {
		t.Fatalf("events:\n%s", es)
	}
}

// TestChatRecovery has two pages chat, one of them dropping off the
// network for a while and recovering the message it missed.
func TestChatRecovery(t *testing.T) {
	node := needBrowser(t)
	s := startServer(t, false)
	es := runNode(t, node, "chat.mjs", s.url)
	if rec := es.all("recovered"); len(rec) != 1 || !strings.Contains(string(rec[0].Connects), `"recovered":true`) {
		t.Fatalf("events:\n%s", es)
	}
}

// TestPages checks what the pages say: the chat's state before a name is
// entered, the ticker's labels and colours, and its dropped ticks.
func TestPages(t *testing.T) {
	node := needBrowser(t)
	s := startServer(t, false)
	es := runNode(t, node, "pages.mjs", s.url)
	want := map[string]string{
		"chat-before-name": "not connected (idle), socket: false",
		"chat-after-name":  "connecting",
		"ticker-labels":    "Change since open",
	}
	for op, msg := range want {
		if got := es.all(op); len(got) != 1 || got[0].Message != msg {
			t.Errorf("%s: want %q; events:\n%s", op, msg, es)
		}
	}
	for _, op := range []string{"ticker-labels", "ticker-rows", "ticker-gaps"} {
		if got := es.all(op); len(got) != 1 || !got[0].OK {
			t.Errorf("%s failed; events:\n%s", op, es)
		}
	}
}

// TestPollingFallback blocks WebSocket: the pages work over long-polling
// and say so.
func TestPollingFallback(t *testing.T) {
	node := needBrowser(t)
	s := startServer(t, true)
	es := runNode(t, node, "polling.mjs", s.url)
	states := es.all("state")
	if len(states) != 3 {
		t.Fatalf("events:\n%s", es)
	}
	for _, e := range states {
		if e.Transport != "polling" {
			t.Errorf("%s on %s", e.Name, e.Transport)
		}
	}
	if s.refused.Load() == 0 {
		t.Errorf("the pages did not try WebSocket")
	}
}

// TestOriginRefused has a page on another origin try to open sockets on the
// server, over polling and over WebSocket: the server's Origin policy
// refuses both.
func TestOriginRefused(t *testing.T) {
	node := needBrowser(t)
	s := startServer(t, false)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title><script src="%s/vendor/socket.io.min.js"></script>`, s.url)
	}))
	defer elsewhere.Close()
	es := runNode(t, node, "origin.mjs", s.url, elsewhere.URL+"/page.html")
	if len(es.all("refused")) != 2 {
		t.Fatalf("events:\n%s", es)
	}
	// The server refused them for their origin (and not for something else).
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var n int
	for _, l := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(l, `tether_handshakes_rejected_total{reason="origin"} %d`, &n); err == nil {
			break
		}
	}
	if n < 2 {
		t.Fatalf("handshakes refused for their origin: %d, want 2 or more (polling, WebSocket)", n)
	}
}
