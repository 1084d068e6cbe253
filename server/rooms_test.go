package server

import (
	"fmt"
	"testing"
)

// TestSubscribePublishPresence checks subscribe, publish and presence with
// the per-change presence:join and presence:leave (join_leave_events).
func TestSubscribePublishPresence(t *testing.T) {
	cfg := testConfig()
	cfg.Namespaces[0].JoinLeaveEvents = true
	cfg.Namespaces[0].PresenceDiffInterval = 0
	_, ts := startServer(t, cfg)
	a := mustDial(t, ts.URL, dialOpts{})
	b := mustDial(t, ts.URL, dialOpts{})

	wantOK(t, "a subscribes", a.call("subscribe", map[string]any{"room": "lobby"}))
	wantOK(t, "b subscribes", b.call("subscribe", map[string]any{"room": "lobby"}))
	// a hears that b joined.
	j := arg(t, a.next(EventPresenceJoin).args[0])
	if j["room"] != "lobby" || j["id"] != b.id {
		t.Fatalf("presence:join = %v, want lobby and %s", j, b.id)
	}
	// Subscribing again is fine.
	wantOK(t, "b subscribes again", b.call("subscribe", map[string]any{"room": "lobby"}))

	res := a.call("publish", map[string]any{"room": "lobby", "event": "chat", "data": map[string]any{"text": "hi"}})
	wantOK(t, "publish", res)
	if res["receivers"] != 1.0 {
		t.Fatalf("publish receivers = %v, want 1", res["receivers"])
	}
	e := b.next("chat")
	if got := arg(t, e.args[0]); got["text"] != "hi" {
		t.Fatalf("chat data = %v", got)
	}
	if meta := arg(t, e.args[1]); meta["room"] != "lobby" || meta["from"] != a.id {
		t.Fatalf("chat meta = %v", meta)
	}

	pres := a.call("presence", map[string]any{"room": "lobby"})
	wantOK(t, "presence", pres)
	members, _ := pres["members"].([]any)
	if len(members) != 2 {
		t.Fatalf("presence members = %v, want 2", pres["members"])
	}

	wantOK(t, "b unsubscribes", b.call("unsubscribe", map[string]any{"room": "lobby"}))
	l := arg(t, a.next(EventPresenceLeave).args[0])
	if l["room"] != "lobby" || l["id"] != b.id {
		t.Fatalf("presence:leave = %v", l)
	}
	// b left: publishing there is refused, and b is no longer a member.
	wantRefused(t, "publish after leaving", b.call("publish", map[string]any{"room": "lobby", "event": "chat"}), ReasonNotSubscribed)
	pres = a.call("presence", map[string]any{"room": "lobby"})
	if members, _ := pres["members"].([]any); len(members) != 1 {
		t.Fatalf("presence after leave = %v", pres)
	}

	// A disconnecting member is announced as leaving.
	wantOK(t, "b subscribes", b.call("subscribe", map[string]any{"room": "lobby"}))
	a.next(EventPresenceJoin)
	b.close()
	if l := arg(t, a.next(EventPresenceLeave).args[0]); l["id"] != b.id {
		t.Fatalf("presence:leave on disconnect = %v", l)
	}
}

// TestPublishBinary publishes data with binary parts: the room's other
// sockets get them as binary attachments, not as base64 strings.
func TestPublishBinary(t *testing.T) {
	_, ts := startServer(t, testConfig())
	a := mustDial(t, ts.URL, dialOpts{})
	b := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "a subscribes", a.call("subscribe", map[string]any{"room": "files"}))
	wantOK(t, "b subscribes", b.call("subscribe", map[string]any{"room": "files"}))

	data := map[string]any{"name": "f.bin", "parts": []any{[]byte{1, 2, 3}, "x", []byte{0xff}}}
	res := b.callBinary("publish", map[string]any{"room": "files", "event": "file", "data": data, "extra": []byte("not sent")})
	wantOK(t, "publish", res)
	e := a.next("file")
	if string(e.args[0]) != `{"name":"f.bin","parts":[{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}]}` {
		t.Fatalf("file data = %s", e.args[0])
	}
	if len(e.atts) != 2 || string(e.atts[0]) != "\x01\x02\x03" || string(e.atts[1]) != "\xff" {
		t.Fatalf("attachments = %v, want [1 2 3] and [255]", e.atts)
	}
	if meta := arg(t, e.args[1]); meta["room"] != "files" || meta["from"] != b.id {
		t.Fatalf("file meta = %v", meta)
	}
}

