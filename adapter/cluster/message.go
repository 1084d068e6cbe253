package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/tether-rt/tether/adapter/internal/nodejson"
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
	w := nodejson.Object{B: dst}
	switch m.Type {
	case InitialHeartbeat, Heartbeat, AdapterClose:
		return dst, nil
	case Broadcast:
		w.Raw("packet", appendEventPacket(nil, m.Value.JSON))
		w.Raw("opts", appendOpts(nil, m.Opts))
		w.StringIf("requestId", m.RequestID)
	case SocketsJoin, SocketsLeave:
		w.Raw("opts", appendOpts(nil, m.Opts))
		w.Raw("rooms", nodejson.AppendStrings(nil, m.Rooms))
	case DisconnectSockets:
		w.Raw("opts", appendOpts(nil, m.Opts))
		w.Raw("close", strconv.AppendBool(nil, m.Close))
	case FetchSockets:
		w.Raw("opts", appendOpts(nil, m.Opts))
		w.StringIf("requestId", m.RequestID)
	case FetchSocketsResponse:
		w.StringIf("requestId", m.RequestID)
		socks := m.Sockets
		if socks == nil {
			socks = []*socketio.SocketDetails{}
		}
		b, err := json.Marshal(socks)
		if err != nil {
			return dst, fmt.Errorf("cluster: failed to encode sockets: %w", err)
		}
		w.Raw("sockets", b)
	case ServerSideEmit:
		w.Raw("packet", nodejson.OrNull(m.Value.JSON))
		w.StringIf("requestId", m.RequestID)
	case ServerSideEmitResponse, BroadcastAck:
		w.StringIf("requestId", m.RequestID)
		w.Raw("packet", nodejson.OrNull(m.Value.JSON))
	case BroadcastClientCount:
		w.StringIf("requestId", m.RequestID)
		w.Raw("clientCount", strconv.AppendInt(nil, int64(m.ClientCount), 10))
	default:
		return dst, fmt.Errorf("cluster: unknown message type %d", m.Type)
	}
	return w.End(), nil
}

// appendEventPacket appends a socket.io EVENT packet object,
// {"type":2,"data":…}, as Node's adapters exchange it (the receiver takes
// the namespace from the message).
func appendEventPacket(dst, data []byte) []byte {
	dst = append(dst, `{"type":2,"data":`...)
	dst = append(dst, nodejson.OrNull(data)...)
	return append(dst, '}')
}

// appendOpts appends {"rooms":[…],"except":[…],"flags":{…}}, as
// socket.io-adapter's encodeOptions does.
func appendOpts(dst []byte, o *socketio.BroadcastOptions) []byte {
	if o == nil {
		o = &socketio.BroadcastOptions{}
	}
	dst = append(dst, `{"rooms":`...)
	dst = nodejson.AppendStrings(dst, o.Rooms)
	dst = append(dst, `,"except":`...)
	dst = nodejson.AppendStrings(dst, o.Except)
	b, _ := json.Marshal(o.Flags)
	dst = append(dst, `,"flags":`...)
	dst = append(dst, b...)
	return append(dst, '}')
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
	m.RequestID = nodejson.Text(d.RequestID)
	m.Close = d.Close
	m.Sockets = d.Sockets
	m.ClientCount = d.ClientCount
	m.Rooms = nodejson.Texts(d.Rooms)
	if d.Opts != nil {
		m.Opts = &socketio.BroadcastOptions{Rooms: nodejson.Texts(d.Opts.Rooms), Except: nodejson.Texts(d.Opts.Except), Flags: d.Opts.Flags}
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
