package adminuie2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tether-rt/tether/internal/peertest"
	"github.com/tether-rt/tether/server"
)

// TestAdminUI runs the official Admin UI against tether's server side of
// it (see the package documentation).
func TestAdminUI(t *testing.T) {
	node := peertest.Node(t, "test/e2e/adminui", "playwright-core", "socket.io-client", "@socket.io/admin-ui", "@mdi/font")
	peertest.Chromium(t)

	// The UI on an origin of its own.
	ui := httptest.NewServer(http.FileServer(http.Dir("node_modules/@socket.io/admin-ui/ui/dist")))
	defer ui.Close()

	hash, err := bcrypt.GenerateFromPassword([]byte("change it"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.Demos = false
	cfg.API.Keys = []string{"e2e-api-key-0123456789"}
	cfg.Origins = []string{ui.URL}
	cfg.CORSCredentials = true
	cfg.AdminUI.Enabled = true
	cfg.AdminUI.Username, cfg.AdminUI.PasswordHash = "admin", string(hash)
	cfg.AdminUI.ServerID = "tether-e2e"
	srv, err := server.New(server.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// Served as tether serve does, so that the dashboard gets the bytes the
	// listener counts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, nil) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	shots := os.Getenv("TETHER_ADMINUI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if !filepath.IsAbs(shots) {
		shots = filepath.Join("..", "..", "..", shots)
	}
	args, _ := json.Marshal(map[string]string{"username": "admin", "password": "change it", "apiKey": cfg.API.Keys[0], "shots": shots})
	type line struct {
		Op         string             `json:"op"`
		OK         bool               `json:"ok"`
		Message    string             `json:"message"`
		Clients    map[string]float64 `json:"clients"`
		Namespaces map[string]float64 `json:"namespaces"`
		Servers    map[string]float64 `json:"servers"`
	}
	lines, raw, stderr, err := peertest.RunScript[line](t, node, 120*time.Second, "admin.mjs", "http://"+ln.Addr().String(), ui.URL+"/", string(args))
	out := strings.Join(raw, "\n")
	if err != nil || len(lines) == 0 || lines[len(lines)-1].Op != "done" || !lines[len(lines)-1].OK {
		t.Fatalf("admin.mjs: %v\n%s\nstderr:\n%s", err, out, stderr)
	}
	var got []string
	for _, l := range lines[:len(lines)-1] {
		switch l.Op {
		case "dashboard":
			// The UI's own connection is the third WebSocket client.
			if l.Clients["WebSocket"] != 3 || l.Clients["HTTP long-polling"] != 1 || l.Namespaces["/"] != 3 || l.Namespaces["/admin"] != 1 || l.Servers["HEALTHY"] != 1 {
				t.Errorf("dashboard: %+v", l)
			}
			got = append(got, l.Op)
		case "pageerror":
			t.Errorf("the UI failed: %s", l.Message)
		default:
			got = append(got, l.Op+": "+l.Message)
		}
	}
	want := []string{
		"login-refused: ",
		"login: ",
		"dashboard",
		"sockets: alice WebSocket, bob HTTP long-polling, carol WebSocket",
		"join: alice",
		"leave: alice,bob",
		"disconnect: io server disconnect",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("admin.mjs printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range []string{"admin-ui-dashboard.png", "admin-ui-sockets.png", "admin-ui-socket.png"} {
		if st, err := os.Stat(filepath.Join(shots, f)); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
}