func TestRoomRules(t *testing.T) {
	cfg := testConfig()
	cfg.Namespaces = append(cfg.Namespaces,
		NamespaceConfig{Name: "/closed", Rooms: RoomsConfig{Public: []string{"news:*"}, Max: 2}, Publish: PublishNone},
		NamespaceConfig{Name: "/open", Rooms: RoomsConfig{Public: []string{"*"}}, Publish: PublishPermitted, Presence: true},
	)
	_, ts := startServer(t, cfg)

	c := mustDial(t, ts.URL, dialOpts{ns: "/closed"})
	wantRefused(t, "not public", c.call("subscribe", map[string]any{"room": "chat"}), ReasonNotAllowed)
	wantRefused(t, "pattern does not cross /", c.call("subscribe", map[string]any{"room": "news:a/b"}), ReasonNotAllowed)
	wantOK(t, "public", c.call("subscribe", map[string]any{"room": "news:1"}))
	wantOK(t, "public", c.call("subscribe", map[string]any{"room": "news:2"}))
	wantRefused(t, "max rooms", c.call("subscribe", map[string]any{"room": "news:3"}), ReasonTooManyRooms)
	wantRefused(t, "publish none", c.call("publish", map[string]any{"room": "news:1", "event": "x"}), ReasonPublishDisabled)
	wantRefused(t, "presence off", c.call("presence", map[string]any{"room": "news:1"}), ReasonPresenceDisabled)
	wantRefused(t, "no room", c.call("subscribe", map[string]any{}), ReasonInvalidRoom)
	wantRefused(t, "bad args", c.call("subscribe", "news:1"), ReasonInvalidArgs)
	wantRefused(t, "own room", c.call("unsubscribe", map[string]any{"room": c.id}), ReasonInvalidRoom)

	// Another socket's private room is never subscribable, even under "*".
	o1 := mustDial(t, ts.URL, dialOpts{ns: "/open"})
	o2 := mustDial(t, ts.URL, dialOpts{ns: "/open"})
	wantRefused(t, "socket room", o1.call("subscribe", map[string]any{"room": o2.id}), ReasonNotAllowed)
	wantRefused(t, "publish to socket room", o1.call("publish", map[string]any{"room": o2.id, "event": "x"}), ReasonNotAllowed)
	wantRefused(t, "presence of socket room", o1.call("presence", map[string]any{"room": o2.id}), ReasonNotAllowed)
	// "permitted" publishing reaches a room the sender is not in.
	wantOK(t, "o2 subscribes", o2.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "publish to a permitted room", o1.call("publish", map[string]any{"room": "r", "event": "ping", "data": 1}))
	if e := o2.next("ping"); string(e.args[0]) != "1" {
		t.Fatalf("ping data = %s", e.args[0])
	}
	for _, ev := range []string{"", "error", "presence:join", "connect", "disconnect"} {
		wantRefused(t, fmt.Sprintf("publish %q", ev), o1.call("publish", map[string]any{"room": "r", "event": ev}), ReasonInvalidEvent)
	}

	// Unknown namespaces are refused.
	if _, err := dialClient(t, ts.URL, dialOpts{ns: "/nope"}); err == nil {
		t.Fatal("connected to an unknown namespace")
	}
}
