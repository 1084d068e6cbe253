// Package e2e runs the official Engine.IO clients from npm (engine.io-client
// 6.x for protocol v4, 3.x for v3) in Node against package engineio.
//
// The npm packages are installed by `npm ci` in this folder (scripts/test.sh
// does it). Without them, or without node, the tests skip, unless
// TETHER_REQUIRE_PEERS is set: then they fail.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"

	"github.com/tether-rt/tether/engineio"
)

// requireNode returns the node binary, or skips (fails with
// TETHER_REQUIRE_PEERS) when node or the npm packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	return peertest.Node(t, "test/e2e/engineio", "engine.io-client", "engine.io-client-v3")
}

// clientResult is what client.mjs prints.
type clientResult struct {
	Error        string         `json:"error"`
	Received     []any          `json:"received"`
	PerTransport map[string]int `json:"perTransport"`
	Upgraded     bool           `json:"upgraded"`
	Transport    string         `json:"transport"`
	SID          string         `json:"sid"`
}

// session records what the server saw of one client.
type session struct {
	sock   *engineio.Socket
	mu     sync.Mutex
	msgs   []engineio.Packet
	closed chan string
}

func TestEngineIOClient(t *testing.T) {
	node := requireNode(t)
	tests := []struct {
		name       string
		eio        string
		transports string
		want       string // the transport at the end
	}{
		{"v4 polling", "4", "polling", "polling"},
		{"v4 websocket", "4", "websocket", "websocket"},
		{"v4 upgrade", "4", "polling,websocket", "websocket"},
		{"v3 polling", "3", "polling", "polling"},
		{"v3 websocket", "3", "websocket", "websocket"},
		{"v3 upgrade", "3", "polling,websocket", "websocket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runClient(t, node, tt.eio, tt.transports, tt.want)
		})
	}
}

func runClient(t *testing.T, node, eio, transports, wantTransport string) {
	const toServer, toClient = 200, 400
	srv := engineio.NewServer(&engineio.Options{
		AllowEIO3: true,
		// Short enough for a few heartbeats during the test.
		PingInterval: 100 * time.Millisecond,
		PingTimeout:  10 * time.Second,
		SendQueue:    10 * toClient,
	})
	sessions := make(chan *session, 1)
	srv.OnConnection(func(s *engineio.Socket) {
		rec := &session{sock: s, closed: make(chan string, 1)}
		s.OnMessage(func(p engineio.Packet) {
			rec.mu.Lock()
			rec.msgs = append(rec.msgs, p)
			rec.mu.Unlock()
		})
		s.OnClose(func(reason string, err error) {
			t.Logf("server: session closed: %s (%v)", reason, err)
			rec.closed <- reason
		})
		sessions <- rec
		// The server sends while the client connects, upgrades and sends.
		go func() {
			for i := range toClient {
				if err := s.Send(engineio.Packet{Data: []byte("s" + strconv.Itoa(i))}); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
				if i%5 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			s.Send(engineio.Packet{Data: []byte{9, 8, 0, 255}, Binary: true}, engineio.Packet{Data: []byte("done")})
		}()
	})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", hs.URL, eio, transports, strconv.Itoa(toServer))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res clientResult
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &res); jerr != nil || err != nil || res.Error != "" {
		t.Fatalf("client: %v, %v, %s\nstdout: %s\nstderr: %s", err, jerr, res.Error, out, stderr.Bytes())
	}

	// What the client received: every message, in order.
	var want []any
	for i := range toClient {
		want = append(want, "s"+strconv.Itoa(i))
	}
	want = append(want, []any{9.0, 8.0, 0.0, 255.0}, "done")
	if !reflect.DeepEqual(res.Received, want) {
		t.Errorf("client received %d messages:\n%v", len(res.Received), res.Received)
	}
	if res.Transport != wantTransport || res.Upgraded != (wantTransport != transports) {
		t.Errorf("client ended on %s (upgraded %v)", res.Transport, res.Upgraded)
	}
	t.Logf("messages per transport at the client: %v", res.PerTransport)

	// What the server received: every message, in order, then the close.
	var rec *session
	select {
	case rec = <-sessions:
	default:
		t.Fatal("no session")
	}
	var reason string
	select {
	case reason = <-rec.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("session not closed")
	}
	if reason != engineio.ReasonTransportClose {
		t.Errorf("close reason %q", reason)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.msgs) != toServer+2 {
		t.Fatalf("server received %d messages: %+v", len(rec.msgs), rec.msgs)
	}
	for i := range toServer {
		if p := rec.msgs[i]; p.Binary || string(p.Data) != "c"+strconv.Itoa(i) {
			t.Fatalf("server message %d = %+v", i, p)
		}
	}
	if p := rec.msgs[toServer]; !p.Binary || !bytes.Equal(p.Data, []byte{1, 2, 3, 255}) {
		t.Errorf("binary message = %+v", p)
	}
	if p := rec.msgs[toServer+1]; string(p.Data) != "done" {
		t.Errorf("last message = %+v", p)
	}
	if rec.sock.ID() != res.SID || rec.sock.Protocol() != int(eio[0]-'0') || rec.sock.Transport() != wantTransport {
		t.Errorf("server socket %s v%d %s", rec.sock.ID(), rec.sock.Protocol(), rec.sock.Transport())
	}
}
