package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/tether-rt/tether/adapter/internal/msgpack"
	"github.com/tether-rt/tether/adapter/internal/nodejson"
	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// Flavor names the JavaScript MessagePack library whose encoding a
// transport mirrors: notepack.io (Node's sharded Redis adapter) or
// @msgpack/msgpack (Node's Redis Streams adapter).
type Flavor = msgpack.Flavor

// The flavors.
const (
	Notepack  = msgpack.Notepack
	MsgpackJS = msgpack.MsgpackJS
)

// AppendMsgpack appends m as one MessagePack map, {type, data, uid, nsp}
// in Node's key order, with binary data inline.
func (m *Message) AppendMsgpack(dst []byte, f Flavor) ([]byte, error) {
	e := msgpack.Encoder{Buf: dst, Flavor: f}
	hasData := m.Type != InitialHeartbeat && m.Type != Heartbeat && m.Type != AdapterClose
	n := 3
	if hasData {
		n = 4
	}
	e.MapHeader(n)
	e.Str("type")
	e.Int(int64(m.Type))
	if hasData {
		e.Str("data")
		if err := m.encodeData(&e); err != nil {
			return dst, err
		}
	}
	e.Str("uid")
	e.Str(m.UID)
	e.Str("nsp")
	e.Str(m.NSP)
	return e.Buf, nil
}

// AppendDataMsgpack appends m's data field as one MessagePack value.
func (m *Message) AppendDataMsgpack(dst []byte, f Flavor) ([]byte, error) {
	e := msgpack.Encoder{Buf: dst, Flavor: f}
	if err := m.encodeData(&e); err != nil {
		return dst, err
	}
	return e.Buf, nil
}

// encodeData appends m's data map to e.
func (m *Message) encodeData(e *msgpack.Encoder) error {
	fields := 0
	count := func(ok bool) {
		if ok {
			fields++
		}
	}
	switch m.Type {
	case Broadcast:
		count(true)
		count(true)
		count(m.RequestID != "")
	case SocketsJoin, SocketsLeave, DisconnectSockets:
		fields = 2
	case FetchSockets:
		count(true)
		count(m.RequestID != "")
	case FetchSocketsResponse, ServerSideEmitResponse, BroadcastClientCount, BroadcastAck:
		count(m.RequestID != "")
		count(true)
	case ServerSideEmit:
		count(true)
		count(m.RequestID != "")
	default:
		e.MapHeader(0)
		return nil
	}
	e.MapHeader(fields)
	reqID := func() {
		if m.RequestID != "" {
			e.Str("requestId")
			e.Str(m.RequestID)
		}
	}
	value := func() error {
		data := m.Value.JSON
		if len(data) == 0 {
			data = []byte("null")
		}
		if err := e.JSON(data, m.Value.Attachments); err != nil {
			return fmt.Errorf("cluster: failed to encode a message's data: %w", err)
		}
		return nil
	}
	switch m.Type {
	case Broadcast:
		e.Str("packet")
		e.MapHeader(2)
		e.Str("type")
		e.Int(int64(parser.Event))
		e.Str("data")
		if err := value(); err != nil {
			return err
		}
		e.Str("opts")
		encodeOpts(e, m.Opts)
		reqID()
	case SocketsJoin, SocketsLeave:
		e.Str("opts")
		encodeOpts(e, m.Opts)
		e.Str("rooms")
		e.Strs(m.Rooms)
	case DisconnectSockets:
		e.Str("opts")
		encodeOpts(e, m.Opts)
		e.Str("close")
		e.Bool(m.Close)
	case FetchSockets:
		e.Str("opts")
		encodeOpts(e, m.Opts)
		reqID()
	case FetchSocketsResponse:
		reqID()
		e.Str("sockets")
		b, err := json.Marshal(m.Sockets)
		if err != nil {
			return fmt.Errorf("cluster: failed to encode sockets: %w", err)
		}
		if m.Sockets == nil {
			b = []byte("[]")
		}
		if err := e.JSONValue(b); err != nil {
			return fmt.Errorf("cluster: failed to encode sockets: %w", err)
		}
	case ServerSideEmit:
		e.Str("packet")
		if err := value(); err != nil {
			return err
		}
		reqID()
	case ServerSideEmitResponse, BroadcastAck:
		reqID()
		e.Str("packet")
		if err := value(); err != nil {
			return err
		}
	case BroadcastClientCount:
		reqID()
		e.Str("clientCount")
		e.Int(int64(m.ClientCount))
	}
	return nil
}

