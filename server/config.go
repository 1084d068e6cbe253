package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"github.com/tether-rt/tether/adminui"
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// Config is the configuration of a [Server]. [DefaultConfig] returns the
// defaults; [LoadConfig] layers a YAML file, the environment and flags on
// top of them. The YAML keys are the yaml tags below.
type Config struct {
	// Addr is the address to listen on: "localhost:8080" by default,
	// ":8080" for every interface.
	Addr string `yaml:"addr"`
	// Path is where the Socket.IO clients connect: "/socket.io/".
	Path string `yaml:"path"`
	// AdminAddr, when set, serves pprof and /metrics on a second address
	// (keep it private).
	AdminAddr string `yaml:"admin_addr"`
	// ShutdownTimeout bounds a graceful shutdown: 10 s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long /readyz reports 503 before the server
	// starts closing its clients' connections, so that load balancers
	// notice first: 0.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// Origins lists the browser origins allowed besides the server's own:
	// "https://app.example.com", or host patterns such as "*.example.com"
	// (path.Match syntax). "*" allows any origin. Requests from other
	// origins are refused with 403, on both transports; the listed origins
	// get CORS headers.
	Origins []string `yaml:"origins"`
	// CORSCredentials allows credentialed cross-origin requests
	// (Access-Control-Allow-Credentials).
	CORSCredentials bool `yaml:"cors_credentials"`
	// TrustedProxies lists the proxies (IPs or CIDRs) whose
	// X-Forwarded-For header names the client, for per-IP limits.
	TrustedProxies []string `yaml:"trusted_proxies"`

	TLS TLSConfig `yaml:"tls"`
	// HTTP2WebSocket lets browsers open their WebSockets as streams of the
	// HTTP/2 connection that carries the page and the polling requests
	// (RFC 8441), with TLS: true. The tether command starts itself with
	// GODEBUG=http2xconnect=1 for it (Go's HTTP/2 server has no other
	// switch); false leaves WebSockets on HTTP/1.1, a connection each.
	HTTP2WebSocket bool `yaml:"http2_websocket"`

	Log        LogConfig         `yaml:"log"`
	API        APIConfig         `yaml:"api"`
	Auth       AuthConfig        `yaml:"auth"`
	Limits     LimitsConfig      `yaml:"limits"`
	Engine     EngineConfig      `yaml:"engine"`
	Recovery   RecoveryConfig    `yaml:"recovery"`
	Cluster    ClusterConfig     `yaml:"cluster"`
	Namespaces []NamespaceConfig `yaml:"namespaces"`
	AdminUI    AdminUIConfig     `yaml:"admin_ui"`

	// Demos serves the demo apps (live leaderboard, chat, ticker) at "/"
	// with their namespaces /leaderboard, /chat and /ticker. The server
	// package only carries the setting; the tether command wires them in,
	// and gives each demo namespace that Namespaces does not list an entry
	// of its own with the rules of a namespace listed in a file (see
	// [Config.AddNamespaces]), so that authentication, the event rate limits
	// and the metrics apply to the demos as to any configured namespace.
	Demos bool `yaml:"demos"`
	// DemoTickerRate is how many ticks per second the ticker demo sends,
	// from 1 to 1000: 10.
	DemoTickerRate int `yaml:"demo_ticker_rate"`
}

// TLSConfig enables TLS: wss:// and HTTPS polling, with HTTP/2 for polling.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// LogConfig configures the structured logs (log/slog, to stderr).
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// APIConfig configures the backend HTTP API under /api/.
type APIConfig struct {
	// Keys are the accepted API keys; none disables the API (every call
	// gets 401).
	Keys []string `yaml:"keys"`
	// MaxRooms is the most entries each list of rooms (or socket ids) of
	// a request may have: 1000 (0: no limit). A request over it gets 413
	// with an error that names the list. Each room costs work under the
	// namespace's lock, which every broadcast takes, and with recovery on a
	// broadcast's list is kept for recovery.max_disconnection.
	MaxRooms int `yaml:"max_rooms"`
}

