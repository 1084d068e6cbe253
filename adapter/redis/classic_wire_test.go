package redis

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tether-rt/tether/adapter/internal/nodejson"
	"github.com/tether-rt/tether/socketio"
)

// nodeBroadcast is what @socket.io/redis-adapter 8.3 published for
// io.emit("plain", 1, "two", {three: 3.5}, null, true) from the server of
// uid xaaFKm (captured with Redis MONITOR).
const nodeBroadcast = "\x93\xa6xaaFKm\x83\xa4type\x02\xa4data\x96\xa5plain\x01\xa3two\x81\xa5three\xcb@\x0c\x00\x00\x00\x00\x00\x00\xc0\xc3\xa3nsp\xa1/\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80"

func TestClassicBroadcastGolden(t *testing.T) {
	got, err := appendClassicBroadcast(nil, "xaaFKm", "/", []byte(`["plain",1,"two",{"three":3.5},null,true]`), nil, &socketio.BroadcastOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != nodeBroadcast {
		t.Errorf("broadcast = %q\nwant        %q", got, nodeBroadcast)
	}
	b, err := decodeClassicBroadcast([]byte(nodeBroadcast))
	if err != nil {
		t.Fatal(err)
	}
	if b.uid != "xaaFKm" || b.nsp != "/" || string(b.data) != `["plain",1,"two",{"three":3.5},null,true]` || len(b.atts) != 0 {
		t.Errorf("decoded %+v (data %s)", b, b.data)
	}
	if uidOf([]byte(nodeBroadcast)) != "xaaFKm" {
		t.Errorf("uidOf = %q", uidOf([]byte(nodeBroadcast)))
	}
}

// TestClassicBinaryInline checks that binary attachments travel inline as
// msgpack bin (the bytes Node wrote for io.emit("bin", Buffer[1,2,3],
// {nested: Buffer[9,8]})), and come back as attachments.
func TestClassicBinaryInline(t *testing.T) {
	data := `["bin",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]`
	got, err := appendClassicBroadcast(nil, "abcdef", "/", []byte(data), [][]byte{{1, 2, 3}, {9, 8}}, &socketio.BroadcastOptions{Rooms: []string{"r"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	const wantData = "\xa4data\x93\xa3bin\xc4\x03\x01\x02\x03\x81\xa6nested\xc4\x02\t\b"
	if !contains(got, wantData) {
		t.Errorf("broadcast %q lacks the inline binary %q", got, wantData)
	}
	b, err := decodeClassicBroadcast(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(b.data) != data || len(b.atts) != 2 || string(b.atts[0]) != "\x01\x02\x03" || string(b.atts[1]) != "\x09\x08" || !slices.Equal(b.opts.Rooms, []string{"r"}) {
		t.Errorf("decoded data %s, attachments %q, opts %+v", b.data, b.atts, b.opts)
	}
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// TestClassicEmitterOrder checks the emitter's key order (rooms, flags,
// except) and uid, as @socket.io/redis-emitter 5.1 writes them.
func TestClassicEmitterOrder(t *testing.T) {
	got, err := appendClassicBroadcast(nil, emitterUID, "/", []byte(`["hi"]`), nil, &socketio.BroadcastOptions{Rooms: []string{"a"}, Flags: socketio.BroadcastFlags{Volatile: true}}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "\x93\xa7emitter\x83\xa4type\x02\xa4data\x91\xa2hi\xa3nsp\xa1/\x83\xa5rooms\x91\xa1a\xa5flags\x81\xa8volatile\xc3\xa6except\x90"
	if string(got) != want {
		t.Errorf("emitter broadcast = %q\nwant                %q", got, want)
	}
}

// TestClassicDecodeNodeForms decodes what Node's servers and emitter send
// in forms Tether does not produce itself: numeric rooms
// (socket.join(123)), a packet without nsp, requests without uid, answers
// without type.
func TestClassicDecodeNodeForms(t *testing.T) {
	// ["emitter", {type: 2, data: ["x"]}, {rooms: [123, "a"], except: [4.5], flags: {timeout: 1000}}]
	msg := "\x93\xa7emitter\x82\xa4type\x02\xa4data\x91\xa1x\x83\xa5rooms\x92\x7b\xa1a\xa6except\x91\xcb@\x12\x00\x00\x00\x00\x00\x00\xa5flags\x81\xa7timeout\xcd\x03\xe8"
	b, err := decodeClassicBroadcast([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if b.nsp != "/" || !slices.Equal(b.opts.Rooms, []string{"123", "a"}) || !slices.Equal(b.opts.Except, []string{"4.5"}) || b.opts.Flags.Timeout != time.Second {
		t.Errorf("decoded %+v", b)
	}
	for _, bad := range []string{"\x93\xa1u\xc0\x80", "\x93\xa1u\x81\xa4data\xa1x\x80", "\x91\xa1u", "\xc1"} {
		if _, err := decodeClassicBroadcast([]byte(bad)); err == nil {
			t.Errorf("decodeClassicBroadcast(%q) accepted it", bad)
		}
	}

	req, err := decodeClassicRequest([]byte(`{"type":2,"opts":{"rooms":[7],"except":[]},"rooms":["r",8]}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.uid != "" || req.typ != classicRemoteJoin || !slices.Equal(req.opts.Rooms, []string{"7"}) || !slices.Equal(req.rooms, []string{"r", "8"}) {
		t.Errorf("emitter's REMOTE_JOIN decoded as %+v", req)
	}
	req, err = decodeClassicRequest([]byte(`{"uid":"emitter","type":6,"data":["ev",1,{"a":null}]}`))
	if err != nil || req.typ != classicServerSideEmit || string(req.data) != `["ev",1,{"a":null}]` {
		t.Errorf("SERVER_SIDE_EMIT decoded as %+v, %v", req, err)
	}
	// The BROADCAST request, as notepack writes it.
	bmsg, err := appendClassicBroadcastRequest(nil, "nodeid", "req123", "/", []byte(`["ask",{"_placeholder":true,"num":0}]`), [][]byte{{1}}, &socketio.BroadcastOptions{Except: []string{"x"}, Flags: socketio.BroadcastFlags{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	req, err = decodeClassicRequest(bmsg)
	if err != nil {
		t.Fatal(err)
	}
	if req.uid != "nodeid" || req.requestID != "req123" || req.typ != classicBroadcast || req.packet == nil ||
		string(req.packet.data) != `["ask",{"_placeholder":true,"num":0}]` || len(req.packet.atts) != 1 ||
		!slices.Equal(req.packet.opts.Except, []string{"x"}) || req.packet.opts.Flags.Timeout != 2*time.Second {
		t.Errorf("BROADCAST decoded as %+v (packet %+v)", req, req.packet)
	}

	resp, err := decodeClassicResponse([]byte(`{"requestId":"r1","sockets":[{"id":"s1","handshake":{"headers":{"host":"h"},"time":"t","address":"::1","xdomain":false,"secure":false,"issued":1700000000000,"url":"/socket.io/?EIO=4","query":{"EIO":"4"},"auth":{}},"rooms":["s1",5],"data":{"k":1}}]}`))
	if err != nil || resp.typ != -1 || len(resp.sockets) != 1 {
		t.Fatalf("REMOTE_FETCH answer decoded as %+v, %v", resp, err)
	}
	s, err := decodeClassicSocket(resp.sockets[0])
	if err != nil || s.ID != "s1" || !slices.Equal(s.Rooms, []string{"s1", "5"}) || s.Data["k"] != float64(1) || s.Handshake.Address != "::1" || s.Handshake.Query.Get("EIO") != "4" {
		t.Errorf("socket decoded as %+v, %v", s, err)
	}
	ack, err := appendClassicAck(nil, "r2", json.RawMessage(`{"ok":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x83\xa4type\x09\xa9requestId\xa2r2\xa6packet\x81\xa2ok\xc3"; string(ack) != want {
		t.Errorf("ack = %q, want %q", ack, want)
	}
	resp, err = decodeClassicResponse(ack)
	if err != nil || resp.typ != classicBroadcastAck || resp.requestID != "r2" || string(resp.packet) != `{"ok":true}` {
		t.Errorf("ack decoded as %+v, %v", resp, err)
	}
}

// TestClassicRequestJSON checks the requests Tether publishes against the
// JSON Node's adapter writes for the same call.
func TestClassicRequestJSON(t *testing.T) {
	opts := &socketio.BroadcastOptions{Rooms: []string{"a"}, Except: []string{"b"}}
	got := appendClassicRequestJSON(nil, "abcdef", "", classicRemoteJoin, func(w *nodejson.Object) {
		w.Raw("opts", appendSelectionJSON(nil, opts))
		w.Raw("rooms", nodejson.AppendStrings(nil, []string{"x"}))
	})
	if want := `{"uid":"abcdef","type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["x"]}`; string(got) != want {
		t.Errorf("REMOTE_JOIN = %s, want %s", got, want)
	}
	got = appendClassicRequestJSON(nil, "abcdef", "q1w2e3", classicRemoteFetch, func(w *nodejson.Object) {
		w.Raw("opts", appendSelectionJSON(nil, &socketio.BroadcastOptions{}))
	})
	if want := `{"uid":"abcdef","requestId":"q1w2e3","type":5,"opts":{"rooms":[],"except":[]}}`; string(got) != want {
		t.Errorf("REMOTE_FETCH = %s, want %s", got, want)
	}
	id := classicUID()
	if len(id) != 6 {
		t.Errorf("uid %q is not 6 characters", id)
	}
	for _, c := range id {
		if !slices.Contains([]rune(classicUIDChars), c) {
			t.Errorf("uid %q has %q", id, c)
		}
	}
}
