package h2e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/echoserver"
	"github.com/tether-rt/tether/internal/h2xconnect"
	"github.com/tether-rt/tether/internal/peertest"
)

// TestMain runs the tests with net/http's extended CONNECT on
// (GODEBUG=http2xconnect=1), for the echo server of TestNodeHTTP2Peer.
func TestMain(m *testing.M) { h2xconnect.Main(m) }

// waitTimeout bounds each wait for a peer or the server; the tests never
// assert on durations.
const waitTimeout = 60 * time.Second

// line is one JSON line of the Node scripts.
type line struct {
	Op      string `json:"op"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`

	// h2peer.mjs
	EnableConnectProtocol bool   `json:"enableConnectProtocol"`
	Status                int    `json:"status"`
	Accept                string `json:"accept"`
	Kind                  string `json:"kind"`
	Size                  int    `json:"size"`
	Code                  int    `json:"code"`
	Ended                 bool   `json:"ended"`

	// browser.mjs
	URL             string            `json:"url"`
	Protocol        string            `json:"protocol"`
	RequestHeaders  map[string]string `json:"requestHeaders"`
	ResponseHeaders map[string]string `json:"responseHeaders"`
	Transports      []string          `json:"transports"`
	Subscribed      bool              `json:"subscribed"`
	Published       bool              `json:"published"`
	BobGot          json.RawMessage   `json:"bobGot"`
	AliceGot        json.RawMessage   `json:"aliceGot"`
}

// runNode runs a script of this folder and returns its lines; the last
// one must be {op:"done", ok:true}.
func runNode(t *testing.T, script string, args ...string) []line {
	t.Helper()
	node := peertest.Node(t, "test/e2e/h2", "playwright-core", "socket.io-client")
	lines, raw, stderr, err := peertest.RunScript[line](t, node, waitTimeout, script, args...)
	if err != nil || len(lines) == 0 || lines[len(lines)-1].Op != "done" || !lines[len(lines)-1].OK {
		t.Fatalf("node %s: %v\n%s\nstderr:\n%s", script, err, strings.Join(raw, "\n"), stderr)
	}
	return lines[:len(lines)-1]
}