func encodeOpts(e *msgpack.Encoder, o *socketio.BroadcastOptions) {
	if o == nil {
		o = &socketio.BroadcastOptions{}
	}
	e.MapHeader(3)
	e.Str("rooms")
	e.Strs(o.Rooms)
	e.Str("except")
	e.Strs(o.Except)
	e.Str("flags")
	b, _ := json.Marshal(o.Flags)
	_ = e.JSONValue(b)
}

// DecodeMsgpack decodes a message as one MessagePack map.
func DecodeMsgpack(b []byte, f Flavor) (*Message, error) {
	d := msgpack.Decoder{Flavor: f}
	d.Reset(b)
	n, err := d.ReadMapHeader()
	if err != nil {
		return nil, fmt.Errorf("cluster: failed to decode a message: %w", err)
	}
	m := &Message{}
	var data []byte
	for range n {
		k, err := d.ReadStr()
		if err != nil {
			return nil, fmt.Errorf("cluster: failed to decode a message: %w", err)
		}
		switch k {
		case "type":
			t, err := d.ReadInt()
			if err != nil {
				return nil, fmt.Errorf("cluster: bad message type: %w", err)
			}
			m.Type = MessageType(t)
		case "uid":
			if m.UID, err = d.ReadText(); err != nil {
				return nil, fmt.Errorf("cluster: failed to decode a message's uid: %w", err)
			}
		case "nsp":
			if m.NSP, err = d.ReadText(); err != nil {
				return nil, fmt.Errorf("cluster: failed to decode a message's nsp: %w", err)
			}
		case "data":
			if data, err = d.ReadRaw(); err != nil {
				return nil, fmt.Errorf("cluster: failed to decode a message's data: %w", err)
			}
		default:
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("cluster: failed to decode a message: %w", err)
			}
		}
	}
	if data != nil {
		if err := m.DecodeDataMsgpack(data, f); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// DecodeDataMsgpack fills m's data fields from the MessagePack of its data
// field (m's Type must be set). The data is transcoded to JSON and decoded
// as DecodeDataJSON does, binary parts becoming attachments.
func (m *Message) DecodeDataMsgpack(b []byte, f Flavor) error {
	d := msgpack.Decoder{Flavor: f}
	d.Reset(b)
	// The packet's data (or the answer) keeps its binary parts as
	// attachments; the rest of the map is plain JSON.
	n, err := d.ReadMapHeader()
	if err != nil {
		if t, perr := d.Peek(); perr == nil && t == msgpack.NilType {
			return nil
		}
		return fmt.Errorf("cluster: failed to decode the data of a message of type %d: %w", m.Type, err)
	}
	obj := nodejson.Object{}
	var atts [][]byte
	for range n {
		k, err := d.ReadStr()
		if err != nil {
			return fmt.Errorf("cluster: failed to decode the data of a message of type %d: %w", m.Type, err)
		}
		var v []byte
		v, atts, err = d.ReadJSON(nil, atts)
		if err != nil {
			return fmt.Errorf("cluster: failed to decode the data of a message of type %d: %w", m.Type, err)
		}
		obj.Raw(k, v)
	}
	if err := m.decodeDataJSON(obj.End()); err != nil {
		return err
	}
	if len(atts) > 0 {
		m.Value.Attachments = atts
	}
	return nil
}
