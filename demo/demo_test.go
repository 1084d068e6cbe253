package demo

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

type okReply struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Player player `json:"player"`
	On     bool   `json:"on"`
}

func TestLeaderboard(t *testing.T) {
	ts := newTestServer(t, Options{})
	player1 := mustDial(t, ts, "/leaderboard", nil)
	viewer := mustDial(t, ts, "/leaderboard", nil)
	first := waitFor[ranking](viewer, "ranking", nil)
	if len(first.Top) != 5 || !first.Top[0].Bot || first.Bots {
		t.Fatalf("first ranking: %+v, want the 5 bots at 0 and the bot mode off", first)
	}

	if r := call[okReply](player1, "score"); r.OK || r.Error != "join first" {
		t.Fatalf("score before join: %+v", r)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", 25), "bot ada", "a\x00b"} {
		if r := call[okReply](player1, "join", map[string]string{"name": bad}); r.OK {
			t.Fatalf("join %q: accepted", bad)
		}
	}
	if r := call[okReply](player1, "join", map[string]string{"name": " alice "}); !r.OK || r.Player.Name != "alice" {
		t.Fatalf("join alice: %+v", r)
	}
	var last okReply
	for range 3 {
		last = call[okReply](player1, "score")
	}
	if !last.OK || last.Player.Score != 3 || last.Player.Rank != 1 {
		t.Fatalf("after 3 points: %+v", last)
	}
	// The viewer sees alice on top with 3 points.
	r := waitFor(viewer, "ranking", func(r ranking) bool { return len(r.Top) > 0 && r.Top[0].Score == 3 })
	if r.Top[0].Name != "alice" || r.Top[0].Rank != 1 || r.Players != 6 || r.Points != 3 || r.Viewers != 2 {
		t.Fatalf("ranking: %+v", r)
	}
	for _, p := range r.Top[1:] {
		if p.Rank != 2 || p.Score != 0 {
			t.Fatalf("ranking: %+v", r)
		}
	}

	// Another socket with the same name plays for the same player.
	player2 := mustDial(t, ts, "/leaderboard", nil)
	if r := call[okReply](player2, "join", map[string]string{"name": "ALICE"}); !r.OK || r.Player.Score != 3 {
		t.Fatalf("join ALICE: %+v", r)
	}
}

func TestLeaderboardBots(t *testing.T) {
	ts := newTestServer(t, Options{BotsOn: true, Bots: 3, BotRate: 1000, LeaderboardSize: 2})
	c := mustDial(t, ts, "/leaderboard", nil)
	r := waitFor(c, "ranking", func(r ranking) bool { return r.Points > 0 })
	if !r.Bots || r.BotRate != 1000 || len(r.Top) != 2 || r.Players != 3 || !r.Top[0].Bot || r.Top[0].Score == 0 {
		t.Fatalf("ranking with bots: %+v", r)
	}
	if r := call[okReply](c, "bots", map[string]bool{"on": false}); !r.OK || r.On {
		t.Fatalf("bots off: %+v", r)
	}
	off := waitFor(c, "ranking", func(r ranking) bool { return !r.Bots })
	// The bots have stopped: the next ranking (after a score) has the same
	// bot points.
	call[okReply](c, "join", map[string]string{"name": "carol"})
	call[okReply](c, "score")
	after := waitFor(c, "ranking", func(r ranking) bool { return r.Points > off.Points })
	if after.Points != off.Points+1 {
		t.Fatalf("points went from %d to %d with the bots off and one point scored", off.Points, after.Points)
	}
	if r := call[okReply](c, "bots", map[string]bool{"on": true}); !r.OK || !r.On {
		t.Fatalf("bots on: %+v", r)
	}
	waitFor(c, "ranking", func(r ranking) bool { return r.Bots && r.Points > after.Points })
	ts.stop() // ends the bots' goroutine and the coalescer
	ts.stop()
}

type chatReply struct {
	OK      bool          `json:"ok"`
	Error   string        `json:"error"`
	Room    string        `json:"room"`
	ID      int64         `json:"id"`
	CID     string        `json:"cid"`
	History []chatMessage `json:"history"`
	Members []string      `json:"members"`
}

type presence struct {
	Room    string   `json:"room"`
	Members []string `json:"members"`
}