// AuthConfig configures client authentication.
type AuthConfig struct {
	// Required refuses clients without a valid token (a namespace may
	// override it).
	Required bool      `yaml:"required"`
	JWT      JWTConfig `yaml:"jwt"`
}

// JWTConfig says how tokens are verified. Any of the key sources may be
// combined.
type JWTConfig struct {
	// HS256Secret is the shared secret of HS256 tokens (32 bytes or more).
	HS256Secret string `yaml:"hs256_secret"`
	// PublicKeys are PEM files of RSA (RS256) or P-256 (ES256) public keys
	// or certificates.
	PublicKeys []string `yaml:"public_keys"`
	// JWKSURL is the URL of a JSON Web Key Set (RS256 and ES256 keys).
	JWKSURL string `yaml:"jwks_url"`
	// JWKSRefresh is how long fetched keys are trusted before the set is
	// fetched again: 1 h. An unknown key id triggers a fetch sooner.
	JWKSRefresh time.Duration `yaml:"jwks_refresh"`
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	// Leeway tolerates clock skew on exp and nbf: 30 s.
	Leeway time.Duration `yaml:"leeway"`
	// RoomsClaim names the claim with the room patterns a token grants:
	// "rooms".
	RoomsClaim string `yaml:"rooms_claim"`
	// RequireExp refuses tokens without an exp claim ("token has no
	// expiry"), which would otherwise be valid forever. Unset (nil), it is
	// on when authentication is required anywhere — auth.required, or a
	// namespace with require_auth: true — and then applies to every token
	// the server accepts, in every namespace and in refresh; see
	// [Config.ExpRequired]. [Config.YAML] prints the value in effect.
	RequireExp *bool `yaml:"require_exp"`
}

// LimitsConfig bounds what clients may do. Zero disables a limit, except
// for MaxPayload, SendQueue and SendQueueBytes, where it means the
// engine's default.
type LimitsConfig struct {
	// MaxPayload is the largest message (and polling POST body) a client
	// may send, in bytes: 1,000,000.
	MaxPayload int64 `yaml:"max_payload"`
	// SendQueue is how many packets may wait for a client before it is
	// disconnected as a slow consumer: 1024.
	SendQueue int `yaml:"send_queue"`
	// SendQueueBytes is how many bytes of messages may wait for a client
	// before it is disconnected as a slow consumer: 4 MiB (4,194,304). A
	// single message into an empty queue is always accepted.
	SendQueueBytes int64 `yaml:"send_queue_bytes"`
	// ConnectionsPerIP bounds the client connections (Engine.IO sessions,
	// whatever namespaces they join) from one IP: 100. A handshake over the
	// limit gets HTTP 429 with an Engine.IO-style JSON error.
	ConnectionsPerIP int `yaml:"connections_per_ip"`
	// HandshakeRate is the sustained rate of new connections per IP (per
	// second), HandshakeBurst the bucket size: 10 and 20.
	HandshakeRate  float64 `yaml:"handshake_rate"`
	HandshakeBurst int     `yaml:"handshake_burst"`
	// EventRate is the sustained rate of events per socket (per second),
	// EventBurst the bucket size: 50 and 100. An event over the limit is
	// dropped and the socket gets an error event.
	EventRate  float64 `yaml:"event_rate"`
	EventBurst int     `yaml:"event_burst"`
	// EventViolations disconnects a socket after that many dropped events:
	// 0, never.
	EventViolations int `yaml:"event_violations"`
}

// EngineConfig configures the Engine.IO layer.
type EngineConfig struct {
	PingInterval time.Duration `yaml:"ping_interval"`
	PingTimeout  time.Duration `yaml:"ping_timeout"`
	// Transports are "polling" and "websocket".
	Transports []string `yaml:"transports"`
	// Compression enables permessage-deflate on WebSocket connections.
	Compression bool `yaml:"compression"`
	// IOUring lets a broadcast write to its idle WebSocket receivers in
	// batches, one io_uring submission for up to 128 of them, where the
	// kernel and the container runtime allow it: true. false writes to
	// each with a system call of its own (for hosts that forbid io_uring,
	// or keep its code paths out of reach on purpose).
	IOUring bool `yaml:"io_uring"`
}

