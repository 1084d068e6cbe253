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

	// Adapter creates the adapter of each namespace; nil means
	// NewInMemoryAdapter.
	Adapter func(nsp *Namespace) Adapter

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
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.ConnectTimeout <= 0 {
		out.ConnectTimeout = 45 * time.Second
	}
	if out.ConnectionStateRecovery != nil {
		r := *out.ConnectionStateRecovery
		if r.MaxDisconnectionDuration <= 0 {
			r.MaxDisconnectionDuration = 2 * time.Minute
		}
		out.ConnectionStateRecovery = &r
	}
	return out
}
