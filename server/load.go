package server

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Setting is one configuration value that the environment and flags can
// set: its YAML key, environment variable and flag.
type Setting struct {
	Key   string // YAML path, such as "limits.event_rate"
	Env   string // environment variable, such as "TETHER_EVENT_RATE"
	Flag  string // flag name without the dash, "" for none
	Usage string
	ptr   func(c *Config) any
}

// Settings lists the values that environment variables and flags can set,
// in the order of the documentation. Lists (origins, keys, files) are
// comma-separated there; durations use Go's syntax ("10s", "1m30s").
var Settings = []Setting{
	{"addr", "TETHER_ADDR", "addr", "address to listen on", func(c *Config) any { return &c.Addr }},
	{"path", "TETHER_PATH", "path", "path of the Socket.IO endpoint", func(c *Config) any { return &c.Path }},
	{"admin_addr", "TETHER_ADMIN_ADDR", "admin-addr", "address of the admin server (pprof, metrics); empty for none", func(c *Config) any { return &c.AdminAddr }},
	{"shutdown_timeout", "TETHER_SHUTDOWN_TIMEOUT", "shutdown-timeout", "deadline of a graceful shutdown", func(c *Config) any { return &c.ShutdownTimeout }},
	{"shutdown_delay", "TETHER_SHUTDOWN_DELAY", "shutdown-delay", "time /readyz reports 503 before clients are disconnected", func(c *Config) any { return &c.ShutdownDelay }},
	{"origins", "TETHER_ORIGINS", "origins", "allowed browser origins besides the server's own (comma-separated; * for any)", func(c *Config) any { return &c.Origins }},
	{"cors_credentials", "TETHER_CORS_CREDENTIALS", "cors-credentials", "allow credentialed cross-origin requests", func(c *Config) any { return &c.CORSCredentials }},
	{"trusted_proxies", "TETHER_TRUSTED_PROXIES", "trusted-proxies", "proxies (IPs, CIDRs) whose X-Forwarded-For is trusted", func(c *Config) any { return &c.TrustedProxies }},
	{"tls.cert_file", "TETHER_TLS_CERT_FILE", "tls-cert", "TLS certificate file (PEM)", func(c *Config) any { return &c.TLS.CertFile }},
	{"tls.key_file", "TETHER_TLS_KEY_FILE", "tls-key", "TLS private key file (PEM)", func(c *Config) any { return &c.TLS.KeyFile }},
	{"http2_websocket", "TETHER_HTTP2_WEBSOCKET", "http2-websocket", "with TLS, WebSockets as streams of the browser's HTTP/2 connection (RFC 8441)", func(c *Config) any { return &c.HTTP2WebSocket }},
	{"log.level", "TETHER_LOG_LEVEL", "log-level", "log level: debug, info, warn, error", func(c *Config) any { return &c.Log.Level }},
	{"log.format", "TETHER_LOG_FORMAT", "log-format", "log format: text, json", func(c *Config) any { return &c.Log.Format }},
	{"api.keys", "TETHER_API_KEY", "", "API keys of the backend HTTP API (comma-separated)", func(c *Config) any { return &c.API.Keys }},
	{"api.max_rooms", "TETHER_API_MAX_ROOMS", "api-max-rooms", "most rooms (or socket ids) in each list of an API request (0: no limit)", func(c *Config) any { return &c.API.MaxRooms }},
	{"auth.required", "TETHER_AUTH_REQUIRED", "auth-required", "refuse clients without a valid token", func(c *Config) any { return &c.Auth.Required }},
	{"auth.jwt.hs256_secret", "TETHER_JWT_HS256_SECRET", "", "HS256 secret", func(c *Config) any { return &c.Auth.JWT.HS256Secret }},
	{"auth.jwt.public_keys", "TETHER_JWT_PUBLIC_KEYS", "jwt-public-keys", "PEM files of RS256/ES256 public keys (comma-separated)", func(c *Config) any { return &c.Auth.JWT.PublicKeys }},
	{"auth.jwt.jwks_url", "TETHER_JWT_JWKS_URL", "jwt-jwks-url", "URL of a JSON Web Key Set", func(c *Config) any { return &c.Auth.JWT.JWKSURL }},
	{"auth.jwt.jwks_refresh", "TETHER_JWT_JWKS_REFRESH", "", "how long JWKS keys are cached", func(c *Config) any { return &c.Auth.JWT.JWKSRefresh }},
	{"auth.jwt.issuer", "TETHER_JWT_ISSUER", "jwt-issuer", "required iss claim", func(c *Config) any { return &c.Auth.JWT.Issuer }},
	{"auth.jwt.audience", "TETHER_JWT_AUDIENCE", "jwt-audience", "required aud claim", func(c *Config) any { return &c.Auth.JWT.Audience }},
	{"auth.jwt.leeway", "TETHER_JWT_LEEWAY", "", "clock skew tolerated on exp and nbf", func(c *Config) any { return &c.Auth.JWT.Leeway }},
	{"auth.jwt.rooms_claim", "TETHER_JWT_ROOMS_CLAIM", "", "claim with the room patterns a token grants", func(c *Config) any { return &c.Auth.JWT.RoomsClaim }},
	{"auth.jwt.require_exp", "TETHER_JWT_REQUIRE_EXP", "jwt-require-exp", "refuse tokens without an exp claim (default: on when authentication is required)", func(c *Config) any { return &c.Auth.JWT.RequireExp }},
	{"limits.max_payload", "TETHER_MAX_PAYLOAD", "max-payload", "largest message a client may send, in bytes", func(c *Config) any { return &c.Limits.MaxPayload }},
	{"limits.send_queue", "TETHER_SEND_QUEUE", "send-queue", "packets queued for a client before it is disconnected as too slow", func(c *Config) any { return &c.Limits.SendQueue }},
	{"limits.send_queue_bytes", "TETHER_SEND_QUEUE_BYTES", "send-queue-bytes", "bytes of messages queued for a client before it is disconnected as too slow", func(c *Config) any { return &c.Limits.SendQueueBytes }},
	{"limits.connections_per_ip", "TETHER_CONNECTIONS_PER_IP", "connections-per-ip", "connections per client IP (0: no limit)", func(c *Config) any { return &c.Limits.ConnectionsPerIP }},
	{"limits.handshake_rate", "TETHER_HANDSHAKE_RATE", "handshake-rate", "new connections per second per IP (0: no limit)", func(c *Config) any { return &c.Limits.HandshakeRate }},
	{"limits.handshake_burst", "TETHER_HANDSHAKE_BURST", "handshake-burst", "burst of new connections per IP", func(c *Config) any { return &c.Limits.HandshakeBurst }},
	{"limits.event_rate", "TETHER_EVENT_RATE", "event-rate", "events per second per socket (0: no limit)", func(c *Config) any { return &c.Limits.EventRate }},
	{"limits.event_burst", "TETHER_EVENT_BURST", "event-burst", "burst of events per socket", func(c *Config) any { return &c.Limits.EventBurst }},
	{"limits.event_violations", "TETHER_EVENT_VIOLATIONS", "event-violations", "dropped events before a socket is disconnected (0: never)", func(c *Config) any { return &c.Limits.EventViolations }},
	{"engine.ping_interval", "TETHER_PING_INTERVAL", "ping-interval", "Engine.IO ping interval", func(c *Config) any { return &c.Engine.PingInterval }},
	{"engine.ping_timeout", "TETHER_PING_TIMEOUT", "ping-timeout", "Engine.IO ping timeout", func(c *Config) any { return &c.Engine.PingTimeout }},
	{"engine.transports", "TETHER_TRANSPORTS", "transports", "transports: polling,websocket", func(c *Config) any { return &c.Engine.Transports }},
	{"engine.compression", "TETHER_COMPRESSION", "compression", "permessage-deflate on WebSocket connections", func(c *Config) any { return &c.Engine.Compression }},
	{"engine.io_uring", "TETHER_IO_URING", "io-uring", "broadcasts write to idle WebSockets in batches with io_uring, where allowed", func(c *Config) any { return &c.Engine.IOUring }},
	{"recovery.enabled", "TETHER_RECOVERY", "recovery", "connection state recovery", func(c *Config) any { return &c.Recovery.Enabled }},
	{"recovery.max_disconnection", "TETHER_RECOVERY_MAX_DISCONNECTION", "", "how long a disconnected session is kept for recovery", func(c *Config) any { return &c.Recovery.MaxDisconnection }},
	{"recovery.max_log_bytes", "TETHER_RECOVERY_MAX_LOG_BYTES", "", "bytes of events kept for recovery per namespace (the oldest go first)", func(c *Config) any { return &c.Recovery.MaxLogBytes }},
	{"recovery.max_log_packets", "TETHER_RECOVERY_MAX_LOG_PACKETS", "", "events kept for recovery per namespace (the oldest go first)", func(c *Config) any { return &c.Recovery.MaxLogPackets }},
	{"cluster.redis_url", "TETHER_REDIS_URL", "redis-url", "Redis URL of the cluster: redis://[user:password@]host:port[/db] (rediss:// for TLS); Redis Cluster: any node, more with ?addr=host:port; Sentinel: redis://sentinel:26379?master_set=name; empty: run alone", func(c *Config) any { return &c.Cluster.RedisURL }},
	{"cluster.adapter", "TETHER_CLUSTER_ADAPTER", "cluster-adapter", "cluster adapter, the same on every node: pubsub, sharded, streams", func(c *Config) any { return &c.Cluster.Adapter }},
	{"cluster.key_prefix", "TETHER_CLUSTER_KEY_PREFIX", "", "prefix of the cluster's Redis channels and stream", func(c *Config) any { return &c.Cluster.KeyPrefix }},
	{"cluster.node_id", "TETHER_CLUSTER_NODE_ID", "", "name of this node in logs and /api/stats (default: the host name)", func(c *Config) any { return &c.Cluster.NodeID }},
	{"cluster.sharded_pubsub", "TETHER_CLUSTER_SHARDED_PUBSUB", "cluster-sharded-pubsub", "streams adapter: requests over Redis 7 sharded pub/sub (Node's useShardedPubSub), the same on every node", func(c *Config) any { return &c.Cluster.ShardedPubSub }},
	{"cluster.route_polling", "TETHER_CLUSTER_ROUTE_POLLING", "cluster-route-polling", "serve polling requests and upgrades of sessions that another node owns (no sticky sessions needed)", func(c *Config) any { return &c.Cluster.RoutePolling }},
	{"admin_ui.enabled", "TETHER_ADMIN_UI", "admin-ui", "serve the Socket.IO Admin UI's namespace (sockets, rooms, events, statistics; join, leave, disconnect, emit)", func(c *Config) any { return &c.AdminUI.Enabled }},
	{"admin_ui.namespace", "TETHER_ADMIN_UI_NAMESPACE", "admin-ui-namespace", "namespace the Admin UI connects to", func(c *Config) any { return &c.AdminUI.Namespace }},
	{"admin_ui.username", "TETHER_ADMIN_UI_USERNAME", "admin-ui-username", "username the Admin UI must give", func(c *Config) any { return &c.AdminUI.Username }},
	{"admin_ui.password_hash", "TETHER_ADMIN_UI_PASSWORD_HASH", "", "bcrypt hash of the Admin UI's password (tether hash-password makes one)", func(c *Config) any { return &c.AdminUI.PasswordHash }},
	{"admin_ui.no_auth", "TETHER_ADMIN_UI_NO_AUTH", "admin-ui-no-auth", "serve the Admin UI without credentials (local servers only)", func(c *Config) any { return &c.AdminUI.NoAuth }},
	{"admin_ui.read_only", "TETHER_ADMIN_UI_READ_ONLY", "admin-ui-read-only", "the Admin UI only watches (no join, leave, disconnect, emit)", func(c *Config) any { return &c.AdminUI.ReadOnly }},
	{"admin_ui.mode", "TETHER_ADMIN_UI_MODE", "admin-ui-mode", "development (every socket, room and event) or production (statistics only)", func(c *Config) any { return &c.AdminUI.Mode }},
	{"admin_ui.server_id", "TETHER_ADMIN_UI_SERVER_ID", "", "name of this server in the Admin UI (default: the host name)", func(c *Config) any { return &c.AdminUI.ServerID }},
	{"demos", "TETHER_DEMOS", "demos", "serve the demo apps at / (leaderboard, chat, ticker)", func(c *Config) any { return &c.Demos }},
	{"demo_ticker_rate", "TETHER_DEMO_TICKER_RATE", "demo-ticker-rate", "ticks per second of the ticker demo (1 to 1000)", func(c *Config) any { return &c.DemoTickerRate }},
}