// TestNodeHTTP2Peer has Node's http2 module open an extended CONNECT to
// the echo server (as `tether echo` serves it) over TLS and HTTP/2, and
// exchange WebSocket frames: text, a fragmented binary message with a
// 64-bit length and a ping between its fragments, and the closing
// handshake, after which the server ends the stream.
func TestNodeHTTP2Peer(t *testing.T) {
	h2xconnect.Require(t)
	type request struct{ method, proto, protocol string }
	requests := make(chan request, 4)
	echo := echoserver.Handler(nil)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests <- request{r.Method, r.Proto, r.Header.Get(":protocol")}
		echo.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	lines := runNode(t, "h2peer.mjs", srv.URL+"/echo")
	var got []string
	for _, l := range lines {
		b, _ := json.Marshal(l)
		got = append(got, string(b))
	}
	want := []line{
		{Op: "settings", EnableConnectProtocol: true},
		{Op: "response", Status: 200},
		{Op: "echo", Kind: "text", OK: true},
		{Op: "pong", OK: true},
		{Op: "echo", Kind: "binary", Size: 70000, OK: true},
		{Op: "close", Code: 4000},
		{Op: "ended", Ended: true},
	}
	var wantS []string
	for _, l := range want {
		b, _ := json.Marshal(l)
		wantS = append(wantS, string(b))
	}
	if strings.Join(got, "\n") != strings.Join(wantS, "\n") {
		t.Fatalf("node printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantS, "\n"))
	}
	if r := <-requests; r.method != http.MethodConnect || r.proto != "HTTP/2.0" || r.protocol != "websocket" {
		t.Fatalf("the server saw %+v, want an extended CONNECT over HTTP/2", r)
	}
}

// TestChromium builds the tether command and runs `tether serve` over
// HTTPS as shipped (http2_websocket on by default); Chromium loads its
// page and two Socket.IO clients with the WebSocket transport talk through
// a room. The sockets used HTTP/2: Chromium's DevTools protocol shows the
// page over h2 and each WebSocket's handshake answered 200 without
// Upgrade (an HTTP/1.1 WebSocket gets 101), and the server's
// tether_websocket_connections_total counts them under http="2".
func TestChromium(t *testing.T) {
	peertest.Chromium(t)
	peertest.Node(t, "test/e2e/h2", "playwright-core", "socket.io-client")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tether")
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/tether-rt/tether/cmd/tether").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tether: %v\n%s", err, out)
	}
	certFile, keyFile := selfSigned(t, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "serve", "-addr", addr, "-tls-cert", certFile, "-tls-key", keyFile, "-demos=false")
	// The environment as a deployment's: no GODEBUG of ours (tether serve
	// sets what it needs itself).
	cmd.Env = withoutGodebug(os.Environ())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var logMu sync.Mutex
	var logs []string
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			logMu.Lock()
			logs = append(logs, sc.Text())
			logMu.Unlock()
			if strings.Contains(sc.Text(), "tether listening") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	allLogs := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Join(logs, "\n")
	}
	select {
	case <-listening:
	case <-time.After(waitTimeout):
		t.Fatalf("tether serve did not start:\n%s", allLogs())
	}
	if !strings.Contains(allLogs(), `msg="WebSockets over HTTP/2 (RFC 8441)" enabled=true`) {
		t.Fatalf("tether serve does not allow WebSockets over HTTP/2:\n%s", allLogs())
	}
	base := "https://" + addr

	lines := runNode(t, "browser.mjs", base)
	var sockets []line
	var page, chat *line
	for i, l := range lines {
		switch l.Op {
		case "page":
			page = &lines[i]
		case "websocket":
			sockets = append(sockets, l)
			t.Logf("Chromium's WebSocket %s: handshake answered %d, response headers %v", l.URL, l.Status, l.ResponseHeaders)
		case "chat":
			chat = &lines[i]
		case "console", "pageerror":
			t.Logf("page: %s", l.Message)
		}
	}
	if page == nil || page.Protocol != "h2" {
		t.Fatalf("Chromium loaded the page over %+v, want h2", page)
	}
	if len(sockets) != 2 {
		t.Fatalf("Chromium saw %d WebSockets, want 2: %+v", len(sockets), sockets)
	}
	for _, s := range sockets {
		if !strings.Contains(s.URL, "transport=websocket") || s.Status != 200 || header(s.ResponseHeaders, "upgrade") != "" {
			t.Fatalf("Chromium's WebSocket %s: status %d, response headers %v; want 200 without Upgrade (HTTP/2)", s.URL, s.Status, s.ResponseHeaders)
		}
	}
	if chat == nil || strings.Join(chat.Transports, ",") != "websocket,websocket" || !chat.Subscribed || !chat.Published ||
		string(chat.BobGot) != `"from alice over h2"` || string(chat.AliceGot) != `{"text":"from bob","n":2}` {
		t.Fatalf("chat: %+v", chat)
	}

	// The server's own count.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	scrape := string(body)
	if v2, v1 := metric(scrape, `tether_websocket_connections_total{http="2"}`), metric(scrape, `tether_websocket_connections_total{http="1.1"}`); v2 != "2" || v1 != "0" {
		t.Fatalf(`tether_websocket_connections_total: http="2" %q, http="1.1" %q; want 2 and 0`, v2, v1)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("tether serve exited with %v:\n%s", err, allLogs())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("tether serve did not exit on SIGTERM:\n%s", allLogs())
	}
}

// header returns the value of a header in a map from the DevTools
// protocol, whose names may have any case.
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// metric returns the value of the metric line that starts with name.
func metric(scrape, name string) string {
	for _, l := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// withoutGodebug returns env without GODEBUG and the marker of a program
// that h2xconnect started again.
func withoutGodebug(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, "TETHER_H2XCONNECT_EXEC=") {
			out = append(out, kv)
		}
	}
	return out
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tether e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
