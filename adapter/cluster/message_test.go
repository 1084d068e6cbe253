package cluster

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/tether-rt/tether/socketio"
	"github.com/tether-rt/tether/socketio/parser"
)

// TestDecodeNodeMessage decodes a message as Node's sharded adapter
// published it (captured with Redis MONITOR).
func TestDecodeNodeMessage(t *testing.T) {
	b := []byte(`{"type":3,"data":{"packet":{"type":2,"data":["all",1]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"2933603cfcbcfec0","nsp":"/"}`)
	m, err := DecodeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != Broadcast || m.UID != "2933603cfcbcfec0" || m.NSP != "/" || string(m.Value.JSON) != `["all",1]` || m.Opts == nil || len(m.Opts.Rooms) != 0 {
		t.Fatalf("decoded %+v", m)
	}
}

// TestJSONRoundTrip encodes each type of message and decodes it back.
func TestJSONRoundTrip(t *testing.T) {
	f := false
	opts := &socketio.BroadcastOptions{Rooms: []string{"a", "b"}, Except: []string{"c"}, Flags: socketio.BroadcastFlags{Volatile: true, Compress: &f}}
	for _, m := range []*Message{
		{Type: InitialHeartbeat},
		{Type: Broadcast, Value: parser.RawValue{JSON: json.RawMessage(`["ev",{"k":"v"},2.5]`)}, Opts: opts},
		{Type: Broadcast, RequestID: "r1", Value: parser.RawValue{JSON: json.RawMessage(`["ev"]`)}, Opts: &socketio.BroadcastOptions{}},
		{Type: SocketsJoin, Opts: opts, Rooms: []string{"x"}},
		{Type: SocketsLeave, Opts: opts, Rooms: []string{"x", "y"}},
		{Type: DisconnectSockets, Opts: opts, Close: true},
		{Type: FetchSockets, RequestID: "r2", Opts: opts},
		{Type: FetchSocketsResponse, RequestID: "r2", Sockets: []*socketio.SocketDetails{{ID: "s1", Rooms: []string{"s1"}, Data: map[string]any{"n": 1.0}}}},
		{Type: ServerSideEmit, RequestID: "r3", Value: parser.RawValue{JSON: json.RawMessage(`["ping","hi"]`)}},
		{Type: ServerSideEmitResponse, RequestID: "r3", Value: parser.RawValue{JSON: json.RawMessage(`"pong"`)}},
		{Type: BroadcastClientCount, RequestID: "r1", ClientCount: 3},
		{Type: BroadcastAck, RequestID: "r1", Value: parser.RawValue{JSON: json.RawMessage(`{"ok":true}`)}},
	} {
		m.UID, m.NSP = "0123456789abcdef", "/chat"
		b, err := m.AppendJSON(nil)
		if err != nil {
			t.Fatalf("type %d: %v", m.Type, err)
		}
		if !json.Valid(b) {
			t.Fatalf("type %d: invalid JSON %s", m.Type, b)
		}
		got, err := DecodeJSON(b)
		if err != nil {
			t.Fatalf("type %d: %v", m.Type, err)
		}
		if m.Sockets != nil {
			// Handshakes are nil here; compare the rest.
			if len(got.Sockets) != 1 || got.Sockets[0].ID != "s1" || got.Sockets[0].Data["n"] != 1.0 {
				t.Errorf("type %d: sockets %+v", m.Type, got.Sockets)
			}
			got.Sockets, m.Sockets = nil, nil
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("type %d: %s decoded as %+v, want %+v", m.Type, b, got, m)
		}
	}
}

// TestJSONRoomNumbers decodes rooms that JavaScript code named with
// numbers.
func TestJSONRoomNumbers(t *testing.T) {
	m, err := DecodeJSON([]byte(`{"uid":"u","nsp":"/","type":4,"data":{"opts":{"rooms":[123],"except":["x"]},"rooms":[4.5,"y"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Opts.Rooms, []string{"123"}) || !reflect.DeepEqual(m.Rooms, []string{"4.5", "y"}) {
		t.Fatalf("rooms %q %q", m.Opts.Rooms, m.Rooms)
	}
}

func TestJSONRefusesBinary(t *testing.T) {
	m := &Message{Type: Broadcast, Value: parser.RawValue{JSON: json.RawMessage(`["b",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}}}
	if _, err := m.AppendJSON(nil); !errors.Is(err, ErrBinary) {
		t.Fatalf("AppendJSON = %v, want ErrBinary", err)
	}
}

// TestMsgpackRoundTrip encodes messages, binary ones included, as
// MessagePack in both flavors and decodes them back.
func TestMsgpackRoundTrip(t *testing.T) {
	opts := &socketio.BroadcastOptions{Rooms: []string{"a"}, Except: []string{"b"}, Flags: socketio.BroadcastFlags{Volatile: true}}
	for _, f := range []Flavor{Notepack, MsgpackJS} {
		for _, m := range []*Message{
			{Type: Heartbeat},
			{Type: Broadcast, Value: parser.RawValue{JSON: json.RawMessage(`["ev",{"k":"v"},2.5,{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2, 3}}}, Opts: opts},
			{Type: Broadcast, RequestID: "r1", Value: parser.RawValue{JSON: json.RawMessage(`["ev"]`)}, Opts: opts},
			{Type: SocketsJoin, Opts: opts, Rooms: []string{"x"}},
			{Type: DisconnectSockets, Opts: opts, Close: true},
			{Type: FetchSockets, RequestID: "r2", Opts: opts},
			{Type: ServerSideEmit, RequestID: "r3", Value: parser.RawValue{JSON: json.RawMessage(`["ping",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{9}}}},
			{Type: ServerSideEmitResponse, RequestID: "r3", Value: parser.RawValue{JSON: json.RawMessage(`"pong"`)}},
			{Type: BroadcastClientCount, RequestID: "r1", ClientCount: 3},
			{Type: BroadcastAck, RequestID: "r1", Value: parser.RawValue{JSON: json.RawMessage(`{"b":{"_placeholder":true,"num":0}}`), Attachments: [][]byte{{}}}},
		} {
			m.UID, m.NSP = "0123456789abcdef", "/"
			b, err := m.AppendMsgpack(nil, f)
			if err != nil {
				t.Fatalf("%v type %d: %v", f, m.Type, err)
			}
			got, err := DecodeMsgpack(b, f)
			if err != nil {
				t.Fatalf("%v type %d: %v", f, m.Type, err)
			}
			if got.Value.Attachments == nil && m.Value.Attachments != nil {
				t.Errorf("%v type %d: attachments lost", f, m.Type)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("%v type %d: decoded as %+v, want %+v", f, m.Type, got, m)
			}
		}
	}
}
