package redis

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/tether-rt/tether/adapter/internal/msgpack"
	"github.com/tether-rt/tether/adapter/internal/nodejson"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// The request types of @socket.io/redis-adapter 8.3 (its RequestType
// enum). Responses carry the type only for the last three and for the
// answer to a server-side emit (classicServerSideEmit).
const (
	classicSockets              = 0 // legacy allSockets: {rooms} -> {sockets: [id…]}
	classicAllRooms             = 1 // {} -> {rooms}
	classicRemoteJoin           = 2 // {opts, rooms}
	classicRemoteLeave          = 3 // {opts, rooms}
	classicRemoteDisconnect     = 4 // {opts, close}
	classicRemoteFetch          = 5 // {opts} -> {sockets: [{id, handshake, rooms, data}…]}
	classicServerSideEmit       = 6 // {data: [event, …args]}, with requestId -> {type: 6, data}
	classicBroadcast            = 7 // MessagePack {packet, opts}: a broadcast with acknowledgements
	classicBroadcastClientCount = 8 // {clientCount}
	classicBroadcastAck         = 9 // MessagePack {packet: the client's first argument}
)

// classicUIDChars are the characters of Node's uid2: URL-safe base64.
const classicUIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// classicUID returns a random id of 6 URL-safe characters, as uid2(6)
// makes the adapter's uid and its request ids.
func classicUID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = classicUIDChars[b[i]&63]
	}
	return string(b[:])
}

// errInvalidMessage reports a message from Redis that is not in the
// adapter's format; it is counted and dropped.
var errInvalidMessage = errors.New("redis: invalid classic adapter message")

// appendClassicBroadcast appends the broadcast message of the classic
// adapter, [uid, {type: 2, data, nsp}, {rooms, except, flags}], as
// notepack.io encodes it: data is the event array as JSON with a
// placeholder for each attachment, written with the binary parts inline.
// The emitter writes the options in another key order (rooms, flags,
// except), which emitterOrder selects.
func appendClassicBroadcast(dst []byte, uid, nsp string, data []byte, atts [][]byte, opts *socketio.BroadcastOptions, emitterOrder bool) ([]byte, error) {
	e := msgpack.Encoder{Buf: dst}
	e.ArrayHeader(3)
	e.Str(uid)
	if err := appendClassicPacket(&e, nsp, data, atts); err != nil {
		return dst, err
	}
	if err := appendClassicOpts(&e, opts, true, emitterOrder); err != nil {
		return dst, err
	}
	return e.Buf, nil
}

// appendClassicPacket appends {type: 2, data, nsp}.
func appendClassicPacket(e *msgpack.Encoder, nsp string, data []byte, atts [][]byte) error {
	e.MapHeader(3)
	e.Str("type")
	e.Int(int64(parser.Event))
	e.Str("data")
	if err := e.JSON(data, atts); err != nil {
		return fmt.Errorf("redis: failed to encode a packet's data: %w", err)
	}
	e.Str("nsp")
	e.Str(nsp)
	return nil
}

// appendClassicOpts appends {rooms, except, flags} (or, in the emitter's
// order, {rooms, flags, except}); without withFlags, {rooms, except}.
func appendClassicOpts(e *msgpack.Encoder, o *socketio.BroadcastOptions, withFlags, emitterOrder bool) error {
	if o == nil {
		o = &socketio.BroadcastOptions{}
	}
	n := 2
	if withFlags {
		n = 3
	}
	e.MapHeader(n)
	e.Str("rooms")
	e.Strs(o.Rooms)
	flags := func() error {
		b, err := json.Marshal(o.Flags)
		if err != nil {
			return fmt.Errorf("redis: failed to encode broadcast flags: %w", err)
		}
		e.Str("flags")
		return e.JSONValue(b)
	}
	if withFlags && emitterOrder {
		if err := flags(); err != nil {
			return err
		}
	}
	e.Str("except")
	e.Strs(o.Except)
	if withFlags && !emitterOrder {
		return flags()
	}
	return nil
}

// classicBroadcastMsg is a decoded broadcast message (or the packet and
// options of a BROADCAST request).
type classicBroadcastMsg struct {
	uid  string
	nsp  string // "/" when the packet has none, as Node assumes
	data []byte // the event array, JSON with placeholders
	atts [][]byte
	opts socketio.BroadcastOptions
}