// RecoveryConfig configures Socket.IO connection state recovery: a client
// that reconnects within MaxDisconnection gets its id, rooms and the events
// it missed.
type RecoveryConfig struct {
	Enabled          bool          `yaml:"enabled"`
	MaxDisconnection time.Duration `yaml:"max_disconnection"`
	// MaxLogBytes and MaxLogPackets bound each namespace's log of the
	// events kept for recovery; over either, the oldest go first (see
	// socketio.RecoveryOptions).
	MaxLogBytes   int64 `yaml:"max_log_bytes"`
	MaxLogPackets int   `yaml:"max_log_packets"`
}

// ClusterConfig runs the server as one node of a cluster through Redis,
// with Node's adapters' wire format, so that Tether and Node servers can
// share it. With no RedisURL the server runs alone.
type ClusterConfig struct {
	// RedisURL is the Redis server, in the form of rueidis.ParseURL:
	// redis://[user:password@]host:port[/db], rediss:// for TLS,
	// unix:///path/to/socket. Redis Cluster is found from any of its
	// nodes (redis://node1:6379, more with ?addr=node2:6379&addr=…, in
	// case the first is down at start; db must be 0); Sentinel with the
	// sentinels' addresses and the master's name
	// (redis://sentinel1:26379?addr=sentinel2:26379&master_set=mymaster;
	// the user and password are the master's, the sentinels need none).
	// Other query parameters: dial_timeout, write_timeout, client_name,
	// protocol=2, skip_verify (rediss).
	RedisURL string `yaml:"redis_url"`
	// Adapter is the adapter family, the same on every node, Node's
	// included: "pubsub" (@socket.io/redis-adapter's createAdapter, the
	// default; the one @socket.io/redis-emitter publishes into), "sharded"
	// (its createShardedAdapter, Redis 7 sharded pub/sub) or "streams"
	// (@socket.io/redis-streams-adapter: connection state recovery across
	// nodes, nothing lost in a short Redis outage).
	Adapter string `yaml:"adapter"`
	// KeyPrefix prefixes the channels (and the stream): "socket.io", as in
	// Node. Nodes share a cluster when they share Redis and KeyPrefix.
	KeyPrefix string `yaml:"key_prefix"`
	// NodeID names this node in logs and /api/stats; "" means the host
	// name.
	NodeID string `yaml:"node_id"`
	// RoutePolling serves, on any node, the requests of a session that
	// another node owns (polling GETs and POSTs, and upgrades to
	// WebSocket), through Redis, with @socket.io/cluster-engine 0.1's
	// protocol (shared with Node nodes that use its RedisEngine): no
	// sticky sessions are needed in front. true; false needs sticky
	// sessions for polling clients.
	RoutePolling bool `yaml:"route_polling"`
	// ShardedPubSub makes the streams adapter send its requests and
	// responses with Redis 7's sharded pub/sub (SPUBLISH, SSUBSCRIBE,
	// counted with PUBSUB SHARDNUMSUB), as the useShardedPubSub option of
	// @socket.io/redis-streams-adapter 0.3 does: the same on every node.
	// Only for adapter streams (sharded always uses sharded pub/sub,
	// pubsub never does): false.
	ShardedPubSub bool `yaml:"sharded_pubsub"`
}

// The cluster adapters.
const (
	ClusterPubSub  = "pubsub"
	ClusterSharded = "sharded"
	ClusterStreams = "streams"
)

