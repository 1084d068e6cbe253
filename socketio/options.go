package socketio

import (
	"log/slog"
	"time"

	"github.com/tether-rt/tether/engineio"
)

// Options configures a [Server]. The zero value gives Node's defaults
// (connection state recovery is off, as in Node).
type Options struct {
	// Options configures the Engine.IO server underneath (ping interval and
	// timeout, max payload, transports, CORS, the WebSocket Origin policy,
	// the per-connection send queue...).
	engineio.Options

	// ConnectTimeout closes a connection that has not joined any namespace
	// in time; 0 means 45 seconds.
	ConnectTimeout time.Duration

	// Adapter creates the adapter of each namespace; nil means an
	// [InMemoryAdapter] with ConnectionStateRecovery. An error leaves the
	// namespace unusable: see [Namespace.Err].
	Adapter AdapterFactory

	// ConnectionStateRecovery, when set, keeps the state of sockets that
	// disconnected unexpectedly (id, rooms, data) and the packets they miss,
	// for a client that reconnects in time.
	ConnectionStateRecovery *RecoveryOptions

	// MaxAttachments limits the binary attachments of one received packet;
	// 0 means 10, as in Node.
	MaxAttachments int

	// Logger receives what the server reports on its own: a handler's
	// panic, a client closed because the packets waiting for its handlers
	// piled up, an adapter that failed. nil means [slog.Default] (at the
	// time of logging).
	Logger *slog.Logger
}

// RecoveryOptions configures connection state recovery.
type RecoveryOptions struct {
	// MaxDisconnectionDuration is how long sessions and packets are kept;
	// 0 means 2 minutes.
	MaxDisconnectionDuration time.Duration
	// SkipMiddlewares skips the namespace middlewares when a session is
	// recovered. Node's default is true; set it to match.
	SkipMiddlewares bool

	// MaxLogBytes bounds the memory of each namespace's log of broadcast
	// packets (their text, attachments and bookkeeping); 0 means
	// DefaultMaxLogBytes. MaxLogPackets bounds their number; 0 means
	// DefaultMaxLogPackets. Over either bound the oldest packets are
	// dropped, and a client that missed one of them gets a new session
	// instead of a recovered one. Without them one client publishing large
	// messages, even to a room it is alone in, pins them all for
	// MaxDisconnectionDuration.
	MaxLogBytes   int64
	MaxLogPackets int

	// OnDrop, when set, is called with the number of packets and bytes
	// that left a namespace's log and why: DropAge (older than
	// MaxDisconnectionDuration), DropBytes or DropPackets (over the
	// bounds). It is called without the adapter's lock held, possibly
	// concurrently.
	OnDrop func(namespace string, packets int, bytes int64, reason string)
}

// The defaults of RecoveryOptions' bounds, per namespace. 32 MiB holds 32
// messages of the largest payload a client may send by default (1 MB),
// and some 65,000 chat messages of 300 bytes with their bookkeeping: more
// than two minutes of a busy namespace. 100,000 packets is over 800
// broadcasts a second for two minutes; with entries of a few hundred bytes
// the byte bound is reached first, so the packet bound caps the entries
// too small for it (some 170 bytes of bookkeeping each) and the work of
// restoring a session, which scans the log after its offset.
const (
	DefaultMaxLogBytes   = 32 << 20
	DefaultMaxLogPackets = 100_000
)

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.ConnectTimeout <= 0 {
		out.ConnectTimeout = 45 * time.Second
	}
	if out.ConnectionStateRecovery != nil {
		out.ConnectionStateRecovery = out.ConnectionStateRecovery.withDefaults()
	}
	return out
}

// withDefaults returns a copy of r with the defaults filled in.
func (r *RecoveryOptions) withDefaults() *RecoveryOptions {
	c := *r
	if c.MaxDisconnectionDuration <= 0 {
		c.MaxDisconnectionDuration = 2 * time.Minute
	}
	if c.MaxLogBytes <= 0 {
		c.MaxLogBytes = DefaultMaxLogBytes
	}
	if c.MaxLogPackets <= 0 {
		c.MaxLogPackets = DefaultMaxLogPackets
	}
	return &c
}
