package adminui

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/socketio"
)

// TestCluster checks the Admin UI of a server in a cluster: it lists the
// sockets of the other servers too, and its operations reach them.
func TestCluster(t *testing.T) {
	bus := cluster.NewBus()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var servers []*socketio.Server
	var urls []*httptest.Server
	for i := range 2 {
		srv := socketio.NewServer(&socketio.Options{Logger: quiet, Adapter: cluster.NewFactory(bus.Dialer(), nil)})
		admin, err := Instrument(srv, Options{NoAuth: true, Logger: quiet, StatsInterval: 20 * time.Millisecond, ScanInterval: 10 * time.Millisecond, ServerID: []string{"a", "b"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(func() {
			admin.Close()
			srv.Close()
			ts.Close()
		})
		servers, urls = append(servers, srv), append(urls, ts)
	}
	// A user on b, the UI on a.
	user, sid := dialUser(t, urls[1], "/")
	// b's admin records the client id and transport in the socket's data
	// in a connection handler, which runs after the user got its CONNECT.
	user.settle()
	ui := dialAdmin(t, urls[0])
	all := ui.nextEvent("/admin", "all_sockets", nil)
	var sockets []map[string]any
	if err := json.Unmarshal(all.args[0], &sockets); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(sockets, func(s map[string]any) bool { return s["id"] == sid })
	if i < 0 {
		t.Fatalf("all_sockets on a lacks b's socket %s: %s", sid, all.args[0])
	}
	// Its client id and transport are those b recorded in its data.
	engineID := servers[1].Of("/").Socket(sid).EngineID()
	if got := sockets[i]; got["clientId"] != clientID(engineID) || got["transport"] != "websocket" {
		t.Fatalf("b's socket as a shows it: clientId %v (want %s), transport %v", got["clientId"], clientID(engineID), got["transport"])
	}
	if data, _ := sockets[i]["data"].(map[string]any); data == nil || data["_admin"] != nil {
		t.Fatalf("b's socket's data as a shows it: %v", sockets[i]["data"])
	}
	// Both servers' statistics reach the UI.
	seen := map[string]bool{}
	for !seen["a"] || !seen["b"] {
		e := ui.nextEvent("/admin", "server_stats", nil)
		var st struct {
			ServerID string `json:"serverId"`
		}
		_ = json.Unmarshal(e.args[0], &st)
		seen[st.ServerID] = true
	}
	// Operations made on a act on b's socket.
	ui.emit("/admin", "join", "/", "vip", sid)
	sock := servers[1].Of("/").Socket(sid)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(sock.Rooms(), "vip") {
		if time.Now().After(deadline) {
			t.Fatalf("b's socket did not join vip: %v", sock.Rooms())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ui.emit("/admin", "emit", "/", "vip", "news", 1)
	if e := user.nextEvent("/", "news", nil); string(e.args[0]) != "1" {
		t.Fatalf("news: %s", e.args)
	}
	ui.emit("/admin", "_disconnect", "/", false, sid)
	user.next(func(p string) bool { return p == "41" })
}