// AdminUIConfig configures the server side of the official Socket.IO Admin
// UI (package adminui): a namespace that the UI (https://admin.socket.io,
// or the ui/dist files of the npm package @socket.io/admin-ui) connects
// to, to show the servers, namespaces, sockets, rooms and events and to
// make sockets join or leave rooms, disconnect them or emit to them. It is
// off by default. The UI's page is usually on another origin: list it in
// Origins, with CORSCredentials.
type AdminUIConfig struct {
	// Enabled serves the admin namespace: false.
	Enabled bool `yaml:"enabled"`
	// Namespace is the admin namespace: "/admin" (the UI's default). It
	// must not be one of Namespaces.
	Namespace string `yaml:"namespace"`
	// Username and PasswordHash are the credentials the UI must give:
	// PasswordHash is the bcrypt hash of the password ($2a$, $2b$ or $2y$,
	// as the official instrument() takes it; `tether hash-password` makes
	// one). They are required unless NoAuth is set.
	Username     string `yaml:"username"`
	PasswordHash string `yaml:"password_hash"`
	// NoAuth serves the UI to anyone who reaches the server, without
	// credentials (instrument()'s auth: false); for a local server only.
	NoAuth bool `yaml:"no_auth"`
	// ReadOnly offers no operation: the UI only watches.
	ReadOnly bool `yaml:"read_only"`
	// Mode is "development" (every socket, room and event, followed by
	// looking at the sockets every second) or "production" (statistics
	// only): development.
	Mode string `yaml:"mode"`
	// ServerID names this server in the UI: the host name. Servers of a
	// cluster need distinct ids.
	ServerID string `yaml:"server_id"`
}

// NamespaceConfig is a namespace clients may connect to, with its rules.
// Namespaces listed in a file start closed (nothing public, no publishing,
// no presence); the built-in default namespace "/" is open.
type NamespaceConfig struct {
	// Name starts with "/".
	Name string `yaml:"name"`
	// RequireAuth overrides auth.required for this namespace.
	RequireAuth *bool `yaml:"require_auth,omitempty"`
	// Rooms says which rooms clients may subscribe to.
	Rooms RoomsConfig `yaml:"rooms"`
	// Publish is "none", "joined" (to rooms the socket is in) or
	// "permitted" (to any room it may subscribe to).
	Publish string `yaml:"publish"`
	// Presence answers the presence event.
	Presence bool `yaml:"presence"`
	// JoinLeaveEvents sends presence:join and presence:leave to a room's
	// other sockets for each socket that joins or leaves it: a broadcast per
	// change, so N sockets joining one room cost N²/2 messages.
	JoinLeaveEvents bool `yaml:"join_leave_events"`
	// PresenceDiffInterval, when positive, sends presence:diff {room, joins,
	// leaves} to a room's sockets: at once for the first change of a quiet
	// room, then at most once per interval with the changes made since the
	// last one (0: no presence:diff).
	PresenceDiffInterval time.Duration `yaml:"presence_diff_interval"`
}

// RoomsConfig is the room policy of a namespace.
type RoomsConfig struct {
	// Public are patterns (path.Match syntax) of rooms anyone may
	// subscribe to; a token's rooms claim adds more.
	Public []string `yaml:"public"`
	// Max is the most rooms a socket may subscribe to: 100 (0: no limit).
	Max int `yaml:"max"`
}

// DefaultPresenceDiffInterval is the presence_diff_interval of the built-in
// default namespace.
const DefaultPresenceDiffInterval = 100 * time.Millisecond

// The values of NamespaceConfig.Publish.
const (
	PublishNone      = "none"
	PublishJoined    = "joined"
	PublishPermitted = "permitted"
)

// DefaultConfig returns the defaults: listening on localhost:8080, one
// open namespace "/" (every room public, publishing to joined rooms,
// presence lists and presence:diff events every 100 ms at most), no
// authentication, no API key.
func DefaultConfig() *Config {
	return &Config{
		Addr:            "localhost:8080",
		Path:            "/socket.io/",
		ShutdownTimeout: 10 * time.Second,
		HTTP2WebSocket:  true,
		Log:             LogConfig{Level: "info", Format: "text"},
		API:             APIConfig{MaxRooms: 1000},
		Auth: AuthConfig{JWT: JWTConfig{
			JWKSRefresh: time.Hour,
			Leeway:      30 * time.Second,
			RoomsClaim:  "rooms",
		}},
		Limits: LimitsConfig{
			MaxPayload:       engineio.DefaultMaxPayload,
			SendQueue:        engineio.DefaultSendQueue,
			SendQueueBytes:   engineio.DefaultSendQueueBytes,
			ConnectionsPerIP: 100,
			HandshakeRate:    10,
			HandshakeBurst:   20,
			EventRate:        50,
			EventBurst:       100,
		},
		Cluster: ClusterConfig{Adapter: ClusterPubSub, KeyPrefix: "socket.io", RoutePolling: true},
		Engine: EngineConfig{
			PingInterval: engineio.DefaultPingInterval,
			PingTimeout:  engineio.DefaultPingTimeout,
			Transports:   []string{engineio.TransportPolling, engineio.TransportWebSocket},
			IOUring:      true,
		},
		// Recovery is on: a standalone server's clients (and the chat
		// demo) expect missed events after a network drop.
		Recovery: RecoveryConfig{
			Enabled:          true,
			MaxDisconnection: 2 * time.Minute,
			MaxLogBytes:      socketio.DefaultMaxLogBytes,
			MaxLogPackets:    socketio.DefaultMaxLogPackets,
		},
		Namespaces: []NamespaceConfig{{
			Name:                 "/",
			Rooms:                RoomsConfig{Public: []string{"*"}, Max: 100},
			Publish:              PublishJoined,
			Presence:             true,
			PresenceDiffInterval: DefaultPresenceDiffInterval,
		}},
		AdminUI:        AdminUIConfig{Namespace: adminui.DefaultNamespace, Mode: "development"},
		Demos:          true,
		DemoTickerRate: 10,
	}
}

