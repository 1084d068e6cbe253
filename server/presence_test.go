package server

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"
)

// presenceDiff is the argument of a presence:diff event.
type presenceDiff struct {
	Room   string   `json:"room"`
	Joins  []member `json:"joins"`
	Leaves []member `json:"leaves"`
}

// nextAny returns the client's next event, whatever its name.
func (c *testClient) nextAny() testEvent {
	c.t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(10 * time.Second):
		c.t.Fatal("no event")
		return testEvent{}
	}
}

// nextDiff returns the client's next event, which must be a presence:diff.
func nextDiff(t *testing.T, c *testClient) presenceDiff {
	t.Helper()
	e := c.nextAny()
	if e.name != EventPresenceDiff {
		t.Fatalf("got %s %s, want %s", e.name, e.args, EventPresenceDiff)
	}
	var d presenceDiff
	if err := json.Unmarshal(e.args[0], &d); err != nil || d.Joins == nil || d.Leaves == nil {
		t.Fatalf("presence:diff %s: %v (want joins and leaves lists)", e.args[0], err)
	}
	return d
}

// apply applies a diff to a set of members.
func (d presenceDiff) apply(set map[string]string) {
	for _, m := range d.Joins {
		set[m.ID] = m.User
	}
	for _, m := range d.Leaves {
		delete(set, m.ID)
	}
}

func ids(ms []member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// TestPresenceDiff follows a room with the default namespace's
// presence:diff events only: applied in order, they give the member list
// that the presence event answers, through joins, leaves and a
// disconnection; presence:join and presence:leave are not sent.
func TestPresenceDiff(t *testing.T) {
	_, ts := startServer(t, testConfig())
	a := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "a subscribes", a.call("subscribe", map[string]any{"room": "lobby"}))
	// A client starts from the presence list; it is not sent its own join.
	set := map[string]string{}
	for _, m := range a.call("presence", map[string]any{"room": "lobby"})["members"].([]any) {
		set[m.(map[string]any)["id"].(string)] = ""
	}
	if !maps.Equal(set, map[string]string{a.id: ""}) {
		t.Fatalf("presence = %v, want a", set)
	}

	b := mustDial(t, ts.URL, dialOpts{})
	c := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "b subscribes", b.call("subscribe", map[string]any{"room": "lobby"}))
	wantOK(t, "c subscribes", c.call("subscribe", map[string]any{"room": "lobby"}))
	wantOK(t, "b unsubscribes", b.call("unsubscribe", map[string]any{"room": "lobby"}))
	wantOK(t, "b subscribes again", b.call("subscribe", map[string]any{"room": "lobby"}))
	c.close()
	c.waitDone()
	// Every event a gets is a presence:diff; applied in order they end
	// with a and b in the room, as the presence list says.
	for !maps.Equal(set, map[string]string{a.id: "", b.id: ""}) {
		d := nextDiff(t, a)
		if d.Room != "lobby" {
			t.Fatalf("presence:diff of %q", d.Room)
		}
		d.apply(set)
	}
	pres := a.call("presence", map[string]any{"room": "lobby"})
	members, _ := pres["members"].([]any)
	if len(members) != 2 {
		t.Fatalf("presence = %v, want a and b", pres)
	}
	// Clients may not publish it.
	wantRefused(t, "publish presence:diff", a.call("publish", map[string]any{"room": "lobby", "event": EventPresenceDiff}), ReasonInvalidEvent)
}

// TestPresenceDiffBatch checks the coalescing without a clock: with an
// interval of an hour, the changes after the first one wait, each socket
// keeps only its last change, and the batch goes as soon as it holds the
// most changes it may (bounded).
func TestPresenceDiffBatch(t *testing.T) {
	cfg := testConfig()
	cfg.Namespaces[0].PresenceDiffInterval = time.Hour
	srv, ts := startServer(t, cfg)
	diffs := srv.rules["/"].diffs
	diffs.max = 4
	t.Cleanup(diffs.close)

	obs := mustDial(t, ts.URL, dialOpts{})
	// The observer's join is sent at once, but not to itself.
	wantOK(t, "observer subscribes", obs.call("subscribe", map[string]any{"room": "r"}))
	sub := func(c *testClient) { wantOK(t, "subscribe", c.call("subscribe", map[string]any{"room": "r"})) }
	unsub := func(c *testClient) { wantOK(t, "unsubscribe", c.call("unsubscribe", map[string]any{"room": "r"})) }
	x := mustDial(t, ts.URL, dialOpts{})
	y := mustDial(t, ts.URL, dialOpts{})
	z := mustDial(t, ts.URL, dialOpts{})
	w := mustDial(t, ts.URL, dialOpts{})
	sub(x)
	unsub(x)
	sub(x) // x: joined
	sub(y)
	unsub(y) // y: left
	sub(z)
	// Three sockets changed: nothing is sent until the fourth.
	sub(w)
	// The observer's first event is this batch.
	d := nextDiff(t, obs)
	if !slices.Equal(ids(d.Joins), []string{x.id, z.id, w.id}) || !slices.Equal(ids(d.Leaves), []string{y.id}) {
		t.Fatalf("batched presence:diff = joins %v leaves %v, want joins [x z w] = %v and leaves [y] = %v",
			ids(d.Joins), ids(d.Leaves), []string{x.id, z.id, w.id}, y.id)
	}
}