// decodeClassicBroadcast decodes [uid, packet, opts]. A message without a
// packet, or whose packet's data is not an event array, is invalid.
func decodeClassicBroadcast(msg []byte) (*classicBroadcastMsg, error) {
	var d msgpack.Decoder
	d.Reset(msg)
	n, err := d.ReadArrayHeader()
	if err != nil || n < 2 {
		return nil, fmt.Errorf("%w: not [uid, packet, opts]", errInvalidMessage)
	}
	b := &classicBroadcastMsg{}
	if b.uid, err = readLooseString(&d); err != nil {
		return nil, err
	}
	if err := b.readPacket(&d); err != nil {
		return nil, err
	}
	if n >= 3 {
		o, err := readClassicOpts(&d)
		if err != nil {
			return nil, err
		}
		b.opts = *o
	}
	return b, nil
}

// uidOf returns the uid of a broadcast message (its first element) without
// decoding the rest, so that a server drops its own messages cheaply.
func uidOf(msg []byte) string {
	var d msgpack.Decoder
	d.Reset(msg)
	if n, err := d.ReadArrayHeader(); err != nil || n < 1 {
		return ""
	}
	s, _ := d.ReadStr()
	return s
}

// readPacket reads {type, data, nsp} into b.
func (b *classicBroadcastMsg) readPacket(d *msgpack.Decoder) error {
	if t, _ := d.Peek(); t != msgpack.MapType {
		return fmt.Errorf("%w: the packet is not a map", errInvalidMessage)
	}
	n, err := d.ReadMapHeader()
	if err != nil {
		return fmt.Errorf("%w: %w", errInvalidMessage, err)
	}
	b.nsp = "/"
	for range n {
		k, err := readLooseString(d)
		if err != nil {
			return err
		}
		switch k {
		case "data":
			if b.data, b.atts, err = d.ReadJSON(nil, nil); err != nil {
				return fmt.Errorf("%w: packet data: %w", errInvalidMessage, err)
			}
		case "nsp":
			if t, _ := d.Peek(); t == msgpack.NilType {
				err = d.Skip()
			} else {
				b.nsp, err = readLooseString(d)
			}
		default:
			err = d.Skip()
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errInvalidMessage, err)
		}
	}
	if !isEventArray(b.data) {
		return fmt.Errorf("%w: the packet's data is not an event", errInvalidMessage)
	}
	return nil
}

// isEventArray reports whether data is a JSON array whose first element is
// a string (the event name).
func isEventArray(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) < 2 || data[0] != '[' {
		return false
	}
	rest := bytes.TrimLeft(data[1:], " \t\r\n")
	return len(rest) > 0 && rest[0] == '"'
}

// readClassicOpts reads {rooms, except, flags}; rooms may be numbers in
// JavaScript (socket.join(123)) and are turned into the strings JavaScript
// makes of them.
func readClassicOpts(d *msgpack.Decoder) (*socketio.BroadcastOptions, error) {
	o := &socketio.BroadcastOptions{}
	if t, _ := d.Peek(); t != msgpack.MapType {
		if err := d.Skip(); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidMessage, err)
		}
		return o, nil
	}
	n, err := d.ReadMapHeader()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidMessage, err)
	}
	for range n {
		k, err := readLooseString(d)
		if err != nil {
			return nil, err
		}
		switch k {
		case "rooms":
			o.Rooms, err = readRoomArray(d)
		case "except":
			o.Except, err = readRoomArray(d)
		case "flags":
			var raw []byte
			if raw, _, err = d.ReadJSON(nil, nil); err == nil {
				// Unknown or mistyped flags are ignored, as Node ignores them.
				_ = json.Unmarshal(raw, &o.Flags)
			}
		default:
			err = d.Skip()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: options: %w", errInvalidMessage, err)
		}
	}
	return o, nil
}

// readRoomArray reads an array of room names (strings or numbers).
func readRoomArray(d *msgpack.Decoder) ([]string, error) {
	if t, _ := d.Peek(); t != msgpack.ArrayType {
		return nil, d.Skip()
	}
	n, err := d.ReadArrayHeader()
	if err != nil {
		return nil, err
	}
	rooms := make([]string, 0, n)
	for range n {
		raw, _, err := d.ReadJSON(nil, nil)
		if err != nil {
			return nil, err
		}
		rooms = append(rooms, nodejson.Text(raw))
	}
	return rooms, nil
}

// readLooseString reads a str, or any other value as the text JavaScript
// would make of it (a number's digits).
func readLooseString(d *msgpack.Decoder) (string, error) {
	s, err := d.ReadText()
	if err != nil {
		return "", fmt.Errorf("%w: %w", errInvalidMessage, err)
	}
	return s, nil
}