// AddNamespaces adds to c.Namespaces an entry for each of names it does
// not list yet, with the defaults of a namespace listed in a file: closed
// (no public room, no publishing, no presence; the namespace's own events
// do its work), rooms.max 100, and auth.required deciding whether a token
// is needed. The tether command adds the demo namespaces this way.
func (c *Config) AddNamespaces(names ...string) {
	for _, name := range names {
		if slices.ContainsFunc(c.Namespaces, func(n NamespaceConfig) bool { return n.Name == name }) {
			continue
		}
		c.Namespaces = append(c.Namespaces, closedNamespace(name))
	}
}

// closedNamespace returns the defaults of a namespace listed in a file.
func closedNamespace(name string) NamespaceConfig {
	return NamespaceConfig{Name: name, Rooms: RoomsConfig{Max: 100}, Publish: PublishNone}
}

// UnmarshalYAML gives the namespaces of a file their defaults (closed)
// before decoding. It uses the obsolete form of yaml.Unmarshaler so that
// the decoder stays strict about unknown keys.
func (n *NamespaceConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain NamespaceConfig
	p := plain(closedNamespace(""))
	if err := unmarshal(&p); err != nil {
		return err
	}
	*n = NamespaceConfig(p)
	return nil
}

// unknownField rewrites yaml's error for an unknown key.
var unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

// ParseYAML applies a YAML document to c: keys present in it replace the
// values of c; unknown keys are errors.
func (c *Config) ParseYAML(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return errors.New(unknownField.ReplaceAllString(err.Error(), `unknown key "$1"`))
	}
	return nil
}

// AuthRequired reports whether some namespace refuses clients without a
// valid token: auth.required, or a namespace's require_auth: true.
func (c *Config) AuthRequired() bool {
	if c.Auth.Required {
		return true
	}
	return slices.ContainsFunc(c.Namespaces, func(n NamespaceConfig) bool {
		return n.RequireAuth != nil && *n.RequireAuth
	})
}

// ExpRequired reports whether tokens must carry an exp claim:
// auth.jwt.require_exp when set, else [Config.AuthRequired]. It holds for
// the whole server, not per namespace: a token the deployment issues for
// its protected namespaces should not live forever in the open ones,
// where its rooms claim and subject still count.
func (c *Config) ExpRequired() bool {
	if c.Auth.JWT.RequireExp != nil {
		return *c.Auth.JWT.RequireExp
	}
	return c.AuthRequired()
}

