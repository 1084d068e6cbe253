package socketio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestHandshakeJSON(t *testing.T) {
	h := &Handshake{
		Headers: http.Header{"User-Agent": {"x"}, "Accept": {"a", "b"}, "Set-Cookie": {"c=1", "d=2"}},
		Query:   url.Values{"EIO": {"4"}, "k": {"1", "2"}},
		Auth:    json.RawMessage(`{"token":"t"}`),
		Host:    "example.com",
		Address: "127.0.0.1:1234",
		Time:    time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		URL:     "/socket.io/?EIO=4",
		XDomain: true,
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	_ = json.Unmarshal(b, &generic)
	headers := generic["headers"].(map[string]any)
	if headers["user-agent"] != "x" || headers["host"] != "example.com" || headers["accept"] != "a, b" || len(headers["set-cookie"].([]any)) != 2 {
		t.Fatalf("headers %v", headers)
	}
	if generic["time"] != "Thu Nov 26 2026 12:00:00 GMT+0000 (Coordinated Universal Time)" || int64(generic["issued"].(float64)) != h.Time.UnixMilli() {
		t.Fatalf("time %v issued %v", generic["time"], generic["issued"])
	}
	// Node's socket.handshake.address is the IP alone.
	if generic["address"] != "127.0.0.1" {
		t.Fatalf("address %v", generic["address"])
	}
	if q := generic["query"].(map[string]any); q["EIO"] != "4" || len(q["k"].([]any)) != 2 {
		t.Fatalf("query %v", q)
	}
	var back Handshake
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Headers.Get("User-Agent") != "x" || back.Host != "example.com" || back.Headers.Get("Host") != "" || !reflect.DeepEqual(back.Query["k"], []string{"1", "2"}) ||
		!back.Time.Equal(h.Time) || string(back.Auth) != `{"token":"t"}` || back.Address != "127.0.0.1" || !back.XDomain {
		t.Fatalf("round trip %+v", back)
	}
}

func TestBroadcastOptionsJSON(t *testing.T) {
	f := false
	o := BroadcastOptions{Rooms: []string{"a"}, Except: []string{}, Flags: BroadcastFlags{Volatile: true, Compress: &f, Timeout: 1500 * time.Millisecond}}
	b, _ := json.Marshal(o)
	if want := `{"rooms":["a"],"except":[],"flags":{"volatile":true,"compress":false,"timeout":1500}}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back BroadcastOptions
	if err := json.NewDecoder(strings.NewReader(string(b))).Decode(&back); err != nil || back.Flags.Timeout != 1500*time.Millisecond || *back.Flags.Compress {
		t.Fatalf("%+v %v", back, err)
	}
}