// TestPresenceDiffQuietRoom checks that a room whose changes were sent and
// that stays quiet for an interval holds no state, and that its next change
// is sent to the others, alone.
func TestPresenceDiffQuietRoom(t *testing.T) {
	cfg := testConfig()
	cfg.Namespaces[0].PresenceDiffInterval = 10 * time.Millisecond
	srv, ts := startServer(t, cfg)
	diffs := srv.rules["/"].diffs
	a := mustDial(t, ts.URL, dialOpts{})
	b := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "a subscribes", a.call("subscribe", map[string]any{"room": "q"}))
	forgotten := func() bool { return diffs.pending() == 0 }
	eventually(t, "the room to be forgotten", forgotten)
	for i := range 3 {
		wantOK(t, "b subscribes", b.call("subscribe", map[string]any{"room": "q"}))
		if d := nextDiff(t, a); !slices.Equal(ids(d.Joins), []string{b.id}) || len(d.Leaves) != 0 {
			t.Fatalf("round %d: presence:diff = %+v, want b's join", i, d)
		}
		eventually(t, "the room to be forgotten", forgotten)
		wantOK(t, "b unsubscribes", b.call("unsubscribe", map[string]any{"room": "q"}))
		if d := nextDiff(t, a); !slices.Equal(ids(d.Leaves), []string{b.id}) || len(d.Joins) != 0 {
			t.Fatalf("round %d: presence:diff = %+v, want b's leave", i, d)
		}
		eventually(t, "the room to be forgotten", forgotten)
	}
	// b was never sent a diff of its own change.
	select {
	case e := <-b.events:
		t.Fatalf("b got %s %s", e.name, e.args)
	default:
	}
}

// TestPresenceDiffOff checks that a namespace without presence:diff and
// join/leave events sends no presence events, and that a file's
// namespace starts without them.
func TestPresenceDiffOff(t *testing.T) {
	cfg := testConfig()
	if err := cfg.ParseYAML([]byte("namespaces:\n  - name: /\n    rooms: {public: ['*']}\n    publish: joined\n")); err != nil {
		t.Fatal(err)
	}
	if n := cfg.Namespaces[0]; n.PresenceDiffInterval != 0 || n.JoinLeaveEvents {
		t.Fatalf("a file's namespace = %+v, want no presence events", n)
	}
	srv, ts := startServer(t, cfg)
	if srv.rules["/"].diffs != nil {
		t.Fatal("presence:diff set up")
	}
	a := mustDial(t, ts.URL, dialOpts{})
	b := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "a subscribes", a.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "b subscribes", b.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "b unsubscribes", b.call("unsubscribe", map[string]any{"room": "r"}))
	wantOK(t, "b subscribes", b.call("subscribe", map[string]any{"room": "r"}))
	wantOK(t, "publish", b.call("publish", map[string]any{"room": "r", "event": "m"}))
	// The first event a gets is b's message: nothing came before it.
	if e := a.nextAny(); e.name != "m" {
		t.Fatalf("a got %s, want only m", e.name)
	}
}

// TestPresenceDiffConcurrent has clients join and leave one room
// concurrently, through small batches (sent when full) and a short
// interval: the observer's list, built from its presence:diff events in
// the order they came, ends as the room's.
func TestPresenceDiffConcurrent(t *testing.T) {
	cfg := testConfig()
	cfg.Namespaces[0].PresenceDiffInterval = time.Millisecond
	srv, ts := startServer(t, cfg)
	srv.rules["/"].diffs.max = 3
	obs := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "observer subscribes", obs.call("subscribe", map[string]any{"room": "r"}))
	set := map[string]string{obs.id: ""}

	const n = 12
	clients := make([]*testClient, n)
	for i := range clients {
		clients[i] = mustDial(t, ts.URL, dialOpts{})
	}
	want := map[string]string{obs.id: ""}
	done := make(chan struct{})
	for i, c := range clients {
		// Client i ends in the room when i is even; odd ones end out of it,
		// half of them by disconnecting.
		if i%2 == 0 {
			want[c.id] = ""
		}
		go func() {
			defer func() { done <- struct{}{} }()
			for range 5 {
				c.call("subscribe", map[string]any{"room": "r"})
				c.call("unsubscribe", map[string]any{"room": "r"})
			}
			switch {
			case i%2 == 0:
				c.call("subscribe", map[string]any{"room": "r"})
			case i%4 == 1:
				c.call("subscribe", map[string]any{"room": "r"})
				c.close()
			}
		}()
	}
	for range clients {
		<-done
	}
	for !maps.Equal(set, want) {
		nextDiff(t, obs).apply(set)
	}
	// The presence list agrees once the closed connections are gone (a
	// leave is announced while the socket disconnects).
	eventually(t, "the presence list to match", func() bool {
		var members []string
		for _, m := range obs.call("presence", map[string]any{"room": "r"})["members"].([]any) {
			members = append(members, m.(map[string]any)["id"].(string))
		}
		return slices.Equal(members, slices.Sorted(maps.Keys(want)))
	})
}
