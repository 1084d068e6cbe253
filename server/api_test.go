package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func apiServer(t *testing.T) *Server {
	t.Helper()
	cfg := testConfig()
	cfg.API.Keys = []string{"other-key-0123456789", testAPIKey}
	srv, err := New(Options{Config: cfg, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestAPIKeys(t *testing.T) {
	_, ts := startServer(t, apiServer(t).cfg)
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"no key", nil, 401},
		{"wrong key", map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}, 401},
		{"prefix of the key", map[string]string{"X-API-Key": testAPIKey[:10]}, 401},
		{"not bearer", map[string]string{"Authorization": "Basic " + testAPIKey}, 401},
		{"bearer", map[string]string{"Authorization": "Bearer " + testAPIKey}, 200},
		{"bearer, any case", map[string]string{"Authorization": "bearer " + testAPIKey}, 200},
		{"X-API-Key", map[string]string{"X-API-Key": testAPIKey}, 200},
		{"second key", map[string]string{"X-API-Key": "other-key-0123456789"}, 200},
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/api/stats", nil)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
		if tc.status == 401 && !strings.Contains(string(body), `"error":`) {
			t.Errorf("%s: body %s is not a JSON error", tc.name, body)
		}
	}
	// The description is public.
	resp, err := ts.Client().Get(ts.URL + "/api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "openapi: 3") {
		t.Fatalf("openapi.yaml: %d %.40s", resp.StatusCode, b)
	}

	// Without keys the API is off.
	_, ts2 := startServer(t, testConfig())
	if status, body := apiCall(t, ts2, testAPIKey, "GET", "/api/stats", nil); status != 401 || !strings.Contains(body["error"].(string), "disabled") {
		t.Fatalf("API without keys: %d %v", status, body)
	}
}

