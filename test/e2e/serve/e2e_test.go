package servee2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/peertest"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tether-rt/tether/server"
)

type line struct {
	Op        string `json:"op"`
	OK        bool   `json:"ok"`
	Name      string `json:"name"`
	Message   string `json:"message"`
	Reason    string `json:"reason"`
	Transport string `json:"transport"`
}

const secret = "e2e-secret-0123456789abcdef-0123456789"

func token(t *testing.T, sub string, exp time.Duration, rooms ...string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(exp).Unix(), "rooms": rooms,
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSocketIOClient(t *testing.T) {
	node := peertest.Node(t, "test/e2e/serve", "socket.io-client")

	cfg := server.DefaultConfig()
	cfg.Auth.Required = true
	cfg.Auth.JWT.HS256Secret = secret
	cfg.API.Keys = []string{"e2e-api-key-0123456789"}
	cfg.Namespaces[0].Rooms.Public = []string{"lobby"}
	srv, err := server.New(server.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.IO().Close()

	args, _ := json.Marshal(map[string]string{
		"good":        token(t, "alice", time.Hour, "chat:*"),
		"goodPolling": token(t, "bob", time.Hour, "chat:*"),
		"narrower":    token(t, "bob", time.Hour, "dm:bob"),
		"expired":     token(t, "eve", -time.Hour, "chat:*"),
		"apiKey":      cfg.API.Keys[0],
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", ts.URL, string(args))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var got []string
	for _, raw := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("node printed %q: %v\n%s", raw, err, stderr.String())
		}
		switch l.Op {
		case "done":
			if !l.OK {
				t.Fatalf("node failed: %s\n%s", l.Message, stdout.String())
			}
		default:
			got = append(got, raw)
		}
	}
	want := []string{
		`{"op":"refused","name":"none","message":"token required","reason":"token required"}`,
		`{"op":"refused","name":"expired","message":"token expired","reason":"token expired"}`,
		`{"op":"refused","name":"garbage","message":"invalid token","reason":"invalid token"}`,
		`{"op":"connected","transport":"websocket,polling"}`,
		`{"op":"subscribe","ok":true,"name":"a"}`,
		`{"op":"subscribe","ok":true,"name":"b"}`,
		`{"op":"presence:diff","ok":true,"name":"bob","message":"2 args, {joins,leaves,room}, offset recorded"}`,
		`{"op":"subscribe-denied","ok":false,"reason":"not allowed"}`,
		`{"op":"presence","ok":true,"message":"alice,bob"}`,
		`{"op":"publish","ok":true,"name":"alice"}`,
		`{"op":"publish-args","message":"3 args, meta {from,room,user} room=chat:1 from=a user=alice, offset recorded"}`,
		`{"op":"api-emit","ok":true}`,
		`{"op":"api-emit-args","message":"3 args, meta {from,room,user} room=chat:1 from=null user=null, offset recorded"}`,
		`{"op":"api-emit-all","ok":true,"message":"3 args, meta {from,room,user} room=null from=null user=null, offset recorded"}`,
		`{"op":"refresh","ok":true,"message":"chat:1"}`,
		`{"op":"disconnected","reason":"io server disconnect"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("node printed:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), stderr.String())
	}
}
