package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// MessageType numbers the messages of the protocol, as socket.io-adapter's
// MessageType does.
type MessageType int

// The message types.
const (
	InitialHeartbeat       MessageType = 1
	Heartbeat              MessageType = 2
	Broadcast              MessageType = 3
	SocketsJoin            MessageType = 4
	SocketsLeave           MessageType = 5
	DisconnectSockets      MessageType = 6
	FetchSockets           MessageType = 7
	FetchSocketsResponse   MessageType = 8
	ServerSideEmit         MessageType = 9
	ServerSideEmitResponse MessageType = 10
	BroadcastClientCount   MessageType = 11
	BroadcastAck           MessageType = 12
	AdapterClose           MessageType = 13
)

// IsResponse reports whether t answers a request (it goes to the requester
// only).
func (t MessageType) IsResponse() bool {
	switch t {
	case FetchSocketsResponse, ServerSideEmitResponse, BroadcastClientCount, BroadcastAck:
		return true
	}
	return false
}

// MayCarryBinary reports whether a message of type t may hold binary data,
// which Node's transports then encode as MessagePack instead of JSON.
func (t MessageType) MayCarryBinary() bool {
	switch t {
	case Broadcast, BroadcastAck, FetchSocketsResponse, ServerSideEmit, ServerSideEmitResponse:
		return true
	}
	return false
}

// Message is one message between the servers of a namespace:
// {uid, nsp, type, data} in Node's form, with data's fields flattened here.
// Which fields a type uses:
//
//	Broadcast               Value (the event: [name, ...args]), Opts, RequestID (with acknowledgements)
//	SocketsJoin, SocketsLeave  Opts, Rooms
//	DisconnectSockets       Opts, Close
//	FetchSockets            Opts, RequestID
//	FetchSocketsResponse    RequestID, Sockets
//	ServerSideEmit          Value ([name, ...args]), RequestID (with acknowledgements)
//	ServerSideEmitResponse  RequestID, Value (the answer)
//	BroadcastClientCount    RequestID, ClientCount
//	BroadcastAck            RequestID, Value (the client's first argument)
//
// Value is JSON with a placeholder for each binary attachment, as in
// socketio/parser.
type Message struct {
	UID  string
	NSP  string
	Type MessageType

	RequestID   string
	Value       parser.RawValue
	Opts        *socketio.BroadcastOptions
	Rooms       []string
	Close       bool
	Sockets     []*socketio.SocketDetails
	ClientCount int
}

// HasBinary reports whether m holds binary data, so that it cannot be
// encoded as JSON.
func (m *Message) HasBinary() bool {
	return len(m.Value.Attachments) > 0
}

// ErrBinary is returned when a message with binary data is encoded as
// JSON: Node's transports send those as MessagePack.
var ErrBinary = errors.New("cluster: a message with binary data cannot be encoded as JSON")

// AppendJSON appends m in Node's JSON form to dst:
// {"uid":…,"nsp":…,"type":N,"data":{…}}.
func (m *Message) AppendJSON(dst []byte) ([]byte, error) {
	data, err := m.AppendDataJSON(nil)
	if err != nil {
		return dst, err
	}
	dst = append(dst, `{"uid":`...)
	dst = parser.AppendString(dst, m.UID)
	dst = append(dst, `,"nsp":`...)
	dst = parser.AppendString(dst, m.NSP)
	dst = append(dst, `,"type":`...)
	dst = strconv.AppendInt(dst, int64(m.Type), 10)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}'), nil
}

// AppendDataJSON appends the JSON of m's data field to dst, or nothing
// (and returns dst unchanged, nil when dst is nil) for the types that have
// none.
func (m *Message) AppendDataJSON(dst []byte) ([]byte, error) {
	if m.HasBinary() {
		return dst, ErrBinary
	}
	w := jsonObject{b: dst}
	switch m.Type {
	case InitialHeartbeat, Heartbeat, AdapterClose:
		return dst, nil
	case Broadcast:
		w.raw("packet", appendEventPacket(nil, m.Value.JSON))
		w.raw("opts", appendOpts(nil, m.Opts))
		w.stringIf("requestId", m.RequestID)
	case SocketsJoin, SocketsLeave:
		w.raw("opts", appendOpts(nil, m.Opts))
		w.raw("rooms", appendStrings(nil, m.Rooms))
	case DisconnectSockets:
		w.raw("opts", appendOpts(nil, m.Opts))
		w.raw("close", strconv.AppendBool(nil, m.Close))
	case FetchSockets:
		w.raw("opts", appendOpts(nil, m.Opts))
		w.stringIf("requestId", m.RequestID)
	case FetchSocketsResponse:
		w.stringIf("requestId", m.RequestID)
		socks := m.Sockets
		if socks == nil {
			socks = []*socketio.SocketDetails{}
		}
		b, err := json.Marshal(socks)
		if err != nil {
			return dst, fmt.Errorf("cluster: failed to encode sockets: %w", err)
		}
		w.raw("sockets", b)
	case ServerSideEmit:
		w.raw("packet", orNull(m.Value.JSON))
		w.stringIf("requestId", m.RequestID)
	case ServerSideEmitResponse, BroadcastAck:
		w.stringIf("requestId", m.RequestID)
		w.raw("packet", orNull(m.Value.JSON))
	case BroadcastClientCount:
		w.stringIf("requestId", m.RequestID)
		w.raw("clientCount", strconv.AppendInt(nil, int64(m.ClientCount), 10))
	default:
		return dst, fmt.Errorf("cluster: unknown message type %d", m.Type)
	}
	return w.end(), nil
}

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// appendEventPacket appends a socket.io EVENT packet object,
// {"type":2,"data":…}, as Node's adapters exchange it (the receiver takes
// the namespace from the message).
func appendEventPacket(dst, data []byte) []byte {
	dst = append(dst, `{"type":2,"data":`...)
	dst = append(dst, orNull(data)...)
	return append(dst, '}')
}

