package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	eio "github.com/tether-rt/tether/engineio/client"
	"github.com/tether-rt/tether/socketio/client"
)

// dial connects a client over WebSocket to the server at url.
func dial(t *testing.T, url string) *client.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, url, &client.Options{
		Engine: eio.Options{Transports: []string{"websocket"}}, ForceNew: true, NoReconnect: true})
	if err != nil {
		t.Fatalf("failed to connect: %v", err)
	}
	t.Cleanup(s.Disconnect)
	return s
}

// call emits event with arg and decodes the acknowledgement.
func call(t *testing.T, s *client.Socket, event string, arg any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args, err := s.EmitWithAck(ctx, event, arg)
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	var res map[string]any
	if len(args) != 1 || json.Unmarshal(args[0], &res) != nil {
		t.Fatalf("%s: acknowledged with %s", event, args)
	}
	return res
}

// TestPublish checks tether serve's events as tether load uses them: the
// publisher's acknowledgement counts the room's other sockets, each of them
// gets the event with the data and {room, from, user}, the publisher and
// sockets of other rooms get nothing, and bad arguments are refused.
func TestPublish(t *testing.T) {
	srv := newServer()
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ts := httptest.NewServer(mux)
	defer ts.Close()

	type got struct {
		who  string
		args []json.RawMessage
	}
	events := make(chan got, 10)
	names := []string{"pub", "a", "b", "other"}
	socks := map[string]*client.Socket{}
	for _, name := range names {
		s := dial(t, ts.URL)
		socks[name] = s
		s.On("news", func(e *client.Event) { events <- got{name, e.Args} })
		room := "r1"
		if name == "other" {
			room = "r2"
		}
		if res := call(t, s, "subscribe", map[string]string{"room": room}); res["ok"] != true {
			t.Fatalf("subscribe: %v", res)
		}
	}

	res := call(t, socks["pub"], "publish", map[string]any{"room": "r1", "event": "news", "data": map[string]any{"t": 1, "b": []byte{1, 2}}})
	if res["ok"] != true || res["receivers"] != float64(2) {
		t.Fatalf("publish answered %v, want ok with 2 receivers", res)
	}
	seen := map[string]bool{}
	for range 2 {
		select {
		case g := <-events:
			if seen[g.who] || (g.who != "a" && g.who != "b") {
				t.Fatalf("%s got the event (seen %v)", g.who, seen)
			}
			seen[g.who] = true
			var data struct {
				T int    `json:"t"`
				B []byte `json:"b"`
			}
			var meta map[string]string
			if len(g.args) != 2 || json.Unmarshal(g.args[0], &data) != nil || json.Unmarshal(g.args[1], &meta) != nil {
				t.Fatalf("%s got %s", g.who, g.args)
			}
			if data.T != 1 || string(data.B) != "\x01\x02" {
				t.Errorf("%s got data %+v", g.who, data)
			}
			want := map[string]string{"room": "r1", "from": socks["pub"].ID(), "user": ""}
			if len(meta) != 3 || meta["room"] != want["room"] || meta["from"] != want["from"] || meta["user"] != "" {
				t.Errorf("%s got meta %v, want %v", g.who, meta, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v got the event", seen)
		}
	}

	if res := call(t, socks["a"], "unsubscribe", map[string]string{"room": "r1"}); res["ok"] != true {
		t.Fatalf("unsubscribe: %v", res)
	}
	if res := call(t, socks["pub"], "publish", map[string]any{"room": "r1", "event": "news"}); res["ok"] != true || res["receivers"] != float64(1) {
		t.Fatalf("publish after unsubscribe answered %v, want ok with 1 receiver", res)
	}
	select {
	case g := <-events:
		if g.who != "b" || len(g.args) != 2 || string(g.args[0]) != "null" {
			t.Fatalf("%s got %s, want b to get null data", g.who, g.args)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b did not get the second event")
	}
	for _, bad := range []any{"r1", map[string]any{"room": "r1"}, map[string]any{"event": "news"}} {
		if res := call(t, socks["pub"], "publish", bad); res["ok"] != false || res["reason"] != "invalid arguments" {
			t.Errorf("publish %v answered %v, want invalid arguments", bad, res)
		}
	}
	// No other event came (so far: none should ever come).
	select {
	case g := <-events:
		t.Fatalf("%s got an unexpected %s", g.who, g.args)
	default:
	}
}