// YAML returns c as YAML, with the secrets (API keys, the HS256 secret,
// the Redis password, the Admin UI's password hash) replaced by "<redacted>"
// (xxxxx in the URL), and auth.jwt.require_exp, when unset, as the
// value in effect ([Config.ExpRequired]).
func (c *Config) YAML() ([]byte, error) {
	r := *c
	requireExp := c.ExpRequired()
	r.Auth.JWT.RequireExp = &requireExp
	if len(r.API.Keys) > 0 {
		r.API.Keys = make([]string, len(c.API.Keys))
		for i := range r.API.Keys {
			r.API.Keys[i] = redacted
		}
	}
	if r.Auth.JWT.HS256Secret != "" {
		r.Auth.JWT.HS256Secret = redacted
	}
	if u, err := url.Parse(r.Cluster.RedisURL); err == nil && r.Cluster.RedisURL != "" {
		r.Cluster.RedisURL = u.Redacted()
	}
	if r.AdminUI.PasswordHash != "" {
		r.AdminUI.PasswordHash = redacted
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&r); err != nil {
		return nil, fmt.Errorf("failed to encode the configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("failed to encode the configuration: %w", err)
	}
	return buf.Bytes(), nil
}

const redacted = "<redacted>"

// ValidationError lists every problem of a configuration.
type ValidationError struct {
	Problems []string
}

// Error returns one line per problem, each prefixed with "config: ".
func (e *ValidationError) Error() string {
	return "config: " + strings.Join(e.Problems, "\nconfig: ")
}

// Validate checks c and returns a [*ValidationError] listing every problem,
// each with the path of the offending value, such as
// `namespaces[1].rooms.public[0]: invalid pattern "[": syntax error in pattern`.
// It reads the TLS and public key files to check them.
func (c *Config) Validate() error {
	var v validator
	v.addr("addr", c.Addr, true)
	v.addr("admin_addr", c.AdminAddr, false)
	if c.AdminAddr != "" && c.AdminAddr == c.Addr {
		v.add("admin_addr", "must differ from addr")
	}
	switch {
	case !strings.HasPrefix(c.Path, "/") || !strings.HasSuffix(c.Path, "/") || c.Path == "/":
		v.add("path", fmt.Sprintf("%q must start and end with / and not be /", c.Path))
	case c.Path == "/api/" || c.Path == "/metrics/":
		v.add("path", fmt.Sprintf("%q is taken", c.Path))
	}
	v.nonNegative("shutdown_timeout", int64(c.ShutdownTimeout))
	v.nonNegative("shutdown_delay", int64(c.ShutdownDelay))
	for i, o := range c.Origins {
		if err := checkOriginPattern(o); err != nil {
			v.add(fmt.Sprintf("origins[%d]", i), err.Error())
		}
	}
	for i, p := range c.TrustedProxies {
		if _, err := parseCIDR(p); err != nil {
			v.add(fmt.Sprintf("trusted_proxies[%d]", i), err.Error())
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		v.add("tls", "cert_file and key_file go together")
	} else if c.TLS.CertFile != "" {
		if _, err := loadCertificate(c.TLS.CertFile, c.TLS.KeyFile); err != nil {
			v.add("tls", err.Error())
		}
	}
	c.validateCluster(&v)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", fmt.Sprintf("%q is not one of text, json", c.Log.Format))
	}
	for i, k := range c.API.Keys {
		if len(k) < 16 {
			v.add(fmt.Sprintf("api.keys[%d]", i), "must be at least 16 characters")
		}
	}
	v.nonNegative("api.max_rooms", int64(c.API.MaxRooms))
	if c.DemoTickerRate < 1 || c.DemoTickerRate > 1000 {
		v.add("demo_ticker_rate", fmt.Sprintf("%d is not between 1 and 1000", c.DemoTickerRate))
	}
	c.validateAuth(&v)
	c.validateLimits(&v)
	c.validateNamespaces(&v)
	c.validateAdminUI(&v)
	if len(v.problems) > 0 {
		return &ValidationError{Problems: v.problems}
	}
	return nil
}

func (c *Config) validateAuth(v *validator) {
	j := &c.Auth.JWT
	if s := j.HS256Secret; s != "" && len(s) < 32 {
		v.add("auth.jwt.hs256_secret", "must be at least 32 bytes")
	}
	for i, f := range j.PublicKeys {
		if _, err := loadPublicKeys(f); err != nil {
			v.add(fmt.Sprintf("auth.jwt.public_keys[%d]", i), err.Error())
		}
	}
	if j.JWKSURL != "" {
		u, err := url.Parse(j.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("auth.jwt.jwks_url", fmt.Sprintf("%q is not an http(s) URL", j.JWKSURL))
		}
	}
	v.positive("auth.jwt.jwks_refresh", int64(j.JWKSRefresh))
	v.nonNegative("auth.jwt.leeway", int64(j.Leeway))
	if j.RoomsClaim == "" {
		v.add("auth.jwt.rooms_claim", "must not be empty")
	}
	if c.AuthRequired() && !c.Auth.JWT.configured() {
		v.add("auth", "authentication is required but auth.jwt has no key (hs256_secret, public_keys or jwks_url)")
	}
}

func (c *Config) validateCluster(v *validator) {
	cl := &c.Cluster
	switch cl.Adapter {
	case ClusterPubSub, ClusterSharded, ClusterStreams:
	default:
		v.add("cluster.adapter", fmt.Sprintf("%q is not one of pubsub, sharded, streams", cl.Adapter))
	}
	if cl.RedisURL != "" {
		u, err := url.Parse(cl.RedisURL)
		switch {
		case err != nil:
			v.add("cluster.redis_url", "not a URL")
		case strings.Contains(u.Scheme, "sentinel"):
			v.add("cluster.redis_url", fmt.Sprintf("scheme %q is not redis, rediss or unix (Sentinel: redis://sentinel:26379?master_set=name)", u.Scheme))
		case u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix":
			v.add("cluster.redis_url", fmt.Sprintf("scheme %q is not redis, rediss or unix", u.Scheme))
		default:
			// The client's own parser: a bad db, timeout or flag in the
			// query is an error now rather than at connection time.
			if _, err := rueidis.ParseURL(cl.RedisURL); err != nil {
				v.add("cluster.redis_url", strings.TrimPrefix(err.Error(), "redis: "))
			}
		}
	}
	if cl.KeyPrefix == "" {
		v.add("cluster.key_prefix", "must not be empty")
	}
	if cl.ShardedPubSub && cl.Adapter != ClusterStreams {
		v.add("cluster.sharded_pubsub", fmt.Sprintf("is a setting of the streams adapter, not of %q (sharded always uses sharded pub/sub)", cl.Adapter))
	}
}

func (c *Config) validateAdminUI(v *validator) {
	a := &c.AdminUI
	if !a.Enabled {
		return
	}
	if !strings.HasPrefix(a.Namespace, "/") {
		v.add("admin_ui.namespace", fmt.Sprintf("%q must start with /", a.Namespace))
	} else if slices.ContainsFunc(c.Namespaces, func(n NamespaceConfig) bool { return n.Name == a.Namespace }) {
		v.add("admin_ui.namespace", fmt.Sprintf("%q is one of namespaces", a.Namespace))
	}
	switch {
	case a.NoAuth && (a.Username != "" || a.PasswordHash != ""):
		v.add("admin_ui", "no_auth excludes username and password_hash")
	case !a.NoAuth && (a.Username == "" || a.PasswordHash == ""):
		v.add("admin_ui", "username and password_hash are required (or no_auth: true, to serve the UI without credentials)")
	case a.PasswordHash != "":
		if _, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil {
			v.add("admin_ui.password_hash", "is not a bcrypt hash (tether hash-password makes one): "+err.Error())
		}
	}
	if a.Mode != "development" && a.Mode != "production" {
		v.add("admin_ui.mode", fmt.Sprintf("%q is not one of development, production", a.Mode))
	}
}

func (j *JWTConfig) configured() bool {
	return j.HS256Secret != "" || len(j.PublicKeys) > 0 || j.JWKSURL != ""
}

func (c *Config) validateLimits(v *validator) {
	l := &c.Limits
	v.nonNegative("limits.max_payload", l.MaxPayload)
	v.nonNegative("limits.send_queue", int64(l.SendQueue))
	v.nonNegative("limits.send_queue_bytes", l.SendQueueBytes)
	v.nonNegative("limits.connections_per_ip", int64(l.ConnectionsPerIP))
	if l.HandshakeRate < 0 {
		v.add("limits.handshake_rate", "must not be negative")
	}
	if l.HandshakeRate > 0 && l.HandshakeBurst < 1 {
		v.add("limits.handshake_burst", "must be at least 1 when handshake_rate is set")
	}
	if l.EventRate < 0 {
		v.add("limits.event_rate", "must not be negative")
	}
	if l.EventRate > 0 && l.EventBurst < 1 {
		v.add("limits.event_burst", "must be at least 1 when event_rate is set")
	}
	v.nonNegative("limits.event_violations", int64(l.EventViolations))
	e := &c.Engine
	v.positive("engine.ping_interval", int64(e.PingInterval))
	v.positive("engine.ping_timeout", int64(e.PingTimeout))
	if len(e.Transports) == 0 {
		v.add("engine.transports", "must list polling, websocket or both")
	}
	for i, t := range e.Transports {
		if t != engineio.TransportPolling && t != engineio.TransportWebSocket {
			v.add(fmt.Sprintf("engine.transports[%d]", i), fmt.Sprintf("%q is not polling or websocket", t))
		}
	}
	if c.Recovery.Enabled {
		v.positive("recovery.max_disconnection", int64(c.Recovery.MaxDisconnection))
		v.positive("recovery.max_log_bytes", c.Recovery.MaxLogBytes)
		v.positive("recovery.max_log_packets", int64(c.Recovery.MaxLogPackets))
	}
}

func (c *Config) validateNamespaces(v *validator) {
	if len(c.Namespaces) == 0 {
		v.add("namespaces", "at least one namespace is needed")
	}
	seen := map[string]int{}
	for i, n := range c.Namespaces {
		p := fmt.Sprintf("namespaces[%d]", i)
		switch {
		case !strings.HasPrefix(n.Name, "/"):
			v.add(p+".name", fmt.Sprintf("%q must start with /", n.Name))
		case strings.ContainsAny(n.Name, ",?#"):
			v.add(p+".name", fmt.Sprintf("%q must not contain , ? or #", n.Name))
		}
		if j, dup := seen[n.Name]; dup {
			v.add(p+".name", fmt.Sprintf("%q is already namespaces[%d]", n.Name, j))
		} else {
			seen[n.Name] = i
		}
		for k, pat := range n.Rooms.Public {
			if err := checkPattern(pat); err != nil {
				v.add(fmt.Sprintf("%s.rooms.public[%d]", p, k), err.Error())
			}
		}
		v.nonNegative(p+".rooms.max", int64(n.Rooms.Max))
		v.nonNegative(p+".presence_diff_interval", int64(n.PresenceDiffInterval))
		switch n.Publish {
		case PublishNone, PublishJoined, PublishPermitted:
		default:
			v.add(p+".publish", fmt.Sprintf("%q is not one of none, joined, permitted", n.Publish))
		}
	}
}

// checkPattern checks a room pattern.
func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("invalid pattern %q: %w", p, err)
	}
	return nil
}

