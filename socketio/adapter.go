package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-rt/tether/socketio/parser"
)

// BroadcastFlags modify a broadcast. Their JSON form is the one Node's
// adapters exchange (the timeout goes as milliseconds).
type BroadcastFlags struct {
	// Volatile packets are dropped for the sockets whose connection is not
	// writable right now, and are never stored for connection state recovery.
	Volatile bool
	// Compress, when set to false, sends the packets uncompressed
	// (engineio.Packet.NoCompress): no permessage-deflate on WebSocket, no
	// gzip of a polling response that holds only such packets. nil means
	// true.
	Compress *bool
	// Local limits the operation to this server (for multi-server adapters).
	Local bool
	// Timeout bounds the wait for acknowledgements.
	Timeout time.Duration
}

type flagsJSON struct {
	Volatile bool  `json:"volatile,omitempty"`
	Compress *bool `json:"compress,omitempty"`
	Local    bool  `json:"local,omitempty"`
	Timeout  int64 `json:"timeout,omitempty"`
}

// MarshalJSON encodes the flags as Node does.
func (f BroadcastFlags) MarshalJSON() ([]byte, error) {
	return json.Marshal(flagsJSON{f.Volatile, f.Compress, f.Local, f.Timeout.Milliseconds()})
}

// UnmarshalJSON decodes Node's form of the flags.
func (f *BroadcastFlags) UnmarshalJSON(b []byte) error {
	var j flagsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = BroadcastFlags{Volatile: j.Volatile, Compress: j.Compress, Local: j.Local, Timeout: time.Duration(j.Timeout) * time.Millisecond}
	return nil
}

// BroadcastOptions select the sockets of a broadcast or of a bulk operation:
// the sockets in any of Rooms (every socket of the namespace when Rooms is
// empty) that are in none of Except.
type BroadcastOptions struct {
	Rooms  []string       `json:"rooms"`
	Except []string       `json:"except"`
	Flags  BroadcastFlags `json:"flags"`
}

// SessionToPersist is the state of a disconnected socket kept for connection
// state recovery.
type SessionToPersist struct {
	SID   string         `json:"sid"`
	PID   string         `json:"pid"`
	Rooms []string       `json:"rooms"`
	Data  map[string]any `json:"data"`
}

// Session is a restored session: its state and the packets the client missed,
// already encoded (and, like every [parser.EncodedPacket], not to be
// modified), in order. The socket converts them to Engine.IO packets when it
// sends them; they go compressible whatever the Compress flag of their
// broadcast was, as in Node.
type Session struct {
	SessionToPersist
	MissedPackets []*parser.EncodedPacket
}

// SocketDetails describes a socket found by [Adapter.FetchSockets], possibly
// on another server.
type SocketDetails struct {
	ID        string         `json:"id"`
	Handshake *Handshake     `json:"handshake"`
	Rooms     []string       `json:"rooms"`
	Data      map[string]any `json:"data"`

	local *Socket
}

// Adapter distributes the operations of one namespace to its sockets:
// broadcasts (with or without acknowledgements), bulk operations on
// selected sockets, and the sessions of connection state recovery. The
// sockets of this server are the namespace's [LocalSockets] (rooms are
// joined and left there); an adapter reaches them through its
// [AdapterHost].
//
// The in-memory implementation ([InMemoryAdapter]) serves a single server.
// A multi-server adapter (such as one over Redis, wire-compatible with
// Node's @socket.io/redis-adapter) acts on the local sockets and forwards
// each operation to the other servers: Broadcast publishes the packet and
// options, BroadcastWithAck sends a request whose answers carry client
// counts and acknowledgements, FetchSockets, AddSockets, DelSockets,
// DisconnectSockets, AllRooms and ServerSideEmit become requests, unless
// opts.Flags.Local is set. Broadcasts from other servers are delivered with
// [LocalSockets.Deliver].
//
// Methods are called concurrently; an Adapter must be safe for that.
type Adapter interface {
	// Close releases the adapter's resources.
	Close() error
	// ServerCount returns the number of servers sharing the namespace.
	// When it could count them only in part (a node of the broker did not
	// answer), it returns those it counted and an error wrapping
	// ErrPartialResult; the requests that wait for every server's answer
	// then wait for those and report the same partial result.
	ServerCount(ctx context.Context) (int, error)
	// AllRooms returns the rooms of every server.
	AllRooms(ctx context.Context) ([]string, error)

	// Broadcast sends p (an EVENT) to the selected sockets, encoding it once.
	Broadcast(p *parser.Packet, opts *BroadcastOptions) error
	// BroadcastWithAck sends p (an EVENT, to which it gives an id) to the
	// selected sockets; clientCount is called once per server with the
	// number of sockets reached there, ack once per acknowledging client with
	// its first acknowledgement argument. The acknowledgements stop being
	// waited for, on every server, when ctx is done.
	BroadcastWithAck(ctx context.Context, p *parser.Packet, opts *BroadcastOptions, clientCount func(n int), ack func(arg json.RawMessage)) error

	// Sockets returns the ids of the sockets in rooms (all when empty).
	Sockets(ctx context.Context, rooms []string) ([]string, error)
	// FetchSockets returns the selected sockets. When some servers did not
	// answer in time it returns the others' sockets and an error wrapping
	// ErrPartialResult; Sockets, AllRooms and ServerSideEmit's answers do
	// the same.
	FetchSockets(ctx context.Context, opts *BroadcastOptions) ([]*SocketDetails, error)
	// AddSockets makes the selected sockets join rooms.
	AddSockets(opts *BroadcastOptions, rooms []string) error
	// DelSockets makes the selected sockets leave rooms.
	DelSockets(opts *BroadcastOptions, rooms []string) error
	// DisconnectSockets disconnects the selected sockets, closing their
	// connections when close is set.
	DisconnectSockets(opts *BroadcastOptions, close bool) error

	// ServerSideEmit sends an event to the other servers' namespaces
	// (handlers set with [Namespace.OnServerSideEmit]). With a non-nil ack it
	// waits for every other server's answer until ctx is done.
	ServerSideEmit(ctx context.Context, args []json.RawMessage, ack func(responses []json.RawMessage, err error)) error

	// PersistSession keeps the state of a socket that disconnected for a
	// recoverable reason.
	PersistSession(s *SessionToPersist) error
	// RestoreSession finds the session pid, if it has not expired, and the
	// packets broadcast after offset that it missed. It returns nil when
	// there is nothing to restore (unknown or expired session, unknown
	// offset) or when some packets broadcast after offset are no longer
	// kept: a session is never restored with a gap. On success it has added the socket to the session's rooms and
	// has called attach(session) before any packet broadcast after the
	// missed ones was delivered, so the namespace can register the socket
	// and queue the missed packets in order. A restored session is removed.
	RestoreSession(pid, offset string, attach func(*Session)) (*Session, error)
}