func TestAPIEndpoints(t *testing.T) {
	cfg := apiServer(t).cfg
	cfg.Namespaces = append(cfg.Namespaces, NamespaceConfig{Name: "/other", Publish: PublishNone})
	cfg.Namespaces[0].JoinLeaveEvents = true // and presence:diff, as by default
	_, ts := startServer(t, cfg)
	call := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		return apiCall(t, ts, testAPIKey, method, path, body)
	}
	a := mustDial(t, ts.URL, dialOpts{})
	b := mustDial(t, ts.URL, dialOpts{})
	c := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "a", a.call("subscribe", map[string]any{"room": "news"}))
	wantOK(t, "b", b.call("subscribe", map[string]any{"room": "news"}))
	wantOK(t, "b", b.call("subscribe", map[string]any{"room": "vip"}))

	// emit to a room, with except.
	status, body := call("POST", "/api/emit", map[string]any{"rooms": []string{"news"}, "except": []string{"vip"}, "event": "headline", "data": map[string]any{"title": "hello"}})
	if status != 202 || body["receivers"] != 1.0 {
		t.Fatalf("emit: %d %v", status, body)
	}
	// Clients get event(data, meta), meta as in a client's publish: the
	// room, and from and user null for the backend.
	if e := a.next("headline"); len(e.args) != 2 || arg(t, e.args[0])["title"] != "hello" || string(e.args[1]) != `{"from":null,"room":"news","user":null}` {
		t.Fatalf("headline = %s", e.args)
	}
	// emit to the whole namespace, without data: data is null, and so is
	// the room.
	status, body = call("POST", "/api/emit", map[string]any{"namespace": "/", "event": "tick"})
	if status != 202 || body["receivers"] != 3.0 {
		t.Fatalf("emit to all: %d %v", status, body)
	}
	for _, cl := range []*testClient{a, b, c} {
		if e := cl.next("tick"); len(e.args) != 2 || string(e.args[0]) != "null" || string(e.args[1]) != `{"from":null,"room":null,"user":null}` {
			t.Fatalf("tick args = %s", e.args)
		}
	}
	// b got no headline: the next one it sees is the later one.
	call("POST", "/api/emit", map[string]any{"rooms": []string{"vip"}, "event": "headline", "data": "second"})
	if e := b.next("headline"); len(e.args) != 2 || string(e.args[0]) != `"second"` || arg(t, e.args[1])["room"] != "vip" {
		t.Fatalf("b got headline %s, want only the second one, for vip", e.args)
	}
	// Several rooms: the room is null (a receiver may be in any of them).
	call("POST", "/api/emit", map[string]any{"rooms": []string{"vip", "news"}, "event": "headline", "data": 3})
	if e := b.next("headline"); len(e.args) != 2 || string(e.args[0]) != "3" || string(e.args[1]) != `{"from":null,"room":null,"user":null}` {
		t.Fatalf("headline to two rooms = %s", e.args)
	}

	// rooms.
	status, body = call("GET", "/api/rooms?namespace=/", nil)
	rooms := body["rooms"].([]any)
	if status != 200 || len(rooms) != 2 || rooms[0].(map[string]any)["name"] != "news" || rooms[0].(map[string]any)["sockets"] != 2.0 {
		t.Fatalf("rooms: %d %v", status, body)
	}

	// sockets, all and by room.
	status, body = call("GET", "/api/sockets", nil)
	if status != 200 || len(body["sockets"].([]any)) != 3 {
		t.Fatalf("sockets: %d %v", status, body)
	}
	status, body = call("GET", "/api/sockets?room=vip", nil)
	socks := body["sockets"].([]any)
	if status != 200 || len(socks) != 1 {
		t.Fatalf("sockets in vip: %d %v", status, body)
	}
	s0 := socks[0].(map[string]any)
	if s0["id"] != b.id || s0["transport"] != "websocket" || s0["address"] != "127.0.0.1" ||
		strings.Join(toStrings(s0["rooms"]), ",") != "news,vip" {
		t.Fatalf("socket b = %v", s0)
	}

	// join: c joins news by id; the room hears it.
	status, body = call("POST", "/api/sockets/join", map[string]any{"sockets": []string{c.id}, "rooms": []string{"news"}})
	if status != 200 || body["sockets"] != 1.0 {
		t.Fatalf("join: %d %v", status, body)
	}
	if j := arg(t, a.next(EventPresenceJoin).args[0]); j["id"] != c.id {
		t.Fatalf("presence:join = %v", j)
	}
	// leave: everyone in vip leaves news.
	status, body = call("POST", "/api/sockets/leave", map[string]any{"in": []string{"vip"}, "rooms": []string{"news"}})
	if status != 200 || body["sockets"] != 1.0 {
		t.Fatalf("leave: %d %v", status, body)
	}
	if l := arg(t, a.next(EventPresenceLeave).args[0]); l["id"] != b.id {
		t.Fatalf("presence:leave = %v", l)
	}
	_, body = call("GET", "/api/sockets?room=news", nil)
	if len(body["sockets"].([]any)) != 2 {
		t.Fatalf("news after join and leave: %v", body)
	}

	// stats.
	status, body = call("GET", "/api/stats", nil)
	conns := body["connections"].(map[string]any)
	if status != 200 || conns["total"] != 3.0 || conns["by_transport"].(map[string]any)["websocket"] != 3.0 || body["ready"] != true {
		t.Fatalf("stats: %d %v", status, body)
	}

	// disconnect: all but a, closing the connections.
	status, body = call("POST", "/api/sockets/disconnect", map[string]any{"all": true, "except": []string{a.id}, "close": true})
	if status != 200 || body["disconnected"] != 2.0 {
		t.Fatalf("disconnect: %d %v", status, body)
	}
	b.waitDone()
	c.waitDone()
	eventually(t, "the disconnected sockets to go", func() bool {
		_, body = call("GET", "/api/sockets", nil)
		return len(body["sockets"].([]any)) == 1
	})
	if socks := body["sockets"].([]any); socks[0].(map[string]any)["id"] != a.id {
		t.Fatalf("sockets after disconnect: %v", body)
	}

	// Errors.
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		msg          string
	}{
		{"GET", "/api/emit", nil, 405, "not allowed"},
		{"GET", "/api/nothing", nil, 404, "no such endpoint"},
		{"POST", "/api/emit", map[string]any{"event": "x", "bogus": 1}, 400, "unknown field"},
		{"POST", "/api/emit", map[string]any{"event": ""}, 400, "invalid event"},
		{"POST", "/api/emit", map[string]any{"event": "connect"}, 400, "invalid event"},
		{"POST", "/api/emit", map[string]any{"namespace": "/nope", "event": "x"}, 404, "unknown namespace"},
		{"GET", "/api/rooms?namespace=/nope", nil, 404, "unknown namespace"},
		{"POST", "/api/sockets/join", map[string]any{"rooms": []string{"x"}}, 400, "select sockets"},
		{"POST", "/api/sockets/join", map[string]any{"all": true}, 400, "no room"},
		{"POST", "/api/sockets/leave", map[string]any{"all": true, "rooms": []string{""}}, 400, "invalid room"},
		{"POST", "/api/sockets/disconnect", map[string]any{}, 400, "select sockets"},
		{"POST", "/api/emit", "[]", 400, "invalid JSON"},
		{"POST", "/api/emit", map[string]any{"event": "x", "data": strings.Repeat("x", maxAPIBody)}, 413, "larger than"},
	} {
		status, body := call(tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body["error"].(string), tc.msg) {
			t.Errorf("%s %s %v: %d %v, want %d with %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.msg)
		}
	}
	// Other namespaces work too.
	o := mustDial(t, ts.URL, dialOpts{ns: "/other"})
	if status, body := call("POST", "/api/emit", map[string]any{"namespace": "/other", "event": "x", "data": 1}); status != 202 || body["receivers"] != 1.0 {
		t.Fatalf("emit to /other: %d %v", status, body)
	}
	o.next("x")

	m := scrape(t, ts)
	for _, w := range []string{
		`tether_api_requests_total{code="202",endpoint="/api/emit"}`,
		`tether_api_requests_total{code="404",endpoint="/api/rooms"} 1`,
		`tether_events_sent_total{namespace="/"}`,
		`tether_broadcast_fanout_seconds_count`,
	} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

func TestOpenAPIDescription(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	paths := doc["paths"].(map[string]any)
	for path, method := range map[string]string{
		"/api/emit": "post", "/api/rooms": "get", "/api/sockets": "get", "/api/sockets/join": "post",
		"/api/sockets/leave": "post", "/api/sockets/disconnect": "post", "/api/stats": "get", "/api/openapi.yaml": "get",
	} {
		p, ok := paths[path].(map[string]any)
		if !ok || p[method] == nil {
			t.Errorf("openapi.yaml lacks %s %s", method, path)
		}
	}
	if len(paths) != 8 {
		t.Errorf("openapi.yaml has %d paths, want 8", len(paths))
	}
	// Every $ref points at something.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "$ref" {
					var cur any = doc
					for _, part := range strings.Split(strings.TrimPrefix(e.(string), "#/"), "/") {
						m, _ := cur.(map[string]any)
						cur = m[part]
					}
					if cur == nil {
						t.Errorf("dangling $ref %s", e)
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
}

// TestAPIMaxRooms checks that every list of rooms or socket ids of an API
// request is bounded by api.max_rooms: over it, 413 with an error that
// names the list, counted by endpoint and code; at it, the request is
// served.
func TestAPIMaxRooms(t *testing.T) {
	cfg := apiServer(t).cfg
	cfg.API.MaxRooms = 5
	_, ts := startServer(t, cfg)
	a := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "subscribe", a.call("subscribe", map[string]any{"room": "r4"}))
	rooms := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "r" + strconv.Itoa(i)
		}
		return out
	}
	for _, tc := range []struct {
		path  string
		body  map[string]any
		field string
	}{
		{"/api/emit", map[string]any{"event": "x", "rooms": rooms(6)}, "rooms"},
		{"/api/emit", map[string]any{"event": "x", "except": rooms(6)}, "except"},
		{"/api/sockets/join", map[string]any{"in": rooms(6), "rooms": []string{"a"}}, "in"},
		{"/api/sockets/join", map[string]any{"all": true, "rooms": rooms(6)}, "rooms"},
		{"/api/sockets/leave", map[string]any{"sockets": rooms(6), "rooms": []string{"a"}}, "sockets"},
		{"/api/sockets/leave", map[string]any{"all": true, "except": rooms(6), "rooms": []string{"a"}}, "except"},
		{"/api/sockets/disconnect", map[string]any{"in": rooms(6)}, "in"},
		{"/api/sockets/disconnect", map[string]any{"sockets": rooms(6)}, "sockets"},
	} {
		status, body := apiCall(t, ts, testAPIKey, "POST", tc.path, tc.body)
		want := `"` + tc.field + `" lists 6 entries, more than the 5 a request may name (api.max_rooms)`
		if status != http.StatusRequestEntityTooLarge || body["error"] != want {
			t.Errorf("%s with 6 %s: %d %v, want 413 %q", tc.path, tc.field, status, body, want)
		}
	}
	// At the limit: served.
	status, body := apiCall(t, ts, testAPIKey, "POST", "/api/emit", map[string]any{"event": "x", "rooms": rooms(5), "except": rooms(5)[:4]})
	if status != 202 || body["receivers"] != 1.0 {
		t.Fatalf("emit to 5 rooms: %d %v", status, body)
	}
	a.next("x")
	status, body = apiCall(t, ts, testAPIKey, "POST", "/api/sockets/join", map[string]any{"in": rooms(5), "rooms": rooms(5)})
	if status != 200 || body["sockets"] != 1.0 {
		t.Fatalf("join 5 rooms: %d %v", status, body)
	}
	m := scrape(t, ts)
	if !strings.Contains(m, `tether_api_requests_total{code="413",endpoint="/api/emit"} 2`) ||
		!strings.Contains(m, `tether_api_requests_total{code="413",endpoint="/api/sockets/disconnect"} 2`) {
		t.Errorf("refusals not counted:\n%s", grep(m, "api_requests"))
	}

	// 0: no limit.
	unlimited := *cfg
	unlimited.API.MaxRooms = 0
	_, ts = startServer(t, &unlimited)
	if status, body := apiCall(t, ts, testAPIKey, "POST", "/api/emit", map[string]any{"event": "x", "rooms": rooms(2000)}); status != 202 {
		t.Fatalf("no limit: emit to 2000 rooms: %d %v", status, body)
	}
}