// classicRequest is a request another server (or an emitter) published,
// decoded from JSON or, for BROADCAST, from MessagePack.
type classicRequest struct {
	uid       string
	requestID string
	typ       int
	rooms     []string                   // SOCKETS, REMOTE_JOIN, REMOTE_LEAVE
	opts      *socketio.BroadcastOptions // the selection; nil in the legacy per-socket forms
	close     bool                       // REMOTE_DISCONNECT
	data      []byte                     // SERVER_SIDE_EMIT: [event, …args]
	packet    *classicBroadcastMsg       // BROADCAST
	sid, room string                     // legacy REMOTE_JOIN/LEAVE/DISCONNECT of one socket
}

type classicRequestJSON struct {
	UID       json.RawMessage   `json:"uid"`
	RequestID json.RawMessage   `json:"requestId"`
	Type      *float64          `json:"type"`
	Rooms     []json.RawMessage `json:"rooms"`
	Opts      *struct {
		Rooms  []json.RawMessage `json:"rooms"`
		Except []json.RawMessage `json:"except"`
		Flags  json.RawMessage   `json:"flags"`
	} `json:"opts"`
	Close bool            `json:"close"`
	Data  json.RawMessage `json:"data"`
	SID   json.RawMessage `json:"sid"`
	Room  json.RawMessage `json:"room"`
}

// decodeClassicRequest decodes a request: JSON when it starts with "{", as
// Node tells them apart, else MessagePack.
func decodeClassicRequest(msg []byte) (*classicRequest, error) {
	if len(msg) > 0 && msg[0] == '{' {
		var j classicRequestJSON
		if err := json.Unmarshal(msg, &j); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidMessage, err)
		}
		if j.Type == nil {
			return nil, fmt.Errorf("%w: a request without a type", errInvalidMessage)
		}
		r := &classicRequest{uid: nodejson.Text(j.UID), requestID: nodejson.Text(j.RequestID), typ: int(*j.Type),
			rooms: nodejson.Texts(j.Rooms), close: j.Close, data: j.Data, sid: nodejson.Text(j.SID), room: nodejson.Text(j.Room)}
		if j.Opts != nil {
			r.opts = &socketio.BroadcastOptions{Rooms: nodejson.Texts(j.Opts.Rooms), Except: nodejson.Texts(j.Opts.Except)}
			if len(j.Opts.Flags) > 0 {
				_ = json.Unmarshal(j.Opts.Flags, &r.opts.Flags)
			}
		}
		return r, nil
	}
	return decodeClassicRequestMsgpack(msg)
}

// decodeClassicRequestMsgpack decodes a request written with notepack (the
// BROADCAST request, or any request of a server configured with it).
func decodeClassicRequestMsgpack(msg []byte) (*classicRequest, error) {
	var d msgpack.Decoder
	d.Reset(msg)
	n, err := d.ReadMapHeader()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidMessage, err)
	}
	r := &classicRequest{typ: -1}
	for range n {
		k, err := readLooseString(&d)
		if err != nil {
			return nil, err
		}
		switch k {
		case "uid":
			r.uid, err = readLooseString(&d)
		case "requestId":
			r.requestID, err = readLooseString(&d)
		case "sid":
			r.sid, err = readLooseString(&d)
		case "room":
			r.room, err = readLooseString(&d)
		case "type":
			var t int64
			if t, err = d.ReadInt(); err == nil {
				r.typ = int(t)
			}
		case "rooms":
			r.rooms, err = readRoomArray(&d)
		case "opts":
			r.opts, err = readClassicOpts(&d)
		case "close":
			if t, _ := d.Peek(); t == msgpack.BoolType {
				r.close, err = d.ReadBool()
			} else {
				err = d.Skip()
			}
		case "data":
			r.data, _, err = d.ReadJSON(nil, nil)
		case "packet":
			p := &classicBroadcastMsg{}
			if err = p.readPacket(&d); err == nil {
				r.packet = p
			}
		default:
			err = d.Skip()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: request field %s: %w", errInvalidMessage, k, err)
		}
	}
	if r.typ < 0 {
		return nil, fmt.Errorf("%w: a request without a type", errInvalidMessage)
	}
	if r.packet != nil && r.opts != nil {
		r.packet.opts = *r.opts
	}
	return r, nil
}

