package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/rueidis"

	"github.com/tether-rt/tether/adapter/internal/nodejson"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// EmitterOptions configures an [Emitter]. The zero value is Node's
// defaults.
type EmitterOptions struct {
	// Key prefixes the channels, as the adapters' key; "" means
	// "socket.io".
	Key string
	// Timeout bounds each PUBLISH; 0 means 5 s.
	Timeout time.Duration
}

// emitterUID is the uid of every emitter's messages, as Node's.
const emitterUID = "emitter"

// Emitter publishes events and operations into a cluster of Socket.IO
// servers that use the classic Redis adapter (Tether's [NewClassicFactory]
// or Node's @socket.io/redis-adapter), from a program that runs no
// Socket.IO server, as @socket.io/redis-emitter 5.1 does and with the same
// messages: a Node or Tether server cannot tell them apart.
//
// An Emitter is a value: To, In, Except, Volatile, Compress and Of return
// new ones. It is safe for concurrent use. Like Node's, it publishes
// whether or not any server listens (nothing says whether one received),
// and it does not support acknowledgements.
type Emitter struct {
	client  rueidis.Client
	key     string
	timeout time.Duration
	nsp     string
	rooms   []string
	except  []string
	flags   socketio.BroadcastFlags
}

// NewEmitter returns an emitter to the main namespace ("/") of the
// servers that share client's Redis.
func NewEmitter(client rueidis.Client, opts *EmitterOptions) *Emitter {
	e := &Emitter{client: client, key: "socket.io", timeout: 5 * time.Second, nsp: "/"}
	if opts != nil {
		if opts.Key != "" {
			e.key = opts.Key
		}
		if opts.Timeout > 0 {
			e.timeout = opts.Timeout
		}
	}
	return e
}

// Of returns an emitter to the namespace nsp ("/" is prefixed when
// missing, as Node does).
func (e *Emitter) Of(nsp string) *Emitter {
	if len(nsp) == 0 || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	return &Emitter{client: e.client, key: e.key, timeout: e.timeout, nsp: nsp}
}

// To returns an emitter that targets the sockets in rooms (and in the
// rooms targeted already).
func (e *Emitter) To(rooms ...string) *Emitter {
	c := e.clone()
	c.rooms = appendNew(c.rooms, rooms)
	return c
}

// In is To.
func (e *Emitter) In(rooms ...string) *Emitter { return e.To(rooms...) }

// Except returns an emitter that leaves out the sockets in rooms.
func (e *Emitter) Except(rooms ...string) *Emitter {
	c := e.clone()
	c.except = appendNew(c.except, rooms)
	return c
}

// Volatile returns an emitter whose events may be dropped for clients that
// are not ready to receive them.
func (e *Emitter) Volatile() *Emitter {
	c := e.clone()
	c.flags.Volatile = true
	return c
}

// Compress returns an emitter whose events are sent compressed or not.
func (e *Emitter) Compress(compress bool) *Emitter {
	c := e.clone()
	c.flags.Compress = &compress
	return c
}

func (e *Emitter) clone() *Emitter {
	c := *e
	c.rooms = slices.Clip(c.rooms)
	c.except = slices.Clip(c.except)
	return &c
}

// appendNew appends the elements of add that dst lacks (a set, in order).
func appendNew(dst, add []string) []string {
	for _, r := range add {
		if !slices.Contains(dst, r) {
			dst = append(dst, r)
		}
	}
	return dst
}

// errEmitterReserved is returned for the events Node's emitter refuses.
var errEmitterReserved = errors.New("redis: a reserved event name")

// emitterReserved are the event names @socket.io/redis-emitter refuses.
var emitterReserved = []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// Emit broadcasts an event to the targeted sockets of every server.
// Arguments are encoded as socketio.Socket.Emit encodes them ([]byte as
// binary, which the servers send as attachments).
func (e *Emitter) Emit(event string, args ...any) error {
	if slices.Contains(emitterReserved, event) {
		return fmt.Errorf("failed to emit %q: %w", event, errEmitterReserved)
	}
	data := parser.AppendString([]byte{'['}, event)
	var atts [][]byte
	for _, a := range args {
		var err error
		data = append(data, ',')
		if data, atts, err = parser.AppendValue(data, a, atts); err != nil {
			return fmt.Errorf("failed to emit %q: %w", event, err)
		}
	}
	data = append(data, ']')
	opts := &socketio.BroadcastOptions{Rooms: e.rooms, Except: e.except, Flags: e.flags}
	msg, err := appendClassicBroadcast(nil, emitterUID, e.nsp, data, atts, opts, true)
	if err != nil {
		return fmt.Errorf("failed to emit %q: %w", event, err)
	}
	channel := e.key + "#" + e.nsp + "#"
	if len(e.rooms) == 1 {
		channel += e.rooms[0] + "#"
	}
	return e.publish(channel, msg)
}

// SocketsJoin makes the targeted sockets of every server join rooms.
func (e *Emitter) SocketsJoin(rooms ...string) error {
	return e.request(classicRemoteJoin, func(w *nodejson.Object) { w.Raw("rooms", nodejson.AppendStrings(nil, rooms)) })
}

// SocketsLeave makes the targeted sockets of every server leave rooms.
func (e *Emitter) SocketsLeave(rooms ...string) error {
	return e.request(classicRemoteLeave, func(w *nodejson.Object) { w.Raw("rooms", nodejson.AppendStrings(nil, rooms)) })
}

// DisconnectSockets disconnects the targeted sockets of every server,
// closing their connections when close is set.
func (e *Emitter) DisconnectSockets(close bool) error {
	return e.request(classicRemoteDisconnect, func(w *nodejson.Object) { w.Raw("close", fmt.Append(nil, close)) })
}

// request publishes {type, opts: {rooms, except}, …} as Node's emitter
// does (with no uid).
func (e *Emitter) request(typ int, fill func(*nodejson.Object)) error {
	opts := &socketio.BroadcastOptions{Rooms: e.rooms, Except: e.except}
	msg := appendClassicRequestJSON(nil, "", "", typ, func(w *nodejson.Object) {
		w.Raw("opts", appendSelectionJSON(nil, opts))
		fill(w)
	})
	return e.publish(e.key+"-request#"+e.nsp+"#", msg)
}

// ServerSideEmit sends an event to the namespace's server-side handlers on
// every server (socketio.Namespace.OnServerSideEmit), with no
// acknowledgement.
func (e *Emitter) ServerSideEmit(event string, args ...any) error {
	data := parser.AppendString([]byte{'['}, event)
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("failed to emit %q to the servers: %w", event, err)
		}
		data = append(append(data, ','), b...)
	}
	data = append(data, ']')
	msg := appendClassicRequestJSON(nil, emitterUID, "", classicServerSideEmit, func(w *nodejson.Object) { w.Raw("data", data) })
	return e.publish(e.key+"-request#"+e.nsp+"#", msg)
}

func (e *Emitter) publish(channel string, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	// One node for every publish on Redis Cluster (see publish).
	if err := publish(ctx, e.client, e.client.B().Publish().Channel(channel).Message(rueidis.BinaryString(msg)).Build()); err != nil {
		return fmt.Errorf("redis: failed to publish to %s: %w", channel, err)
	}
	return nil
}