// TestEmitArgumentsShape checks that an event published by a client and
// one emitted by the backend API reach clients with the same arguments:
// data, meta {room, from, user}, and, with connection state recovery on,
// the offset as the last argument, a string (socket.io-client records the
// last argument of an event, when it is a string, as its offset).
func TestEmitArgumentsShape(t *testing.T) {
	cfg := testConfig()
	cfg.API.Keys = []string{testAPIKey}
	cfg.Recovery.Enabled = true
	_, ts := startServer(t, cfg)
	a := mustDial(t, ts.URL, dialOpts{})
	b := mustDial(t, ts.URL, dialOpts{})
	wantOK(t, "a", a.call("subscribe", map[string]any{"room": "lobby"}))
	wantOK(t, "b", b.call("subscribe", map[string]any{"room": "lobby"}))

	wantOK(t, "publish", a.call("publish", map[string]any{"room": "lobby", "event": "news", "data": map[string]any{"text": "from a"}}))
	status, body := apiCall(t, ts, testAPIKey, "POST", "/api/emit", map[string]any{"rooms": []string{"lobby"}, "event": "news", "data": map[string]any{"text": "from the backend"}})
	if status != 202 {
		t.Fatalf("emit: %d %v", status, body)
	}
	var offsets []string
	for _, want := range []struct{ text, meta string }{
		{"from a", `{"from":"` + a.id + `","room":"lobby","user":""}`},
		{"from the backend", `{"from":null,"room":"lobby","user":null}`},
	} {
		e := b.next("news")
		if len(e.args) != 3 {
			t.Fatalf("news %q: %d arguments %s, want data, meta and the offset", want.text, len(e.args), e.args)
		}
		if arg(t, e.args[0])["text"] != want.text || string(e.args[1]) != want.meta {
			t.Errorf("news %q: data %s, meta %s, want meta %s", want.text, e.args[0], e.args[1], want.meta)
		}
		var offset string
		if err := json.Unmarshal(e.args[2], &offset); err != nil || offset == "" {
			t.Fatalf("news %q: last argument %s is not an offset", want.text, e.args[2])
		}
		offsets = append(offsets, offset)
	}
	if offsets[0] == offsets[1] {
		t.Errorf("both events have the offset %q", offsets[0])
	}
}
