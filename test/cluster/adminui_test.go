package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tether-rt/tether/adminui"
	"github.com/tether-rt/tether/internal/peertest"
)

// adminSocket is a socket as the Admin UI's all_sockets lists it.
type adminSocket struct {
	ID        string         `json:"id"`
	ClientID  string         `json:"clientId"`
	Transport string         `json:"transport"`
	Nsp       string         `json:"nsp"`
	Data      map[string]any `json:"data"`
	Handshake map[string]any `json:"handshake"`
	Rooms     []string       `json:"rooms"`
}

// TestAdminUIMixed runs the Admin UI in a mixed cluster on
// @socket.io/redis-adapter 8.3: a Tether server instrumented by package
// adminui and a Node socket.io 4.8 server instrumented by
// @socket.io/admin-ui 0.5's instrument(), on one redis-server, with
// official clients on both (on WebSocket, on long-polling, and upgraded
// from long-polling) and an admin client (socket.io-client on /admin, as
// the UI connects) on each. Each admin client lists the other server's
// sockets as the other server's own admin client does (client id,
// transport, handshake, rooms, data), gets both servers' statistics, and
// its join, leave and _disconnect operations reach the other server's
// clients.
func TestAdminUIMixed(t *testing.T) {
	nodeBin := peertest.Node(t, "test/cluster", "socket.io", "socket.io-client", "@socket.io/redis-adapter", "@socket.io/admin-ui", "redis")
	r := peertest.StartRedis(t)
	const key = "adminmix"
	node := startProc(t, nodeBin, "node server", "node_server.mjs", "classic", r.URL(), key, "admin")
	nodeURL := fmt.Sprintf("http://127.0.0.1:%d", node.wait("the node server to listen", func(l line) bool { return l.Op == "listening" }).Port)
	tn := startTether(t, r.URL(), "tether", key, "classic")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	admin, err := adminui.Instrument(tn.srv, adminui.Options{NoAuth: true, ServerID: "tether", Logger: quiet, ScanInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	for _, nsp := range []string{"/", "/admin"} {
		a := tn.srv.Of(nsp).Adapter()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err := a.(interface{ Settle(context.Context) error }).Settle(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Settle %s: %v", nsp, err)
		}
		waitUntil(t, "tether to count 2 servers on "+nsp, func() bool {
			n, err := a.ServerCount(context.Background())
			return err == nil && n == 2
		})
	}

	// A first admin client on the Node server watches the users come: the
	// events Tether's admin broadcasts on /admin reach it.
	watcher := startProc(t, nodeBin, "admin watcher", "node_client.mjs", fmt.Sprintf(`[{"name":"aw","url":%q}]`, nodeURL+"/admin"))
	watcher.wait("aw to connect", func(l line) bool { return l.Op == "connected" })

	// The users: tu upgrades from long-polling to WebSocket, tp stays on
	// long-polling; nw and np likewise on the Node server.
	type target struct {
		Name       string   `json:"name"`
		URL        string   `json:"url"`
		Transports []string `json:"transports"`
	}
	poll, upgrade, ws := []string{"polling"}, []string{"polling", "websocket"}, []string{"websocket"}
	users := []target{{"tu", tn.url, upgrade}, {"tp", tn.url, poll}, {"nw", nodeURL, ws}, {"np", nodeURL, poll}}
	wantTransport := map[string]string{"tu": "websocket", "tp": "polling", "nw": "websocket", "np": "polling"}
	b, _ := json.Marshal(users)
	clients := startProc(t, nodeBin, "node clients", "node_client.mjs", string(b))
	sids, engines := map[string]string{}, map[string]string{}
	for _, u := range users {
		l := clients.wait(u.Name+" to connect", func(l line) bool {
			return (l.Op == "connected" || l.Op == "connect_error") && l.Name == u.Name
		})
		if l.Op != "connected" {
			t.Fatalf("%s: %s", u.Name, l.raw)
		}
		sids[u.Name], engines[u.Name] = l.ID, l.Engine
	}
	clients.wait("tu to upgrade", func(l line) bool { return l.Op == "upgrade" && l.Name == "tu" })
	for _, name := range []string{"tu", "tp"} {
		waitUntil(t, name+"'s socket on tether", func() bool { return tn.srv.Sockets().Socket(sids[name]) != nil })
	}
	for _, name := range []string{"nw", "np"} {
		node.wait(name+"'s socket on the node server", func(l line) bool { return l.Op == "connection" && l.ID == sids[name] })
	}
	// Tether's sockets as the watcher got them: their connection, and tu's
	// upgrade, which Tether's admin announces once it has recorded it (a
	// UI that lists the sockets from then on sees tu on WebSocket).
	connected := map[string]adminSocket{}
	for _, name := range []string{"tu", "tp"} {
		l := watcher.wait(name+"'s socket_connected on aw", func(l line) bool {
			var s adminSocket
			return l.Op == "event" && l.Event == "socket_connected" && json.Unmarshal(l.Args[0], &s) == nil && s.ID == sids[name]
		})
		var s adminSocket
		_ = json.Unmarshal(l.Args[0], &s)
		connected[name] = s
	}
	watcher.wait("tu's socket_updated on aw", func(l line) bool {
		var u struct{ ID, Nsp, Transport string }
		return l.Op == "event" && l.Event == "socket_updated" && json.Unmarshal(l.Args[0], &u) == nil &&
			u.ID == sids["tu"] && u.Nsp == "/" && u.Transport == "websocket"
	})

	// An admin client on each server.
	admins := []target{{"an", nodeURL + "/admin", ws}, {"at", tn.url + "/admin", ws}}
	b, _ = json.Marshal(admins)
	ui := startProc(t, nodeBin, "admin clients", "node_client.mjs", string(b))
	views := map[string]map[string]adminSocket{} // admin -> socket id -> socket
	for _, a := range admins {
		l := ui.wait(a.Name+" to connect", func(l line) bool {
			return (l.Op == "connected" || l.Op == "connect_error") && l.Name == a.Name
		})
		if l.Op != "connected" {
			t.Fatalf("%s: %s", a.Name, l.raw)
		}
		all := ui.wait(a.Name+"'s all_sockets", func(l line) bool { return l.Op == "event" && l.Name == a.Name && l.Event == "all_sockets" })
		var list []adminSocket
		if err := json.Unmarshal(all.Args[0], &list); err != nil {
			t.Fatalf("%s: all_sockets: %v", a.Name, err)
		}
		views[a.Name] = map[string]adminSocket{}
		for _, s := range list {
			views[a.Name][s.ID] = s
		}
	}

	// Both admin clients list every user, the same way: what the UI on one
	// implementation shows of the other's sockets is what the other's own
	// UI shows.
	for _, name := range slices.Sorted(maps.Keys(sids)) {
		onNode, okN := views["an"][sids[name]]
		onTether, okT := views["at"][sids[name]]
		if !okN || !okT {
			t.Fatalf("%s (%s) listed by the node admin: %v, by the tether admin: %v", name, sids[name], okN, okT)
		}
		for admin, s := range map[string]adminSocket{"an": onNode, "at": onTether} {
			server := map[byte]string{'t': "tether", 'n': "node"}[name[0]]
			if s.Nsp != "/" || s.Transport != wantTransport[name] || s.ClientID == "" || s.ClientID == s.ID ||
				!reflect.DeepEqual(s.Data, map[string]any{"node": server}) || !slices.Equal(s.Rooms, []string{s.ID}) {
				t.Errorf("%s as %s lists it: %+v", name, admin, s)
			}
			h := s.Handshake
			if h["address"] != "127.0.0.1" || h["url"] == nil || h["issued"] == nil || h["time"] == nil || h["secure"] != false ||
				h["auth"] != nil || h["query"].(map[string]any)["EIO"] != "4" || h["headers"].(map[string]any)["host"] == nil {
				t.Errorf("%s's handshake as %s lists it: %v", name, admin, h)
			}
		}
		// time is Date.toString(): Tether formats it again from issued.
		delete(onNode.Handshake, "time")
		delete(onTether.Handshake, "time")
		if !reflect.DeepEqual(onNode, onTether) {
			t.Errorf("%s: the node admin lists\n  %+v\nthe tether admin lists\n  %+v", name, onNode, onTether)
		}
	}
	for _, name := range []string{"tu", "tp"} {
		if c, l := connected[name], views["at"][sids[name]]; c.ClientID != l.ClientID || c.Nsp != "/" || !reflect.DeepEqual(c.Data, l.Data) {
			t.Errorf("%s: socket_connected on aw %+v, listed by at %+v", name, c, l)
		}
	}
	// Node's client id is the start of the Engine.IO session id; Tether's,
	// a digest of it, the same for every socket of a connection.
	for _, name := range []string{"nw", "np"} {
		if got := views["at"][sids[name]].ClientID; got != engines[name][:12] {
			t.Errorf("%s's client id on the tether admin: %q, want %q", name, got, engines[name][:12])
		}
	}
	if views["an"][sids["tu"]].ClientID == views["an"][sids["tp"]].ClientID {
		t.Errorf("tu and tp have the same client id %q", views["an"][sids["tu"]].ClientID)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Both servers' statistics reach both admin clients.
	for _, a := range []string{"an", "at"} {
		for _, server := range []string{"node", "tether"} {
			ui.wait(a+" to get "+server+"'s server_stats", func(l line) bool {
				if l.Op != "event" || l.Name != a || l.Event != "server_stats" {
					return false
				}
				var st struct {
					ServerID   string `json:"serverId"`
					Namespaces []struct {
						Name string `json:"name"`
					} `json:"namespaces"`
				}
				return json.Unmarshal(l.Args[0], &st) == nil && st.ServerID == server &&
					slices.ContainsFunc(st.Namespaces, func(n struct {
						Name string `json:"name"`
					}) bool {
						return n.Name == "/"
					})
			})
		}
	}

	uiEmit := func(admin, event string, args ...any) {
		ui.send(map[string]any{"name": admin, "event": event, "args": args})
	}
	got := func(name, event, arg string) bool {
		return slices.ContainsFunc(clients.snapshot(), func(l line) bool {
			return l.Op == "event" && l.Name == name && l.Event == event && len(l.Args) > 0 && string(l.Args[0]) == arg
		})
	}
	waitFor := func(name, event, arg string) {
		t.Helper()
		clients.wait(fmt.Sprintf("%s to get %s %s", name, event, arg), func(l line) bool {
			return l.Op == "event" && l.Name == name && l.Event == event && len(l.Args) > 0 && string(l.Args[0]) == arg
		})
	}
	nodeRoom := func(room string) []string {
		var socks []struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(node.call("fetchSockets", map[string]any{"rooms": []string{room}}), &socks)
		var ids []string
		for _, s := range socks {
			ids = append(ids, s.ID)
		}
		return ids
	}

	// The Node UI makes Tether's tu join a room, and leave it.
	uiEmit("an", "join", "/", "vip", sids["tu"])
	waitUntil(t, "tu to join vip", func() bool { return slices.Contains(tn.srv.Sockets().Socket(sids["tu"]).Rooms(), "vip") })
	tn.settle(t) // tether's subscription to vip's channel
	uiEmit("an", "emit", "/", "vip", "news", "node ui")
	waitFor("tu", "news", `"node ui"`)
	uiEmit("an", "leave", "/", "vip", sids["tu"])
	uiEmit("an", "emit", "/", "vip", "news", "node ui after leave")
	uiEmit("an", "emit", "/", "", "fence", 1)
	waitFor("tu", "fence", "1")
	if got("tu", "news", `"node ui after leave"`) || got("tp", "news", `"node ui"`) {
		t.Fatal("a broadcast to vip reached a socket not in it")
	}

	// The Tether UI makes Node's nw join a room, and leave it.
	uiEmit("at", "join", "/", "vip", sids["nw"])
	waitUntil(t, "nw to join vip", func() bool { return slices.Contains(nodeRoom("vip"), sids["nw"]) })
	uiEmit("at", "emit", "/", "vip", "news", "tether ui")
	waitFor("nw", "news", `"tether ui"`)
	uiEmit("at", "leave", "/", "vip", sids["nw"])
	uiEmit("at", "emit", "/", "vip", "news", "tether ui after leave")
	uiEmit("at", "emit", "/", "", "fence", 2)
	waitFor("nw", "fence", "2")
	if got("nw", "news", `"tether ui after leave"`) || got("np", "news", `"tether ui"`) {
		t.Fatal("a broadcast to vip reached a socket not in it")
	}

	// Each UI disconnects a socket of the other server.
	uiEmit("an", "_disconnect", "/", false, sids["tp"])
	uiEmit("at", "_disconnect", "/", false, sids["np"])
	for _, name := range []string{"tp", "np"} {
		l := clients.wait(name+" to be disconnected", func(l line) bool { return l.Op == "disconnect" && l.Name == name })
		if l.Reason != "io server disconnect" {
			t.Fatalf("%s: disconnected with %q", name, l.Reason)
		}
	}
	// The others stay: a broadcast sent after reaches them.
	uiEmit("at", "emit", "/", "", "fence", 3)
	waitFor("tu", "fence", "3")
	waitFor("nw", "fence", "3")
	if slices.ContainsFunc(clients.snapshot(), func(l line) bool { return l.Op == "disconnect" && (l.Name == "tu" || l.Name == "nw") }) {
		t.Fatal("the _disconnect of one socket disconnected another")
	}
}