// appendClassicRequestJSON appends a JSON request or answer, fields in
// Node's order: uid, requestId, type, then the type's own. An empty uid
// or requestId, or a negative type, is left out.
func appendClassicRequestJSON(dst []byte, uid, requestID string, typ int, fill func(w *nodejson.Object)) []byte {
	w := nodejson.Object{B: dst}
	if uid != "" {
		w.String("uid", uid)
	}
	if requestID != "" {
		w.String("requestId", requestID)
	}
	if typ >= 0 {
		w.Raw("type", strconv.AppendInt(nil, int64(typ), 10))
	}
	if fill != nil {
		fill(&w)
	}
	return w.End()
}

// appendSelectionJSON appends {"rooms":[…],"except":[…]}, the opts of
// Node's requests.
func appendSelectionJSON(dst []byte, o *socketio.BroadcastOptions) []byte {
	dst = append(dst, `{"rooms":`...)
	dst = nodejson.AppendStrings(dst, o.Rooms)
	dst = append(dst, `,"except":`...)
	dst = nodejson.AppendStrings(dst, o.Except)
	return append(dst, '}')
}

// appendClassicBroadcastRequest appends the BROADCAST request (a broadcast
// with acknowledgements) as notepack writes it:
// {uid, requestId, type: 7, packet: {type: 2, data, nsp}, opts: {rooms, except, flags}}.
func appendClassicBroadcastRequest(dst []byte, uid, requestID, nsp string, data []byte, atts [][]byte, opts *socketio.BroadcastOptions) ([]byte, error) {
	e := msgpack.Encoder{Buf: dst}
	e.MapHeader(5)
	e.Str("uid")
	e.Str(uid)
	e.Str("requestId")
	e.Str(requestID)
	e.Str("type")
	e.Int(classicBroadcast)
	e.Str("packet")
	if err := appendClassicPacket(&e, nsp, data, atts); err != nil {
		return dst, err
	}
	e.Str("opts")
	if err := appendClassicOpts(&e, opts, true, false); err != nil {
		return dst, err
	}
	return e.Buf, nil
}

// appendClassicAck appends the answer of one client to a BROADCAST
// request, {type: 9, requestId, packet: arg}, as notepack writes it.
func appendClassicAck(dst []byte, requestID string, arg json.RawMessage) ([]byte, error) {
	e := msgpack.Encoder{Buf: dst}
	e.MapHeader(3)
	e.Str("type")
	e.Int(classicBroadcastAck)
	e.Str("requestId")
	e.Str(requestID)
	e.Str("packet")
	if len(arg) == 0 {
		arg = json.RawMessage("null")
	}
	if err := e.JSONValue(arg); err != nil {
		return dst, fmt.Errorf("redis: failed to encode an acknowledgement: %w", err)
	}
	return e.Buf, nil
}

// classicResponse is an answer to a request, decoded from JSON or
// MessagePack. Node's answers to SOCKETS, ALL_ROOMS and REMOTE_FETCH have
// no type (typ is then -1).
type classicResponse struct {
	requestID   string
	typ         int
	sockets     []json.RawMessage // SOCKETS: ids; REMOTE_FETCH: socket objects
	rooms       []string          // ALL_ROOMS
	hasSockets  bool
	hasRooms    bool
	clientCount int             // BROADCAST_CLIENT_COUNT
	data        json.RawMessage // SERVER_SIDE_EMIT's answer
	packet      json.RawMessage // BROADCAST_ACK's answer
}

type classicResponseJSON struct {
	RequestID   json.RawMessage   `json:"requestId"`
	Type        *float64          `json:"type"`
	Sockets     []json.RawMessage `json:"sockets"`
	Rooms       []json.RawMessage `json:"rooms"`
	ClientCount float64           `json:"clientCount"`
	Data        json.RawMessage   `json:"data"`
	Packet      json.RawMessage   `json:"packet"`
}

