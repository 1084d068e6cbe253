package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-rt/tether/server"
	"github.com/tether-rt/tether/websocket"
)

// item4Payload is the size of each published string: under
// limits.max_payload (1,000,000 bytes) with the packet around it.
const item4Payload = 900_000

// TestAttack4RecoveryLog publishes ~0.9 MB messages to a room, which
// connection state recovery (on by default) used to keep for
// max_disconnection (2 minutes) whatever their size: one client alone in
// its room pinned 865 MB. Two cases: the publisher alone in the room (no
// session can ever recover those messages: they are not logged), and the
// publisher with a second connection of its own that subscribed to the
// room and dropped (a stored session that can recover them: the worst
// case, bounded by recovery.max_log_bytes).
//
// At the test suite's size recovery.max_log_bytes is 4 MiB instead of
// 32 MiB, so that 20 messages go over it (0.9 MB messages are slow under
// the race detector); at full size everything is as shipped.
func TestAttack4RecoveryLog(t *testing.T) {
	n := scale(20, 1000)
	bound := server.DefaultConfig().Recovery.MaxLogBytes
	edit := func(*server.Config) {}
	setting := "defaults"
	if !*full {
		bound = 4 << 20
		edit = func(c *server.Config) { c.Recovery.MaxLogBytes = bound }
		setting = "recovery.max_log_bytes 4 MiB"
	}
	const slack = 8 << 20 // the connections' buffers, GC noise
	data := strings.Repeat("x", item4Payload)

	t.Run("alone", func(t *testing.T) {
		_, base, _ := tetherServe(t, edit)
		c := item4Dial(t, base)
		c.call("subscribe", map[string]any{"room": "r"})
		before := heapInUse()
		published := c.publishAll(n, "r", data)
		held := int64(heapInUse()) - int64(before)
		report(t, "4", fmt.Sprintf("%d publishes of 0.9 MB to a room the client is alone in (%s)", published, setting),
			fmt.Sprintf("heap held < max_log_bytes %s + %s", mb(bound), mb(slack)), mb(held), held < bound+slack)
	})

	t.Run("stored session", func(t *testing.T) {
		_, base, _ := tetherServe(t, edit)
		c := item4Dial(t, base)
		c.call("subscribe", map[string]any{"room": "r"})
		// A second connection joins the room and its TCP connection is
		// cut: its session is kept for recovery, so what is published to
		// the room is logged for it.
		d := item4Dial(t, base)
		d.call("subscribe", map[string]any{"room": "r"})
		d.conn.CloseNow()
		if !eventually(10*time.Second, func() bool { return c.publish("r", "probe") == 0 }) {
			t.Fatal("the dropped subscriber is still counted as a receiver")
		}
		before := heapInUse()
		published := c.publishAll(n, "r", data)
		held := int64(heapInUse()) - int64(before)
		report(t, "4", fmt.Sprintf("%d publishes of 0.9 MB to a room with a disconnected session (%s)", published, setting),
			fmt.Sprintf("heap held < max_log_bytes %s + %s", mb(bound), mb(slack)), mb(held), held < bound+slack)
	})
}

// item4Client is a raw Socket.IO v5 client of the default namespace over a
// WebSocket: it answers pings and collects acknowledgements and errors.
type item4Client struct {
	t    *testing.T
	conn *websocket.Conn

	wmu    sync.Mutex
	mu     sync.Mutex
	nextID int
	acks   map[int]chan json.RawMessage
	errors chan string // reasons of "error" events
}

// item4Dial connects to base's default namespace.
func item4Dial(t *testing.T, base string) *item4Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("failed to dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &item4Client{t: t, conn: conn, acks: map[int]chan json.RawMessage{}, errors: make(chan string, 16)}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := conn.ReadMessage(nil); err != nil || len(msg) == 0 || msg[0] != '0' {
		t.Fatalf("failed to read the open packet %q: %v", msg, err)
	}
	c.write("40")
	for {
		_, msg, err := conn.ReadMessage(nil)
		if err != nil {
			t.Fatalf("failed to read the CONNECT answer: %v", err)
		}
		if string(msg) == "2" {
			c.write("3")
			continue
		}
		if !strings.HasPrefix(string(msg), "40") {
			t.Fatalf("unexpected message %q before CONNECT", msg)
		}
		break
	}
	_ = conn.SetReadDeadline(time.Time{})
	go c.readLoop()
	return c
}

