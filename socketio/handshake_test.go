package socketio

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestHandshakeMadeOnDemand checks that a socket keeps no Handshake once
// connected: the middlewares and connection handlers share one, each later
// call makes a new one equal to it, and FetchSockets reports the same.
func TestHandshakeMadeOnDemand(t *testing.T) {
	srv := newTestServer(t, nil)
	type seen struct {
		mw, conn *Handshake
		s        *Socket
	}
	got := make(chan seen, 1)
	var mw *Handshake
	srv.Use(func(s *Socket) error {
		mw = s.Handshake()
		return nil
	})
	srv.OnConnection(func(s *Socket) { got <- seen{mw, s.Handshake(), s} })
	tc := dial(t, srv)
	tc.connect("/", `{"token":"abc"}`)
	g := recvValue(t, got)
	if g.mw == nil || g.mw != g.conn {
		t.Fatalf("middleware and connection handler got different handshakes: %p, %p", g.mw, g.conn)
	}
	h := g.conn
	if h.Query.Get("x") != "1" || h.Headers.Get("Origin") != "http://example.com" || !h.XDomain ||
		string(h.Auth) != `{"token":"abc"}` || h.URL != "/socket.io/?EIO=4&transport=polling&x=1" || h.Time.IsZero() {
		t.Fatalf("handshake = %+v", h)
	}

	// Connected: each call makes a new one, equal to the first. The
	// handler has returned once a later packet of the client is answered
	// (one dispatch goroutine per client): a CONNECT to a namespace that
	// does not exist.
	tc.send("0/nowhere,")
	if got := tc.recvText(); !strings.HasPrefix(got, "4/nowhere,") {
		t.Fatalf("CONNECT to /nowhere answered %q", got)
	}
	a, b := g.s.Handshake(), g.s.Handshake()
	if a == h || a == b {
		t.Error("Handshake returns a kept handshake after the connection")
	}
	if !reflect.DeepEqual(a, h) || !reflect.DeepEqual(b, h) {
		t.Errorf("Handshake() = %+v, want %+v", a, h)
	}
	socks, err := srv.FetchSockets(context.Background())
	if err != nil || len(socks) != 1 {
		t.Fatalf("FetchSockets = %v, %v", socks, err)
	}
	if !reflect.DeepEqual(socks[0].Handshake, h) {
		t.Errorf("FetchSockets' handshake = %+v, want %+v", socks[0].Handshake, h)
	}
	j1, _ := json.Marshal(h)
	j2, _ := json.Marshal(socks[0].Handshake)
	if string(j1) != string(j2) {
		t.Errorf("JSON %s, want %s", j2, j1)
	}
}
