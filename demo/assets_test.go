package demo

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAssetsWithPath checks that the pages get the server's Socket.IO path
// from config.js, loaded before common.js.
func TestAssetsWithPath(t *testing.T) {
	def, err := fs.ReadFile(Assets(), "config.js")
	if err != nil || !strings.Contains(string(def), `var DemoConfig = {"path":"/socket.io/"};`) {
		t.Fatalf("default config.js: %q, %v", def, err)
	}
	ts := httptest.NewServer(http.FileServerFS(AssetsWithPath("/realtime/")))
	defer ts.Close()
	get := func(name string) (string, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", name, resp.StatusCode, err)
		}
		return string(b), resp.Header.Get("Content-Type")
	}
	body, ctype := get("config.js")
	if !strings.Contains(body, `var DemoConfig = {"path":"/realtime/"};`) || !strings.HasPrefix(ctype, "text/javascript") {
		t.Fatalf("config.js (%s):\n%s", ctype, body)
	}
	for _, page := range []string{"leaderboard.html", "chat.html", "ticker.html"} {
		html, _ := get(page)
		cfg, common := strings.Index(html, `<script src="config.js">`), strings.Index(html, `<script src="common.js">`)
		if cfg < 0 || common < cfg {
			t.Errorf("%s does not load config.js before common.js", page)
		}
	}
	if js, _ := get("common.js"); !strings.Contains(js, "path: config.path") {
		t.Errorf("common.js does not connect at config.path")
	}
}