func TestChat(t *testing.T) {
	ts := newTestServer(t, Options{ChatHistory: 3})

	if _, p := dial(t, ts, "/chat", nil); p.typ != '4' || !strings.Contains(string(p.data), "a name is required") {
		t.Fatalf("connect without a name: %c %s", p.typ, p.data)
	}
	alice := mustDial(t, ts, "/chat", map[string]string{"name": "alice"})
	bob := mustDial(t, ts, "/chat", map[string]string{"name": "bob"})
	waitFor(bob, "rooms", func(l []roomInfo) bool {
		return slices.Equal(l, []roomInfo{{"general", 0}, {"random", 0}, {"golang", 0}})
	})

	if r := call[chatReply](alice, "message", map[string]string{"room": "general", "text": "hi"}); r.OK || r.Error != "join the room first" {
		t.Fatalf("message before join: %+v", r)
	}
	if r := call[chatReply](alice, "join", map[string]string{"room": "General"}); !r.OK || r.Room != "general" || len(r.History) != 0 || !slices.Equal(r.Members, []string{"alice"}) {
		t.Fatalf("alice joins: %+v", r)
	}
	if r := call[chatReply](bob, "join", map[string]string{"room": "general"}); !r.OK || !slices.Equal(r.Members, []string{"alice", "bob"}) {
		t.Fatalf("bob joins: %+v", r)
	}
	waitFor(alice, "presence", func(p presence) bool { return p.Room == "general" && slices.Equal(p.Members, []string{"alice", "bob"}) })
	waitFor(bob, "rooms", func(l []roomInfo) bool { return l[0] == roomInfo{"general", 2} })

	// Typing goes to the others. It is volatile: dropped when bob's
	// connection is busy writing, so alice says it again until bob hears it,
	// as the page does while its user types.
	var typing map[string]any
	for i := 0; typing == nil; i++ {
		if i == 50 {
			t.Fatal("bob never saw alice typing")
		}
		alice.emit("typing", map[string]any{"room": "general", "typing": true})
		typing, _ = waitWithin(bob, "typing", 200*time.Millisecond, func(map[string]any) bool { return true })
	}
	if typing["name"] != "alice" || typing["typing"] != true || typing["room"] != "general" {
		t.Fatalf("typing: %v", typing)
	}

	// A message: acknowledged to alice (sent), received by bob, who reports
	// it; alice learns it was delivered.
	r := call[chatReply](alice, "message", map[string]string{"room": "general", "text": " hello bob ", "cid": "c1"})
	if !r.OK || r.ID != 1 || r.CID != "c1" {
		t.Fatalf("message: %+v", r)
	}
	m := waitFor(bob, "message", func(chatMessage) bool { return true })
	if m.ID != 1 || m.From != "alice" || m.Text != "hello bob" || m.Room != "general" || m.Delivered {
		t.Fatalf("bob got %+v", m)
	}
	alice.emit("received", map[string]any{"room": "general", "id": 1}) // the sender's own report counts for nothing
	bob.emit("received", map[string]any{"room": "general", "id": 1})
	d := waitFor(alice, "delivered", func(map[string]any) bool { return true })
	if d["room"] != "general" || d["id"] != float64(1) || d["cid"] != "c1" {
		t.Fatalf("delivered: %v", d)
	}

	// The history keeps the last 3 messages, with their delivery.
	for i := range 4 {
		if r := call[chatReply](bob, "message", map[string]string{"room": "general", "text": strings.Repeat("x", i+1)}); !r.OK || r.ID != int64(i+2) {
			t.Fatalf("message %d: %+v", i, r)
		}
	}
	carol := mustDial(t, ts, "/chat", map[string]string{"name": "carol"})
	h := call[chatReply](carol, "join", map[string]string{"room": "general"})
	if ids := []int64{h.History[0].ID, h.History[1].ID, h.History[2].ID}; len(h.History) != 3 || !slices.Equal(ids, []int64{3, 4, 5}) {
		t.Fatalf("history: %+v", h.History)
	}
	if r := call[chatReply](carol, "join", map[string]string{"room": "random"}); !r.OK {
		t.Fatalf("join random: %+v", r)
	}

	// Leaving updates the presence list; a closed connection too.
	if r := call[chatReply](bob, "leave", map[string]string{"room": "general"}); !r.OK {
		t.Fatalf("leave: %+v", r)
	}
	waitFor(alice, "presence", func(p presence) bool { return slices.Equal(p.Members, []string{"alice", "carol"}) })
	carol.close()
	waitFor(alice, "presence", func(p presence) bool { return slices.Equal(p.Members, []string{"alice"}) })
	waitFor(alice, "rooms", func(l []roomInfo) bool { return l[0] == roomInfo{"general", 1} && l[1] == roomInfo{"random", 0} })

	// Rooms: created on join, within limits.
	if r := call[chatReply](bob, "join", map[string]string{"room": "bad room!"}); r.OK {
		t.Fatalf("join 'bad room!': %+v", r)
	}
	if r := call[chatReply](bob, "join", map[string]string{"room": "new-room"}); !r.OK {
		t.Fatalf("join new-room: %+v", r)
	}
	waitFor(alice, "rooms", func(l []roomInfo) bool { return len(l) == 4 && l[3] == roomInfo{"new-room", 1} })
	if r := call[chatReply](bob, "message", map[string]string{"room": "new-room", "text": strings.Repeat("é", 1001)}); r.OK {
		t.Fatalf("a message too long was accepted")
	}
}

