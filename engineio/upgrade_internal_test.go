package engineio

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// TestPollPendingAtUpgrade checks that a poll the server sees before a
// probe and an upgrade packet sent right behind it is refused with a 400,
// as polls that come after the upgrade are (the protocol suite's "ignores
// HTTP requests with same sid after upgrade", when its poll overtakes its
// WebSocket messages), and that a poll during an upgrade is ended with a
// noop by the next tick.
func TestPollPendingAtUpgrade(t *testing.T) {
	srv := NewServer(nil)
	srv.cfg.noopInterval = time.Hour // no tick comes in this test
	conns := make(chan *Socket, 1)
	srv.OnConnection(func(s *Socket) { conns <- s })
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	get := func(query string) (int, string) {
		resp, err := http.Get(hs.URL + "/?" + query)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, body := get("EIO=4&transport=polling")
	sid := body[strings.Index(body, `"sid":"`)+7:][:20]
	s := <-conns
	type result struct {
		status int
		body   string
	}
	pending := make(chan result, 1)
	go func() {
		status, body := get("EIO=4&transport=polling&sid=" + sid)
		pending <- result{status, body}
	}()
	for !s.Writable() { // the poll is pending
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/?EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.WriteMessage(websocket.MessageText, []byte("2probe"))
	c.WriteMessage(websocket.MessageText, []byte("5"))
	select {
	case r := <-pending:
		if r.status != 400 {
			t.Fatalf("poll pending at the upgrade: %d %q, want 400", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pending poll was not answered")
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "3probe" {
		t.Fatalf("probe answer %q, %v", msg, err)
	}
	s.Send(Packet{Data: []byte("over ws")})
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "4over ws" {
		t.Fatalf("got %q, %v", msg, err)
	}
}

// TestPollEndedByNoopTick checks that, during an upgrade, a pending poll is
// ended with a noop by the next tick.
func TestPollEndedByNoopTick(t *testing.T) {
	srv := NewServer(nil)
	srv.cfg.noopInterval = 10 * time.Millisecond
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	resp, err := http.Get(hs.URL + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid := string(b)[strings.Index(string(b), `"sid":"`)+7:][:20]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/?EIO=4&transport=websocket&sid="+sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.WriteMessage(websocket.MessageText, []byte("2probe"))
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "3probe" {
		t.Fatalf("probe answer %q, %v", msg, err)
	}
	for range 2 {
		resp, err := http.Get(hs.URL + "/?EIO=4&transport=polling&sid=" + sid)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "6" {
			t.Fatalf("poll during the upgrade: %d %q, want a noop", resp.StatusCode, b)
		}
	}
}