func (c *item4Client) write(msg string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.WriteMessage(websocket.MessageText, []byte(msg))
}

func (c *item4Client) readLoop() {
	var buf []byte
	for {
		_, msg, err := c.conn.ReadMessage(buf)
		if err != nil {
			return
		}
		buf = msg
		s := string(msg)
		switch {
		case s == "2":
			c.write("3")
		case strings.HasPrefix(s, "43"): // 43<id>[args]
			i := strings.IndexByte(s, '[')
			id, err := strconv.Atoi(s[2:max(i, 2)])
			if i < 0 || err != nil {
				continue
			}
			var args []json.RawMessage
			_ = json.Unmarshal([]byte(s[i:]), &args)
			c.mu.Lock()
			ch := c.acks[id]
			delete(c.acks, id)
			c.mu.Unlock()
			if ch != nil && len(args) > 0 {
				ch <- args[0]
			}
		case strings.HasPrefix(s, `42["error",`):
			// ["error", {reason, event}, recovery offset]
			var ev []json.RawMessage
			var arg struct {
				Reason string `json:"reason"`
			}
			if json.Unmarshal([]byte(s[2:]), &ev) == nil && len(ev) >= 2 && json.Unmarshal(ev[1], &arg) == nil {
				select {
				case c.errors <- arg.Reason:
				default:
				}
			}
		}
	}
}

// emit sends event with arg and an acknowledgement id; the answer comes on
// the returned channel.
func (c *item4Client) emit(event string, arg any) chan json.RawMessage {
	c.t.Helper()
	data, err := json.Marshal([]any{event, arg})
	if err != nil {
		c.t.Fatal(err)
	}
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.mu.Unlock()
	c.write("42" + strconv.Itoa(id) + string(data))
	return ch
}

// call emits event and returns its acknowledgement, failing the test when
// it is not {ok: true}.
func (c *item4Client) call(event string, arg any) map[string]any {
	c.t.Helper()
	select {
	case raw := <-c.emit(event, arg):
		var res map[string]any
		if json.Unmarshal(raw, &res) != nil || res["ok"] != true {
			c.t.Fatalf("%s: %s", event, raw)
		}
		return res
	case <-time.After(20 * time.Second):
		c.t.Fatalf("%s: no acknowledgement", event)
		return nil
	}
}

// publish publishes data to room and returns the receivers the server
// counted, or -1 when the event was refused by the rate limit.
func (c *item4Client) publish(room, data string) int {
	c.t.Helper()
	ack := c.emit("publish", map[string]any{"room": room, "event": "e", "data": data})
	select {
	case raw := <-ack:
		var res struct {
			OK        bool `json:"ok"`
			Receivers int  `json:"receivers"`
		}
		if json.Unmarshal(raw, &res) != nil || !res.OK {
			c.t.Fatalf("publish: %s", raw)
		}
		return res.Receivers
	case reason := <-c.errors:
		if reason != "rate limit exceeded" {
			c.t.Fatalf("publish: error %q", reason)
		}
		return -1
	case <-time.After(20 * time.Second):
		c.t.Fatal("publish: no acknowledgement")
		return 0
	}
}

// publishAll publishes data to room n times, one at a time, waiting out
// the event rate limit (limits.event_rate) when it refuses one, and
// returns n.
func (c *item4Client) publishAll(n int, room, data string) int {
	c.t.Helper()
	for i := 0; i < n; {
		if c.publish(room, data) < 0 {
			time.Sleep(25 * time.Millisecond)
			continue
		}
		i++
	}
	return n
}