// decodeClassicResponse decodes an answer: JSON when it starts with "{",
// else MessagePack.
func decodeClassicResponse(msg []byte) (*classicResponse, error) {
	r := &classicResponse{typ: -1}
	if len(msg) > 0 && msg[0] == '{' {
		var j classicResponseJSON
		if err := json.Unmarshal(msg, &j); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidMessage, err)
		}
		r.requestID = nodejson.Text(j.RequestID)
		if j.Type != nil {
			r.typ = int(*j.Type)
		}
		r.sockets, r.hasSockets = j.Sockets, j.Sockets != nil
		r.rooms, r.hasRooms = nodejson.Texts(j.Rooms), j.Rooms != nil
		r.clientCount = int(j.ClientCount)
		r.data, r.packet = j.Data, j.Packet
		return r, nil
	}
	var d msgpack.Decoder
	d.Reset(msg)
	n, err := d.ReadMapHeader()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidMessage, err)
	}
	for range n {
		k, err := readLooseString(&d)
		if err != nil {
			return nil, err
		}
		var raw []byte
		switch k {
		case "requestId":
			r.requestID, err = readLooseString(&d)
		case "type":
			var t int64
			if t, err = d.ReadInt(); err == nil {
				r.typ = int(t)
			}
		case "clientCount":
			var c int64
			if c, err = d.ReadInt(); err == nil {
				r.clientCount = int(c)
			}
		case "rooms":
			r.rooms, err = readRoomArray(&d)
			r.hasRooms = err == nil
		case "sockets", "data", "packet":
			// Binary parts of an answer (a client acknowledging with a
			// buffer) become placeholders: the adapter's callbacks take
			// JSON only.
			if raw, _, err = d.ReadJSON(nil, nil); err != nil {
				break
			}
			switch k {
			case "sockets":
				var socks []json.RawMessage
				if json.Unmarshal(raw, &socks) == nil {
					r.sockets, r.hasSockets = socks, true
				}
			case "data":
				r.data = raw
			case "packet":
				r.packet = raw
			}
		default:
			err = d.Skip()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: response field %s: %w", errInvalidMessage, k, err)
		}
	}
	return r, nil
}

// classicSocketJSON is a socket in Node's answer to REMOTE_FETCH.
type classicSocketJSON struct {
	ID        json.RawMessage     `json:"id"`
	Handshake *socketio.Handshake `json:"handshake"`
	Rooms     []json.RawMessage   `json:"rooms"`
	Data      json.RawMessage     `json:"data"`
}

// decodeClassicSocket decodes one socket of an answer to REMOTE_FETCH.
// socket.data is kept when it is an object (Tether's SocketData), else
// dropped.
func decodeClassicSocket(raw json.RawMessage) (*socketio.SocketDetails, error) {
	var j classicSocketJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%w: socket: %w", errInvalidMessage, err)
	}
	d := &socketio.SocketDetails{ID: nodejson.Text(j.ID), Handshake: j.Handshake, Rooms: nodejson.Texts(j.Rooms)}
	if d.Rooms == nil {
		d.Rooms = []string{}
	}
	var data map[string]any
	if len(j.Data) > 0 && json.Unmarshal(j.Data, &data) == nil {
		d.Data = data
	}
	return d, nil
}

// appendClassicSocketsJSON appends the sockets of an answer to
// REMOTE_FETCH as Node writes them: [{id, handshake, rooms, data}…], data
// {} when the socket has none.
func appendClassicSocketsJSON(dst []byte, socks []*socketio.SocketDetails) ([]byte, error) {
	dst = append(dst, '[')
	for i, s := range socks {
		if i > 0 {
			dst = append(dst, ',')
		}
		w := nodejson.Object{B: dst}
		w.String("id", s.ID)
		hs, err := json.Marshal(s.Handshake)
		if err != nil {
			return dst, fmt.Errorf("redis: failed to encode the handshake of socket %s: %w", s.ID, err)
		}
		w.Raw("handshake", hs)
		w.Raw("rooms", nodejson.AppendStrings(nil, s.Rooms))
		data := []byte("{}")
		if s.Data != nil {
			if data, err = json.Marshal(s.Data); err != nil {
				return dst, fmt.Errorf("redis: failed to encode the data of socket %s: %w", s.ID, err)
			}
		}
		w.Raw("data", data)
		dst = w.End()
	}
	return append(dst, ']'), nil
}

// isClusterMessage reports whether msg is a message of the ClusterAdapter
// protocol in MessagePack ({type, data, uid, nsp}), which the Redis
// streams adapter publishes on the channel the classic adapter broadcasts
// on: a sign that the two families share a prefix.
func isClusterMessage(msg []byte) bool {
	var d msgpack.Decoder
	d.Reset(msg)
	n, err := d.ReadMapHeader()
	if err != nil {
		return false
	}
	seen := 0
	for range n {
		k, err := d.ReadStr()
		if err != nil {
			return false
		}
		switch k {
		case "type", "uid", "nsp":
			seen++
		}
		if d.Skip() != nil {
			return false
		}
	}
	return seen == 3
}
