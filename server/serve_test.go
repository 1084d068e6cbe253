package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tether test"},
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
	certFile = writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serve runs srv.Serve on loopback listeners until the test ends.
func serve(t *testing.T, cfg *Config, admin bool) (srv *Server, addr, adminAddr string) {
	t.Helper()
	srv, err := New(Options{Config: cfg, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var aln net.Listener
	if admin {
		if aln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		adminAddr = aln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, aln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String(), adminAddr
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cfg := testConfig()
	cfg.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile}
	_, addr, _ := serve(t, cfg, false)
	base := "https://" + addr

	// Polling over HTTPS, with HTTP/2.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `0{"sid":`) || resp.ProtoMajor != 2 {
		t.Fatalf("polling handshake over TLS: %s %d %s", resp.Proto, resp.StatusCode, body)
	}

	// A whole polling session over HTTP/2: CONNECT, then its answer.
	sid := string(body)[strings.Index(string(body), `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	sess := base + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	if resp, err = client.Post(sess, "text/plain", strings.NewReader("40")); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err = client.Get(sess); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || !strings.HasPrefix(string(body), "40{") {
		t.Fatalf("CONNECT over HTTP/2 polling: %s %q", resp.Proto, body)
	}

	// Socket.IO over wss://.
	a := mustDial(t, base, dialOpts{tls: &tls.Config{RootCAs: pool}})
	b := mustDial(t, base, dialOpts{tls: &tls.Config{RootCAs: pool}})
	wantOK(t, "subscribe", b.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "subscribe", a.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "publish", a.call("publish", map[string]any{"room": "r", "event": "hello", "data": "over TLS"}))
	if e := b.next("hello"); string(e.args[0]) != `"over TLS"` {
		t.Fatalf("hello = %s", e.args[0])
	}

	// Plain HTTP is not served on the TLS port.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
}

func TestAdminAndMetrics(t *testing.T) {
	_, addr, admin := serve(t, testConfig(), true)
	base := "http://" + addr
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get("http://" + admin + "/debug/pprof/"); status != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof: %d", status)
	}
	if status, _ := get(base + "/debug/pprof/"); status != 404 {
		t.Fatalf("pprof on the main address: %d, want 404", status)
	}

	ws := mustDial(t, base, dialOpts{})
	wantOK(t, "subscribe", ws.call("subscribe", map[string]any{"room": "r"}))
	// A second client over polling.
	req, _ := http.NewRequest("GET", base+"/socket.io/?EIO=4&transport=polling", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid := string(b)[strings.Index(string(b), `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	presp, err := http.Post(base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	// Its CONNECT answer, which also means it joined.
	if _, body := get(base + "/socket.io/?EIO=4&transport=polling&sid=" + sid); !strings.HasPrefix(body, "40{") {
		t.Fatalf("polling CONNECT answer %q", body)
	}

	for _, url := range []string{base + "/metrics", "http://" + admin + "/metrics"} {
		_, m := get(url)
		for _, w := range []string{
			`tether_connections{transport="polling"} 1`,
			`tether_connections{transport="websocket"} 1`,
			`tether_events_received_total{namespace="/"} 1`,
			`go_goroutines`,
			`process_cpu_seconds_total`,
		} {
			if !strings.Contains(m, w) {
				t.Errorf("%s lacks %s", url, w)
			}
		}
		for _, w := range []string{"tether_bytes_received_total", "tether_bytes_sent_total"} {
			line := grep(m, w+" ")
			if line == "" || strings.HasSuffix(line, " 0") {
				t.Errorf("%s: %q", url, line)
			}
		}
	}
}

func TestStaticFiles(t *testing.T) {
	// Without files: the built-in page.
	_, ts := startServer(t, testConfig())
	resp, err := ts.Client().Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "/socket.io/") || !strings.Contains(string(b), "/api/openapi.yaml") {
		t.Fatalf("index: %d %s", resp.StatusCode, b)
	}
	if resp, err := ts.Client().Get(ts.URL + "/nothing"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("/nothing: %v %v", resp, err)
	}

	// With files: they are served at /, the endpoints stay.
	srv, err := New(Options{Config: testConfig(), Logger: quietLogger(), Static: fstest.MapFS{
		"index.html":    {Data: []byte("<h1>demo</h1>")},
		"app/chat.html": {Data: []byte("chat")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(srv)
	defer ts2.Close()
	for path, want := range map[string]string{"/": "<h1>demo</h1>", "/app/chat.html": "chat", "/healthz": "ok\n"} {
		resp, err := ts2.Client().Get(ts2.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("%s: %q, want %q", path, b, want)
		}
	}
	if status, body := pollHandshake(t, ts2, nil); status != 200 {
		t.Fatalf("Socket.IO next to static files: %d %s", status, body)
	}
}
