package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// session is a raw Engine.IO v4 polling session on a server's Socket.IO
// endpoint (Socket.IO packets written by hand).
type session struct {
	t   *testing.T
	url string
}

// openSession opens a polling session at endpoint (the server's URL with
// its Socket.IO path).
func openSession(t *testing.T, endpoint string) *session {
	t.Helper()
	s := &session{t: t, url: endpoint + "?EIO=4&transport=polling"}
	pkts := s.get()
	i := strings.Index(pkts[0], `"sid":"`)
	if !strings.HasPrefix(pkts[0], "0{") || i < 0 {
		t.Fatalf("handshake: %q", pkts)
	}
	rest := pkts[0][i+len(`"sid":"`):]
	s.url += "&sid=" + rest[:strings.IndexByte(rest, '"')]
	return s
}

// get polls once and returns the packets.
func (s *session) get() []string {
	s.t.Helper()
	resp, err := http.Get(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		s.t.Fatalf("poll: %d %q %v", resp.StatusCode, b, err)
	}
	return strings.Split(string(b), "\x1e")
}

// send POSTs packets.
func (s *session) send(pkts ...string) {
	s.t.Helper()
	resp, err := http.Post(s.url, "text/plain;charset=UTF-8", strings.NewReader(strings.Join(pkts, "\x1e")))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("POST %q: %s", pkts, resp.Status)
	}
}

// await polls until a packet starting with each of prefixes has come, and
// returns those packets.
func (s *session) await(prefixes ...string) []string {
	s.t.Helper()
	found := make([]string, len(prefixes))
	var seen []string
	deadline := time.Now().Add(10 * time.Second)
	for missing := len(prefixes); missing > 0; {
		if time.Now().After(deadline) {
			s.t.Fatalf("no packet starting with one of %q in:\n%q", prefixes, seen)
		}
		for _, p := range s.get() {
			seen = append(seen, p)
			for i, pre := range prefixes {
				if found[i] == "" && strings.HasPrefix(p, pre) {
					found[i] = p
					missing--
				}
			}
		}
	}
	return found
}

// startServe serves what serve would with args, in process.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	cfg, err := loadConfig("serve", args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv, stop, err := newServer(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.IO().Close()
		stop()
	})
	return ts.URL
}

// TestDemoNamespacesFollowTheRules checks that the demo namespaces get the
// rules of configured namespaces: the event rate limit, and authentication
// when it is required; and that `tether config` lists them.
func TestDemoNamespacesFollowTheRules(t *testing.T) {
	base := startServe(t, "-event-rate", "0.001", "-event-burst", "1")
	s := openSession(t, base+"/socket.io/")
	s.send("40/ticker,")
	s.await(`40/ticker,{"sid"`)
	s.send(`42/ticker,1["ping"]`, `42/ticker,2["ping"]`)
	got := s.await(`43/ticker,1[`, `42/ticker,["error"`)
	// (With connection state recovery on, an offset follows the data.)
	if want := `42/ticker,["error",{"event":"ping","reason":"rate limit exceeded"}`; !strings.HasPrefix(got[1], want) {
		t.Fatalf("second ping: %s, want %s...", got[1], want)
	}

	t.Setenv("TETHER_JWT_HS256_SECRET", strings.Repeat("s", 32))
	base = startServe(t, "-auth-required")
	s = openSession(t, base+"/socket.io/")
	s.send("40/chat,")
	if got := s.await("44/chat,")[0]; !strings.Contains(got, `"data":{"reason":"token required"}`) {
		t.Fatalf("CONNECT to /chat without a token: %s", got)
	}

	cfg, err := loadConfig("config", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range demoNamespaces {
		if !strings.Contains(string(out), "- name: "+ns+"\n") {
			t.Errorf("tether config lacks the namespace %s:\n%s", ns, out)
		}
	}
}

// TestDemoTickerRate checks that the ticker demo runs at the configured
// rate, and that the rate is checked.
func TestDemoTickerRate(t *testing.T) {
	base := startServe(t, "-demo-ticker-rate", "25")
	s := openSession(t, base+"/socket.io/")
	s.send("40/ticker,")
	if got := s.await(`42/ticker,["init"`)[0]; !strings.Contains(got, `"rate":25`) {
		t.Fatalf("init: %s", got)
	}
	if _, err := loadConfig("serve", []string{"-demo-ticker-rate", "0"}, io.Discard); err == nil || !strings.Contains(err.Error(), "demo_ticker_rate: 0 is not between 1 and 1000") {
		t.Fatalf("rate 0: %v", err)
	}
}

// TestDemoPagesUseThePath checks that the demo pages connect at the
// configured Socket.IO path.
func TestDemoPagesUseThePath(t *testing.T) {
	base := startServe(t, "-path", "/realtime/")
	resp, err := http.Get(base + "/config.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `var DemoConfig = {"path":"/realtime/"};`) {
		t.Fatalf("config.js:\n%s", b)
	}
	s := openSession(t, base+"/realtime/")
	s.send("40/leaderboard,")
	s.await(`40/leaderboard,{"sid"`)
}
