package adminui

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tether-rt/tether/socketio"
)

// testHash is the bcrypt hash of "changeit" (cost 4, fast in tests).
var testHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("changeit"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// logBuffer collects log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// setup serves a Socket.IO server, instrumented with opts (fast scans and
// statistics), whose sockets of "/" answer a "join" event by joining the
// room it names.
func setup(t *testing.T, opts Options) (*socketio.Server, *Admin, *httptest.Server, *logBuffer) {
	t.Helper()
	io := socketio.NewServer(&socketio.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	io.OnConnection(func(s *socketio.Socket) {
		s.Data().Set("user", "alice")
		s.On("join", func(s *socketio.Socket, args []json.RawMessage, _ socketio.AckFunc) {
			room, _ := socketio.Decode[string](args, 0)
			s.Join(room)
		})
	})
	logs := &logBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	if opts.StatsInterval == 0 {
		opts.StatsInterval = 20 * time.Millisecond
	}
	if opts.ScanInterval == 0 {
		opts.ScanInterval = 10 * time.Millisecond
	}
	admin, err := Instrument(io, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(io)
	t.Cleanup(func() {
		admin.Close()
		io.Close()
		ts.Close()
	})
	return io, admin, ts, logs
}

func TestInstrumentOptions(t *testing.T) {
	io := socketio.NewServer(nil)
	defer io.Close()
	for _, tc := range []struct {
		opts Options
		err  string
	}{
		{Options{}, "set Options.Auth, or Options.NoAuth"},
		{Options{Auth: &BasicAuth{Username: "admin", PasswordHash: "changeit"}}, "not a bcrypt hash"},
		{Options{Auth: &BasicAuth{PasswordHash: testHash}}, "Username is empty"},
	} {
		if _, err := Instrument(io, tc.opts); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Instrument(%+v): %v, want %q", tc.opts, err, tc.err)
		}
	}
	if slices.Contains(io.Namespaces(), DefaultNamespace) {
		t.Errorf("a refused Instrument created the namespace")
	}
}

// TestLogin checks the basic authentication: wrong credentials are
// refused with "invalid credentials" (and logged), right ones give a
// login session whose id logs in again.
func TestLogin(t *testing.T) {
	_, _, ts, logs := setup(t, Options{Auth: &BasicAuth{Username: "admin", PasswordHash: testHash}})
	for _, auth := range []map[string]string{
		{},
		{"username": "admin", "password": "wrong"},
		{"username": "root", "password": "changeit"},
		{"sessionId": "0123456789abcdef"},
	} {
		c := dial(t, ts)
		payload, ok := c.connect("/admin", auth)
		if ok || string(payload) != `{"message":"invalid credentials"}` {
			t.Errorf("auth %v: connected %v, %s", auth, ok, payload)
		}
	}
	if n := strings.Count(logs.String(), "refused an Admin UI login"); n != 4 {
		t.Errorf("%d refusals logged, want 4:\n%s", n, logs)
	}

	c := dial(t, ts)
	if payload, ok := c.connect("/admin", map[string]string{"username": "admin", "password": "changeit"}); !ok {
		t.Fatalf("right credentials refused: %s", payload)
	}
	session := str(c.nextEvent("/admin", "session", nil).args[0])
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(session) {
		t.Fatalf("session id %q", session)
	}
	config := obj(t, c.nextEvent("/admin", "config", nil).args[0])
	want := []any{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}
	if got, _ := config["supportedFeatures"].([]any); !slices.Equal(got, want) {
		t.Errorf("features %v, want %v", got, want)
	}

	// The session id logs in again, without a new session.
	c2 := dial(t, ts)
	if payload, ok := c2.connect("/admin", map[string]string{"sessionId": session}); !ok {
		t.Fatalf("session id refused: %s", payload)
	}
	if e := c2.nextEvent("/admin", "config", nil); e.name != "config" {
		t.Fatal(e)
	}
	if !strings.Contains(logs.String(), "Admin UI login") {
		t.Errorf("the login is not logged:\n%s", logs)
	}
}

// TestSockets checks what the UI sees of a client in development mode:
// the socket in all_sockets and socket_connected (with its data, rooms and
// handshake, without the auth payload), its rooms joined and left, its
// events, its disconnection, and the server's statistics.
func TestSockets(t *testing.T) {
	io, _, ts, _ := setup(t, Options{NoAuth: true})
	ui := dialAdmin(t, ts)
	all := ui.nextEvent("/admin", "all_sockets", nil)
	var sockets []map[string]any
	if err := json.Unmarshal(all.args[0], &sockets); err != nil || len(sockets) != 1 || sockets[0]["nsp"] != "/admin" {
		t.Fatalf("all_sockets with the UI alone: %s", all.args)
	}

	user := dial(t, ts)
	payload, ok := user.connect("/", map[string]string{"token": "secret-token"})
	if !ok {
		t.Fatal("user refused")
	}
	var id struct{ SID string }
	_ = json.Unmarshal(payload, &id)
	sid := id.SID
	e := ui.nextEvent("/admin", "socket_connected", func(args []json.RawMessage) bool { return obj(t, args[0])["nsp"] == "/" })
	s := obj(t, e.args[0])
	hs, _ := s["handshake"].(map[string]any)
	if s["id"] != sid || s["transport"] != "websocket" || s["data"].(map[string]any)["user"] != "alice" ||
		!slices.Contains(s["rooms"].([]any), any(sid)) || len(s["clientId"].(string)) != 12 ||
		hs == nil || hs["address"] != "127.0.0.1" || hs["headers"] == nil {
		t.Errorf("socket_connected: %s", e.args[0])
	}
	if strings.Contains(string(e.args[0]), "secret-token") || hs["auth"] != nil {
		t.Errorf("the handshake's auth payload reached the UI: %s", e.args[0])
	}
	if !regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$`).Match(e.args[1]) {
		t.Errorf("date %s", e.args[1])
	}

	user.emit("/", "join", "lobby")
	e = ui.nextEvent("/admin", "event_received", nil)
	if str(e.args[0]) != "/" || str(e.args[1]) != sid || string(e.args[2]) != `["join","lobby"]` {
		t.Errorf("event_received: %s", e.args)
	}
	e = ui.nextEvent("/admin", "room_joined", nil)
	if str(e.args[0]) != "/" || str(e.args[1]) != "lobby" || str(e.args[2]) != sid {
		t.Errorf("room_joined: %s", e.args)
	}

	// The statistics count both connections (the UI's and the user's).
	stats, counts := ui.statsUntil(func(stats map[string]any, counts map[string]float64) bool {
		return counts["rawConnection"] == 2 && namespaceCounts(stats)["/"] == 1
	})
	if stats["clientsCount"] != 2.0 || stats["pollingClientsCount"] != 0.0 || stats["serverId"] == "" || stats["pid"] == 0.0 ||
		namespaceCounts(stats)["/admin"] != 1 || counts["rawDisconnection"] != 0 {
		t.Errorf("server_stats: %v; aggregated events %v", stats, counts)
	}

	io.Of("/").In("lobby").SocketsLeave("lobby")
	if e := ui.nextEvent("/admin", "room_left", nil); str(e.args[1]) != "lobby" || str(e.args[2]) != sid {
		t.Errorf("room_left: %s", e.args)
	}

	user.send("41") // DISCONNECT from "/"
	e = ui.nextEvent("/admin", "socket_disconnected", nil)
	if str(e.args[0]) != "/" || str(e.args[1]) != sid || str(e.args[2]) != socketio.ReasonClientNamespaceDisconnect {
		t.Errorf("socket_disconnected: %s", e.args)
	}
	ui.nextEvent("/admin", "room_left", func(args []json.RawMessage) bool { return str(args[1]) == sid })
	_, counts = ui.statsUntil(func(stats map[string]any, counts map[string]float64) bool {
		return counts["rawDisconnection/client namespace disconnect"] == 1 && namespaceCounts(stats)["/"] == 0
	})
	if counts["rawConnection"] != 0 {
		t.Errorf("aggregated events after the disconnection: %v", counts)
	}
}

// statsUntil takes the server_stats events, in order, until done accepts
// the last one and the sums of the aggregated events taken by type (and
// type/subType), which it returns.
func (c *client) statsUntil(done func(stats map[string]any, counts map[string]float64) bool) (map[string]any, map[string]float64) {
	c.t.Helper()
	counts := map[string]float64{}
	for {
		stats := obj(c.t, c.nextEvent("/admin", "server_stats", nil).args[0])
		for _, e := range stats["aggregatedEvents"].([]any) {
			e := e.(map[string]any)
			counts[e["type"].(string)] += e["count"].(float64)
			if sub, ok := e["subType"].(string); ok {
				counts[e["type"].(string)+"/"+sub] += e["count"].(float64)
			}
		}
		if done(stats, counts) {
			return stats, counts
		}
	}
}

// namespaceCounts returns the sockets of each namespace in server_stats.
func namespaceCounts(stats map[string]any) map[string]float64 {
	nsps := map[string]float64{}
	for _, n := range stats["namespaces"].([]any) {
		n := n.(map[string]any)
		nsps[n["name"].(string)] = n["socketsCount"].(float64)
	}
	return nsps
}

// TestOperations checks the UI's operations: join, leave, emit and
// disconnect, on a socket or a whole namespace; and that an unknown
// namespace is neither served nor created.
func TestOperations(t *testing.T) {
	io, _, ts, logs := setup(t, Options{NoAuth: true})
	ui := dialAdmin(t, ts)
	user, sid := dialUser(t, ts, "/")
	sock := io.Of("/").Socket(sid)
	// The user gets its CONNECT before the server runs the connection
	// handlers, the admin's among them: a join made before the admin
	// follows the socket shows in socket_connected's rooms, never as
	// room_joined. socket_connected goes out once the admin follows it.
	ui.nextEvent("/admin", "socket_connected", func(args []json.RawMessage) bool { return obj(t, args[0])["id"] == sid })

	ui.emit("/admin", "join", "/", "vip", sid)
	ui.nextEvent("/admin", "room_joined", func(args []json.RawMessage) bool { return str(args[1]) == "vip" })
	if !slices.Contains(sock.Rooms(), "vip") {
		t.Fatalf("rooms after join: %v", sock.Rooms())
	}
	ui.emit("/admin", "emit", "/", "vip", "news", map[string]int{"n": 1}, "two")
	if e := user.nextEvent("/", "news", nil); len(e.args) != 2 || string(e.args[0]) != `{"n":1}` || str(e.args[1]) != "two" {
		t.Fatalf("news: %s", e.args)
	}
	ui.emit("/admin", "leave", "/", "vip", nil) // every socket of "/"
	ui.nextEvent("/admin", "room_left", func(args []json.RawMessage) bool { return str(args[1]) == "vip" })
	if slices.Contains(sock.Rooms(), "vip") {
		t.Fatalf("rooms after leave: %v", sock.Rooms())
	}

	before := io.Namespaces()
	ui.emit("/admin", "join", "/nope", "vip", nil)
	ui.emit("/admin", "emit", "/nope", nil, "x")
	ui.emit("/admin", "_disconnect", "/", false, sid)
	user.next(func(p string) bool { return p == "41" })
	if after := io.Namespaces(); len(after) != len(before) {
		t.Errorf("namespaces %v, then %v", before, after)
	}
	for _, w := range []string{
		`msg="Admin UI join" namespace=/ room=vip sockets=` + sid,
		`msg="Admin UI emit" namespace=/ room=vip event=news`,
		`msg="Admin UI leave" namespace=/ room=vip sockets=""`,
		`msg="refused an Admin UI join" namespace=/nope`,
		`msg="refused an Admin UI emit" namespace=/nope`,
		`msg="Admin UI disconnect" namespace=/ sockets=` + sid + ` close=false`,
	} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
}

// TestReadOnlyAndProduction checks that a read-only UI announces and
// handles no operation, and that production mode sends no socket details.
func TestReadOnlyAndProduction(t *testing.T) {
	io, _, ts, _ := setup(t, Options{NoAuth: true, ReadOnly: true, Production: true})
	ui := dialAdmin(t, ts)
	config := obj(t, ui.nextEvent("/admin", "config", nil).args[0])
	if got, _ := config["supportedFeatures"].([]any); !slices.Equal(got, []any{"AGGREGATED_EVENTS"}) {
		t.Errorf("features %v", got)
	}
	_, sid := dialUser(t, ts, "/")
	ui.emit("/admin", "join", "/", "vip", sid)
	// The statistics still come, with both connections counted (the UI's
	// and the user's).
	ui.statsUntil(func(_ map[string]any, counts map[string]float64) bool { return counts["rawConnection"] == 2 })
	ui.settle() // the server handled the join
	if rooms := io.Of("/").Socket(sid).Rooms(); slices.Contains(rooms, "vip") {
		t.Errorf("a read-only UI made a socket join: %v", rooms)
	}
	ui.noEvent("/admin", "socket_connected", 100*time.Millisecond)
}

// TestDisconnectWhileBusy checks that a socket whose disconnection waits
// for its handlers (the server runs it after the event being handled) is
// reported with the reason of its disconnection, even when a scan comes
// while it waits: the scan must not take it for a socket that left unseen.
func TestDisconnectWhileBusy(t *testing.T) {
	io, admin, ts, _ := setup(t, Options{NoAuth: true, ScanInterval: time.Hour})
	busy, release := make(chan struct{}), make(chan struct{})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("block", func(*socketio.Socket, []json.RawMessage, socketio.AckFunc) {
			close(busy)
			<-release
		})
	})
	ui := dialAdmin(t, ts)
	user, sid := dialUser(t, ts, "/")
	ui.nextEvent("/admin", "socket_connected", func(args []json.RawMessage) bool { return obj(t, args[0])["id"] == sid })

	user.emit("/", "block")
	<-busy
	user.send("41") // DISCONNECT from "/", handled once "block" returns
	for deadline := time.Now().Add(10 * time.Second); io.Of("/").Socket(sid) != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the server did not take the DISCONNECT")
		}
	}
	admin.scan(time.Now())
	close(release)
	e := ui.nextEvent("/admin", "socket_disconnected", nil)
	if str(e.args[1]) != sid || str(e.args[2]) != socketio.ReasonClientNamespaceDisconnect {
		t.Errorf("socket_disconnected: %s", e.args)
	}
}

// TestLateNamespace checks that a scan follows the sockets of a namespace
// created after Instrument, which connected before the admin hooked it,
// and that their disconnection is reported with its reason.
func TestLateNamespace(t *testing.T) {
	io, admin, ts, _ := setup(t, Options{NoAuth: true, ScanInterval: time.Hour})
	io.Of("/late")
	ui := dialAdmin(t, ts)
	user, sid := dialUser(t, ts, "/late")
	admin.scan(time.Now())
	ui.nextEvent("/admin", "socket_connected", func(args []json.RawMessage) bool { return obj(t, args[0])["id"] == sid })
	user.send("41/late,")
	e := ui.nextEvent("/admin", "socket_disconnected", nil)
	if str(e.args[0]) != "/late" || str(e.args[1]) != sid || str(e.args[2]) != socketio.ReasonClientNamespaceDisconnect {
		t.Errorf("socket_disconnected: %s", e.args)
	}
}

// TestScanDisconnectKeepsOrder checks that a socket that only a scan
// followed, and that disconnects while the scan tells the UIs about it,
// is told connected before disconnected: its disconnection has no
// connection handler to wait for, and it used to overtake the scan's
// socket_connected, leaving the socket in the UI for ever.
func TestScanDisconnectKeepsOrder(t *testing.T) {
	io, admin, ts, _ := setup(t, Options{NoAuth: true, ScanInterval: time.Hour})
	ui := dialAdmin(t, ts)
	io.Of("/late") // after the admin's scans: not hooked until the next one
	user, sid := dialUser(t, ts, "/late")

	told := make(chan struct{})
	untracked := func(s *socketio.Socket) {
		if s.ID() == sid {
			close(told)
		}
	}
	tracked := func(s *socketio.Socket) {
		if s.ID() != sid {
			return
		}
		// The client leaves while the scan is about to tell its
		// connection; wait for its disconnection to be told (before the
		// fix it was, at once) or for a second (now it waits for this).
		user.send("41/late,")
		select {
		case <-told:
		case <-time.After(time.Second):
		}
	}
	testHooks.untracked.Store(&untracked)
	testHooks.tracked.Store(&tracked)
	t.Cleanup(func() { testHooks.tracked.Store(nil); testHooks.untracked.Store(nil) })
	admin.scan(time.Now())

	e := ui.next(func(p string) bool {
		e, ok := parseEvent(p, "/admin")
		switch {
		case !ok:
			return false
		case e.name == "socket_connected":
			return obj(t, e.args[0])["id"] == sid
		case e.name == "socket_disconnected":
			return str(e.args[1]) == sid
		}
		return false
	})
	if e, _ := parseEvent(e, "/admin"); e.name != "socket_connected" {
		t.Fatalf("the UI heard %s of %s first, want socket_connected", e.name, sid)
	}
	d := ui.nextEvent("/admin", "socket_disconnected", func(args []json.RawMessage) bool { return str(args[1]) == sid })
	if str(d.args[2]) != socketio.ReasonClientNamespaceDisconnect {
		t.Errorf("socket_disconnected: %s", d.args)
	}
}

// TestScanWaitsForConnectionHandlers has a scan run while an application's
// connection handler, which runs before the admin's, has not set the
// socket's data yet: the UI hears socket_connected once, with the data.
func TestScanWaitsForConnectionHandlers(t *testing.T) {
	io, admin, ts, _ := setup(t, Options{NoAuth: true, ScanInterval: time.Hour})
	ui := dialAdmin(t, ts)
	gate, entered := make(chan struct{}), make(chan struct{})
	io.Of("/late").OnConnection(func(s *socketio.Socket) { // before the admin's hook: it hooks /late at the next scan
		close(entered)
		<-gate
		s.Data().Set("node", "app")
	})
	admin.scan(time.Now())
	_, sid := dialUser(t, ts, "/late")
	<-entered
	admin.scan(time.Now()) // the handler has not returned
	close(gate)
	e := ui.nextEvent("/admin", "socket_connected", func(args []json.RawMessage) bool { return obj(t, args[0])["id"] == sid })
	if data, _ := obj(t, e.args[0])["data"].(map[string]any); data["node"] != "app" {
		t.Fatalf("socket_connected of %s: %s, want the data its connection handler set", sid, e.args[0])
	}
}