// appendOpts appends {"rooms":[…],"except":[…],"flags":{…}}, as
// socket.io-adapter's encodeOptions does.
func appendOpts(dst []byte, o *socketio.BroadcastOptions) []byte {
	if o == nil {
		o = &socketio.BroadcastOptions{}
	}
	dst = append(dst, `{"rooms":`...)
	dst = appendStrings(dst, o.Rooms)
	dst = append(dst, `,"except":`...)
	dst = appendStrings(dst, o.Except)
	b, _ := json.Marshal(o.Flags)
	dst = append(dst, `,"flags":`...)
	dst = append(dst, b...)
	return append(dst, '}')
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = parser.AppendString(dst, s)
	}
	return append(dst, ']')
}

// jsonObject writes a JSON object field by field.
type jsonObject struct {
	b []byte
	n int
}

func (o *jsonObject) key(k string) {
	if o.n == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = parser.AppendString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *jsonObject) raw(k string, v []byte) {
	o.key(k)
	o.b = append(o.b, v...)
}

func (o *jsonObject) stringIf(k, v string) {
	if v != "" {
		o.key(k)
		o.b = parser.AppendString(o.b, v)
	}
}

func (o *jsonObject) end() []byte {
	if o.n == 0 {
		return append(o.b, "{}"...)
	}
	return append(o.b, '}')
}

// wireMessage and wireData are the JSON form, for decoding.
type wireMessage struct {
	UID  string          `json:"uid"`
	NSP  string          `json:"nsp"`
	Type MessageType     `json:"type"`
	Data json.RawMessage `json:"data"`
}

type wireData struct {
	RequestID   json.RawMessage           `json:"requestId"`
	Packet      json.RawMessage           `json:"packet"`
	Opts        *wireOpts                 `json:"opts"`
	Rooms       []json.RawMessage         `json:"rooms"`
	Close       bool                      `json:"close"`
	Sockets     []*socketio.SocketDetails `json:"sockets"`
	ClientCount int                       `json:"clientCount"`
}

type wireOpts struct {
	Rooms  []json.RawMessage       `json:"rooms"`
	Except []json.RawMessage       `json:"except"`
	Flags  socketio.BroadcastFlags `json:"flags"`
}

// DecodeJSON decodes a message in Node's JSON form.
func DecodeJSON(b []byte) (*Message, error) {
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("cluster: failed to decode a message: %w", err)
	}
	m := &Message{UID: w.UID, NSP: w.NSP, Type: w.Type}
	if err := m.decodeDataJSON(w.Data); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeDataJSON fills m's data fields from the JSON of its data field (m's
// Type must be set).
func (m *Message) DecodeDataJSON(b []byte) error { return m.decodeDataJSON(b) }

func (m *Message) decodeDataJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var d wireData
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("cluster: failed to decode the data of a message of type %d: %w", m.Type, err)
	}
	m.RequestID = jsString(d.RequestID)
	m.Close = d.Close
	m.Sockets = d.Sockets
	m.ClientCount = d.ClientCount
	m.Rooms = roomNames(d.Rooms)
	if d.Opts != nil {
		m.Opts = &socketio.BroadcastOptions{Rooms: roomNames(d.Opts.Rooms), Except: roomNames(d.Opts.Except), Flags: d.Opts.Flags}
	}
	if m.Opts == nil && (m.Type == Broadcast || m.Type == SocketsJoin || m.Type == SocketsLeave || m.Type == DisconnectSockets || m.Type == FetchSockets) {
		m.Opts = &socketio.BroadcastOptions{}
	}
	switch m.Type {
	case Broadcast:
		var p struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(d.Packet, &p); err != nil {
			return fmt.Errorf("cluster: failed to decode a broadcast's packet: %w", err)
		}
		m.Value.JSON = p.Data
	case ServerSideEmit, ServerSideEmitResponse, BroadcastAck:
		m.Value.JSON = d.Packet
	}
	return nil
}

// jsString returns a JSON string's value, or the text of another JSON
// value (a number, say).
func jsString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// roomNames returns room names that may be numbers in JavaScript
// (socket.join(123)) as strings, as socket.io compares them.
func roomNames(raw []json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = jsString(r)
	}
	return out
}
