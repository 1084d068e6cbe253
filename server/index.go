package server

import (
	"html/template"
	"net/http"
)

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tether</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
code, pre { background: #f3f3f3; border-radius: 4px; padding: .1rem .3rem; }
pre { padding: .8rem; overflow-x: auto; }
td { padding: .2rem 1rem .2rem 0; vertical-align: top; }
</style>
</head>
<body>
<h1>Tether is running</h1>
<p>A Socket.IO server. Connect with any Socket.IO client (v3 or v4):</p>
<pre>const socket = io("{{.Origin}}", { path: "{{.Path}}" });
socket.emit("subscribe", { room: "lobby" }, (res) =&gt; console.log(res));
socket.on("news", (data, meta) =&gt; console.log(meta.room, data));</pre>
<h2>Endpoints</h2>
<table>
<tr><td><code>{{.Path}}</code></td><td>Socket.IO (polling and WebSocket)</td></tr>
{{range .Namespaces}}<tr><td><code>{{.}}</code></td><td>namespace</td></tr>
{{end}}<tr><td><code>/api/…</code></td><td>backend API (API key) — <a href="/api/openapi.yaml">OpenAPI description</a></td></tr>
<tr><td><a href="/healthz"><code>/healthz</code></a></td><td>liveness</td></tr>
<tr><td><a href="/readyz"><code>/readyz</code></a></td><td>readiness (503 while shutting down)</td></tr>
<tr><td><a href="/metrics"><code>/metrics</code></a></td><td>Prometheus metrics</td></tr>
</table>
<p>Emit to a room from a backend:</p>
<pre>curl -H "Authorization: Bearer $TETHER_API_KEY" -d '{"rooms":["lobby"],"event":"news","data":{"text":"hello"}}' {{.Origin}}/api/emit</pre>
</body>
</html>
`))

// serveIndex serves the built-in page at "/" (404 elsewhere).
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	names := make([]string, 0, len(s.cfg.Namespaces))
	for _, n := range s.cfg.Namespaces {
		names = append(names, n.Name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexPage.Execute(w, map[string]any{
		"Origin":     scheme + "://" + r.Host,
		"Path":       s.cfg.Path,
		"Namespaces": names,
	})
}