// set parses v into the value of s in c.
func (s *Setting) set(c *Config, v string) error {
	switch p := s.ptr(c).(type) {
	case *string:
		*p = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", v)
		}
		*p = b
	case **bool: // unset means a default that depends on other settings
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", v)
		}
		*p = &b
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("invalid integer %q", v)
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", v)
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		*p = f
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("invalid duration %q", v)
		}
		*p = d
	case *[]string:
		*p = nil
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				*p = append(*p, e)
			}
		}
	default:
		panic(fmt.Sprintf("server: setting %s has an unsupported type %T", s.Key, p))
	}
	return nil
}

// isBool reports whether s is a boolean (a flag without a value).
func (s *Setting) isBool() bool {
	switch s.ptr(&Config{}).(type) {
	case *bool, **bool:
		return true
	}
	return false
}

// LoadConfig returns the configuration of a command line: the defaults,
// then the YAML file named by -config or TETHER_CONFIG (if any), then the
// environment (read with getenv), then the flags in args, each overriding
// the previous ones. The result is validated. Flag errors and -h output go
// to output.
func LoadConfig(name string, args []string, getenv func(string) string, output io.Writer) (*Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	configFile := fs.String("config", "", "YAML configuration file (TETHER_CONFIG)")
	type flagValue struct {
		s *Setting
		v string
	}
	var set []flagValue
	for i := range Settings {
		s := &Settings[i]
		if s.Flag == "" {
			continue
		}
		usage := s.Usage
		record := func(v string) error {
			if err := s.set(&Config{}, v); err != nil {
				return err
			}
			set = append(set, flagValue{s, v})
			return nil
		}
		if s.isBool() {
			fs.BoolFunc(s.Flag, usage, func(v string) error { return record(v) })
		} else {
			fs.Func(s.Flag, usage, record)
		}
	}
	fs.Usage = func() { printUsage(output, name) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	c := DefaultConfig()
	file := *configFile
	if file == "" {
		file = getenv("TETHER_CONFIG")
	}
	if file != "" {
		data, err := readFile(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := c.ParseYAML(data); err != nil {
			return nil, fmt.Errorf("config: failed to parse %s: %w", file, err)
		}
	}
	for i := range Settings {
		s := &Settings[i]
		if v, ok := lookupEnv(getenv, s.Env); ok {
			if err := s.set(c, v); err != nil {
				return nil, fmt.Errorf("config: %s: %w", s.Env, err)
			}
		}
	}
	for _, f := range set {
		if err := f.s.set(c, f.v); err != nil {
			return nil, fmt.Errorf("config: -%s: %w", f.s.Flag, err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// printUsage prints the help of "tether name": every flag in the order
// of [Settings], with its value's kind, default, environment variable and
// YAML key, then the settings that only the environment and the file set.
func printUsage(w io.Writer, name string) {
	fmt.Fprintf(w, `Usage: tether %s [flags]

Precedence: flags > environment > file > defaults. Durations use Go's syntax
(10s, 1m30s, 2h); lists are comma-separated; booleans are -flag, -flag=true
or -flag=false.

Flags:
  -config file
    	YAML configuration file
    	env TETHER_CONFIG
`, name)
	def := DefaultConfig()
	var envOnly []*Setting
	for i := range Settings {
		s := &Settings[i]
		if s.Flag == "" {
			envOnly = append(envOnly, s)
			continue
		}
		fmt.Fprintf(w, "  -%s", s.Flag)
		if kind := s.kind(); kind != "" {
			fmt.Fprintf(w, " %s", kind)
		}
		fmt.Fprintf(w, "\n    \t%s\n    \t%s\n", s.Usage, s.sources(def, true))
	}
	if len(envOnly) > 0 {
		fmt.Fprintf(w, "\nSettings without a flag (environment or file):\n")
		for _, s := range envOnly {
			fmt.Fprintf(w, "  %s %s\n    \t%s\n    \t%s\n", s.Env, s.kind(), s.Usage, s.sources(def, false))
		}
	}
	fmt.Fprintf(w, "\nNamespaces and their rules are set in the file only (see the README).\n")
}

// kind names the kind of value s takes in the help ("" for a boolean).
func (s *Setting) kind() string {
	switch s.ptr(&Config{}).(type) {
	case *string:
		return "string"
	case *int, *int64:
		return "int"
	case *float64:
		return "number"
	case *time.Duration:
		return "duration"
	case *[]string:
		return "list"
	}
	return ""
}

// sources describes s's default in def (when it has one), its environment
// variable (with env) and its YAML key.
func (s *Setting) sources(def *Config, env bool) string {
	var d string
	switch p := s.ptr(def).(type) {
	case *string:
		if *p != "" {
			d = strconv.Quote(*p)
		}
	case *bool:
		d = strconv.FormatBool(*p)
	case *int:
		d = strconv.Itoa(*p)
	case *int64:
		d = strconv.FormatInt(*p, 10)
	case *float64:
		d = strconv.FormatFloat(*p, 'g', -1, 64)
	case *time.Duration:
		d = shortDuration(*p)
	case *[]string:
		d = strings.Join(*p, ",")
	}
	out := "YAML " + s.Key
	if env {
		out = "env " + s.Env + ", " + out
	}
	if d != "" {
		out = "default " + d + "; " + out
	}
	return out
}

// shortDuration formats d without the zero units time.Duration.String
// ends with: 1h rather than 1h0m0s, 2m rather than 2m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if s != "0s" && strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// lookupEnv returns a non-empty variable.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}
