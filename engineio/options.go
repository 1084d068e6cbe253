package engineio

import (
	"net/http"
	"time"

	"github.com/tether-rt/tether/websocket"
)

// The defaults of the reference implementation (Node's engine.io).
const (
	DefaultPingInterval   = 25 * time.Second
	DefaultPingTimeout    = 20 * time.Second
	DefaultUpgradeTimeout = 10 * time.Second
	DefaultMaxPayload     = 1_000_000
	DefaultSendQueue      = 1024
	DefaultSendQueueBytes = 4 << 20
)

// The transport names, as they appear in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Options configures a [Server]. The zero value gives Node's defaults:
// both transports, upgrades allowed, a 25 s ping interval, a 20 s ping
// timeout, a 10 s upgrade timeout, a 1 MB maxPayload, no CORS headers, no
// cookie and protocol v4 only.
type Options struct {
	// PingInterval is how often the server pings a v4 client (and how
	// often a v3 client is told to ping); 0 means 25 s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong (v4) or, on
	// top of PingInterval, for the next ping (v3); 0 means 20 s.
	PingTimeout time.Duration
	// TransferTimeout bounds the transfer of one polling request's body
	// and of one poll response: a client that takes longer to send or to
	// read one has its session closed ("transport error"), so that a
	// client that does not read cannot hold a response, or one that sends
	// slowly a body buffer, for longer than it could hold its session. 0
	// means PingTimeout, but at least 5 s (a short heartbeat must not cut
	// transfers on a busy machine).
	TransferTimeout time.Duration
	// UpgradeTimeout bounds an upgrade from polling to WebSocket, from the
	// WebSocket handshake to the client's upgrade packet; 0 means 10 s.
	UpgradeTimeout time.Duration
	// MaxPayload is the largest POST body and WebSocket message the server
	// reads, in bytes, announced to v4 clients in the handshake; 0 means
	// 1,000,000. A bigger POST is answered 413, a bigger WebSocket message
	// fails the connection with close code 1009; the session closes with
	// "transport error" either way.
	MaxPayload int64
	// AllowEIO3 accepts Engine.IO v3 clients (EIO=3: Socket.IO v2
	// clients) besides v4 ones.
	AllowEIO3 bool
	// Transports lists the transports clients may use; nil means
	// {"polling", "websocket"}.
	Transports []string
	// DisableUpgrades refuses upgrades from polling to WebSocket: polling
	// sessions stay on polling.
	DisableUpgrades bool
	// CORS, when set, answers preflight requests and adds the
	// Access-Control-* headers to every response. nil means no CORS
	// headers: browsers then only reach the server from its own origin.
	CORS *CORSOptions
	// Cookie, when set, sends the session ID as a cookie with the
	// handshake response (sticky sessions behind a load balancer).
	Cookie *CookieOptions
	// WebSocket configures the WebSocket transport: the Origin policy
	// (same-origin only unless OriginPatterns or InsecureSkipVerify say
	// otherwise; the origins listed in CORS.Origins, except "*", are
	// allowed too), compression and the like. A zero ReadLimit means
	// MaxPayload.
	WebSocket websocket.AcceptOptions
	// AllowRequest, when set, is asked about every handshake; an error
	// refuses it with HTTP 403 and the error's text as the message.
	AllowRequest func(r *http.Request) error
	// DisableHTTPCompression turns off the gzip (or deflate) compression
	// of polling responses of 1 KiB or more for clients that accept it,
	// which is on by default as in Node.
	DisableHTTPCompression bool
	// SendQueue is the most packets a socket queues before it is closed as
	// a slow consumer ("send queue full"); 0 means 1024.
	SendQueue int
	// SendQueueBytes is the most bytes of message data a socket queues
	// before it is closed as a slow consumer ("send queue full"); 0 means
	// 4 MiB. One Send into an empty queue is always accepted, whatever its
	// size (MaxPayload bounds what clients send, not what the server
	// does). The bytes counted are the packets' data: a broadcast's data is
	// shared by all its receivers, so this bounds what one slow client can
	// hold of memory that is its own, as SendQueue bounds the packets.
	SendQueueBytes int64
	// Cluster, when set, makes the server one of a cluster whose servers
	// all serve every session: requests for a session of another server
	// are routed to it (see [ClusterOptions]), so no sticky sessions are
	// needed in front. nil means a server alone.
	Cluster *ClusterOptions
}

// CORSOptions configures the Cross-Origin Resource Sharing headers, as the
// "cors" middleware of Node's engine.io does.
type CORSOptions struct {
	// Origins lists the origins allowed, such as "https://example.com",
	// compared case-insensitively with the request's Origin, which is
	// echoed back when it matches. "*" allows any origin: the answer is
	// "*", or the request's Origin when Credentials is set (browsers refuse
	// "*" with credentials).
	Origins []string
	// Credentials sends Access-Control-Allow-Credentials: true.
	Credentials bool
	// Methods are the methods a preflight allows; nil means GET and POST.
	Methods []string
	// AllowedHeaders are the request headers a preflight allows; nil
	// echoes the ones the preflight asks for.
	AllowedHeaders []string
	// MaxAge is how long a browser may cache a preflight answer; 0 sends
	// no Access-Control-Max-Age.
	MaxAge time.Duration
}

// CookieOptions configures the cookie that carries the session ID.
type CookieOptions struct {
	Name     string // "" means "io"
	Path     string // "" means "/"
	HTTPOnly bool
	SameSite http.SameSite // 0 means Lax, as in Node; http.SameSiteDefaultMode sends no SameSite
	Secure   bool
}

// config is Options with the defaults filled in.
type config struct {
	Options
	polling, websocket bool
	upgrades           []string // what a polling session may upgrade to
	closeTimeout       time.Duration
	noopInterval       time.Duration // see noopInterval; tests change it
	ws                 websocket.AcceptOptions
}

func newConfig(o *Options) config {
	var c config
	if o != nil {
		c.Options = *o
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = DefaultSendQueueBytes
	}
	if c.Transports == nil {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	for _, t := range c.Transports {
		switch t {
		case TransportPolling:
			c.polling = true
		case TransportWebSocket:
			c.websocket = true
		}
	}
	c.upgrades = []string{}
	if c.polling && c.websocket && !c.DisableUpgrades {
		c.upgrades = []string{TransportWebSocket}
	}
	// A polling session asked to close waits for the client's next poll
	// to carry the close packet; a live client polls at once, so this
	// bound only matters for clients that went away.
	c.closeTimeout = min(30*time.Second, c.PingInterval+c.PingTimeout)
	if c.TransferTimeout <= 0 {
		c.TransferTimeout = max(c.PingTimeout, 5*time.Second)
	}
	c.noopInterval = noopInterval
	c.ws = c.WebSocket
	if c.ws.ReadLimit == 0 {
		c.ws.ReadLimit = c.MaxPayload
	}
	if c.CORS != nil {
		// An origin trusted with polling is trusted with WebSocket too,
		// but "*" is not: browsers send cookies with every WebSocket.
		pats := append([]string(nil), c.ws.OriginPatterns...)
		for _, o := range c.CORS.Origins {
			if o != "*" {
				pats = append(pats, o)
			}
		}
		c.ws.OriginPatterns = pats
	}
	return c
}

// enabled reports whether the named transport is enabled.
func (c *config) enabled(transport string) bool {
	switch transport {
	case TransportPolling:
		return c.polling
	case TransportWebSocket:
		return c.websocket
	}
	return false
}
