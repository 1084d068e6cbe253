package server

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// adminHash is the bcrypt hash of "changeit" (cost 4, fast in tests).
var adminHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("changeit"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// TestAdminUIConfig checks the admin_ui settings: off by default, set from
// the environment and flags, the password hash redacted, and validated.
func TestAdminUIConfig(t *testing.T) {
	d := DefaultConfig().AdminUI
	if d.Enabled || d.Namespace != "/admin" || d.Mode != "development" || d.NoAuth || d.ReadOnly {
		t.Fatalf("defaults %+v", d)
	}
	c, err := LoadConfig("serve", []string{"-admin-ui-mode", "production", "-admin-ui-read-only"}, env(map[string]string{
		"TETHER_ADMIN_UI":               "true",
		"TETHER_ADMIN_UI_USERNAME":      "admin",
		"TETHER_ADMIN_UI_PASSWORD_HASH": adminHash,
		"TETHER_ADMIN_UI_SERVER_ID":     "eu-1",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := c.AdminUI
	if !a.Enabled || a.Username != "admin" || a.PasswordHash != adminHash || a.Mode != "production" || !a.ReadOnly || a.ServerID != "eu-1" {
		t.Fatalf("loaded %+v", a)
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "admin_ui:\n  enabled: true\n  namespace: /admin\n  username: admin\n  password_hash: <redacted>\n") || strings.Contains(string(y), adminHash) {
		t.Errorf("YAML:\n%s", y)
	}

	for _, tc := range []struct {
		edit func(a *AdminUIConfig)
		want string
	}{
		{func(a *AdminUIConfig) {}, "config: admin_ui: username and password_hash are required (or no_auth: true"},
		{func(a *AdminUIConfig) { a.Username, a.PasswordHash = "admin", "changeit" }, "config: admin_ui.password_hash: is not a bcrypt hash"},
		{func(a *AdminUIConfig) { a.NoAuth, a.Username = true, "admin" }, "config: admin_ui: no_auth excludes username and password_hash"},
		{func(a *AdminUIConfig) { a.NoAuth, a.Mode = true, "dev" }, `config: admin_ui.mode: "dev" is not one of development, production`},
		{func(a *AdminUIConfig) { a.NoAuth, a.Namespace = true, "admin" }, `config: admin_ui.namespace: "admin" must start with /`},
		{func(a *AdminUIConfig) { a.NoAuth, a.Namespace = true, "/" }, `config: admin_ui.namespace: "/" is one of namespaces`},
	} {
		c := DefaultConfig()
		c.AdminUI.Enabled = true
		tc.edit(&c.AdminUI)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c.AdminUI, err, tc.want)
		}
	}
	// Disabled, nothing is checked.
	c = DefaultConfig()
	c.AdminUI.Mode = "dev"
	if err := c.Validate(); err != nil {
		t.Errorf("admin_ui off: %v", err)
	}
}

// TestAdminUIServer checks that admin_ui.enabled serves the admin
// namespace, behind the credentials, with the UI's operations; and that
// there is none by default.
func TestAdminUIServer(t *testing.T) {
	_, off := startServer(t, testConfig())
	var ce *connectError
	if _, err := dialClient(t, off.URL, dialOpts{ns: "/admin"}); !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
		t.Fatalf("/admin by default: %v", err)
	}

	cfg := testConfig()
	cfg.AdminUI.Enabled = true
	cfg.AdminUI.Username, cfg.AdminUI.PasswordHash = "admin", adminHash
	srv, ts := startServer(t, cfg)
	if _, err := dialClient(t, ts.URL, dialOpts{ns: "/admin", auth: map[string]string{"username": "admin", "password": "nope"}}); !errors.As(err, &ce) || ce.Message != "invalid credentials" {
		t.Fatalf("wrong password: %v", err)
	}
	ui := mustDial(t, ts.URL, dialOpts{ns: "/admin", auth: map[string]string{"username": "admin", "password": "changeit"}})
	if e := ui.next("session"); len(e.args) != 1 || len(e.args[0]) != 18 {
		t.Fatalf("session: %s", e.args)
	}
	if e := ui.next("config"); !strings.Contains(string(e.args[0]), `"MJOIN"`) {
		t.Fatalf("config: %s", e.args)
	}
	user := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "subscribe", user.call("subscribe", map[string]any{"room": "lobby"}))
	ui.emit("join", "/", "vip", "lobby") // the sockets of lobby join vip
	for {
		e := ui.next("room_joined")
		if string(e.args[1]) == `"vip"` && string(e.args[2]) == `"`+user.id+`"` {
			break
		}
	}
	if rooms := srv.IO().Of("/").Socket(user.id).Rooms(); !slices.Contains(rooms, "vip") {
		t.Fatalf("rooms %v", rooms)
	}
}

// TestAdminUIDataNotInAPI checks that the admin UI's bookkeeping in a
// socket's data (development mode records each socket's client id and
// transport under "_admin") stays out of the API's list of sockets, while
// the data the application set is there.
func TestAdminUIDataNotInAPI(t *testing.T) {
	cfg := apiServer(t).cfg
	cfg.AdminUI.Enabled = true
	cfg.AdminUI.Username, cfg.AdminUI.PasswordHash = "admin", adminHash
	srv, ts := startServer(t, cfg)
	ui := mustDial(t, ts.URL, dialOpts{ns: "/admin", auth: map[string]string{"username": "admin", "password": "changeit"}})
	ui.next("session")
	user := mustDial(t, ts.URL, dialOpts{})
	for {
		// socket_connected goes out after the admin recorded its data.
		if e := ui.next("socket_connected"); strings.Contains(string(e.args[0]), user.id) {
			break
		}
	}
	sock := srv.IO().Of("/").Socket(user.id)
	if _, ok := sock.Data().Snapshot()["_admin"]; !ok {
		t.Fatal("the admin recorded nothing in the socket's data: the test checks nothing")
	}
	sock.Data().Set("team", "blue")
	_, body := apiCall(t, ts, testAPIKey, "GET", "/api/sockets", nil)
	var found bool
	for _, s := range body["sockets"].([]any) {
		info := s.(map[string]any)
		if info["id"] != user.id {
			continue
		}
		found = true
		data, _ := info["data"].(map[string]any)
		if _, ok := data["_admin"]; ok || data["team"] != "blue" {
			t.Fatalf("data in /api/sockets = %v, want team and no _admin", data)
		}
	}
	if !found {
		t.Fatalf("socket %s not in %v", user.id, body)
	}
}
