//lint:file-ignore SA1019 golang.org/x/net/http2.Transport is deprecated for net/http's Transport, which cannot send an extended CONNECT in Go 1.26

package h2xconnect

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

func TestMain(m *testing.M) { Main(m) }

func TestGodebug(t *testing.T) {
	for _, tc := range []struct {
		in   string
		on   bool
		want string
	}{
		{"", true, "http2xconnect=1"},
		{"", false, "http2xconnect=0"},
		{"x509sha1=1,http2xconnect=0", true, "x509sha1=1,http2xconnect=1"},
		{"http2xconnect=1,http2debug=1", false, "http2debug=1,http2xconnect=0"},
	} {
		if got := Godebug(tc.in, tc.on); got != tc.want {
			t.Errorf("Godebug(%q, %v) = %q, want %q", tc.in, tc.on, got, tc.want)
		}
	}
}

// TestMainExec checks that Main started the test binary again with the
// setting on, and that net/http's HTTP/2 server then advertises extended
// CONNECT: a request with :protocol reaches the handler (without it, the
// server resets the stream).
func TestMainExec(t *testing.T) {
	Require(t)
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		t.Fatalf("GODEBUG=%q", os.Getenv("GODEBUG"))
	}
	protocol := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protocol <- r.Header.Get(":protocol")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := &http2.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodConnect, srv.URL+"/", nil)
	req.Header.Set(":protocol", "websocket")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	resp.Body.Close()
	if p := <-protocol; p != "websocket" {
		t.Fatalf("handler saw :protocol %q", p)
	}
}