func TestChatMaxRooms(t *testing.T) {
	ts := newTestServer(t, Options{ChatRooms: []string{"a", "b"}, ChatMaxRooms: 3})
	c := mustDial(t, ts, "/chat", map[string]string{"name": "dave"})
	if r := call[chatReply](c, "join", map[string]string{"room": "c"}); !r.OK {
		t.Fatalf("join c: %+v", r)
	}
	if r := call[chatReply](c, "join", map[string]string{"room": "d"}); r.OK || r.Error != "too many rooms" {
		t.Fatalf("join d: %+v", r)
	}
}

func TestTicker(t *testing.T) {
	ts := newTestServer(t, Options{TickerRate: 100})
	c := mustDial(t, ts, "/ticker", nil)
	info := waitFor(c, "init", func(map[string]any) bool { return true })
	if syms := info["symbols"].([]any); len(syms) != len(symbols) || info["rate"] != float64(100) {
		t.Fatalf("init: %v", info)
	}
	before := nowMillis()
	t1 := waitFor(c, "tick", func(tick) bool { return true })
	t2 := waitFor(c, "tick", func(tick) bool { return true })
	if t2.Seq <= t1.Seq || t2.Time < t1.Time || t1.Time < before-1000 || len(t1.Prices) != len(symbols) {
		t.Fatalf("ticks %+v then %+v", t1, t2)
	}
	for _, p := range t2.Prices {
		if p <= 0 {
			t.Fatalf("price %v", p)
		}
	}
	serverTime := call[float64](c, "ping", nowMillis())
	if serverTime < before {
		t.Fatalf("ping answered %v, before %v", serverTime, before)
	}
}

func TestTickerRandomWalkStaysNearItsOpen(t *testing.T) {
	tk := &ticker{rate: 10, syms: slices.Clone(symbols)}
	for i := range tk.syms {
		tk.syms[i].price = tk.syms[i].Open
	}
	for range 36000 { // an hour at 10 ticks per second
		tk.next()
	}
	for _, s := range tk.syms {
		if s.price < s.Open/3 || s.price > s.Open*3 {
			t.Errorf("%s went from %v to %v in an hour", s.Symbol, s.Open, s.price)
		}
	}
}

func TestCoalescer(t *testing.T) {
	var runs atomic.Int32
	gate := make(chan struct{})
	ran := make(chan struct{}, 10)
	c := newCoalescer(time.Millisecond, func() {
		if runs.Add(1) == 1 {
			<-gate
		}
		ran <- struct{}{}
	})
	c.kick()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// While the first run is under way, many kicks make one more run.
	for range 100 {
		c.kick()
	}
	close(gate)
	<-ran
	<-ran
	c.stop()
	c.kick() // after stop: nothing runs
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
}

func TestAssets(t *testing.T) {
	a := Assets()
	pages := []string{"index.html", "leaderboard.html", "chat.html", "ticker.html"}
	if err := fstest.TestFS(a, append(pages, "style.css", "common.js", "leaderboard.js", "chat.js", "ticker.js", "vendor/README.txt")...); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages[1:] {
		b, _ := fs.ReadFile(a, p)
		for _, want := range []string{`src="vendor/socket.io.min.js"`, `src="common.js"`, `href="style.css"`, "data-status"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %s", p, want)
			}
		}
	}

	// The client script, embedded by scripts/build-web.sh or read from
	// demo/web/node_modules.
	ts := newTestServer(t, Options{})
	resp, err := http.Get(ts.url + "/vendor/socket.io.min.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		msg := "socket.io.min.js is neither embedded nor in demo/web/node_modules: run scripts/build-web.sh"
		if os.Getenv("TETHER_REQUIRE_PEERS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(string(body), "io") {
		t.Fatalf("GET /vendor/socket.io.min.js: %s %s, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
}

func TestAssetsFallback(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "socket.io.min.js"), []byte("/* client */"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.js"), []byte("/* other */"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &assetFS{embedded: fstest.MapFS{"index.html": {Data: []byte("hi")}}, clientDirs: []string{filepath.Join(dir, "missing"), dir}}
	if b, err := fs.ReadFile(a, "vendor/socket.io.min.js"); err != nil || string(b) != "/* client */" {
		t.Fatalf("client from node_modules: %q, %v", b, err)
	}
	for _, name := range []string{"vendor/other.js", "other.js", "vendor/socket.io.min.js.map"} {
		if _, err := fs.ReadFile(a, name); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want not found", name, err)
		}
	}
	// An embedded copy wins.
	a.embedded = fstest.MapFS{"vendor/socket.io.min.js": {Data: []byte("embedded")}}
	if b, _ := fs.ReadFile(a, "vendor/socket.io.min.js"); string(b) != "embedded" {
		t.Fatalf("got %q, want the embedded copy", b)
	}
}