// PublishMarker is implemented by adapters whose operations publish to the
// other servers asynchronously: Broadcast returns once the packet is
// delivered locally and queued for the broker. Whoever tells a client its
// broadcast went out (an acknowledgement) calls MarkPublish before the
// operations and the returned confirm after them: confirm calls done,
// without blocking and perhaps on another goroutine, once what they queued
// is published, with nil when it all reached the broker and an error
// wrapping [ErrNotPublished] when any of it did not (failed, dropped by a
// full queue, or refused at Close). Adapters may be conservative: another
// operation's failure in the same interval may count, so that a
// confirmation may wrongly fail (the client retries), never wrongly
// succeed. done must not block.
type PublishMarker interface {
	MarkPublish() (confirm func(done func(error)))
}

// NotPublished returns what a [PublishMarker]'s confirmation gives done
// when failed messages failed since the mark, or the queue ended with err:
// nil when neither, else an error wrapping [ErrNotPublished].
func NotPublished(failed uint64, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNotPublished, err)
	case failed != 0:
		return fmt.Errorf("%w (%d since the mark)", ErrNotPublished, failed)
	}
	return nil
}

// AdapterHost is a namespace as its adapter sees it: its name, its sockets
// on this server, and the handlers of events other servers send it. It is
// all an adapter needs of the socket layer.
type AdapterHost interface {
	// Name returns the namespace's name, such as "/" or "/admin".
	Name() string
	// LocalSockets returns the namespace's sockets on this server.
	LocalSockets() *LocalSockets
	// DispatchServerSideEmit hands an event another server sent with
	// ServerSideEmit (args[0] is its name) to the namespace's handler;
	// ack, when not nil, sends the handler's answer back.
	DispatchServerSideEmit(args []json.RawMessage, ack func(json.RawMessage))
	// Logger returns the logger of the server.
	Logger() *slog.Logger
}

// AdapterFactory creates the adapter of a namespace. An error (a broker that
// cannot be reached, say) leaves the namespace unusable: clients get a
// connect_error and operations fail with [Namespace.Err].
type AdapterFactory func(host AdapterHost) (Adapter, error)

// failedAdapter stands for an adapter that could not be made: every
// operation fails with its error.
type failedAdapter struct{ err error }

func (f failedAdapter) Close() error                                      { return nil }
func (f failedAdapter) ServerCount(context.Context) (int, error)          { return 0, f.err }
func (f failedAdapter) AllRooms(context.Context) ([]string, error)        { return nil, f.err }
func (f failedAdapter) Broadcast(*parser.Packet, *BroadcastOptions) error { return f.err }
func (f failedAdapter) BroadcastWithAck(context.Context, *parser.Packet, *BroadcastOptions, func(int), func(json.RawMessage)) error {
	return f.err
}
func (f failedAdapter) Sockets(context.Context, []string) ([]string, error) { return nil, f.err }
func (f failedAdapter) FetchSockets(context.Context, *BroadcastOptions) ([]*SocketDetails, error) {
	return nil, f.err
}
func (f failedAdapter) AddSockets(*BroadcastOptions, []string) error    { return f.err }
func (f failedAdapter) DelSockets(*BroadcastOptions, []string) error    { return f.err }
func (f failedAdapter) DisconnectSockets(*BroadcastOptions, bool) error { return f.err }
func (f failedAdapter) ServerSideEmit(context.Context, []json.RawMessage, func([]json.RawMessage, error)) error {
	return f.err
}
func (f failedAdapter) PersistSession(*SessionToPersist) error { return f.err }
func (f failedAdapter) RestoreSession(string, string, func(*Session)) (*Session, error) {
	return nil, f.err
}