// checkOriginPattern checks an entry of Config.Origins.
func checkOriginPattern(o string) error {
	if o == "*" {
		return nil
	}
	if o == "" {
		return errors.New("empty origin")
	}
	if _, err := path.Match(strings.ToLower(o), ""); err != nil {
		return fmt.Errorf("invalid origin pattern %q: %w", o, err)
	}
	if scheme, rest, ok := strings.Cut(o, "://"); ok && (scheme == "" || rest == "" || strings.Contains(rest, "/")) {
		return fmt.Errorf("invalid origin %q: want scheme://host[:port]", o)
	}
	return nil
}

type validator struct {
	problems []string
}

func (v *validator) add(path, msg string) {
	v.problems = append(v.problems, path+": "+msg)
}

func (v *validator) nonNegative(path string, n int64) {
	if n < 0 {
		v.add(path, "must not be negative")
	}
}

func (v *validator) positive(path string, n int64) {
	if n <= 0 {
		v.add(path, "must be positive")
	}
}

func (v *validator) addr(path, addr string, required bool) {
	if addr == "" {
		if required {
			v.add(path, "must not be empty")
		}
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		v.add(path, fmt.Sprintf("invalid address %q: %v", addr, err))
	}
}

// readFile reads a file named in the configuration.
func readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("failed to read %w", err)
	}
	return b, nil
}
