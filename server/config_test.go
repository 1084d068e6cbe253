package server

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "tether.yaml", `
addr: 127.0.0.1:7001
shutdown_timeout: 3s
log:
  level: debug
limits:
  event_rate: 5
  event_burst: 7
namespaces:
  - name: /chat
    rooms:
      public: ["chat:*"]
    publish: joined
    presence: true
    presence_diff_interval: 250ms
`)
	// Defaults alone.
	c, err := LoadConfig("serve", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Fatalf("no file, env or flags: got %+v, want the defaults", c)
	}

	// The file over the defaults.
	c, err = LoadConfig("serve", []string{"-config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7001" || c.ShutdownTimeout != 3*time.Second || c.Log.Level != "debug" ||
		c.Limits.EventRate != 5 || c.Limits.EventBurst != 7 {
		t.Fatalf("file values not applied: %+v", c)
	}
	if c.Log.Format != "text" || c.Limits.HandshakeRate != 10 || c.Path != "/socket.io/" {
		t.Fatalf("defaults lost under the file: %+v", c)
	}
	want := []NamespaceConfig{{Name: "/chat", Rooms: RoomsConfig{Public: []string{"chat:*"}, Max: 100}, Publish: PublishJoined, Presence: true,
		PresenceDiffInterval: 250 * time.Millisecond}}
	if !reflect.DeepEqual(c.Namespaces, want) {
		t.Fatalf("namespaces = %+v, want %+v (a file's namespaces replace the default one and start closed)", c.Namespaces, want)
	}

	// The environment over the file (TETHER_CONFIG names the file too).
	e := map[string]string{
		"TETHER_CONFIG":     file,
		"TETHER_ADDR":       "127.0.0.1:7002",
		"TETHER_LOG_FORMAT": "json",
		"TETHER_API_KEY":    "key-one-0123456789, key-two-0123456789",
		"TETHER_ORIGINS":    "https://a.example.com,*.b.example.com",
	}
	c, err = LoadConfig("serve", nil, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7002" || c.Log.Format != "json" || c.Log.Level != "debug" {
		t.Fatalf("env over file: %+v", c)
	}
	if !reflect.DeepEqual(c.API.Keys, []string{"key-one-0123456789", "key-two-0123456789"}) ||
		!reflect.DeepEqual(c.Origins, []string{"https://a.example.com", "*.b.example.com"}) {
		t.Fatalf("env lists: keys %q origins %q", c.API.Keys, c.Origins)
	}

	// Flags over the environment.
	c, err = LoadConfig("serve", []string{"-addr", "127.0.0.1:7003", "-event-rate", "9", "-recovery"}, env(e), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7003" || c.Limits.EventRate != 9 || !c.Recovery.Enabled || c.Log.Format != "json" {
		t.Fatalf("flags over env: %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		env   map[string]string
		args  []string
		wants []string
	}{{
		name: "bad pattern",
		file: `
namespaces:
  - name: /
    rooms: {public: ["*"]}
  - name: /chat
    rooms: {public: ["[", "ok"]}
    publish: sometimes
`,
		wants: []string{
			`config: namespaces[1].rooms.public[0]: invalid pattern "[": syntax error in pattern`,
			`config: namespaces[1].publish: "sometimes" is not one of none, joined, permitted`,
		},
	}, {
		name:  "unknown key",
		file:  "adr: 1.2.3.4:5\n",
		wants: []string{`failed to parse`, `line 1: unknown key "adr"`},
	}, {
		name:  "unknown nested key",
		file:  "namespaces:\n  - name: /\n    publik: true\n",
		wants: []string{`line 3: unknown key "publik"`},
	}, {
		name:  "wrong type",
		file:  "limits:\n  event_rate: fast\n",
		wants: []string{`failed to parse`, `line 2`},
	}, {
		name:  "env duration",
		env:   map[string]string{"TETHER_SHUTDOWN_TIMEOUT": "soon"},
		wants: []string{`config: TETHER_SHUTDOWN_TIMEOUT: invalid duration "soon"`},
	}, {
		name:  "flag value",
		args:  []string{"-max-payload", "big"},
		wants: []string{`invalid value "big" for flag -max-payload`},
	}, {
		name: "several problems",
		env: map[string]string{
			"TETHER_ADDR": "nowhere", "TETHER_LOG_LEVEL": "loud", "TETHER_AUTH_REQUIRED": "true",
			"TETHER_TLS_CERT_FILE": "cert.pem", "TETHER_API_KEY": "short", "TETHER_ORIGINS": "https://[",
			"TETHER_JWT_JWKS_URL": "ftp://x", "TETHER_TRANSPORTS": "carrier-pigeon",
		},
		wants: []string{
			`config: addr: invalid address "nowhere"`,
			`config: log.level: "loud" is not one of debug, info, warn, error`,
			`config: tls: cert_file and key_file go together`,
			`config: api.keys[0]: must be at least 16 characters`,
			`config: origins[0]: invalid origin pattern "https://["`,
			`config: auth.jwt.jwks_url: "ftp://x" is not an http(s) URL`,
			`config: engine.transports[0]: "carrier-pigeon" is not polling or websocket`,
		},
	}, {
		name:  "redis urls",
		env:   map[string]string{"TETHER_REDIS_URL": "redis://localhost:6379/x"},
		wants: []string{`config: cluster.redis_url: invalid database number: "x"`},
	}, {
		name:  "redis url query",
		env:   map[string]string{"TETHER_REDIS_URL": "redis://localhost:6379?addr=localhost:6380&dial_timeout=soon"},
		wants: []string{`config: cluster.redis_url: invalid dial timeout: "soon"`},
	}, {
		name:  "redis url scheme",
		env:   map[string]string{"TETHER_REDIS_URL": "redis+sentinel://localhost:26379"},
		wants: []string{`config: cluster.redis_url: scheme "redis+sentinel" is not redis, rediss or unix (Sentinel: redis://sentinel:26379?master_set=name)`},
	}, {
		name:  "sharded pub/sub of another adapter",
		env:   map[string]string{"TETHER_CLUSTER_SHARDED_PUBSUB": "true"},
		wants: []string{`config: cluster.sharded_pubsub: is a setting of the streams adapter, not of "pubsub" (sharded always uses sharded pub/sub)`},
	}, {
		name:  "auth required without keys",
		env:   map[string]string{"TETHER_AUTH_REQUIRED": "1"},
		wants: []string{`config: auth: authentication is required but auth.jwt has no key`},
	}, {
		name:  "negative api.max_rooms",
		env:   map[string]string{"TETHER_API_MAX_ROOMS": "-1"},
		wants: []string{`config: api.max_rooms: must not be negative`},
	}, {
		name:  "negative presence_diff_interval",
		file:  "namespaces:\n  - name: /\n    presence_diff_interval: -1s\n",
		wants: []string{`config: namespaces[0].presence_diff_interval: must not be negative`},
	}, {
		name:  "missing file",
		args:  []string{"-config", "/nonexistent/tether.yaml"},
		wants: []string{`config: failed to read open /nonexistent/tether.yaml`},
	}, {
		name:  "public key file",
		env:   map[string]string{"TETHER_JWT_PUBLIC_KEYS": "/nonexistent.pem"},
		wants: []string{`config: auth.jwt.public_keys[0]: failed to read open /nonexistent.pem`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"-config", writeFile(t, "c.yaml", tc.file)}, args...)
			}
			_, err := LoadConfig("serve", args, env(tc.env), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestConfigValidationErrorLists(t *testing.T) {
	c := DefaultConfig()
	c.Namespaces = append(c.Namespaces, NamespaceConfig{Name: "chat", Publish: "x"}, NamespaceConfig{Name: "/", Publish: PublishNone})
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	want := []string{
		`namespaces[1].name: "chat" must start with /`,
		`namespaces[1].publish: "x" is not one of none, joined, permitted`,
		`namespaces[2].name: "/" is already namespaces[0]`,
	}
	if !reflect.DeepEqual(ve.Problems, want) {
		t.Fatalf("problems =\n%q\nwant\n%q", ve.Problems, want)
	}
}

func TestConfigYAML(t *testing.T) {
	c := DefaultConfig()
	c.API.Keys = []string{"very-secret-api-key-1"}
	c.Auth.JWT.HS256Secret = strings.Repeat("s", 32)
	yes := true
	c.Namespaces[0].RequireAuth = &yes
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "very-secret") || strings.Contains(s, "sssss") {
		t.Fatalf("secrets in the output:\n%s", s)
	}
	for _, w := range []string{"addr: localhost:8080", "shutdown_timeout: 10s", "- <redacted>", "hs256_secret: <redacted>", "require_auth: true", "publish: joined"} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
	// The output is a valid configuration file that gives the same values.
	back := DefaultConfig()
	if err := back.ParseYAML(out); err != nil {
		t.Fatalf("parsing the output: %v", err)
	}
	again, err := back.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != s {
		t.Fatalf("round trip:\n%s\nwant\n%s", again, s)
	}
	if back.Namespaces[0].RequireAuth == nil || !*back.Namespaces[0].RequireAuth || back.ShutdownTimeout != 10*time.Second {
		t.Fatalf("round trip lost values: %+v", back)
	}
	// Every setting of the environment table names a real YAML key.
	for _, s := range Settings {
		if !strings.Contains(string(out), lastKey(s.Key)+":") {
			t.Errorf("setting %s: no key %q in the YAML output", s.Env, s.Key)
		}
	}
}

func lastKey(k string) string {
	return k[strings.LastIndex(k, ".")+1:]
}

// TestConfigRequireExp checks auth.jwt.require_exp from each source, its
// default (on when authentication is required), and how tether config
// prints it (the value in effect).
func TestConfigRequireExp(t *testing.T) {
	secret := map[string]string{"TETHER_JWT_HS256_SECRET": strings.Repeat("s", 32)}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range secret {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		file  string
		env   map[string]string
		args  []string
		set   *bool // the field after loading
		want  bool  // ExpRequired
		print string
	}{
		{name: "defaults", env: secret, want: false, print: "require_exp: false"},
		{name: "auth required", env: with("TETHER_AUTH_REQUIRED", "true"), want: true, print: "require_exp: true"},
		{name: "auth required in a namespace", file: "namespaces:\n  - name: /x\n    require_auth: true\n", env: secret, want: true, print: "require_exp: true"},
		{name: "env off", env: with("TETHER_AUTH_REQUIRED", "true", "TETHER_JWT_REQUIRE_EXP", "false"), set: new(false), want: false, print: "require_exp: false"},
		{name: "file on", file: "auth:\n  jwt:\n    require_exp: true\n", env: secret, set: new(true), want: true, print: "require_exp: true"},
		{name: "flag", env: secret, args: []string{"-jwt-require-exp"}, set: new(true), want: true, print: "require_exp: true"},
		{name: "flag over env", env: with("TETHER_JWT_REQUIRE_EXP", "true"), args: []string{"-jwt-require-exp=false"}, set: new(false), want: false, print: "require_exp: false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"-config", writeFile(t, "c.yaml", tc.file)}, args...)
			}
			c, err := LoadConfig("serve", args, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Auth.JWT.RequireExp, tc.set) {
				t.Errorf("RequireExp = %v, want %v", c.Auth.JWT.RequireExp, tc.set)
			}
			if got := c.ExpRequired(); got != tc.want {
				t.Errorf("ExpRequired() = %v, want %v", got, tc.want)
			}
			out, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tc.print) {
				t.Errorf("tether config lacks %q:\n%s", tc.print, out)
			}
			if !reflect.DeepEqual(c.Auth.JWT.RequireExp, tc.set) {
				t.Errorf("YAML changed RequireExp to %v", c.Auth.JWT.RequireExp)
			}
		})
	}
	_, err := LoadConfig("serve", nil, env(with("TETHER_JWT_REQUIRE_EXP", "maybe")), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `config: TETHER_JWT_REQUIRE_EXP: invalid boolean "maybe"`) {
		t.Fatalf("invalid value: %v", err)
	}
}

// TestConfigRedisURLForms checks that the URL forms the README documents
// for cluster.redis_url pass validation: one server, TLS with a password
// and a database, Redis Cluster, Sentinel, a unix socket.
func TestConfigRedisURLForms(t *testing.T) {
	for _, u := range []string{
		"redis://redis.internal:6379",
		"rediss://default:s3cret@redis.internal:6380/2",
		"redis://node1:6379?addr=node2:6379&addr=node3:6379",
		"redis://sentinel1:26379?addr=sentinel2:26379&master_set=mymaster",
		"unix:///run/redis.sock",
	} {
		cfg, err := LoadConfig("serve", nil, env(map[string]string{"TETHER_REDIS_URL": u}), io.Discard)
		if err != nil {
			t.Errorf("%s: %v", u, err)
		} else if cfg.Cluster.RedisURL != u {
			t.Errorf("%s became %s", u, cfg.Cluster.RedisURL)
		}
	}
}
